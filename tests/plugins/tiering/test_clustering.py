"""The RFM cluster suggestion: finds well-separated groups, gives the same answer every time, refuses what it
cannot do with a message, and saves a cluster as a segment only after the person confirms."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from plugins.tiering.models import Segment
from plugins.tiering.overview import clustering
from plugins.tiering.overview.clustering import ClusterInputError
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_customer, make_value

# (days since last shipment, shipments, monetary, R, F, M) around which each group's customers scatter
GROUPS = {"champions": (3, 200, 50000, 5, 5, 5), "sleepy": (200, 3, 80, 1, 1, 1), "steady": (30, 25, 2000, 3, 3, 3)}
PER_GROUP = 40


@pytest.fixture(scope="module")
def sample_data(app):
    """Franchise A: 40 customers in each of three well-separated groups; franchise B: 5 customers only."""
    with app.app_context():
        from core.tenancy import Franchise

        ids = app.config["TEST_IDS"]
        add_user(app, "cara", "Account Manager", franchises=[db.session.get(Franchise, ids["A"])])
        rng, now = random.Random(7), utcnow()
        group_of = {}
        for group, (days, shipments, monetary, r, f, m) in GROUPS.items():
            for n in range(PER_GROUP):
                customer = make_customer(ids["A"], name=f"{group}{n}")
                make_value(customer, frequency=max(1, int(shipments * rng.uniform(0.8, 1.2))),
                           monetary=Decimal(str(round(monetary * rng.uniform(0.8, 1.2), 2))),
                           last_shipment_at=now - timedelta(days=days * rng.uniform(0.8, 1.2)),
                           r_score=r, f_score=f, m_score=m, rfm_segment="loyal")
                group_of[customer.id] = group
        for n in range(5):
            make_value(make_customer(ids["B"], name=f"small{n}"), frequency=3, monetary=Decimal(10),
                       last_shipment_at=now, r_score=3, f_score=3, m_score=3)
        db.session.commit()
        return {"A": ids["A"], "B": ids["B"], "group_of": group_of}


def test_kmeans_finds_well_separated_groups(app, sample_data):
    with app.test_request_context("/"):
        result = clustering.suggest(sample_data["A"], 3)
    assert result.sampled == 3 * PER_GROUP
    assert sorted(c.size for c in result.clusters) == [PER_GROUP] * 3
    for cluster in result.clusters:  # each cluster holds exactly one group
        groups = {sample_data["group_of"][p.customer_id] for p in result.points if p.cluster == cluster.index}
        assert len(groups) == 1
    champions, steady, sleepy = result.clusters  # numbered by monetary centre, highest first
    assert 40000 < champions.monetary < 60000 and champions.recency_days < 5
    assert 150 < sleepy.recency_days < 250 and sleepy.frequency < 5
    assert champions.ranges == {"r": (5, 5), "f": (5, 5), "m": (5, 5)} and sleepy.ranges["r"] == (1, 1)
    assert steady.main_segment == "loyal"


def test_same_data_same_seed_same_clusters(app, sample_data):
    with app.test_request_context("/"):
        first = clustering.suggest(sample_data["A"], 4)
        second = clustering.suggest(sample_data["A"], 4)
        smaller = clustering.suggest(sample_data["A"], 4, size=60)
    assert [(p.customer_id, p.cluster) for p in first.points] == [(p.customer_id, p.cluster) for p in second.points]
    assert [c.size for c in first.clusters] == [c.size for c in second.clusters]
    assert smaller.sampled == 60  # the sample is capped in SQL


def test_plain_kmeans_is_deterministic_and_separates_blobs():
    rng = random.Random(1)
    rows = [[rng.gauss(cx, 0.1), rng.gauss(cy, 0.1), 0.0] for cx, cy in ((0, 0), (5, 5), (0, 5)) for _ in range(50)]
    labels, centres = clustering.kmeans(rows, 3, seed=11)
    assert labels == clustering.kmeans(rows, 3, seed=11)[0]
    assert sorted(labels.count(c) for c in range(3)) == [50, 50, 50]
    assert all(len(set(labels[start:start + 50])) == 1 for start in (0, 50, 100))


@pytest.mark.parametrize("k", [1, 9, "x", -2])
def test_k_out_of_range_is_refused_with_a_message(app, sample_data, k):
    with app.test_request_context("/"), force_locale("en"), pytest.raises(ClusterInputError) as refused:
        clustering.suggest(sample_data["A"], k)
    assert refused.value.field == "k" and "2" in refused.value.problem and "8" in refused.value.problem


def test_too_few_customers_is_refused_with_a_message(app, sample_data):
    with app.test_request_context("/"), force_locale("en"), pytest.raises(ClusterInputError) as refused:
        clustering.suggest(sample_data["B"], 2)
    assert refused.value.field == "franchise" and "5 customers" in refused.value.problem


def test_cluster_page_shows_chart_and_table(app, client_for, sample_data):
    hq = client_for("hq")
    hq.get("/lang/en")
    page = hq.get(f"/tiering/clusters/?franchise={sample_data['A']}&k=3").get_data(as_text=True)
    assert page.count('data-cluster="') == 3 and '"type": "scatter"' in page
    assert "Save as segment" in page
    for lang in ("en", "zh"):
        hq.get(f"/lang/{lang}")
        assert hq.get("/tiering/clusters/").status_code == 200


@pytest.mark.parametrize("query, field", [("k=1", "k"), ("k=9", "k"), ("k=four", "k"),
                                          ("franchise=99999", "franchise")])
def test_cluster_page_explains_bad_input(app, client_for, sample_data, query, field):
    hq = client_for("hq")
    hq.get("/lang/en")
    response = hq.get("/tiering/clusters/?" + query)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)


def test_franchise_user_cannot_cluster_another_franchise(app, client_for, sample_data):
    cara = client_for("cara")
    cara.get("/lang/en")
    response = cara.get(f"/tiering/clusters/?franchise={sample_data['B']}")
    assert response.status_code == 400 and "no such franchise" in response.get_data(as_text=True)
    assert "Franchise B" not in response.get_data(as_text=True)


def segments() -> int:
    return db.session.scalar(select(func.count()).select_from(Segment))


def test_a_cluster_becomes_a_segment_only_after_confirmation(app, client_for, sample_data):
    cara = client_for("cara")
    cara.get("/lang/en")
    url = f"/tiering/clusters/segment?franchise={sample_data['A']}&k=3&cluster=0"
    confirm = cara.get(url)
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "R score (1-5) ≥ 5" in text and "Confirm and save" in text
    with app.app_context():
        assert segments() == 0  # looking is not saving
    form = {"franchise": sample_data["A"], "k": 3, "cluster": 0, "name": "高频大客户"}
    assert cara.post("/tiering/clusters/segment", data={**form, "name": ""}).status_code == 400
    saved = cara.post("/tiering/clusters/segment", data=form)
    assert saved.status_code == 302
    with app.app_context():
        segment = db.session.scalars(select(Segment)).one()
        assert (segment.franchise_id, segment.name) == (sample_data["A"], "高频大客户")
        assert {"field": "r_score", "op": ">=", "value": 5.0} in segment.conditions
        assert {"field": "m_score", "op": ">=", "value": 5.0} in segment.conditions
    again = cara.post("/tiering/clusters/segment", data=form)
    assert again.status_code == 400 and 'data-field="name"' in again.get_data(as_text=True)
    with app.app_context():
        assert segments() == 1
    assert cara.post("/tiering/clusters/segment", data={**form, "cluster": 7}).status_code == 400


def test_cluster_page_says_when_a_franchise_has_too_few_customers(app, client_for, sample_data):
    hq = client_for("hq")
    hq.get("/lang/en")
    response = hq.get(f"/tiering/clusters/?franchise={sample_data['B']}&k=2")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-field="franchise"' in page
    assert "5 customers with RFM scores; at least 20 are needed" in page
