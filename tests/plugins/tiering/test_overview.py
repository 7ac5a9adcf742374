"""The tier overview: counts per franchise and tier, tier movement, the RFM grid and rules, the latest run of
each franchise, the dashboard widget, and what a franchise's manager sees of it (their franchise only)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest

from core.clock import utcnow
from core.extensions import db
from core.tenancy import EVERYTHING, Franchise, Scope
from plugins.tiering.overview import figures
from plugins.tiering.rfm import RULES
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_change, make_customer, make_run, make_value


@pytest.fixture(scope="module")
def network(app):
    """Franchise A: tiers A, A, B, C, C, C and one untiered customer; franchise B: tiers A, C.
    A's latest run moved one customer A>B; its tier history has two changes this week and one 60 days ago."""
    with app.app_context():
        ids = app.config["TEST_IDS"]
        a = db.session.get(Franchise, ids["A"])
        b = db.session.get(Franchise, ids["B"])
        add_user(app, "amy", "Account Manager", franchises=[a])
        add_user(app, "olga", "Outlet Manager", franchises=[a])
        now = utcnow()
        rows = [("A", 5, 5, 5, "champions", 900), ("A", 5, 4, 5, "champions", 700), ("B", 4, 4, 2, "loyal", 300),
                ("C", 1, 1, 1, "lost", 10), ("C", 1, 1, 2, "lost", 30), ("C", 2, 1, 1, "hibernating", 20)]
        customers = []
        for n, (tier, r, f, m, segment, monetary) in enumerate(rows):
            customer = make_customer(a.id, name=f"A客户{n}")
            make_value(customer, tier=tier, r_score=r, f_score=f, m_score=m, rfm_segment=segment,
                       monetary=Decimal(monetary), last_shipment_at=now - timedelta(days=3))
            customers.append(customer)
        make_value(make_customer(a.id, name="A未计算"))  # no shipments: no tier, no scores
        for n, tier in enumerate(("A", "C")):
            make_value(make_customer(b.id, name=f"B客户{n}"), tier=tier, r_score=3, f_score=3, m_score=3,
                       rfm_segment="loyal", monetary=Decimal(100))
        old = make_run(a.id, started_at=now - timedelta(days=2), movement={"none>A": 9})
        latest = make_run(a.id, started_at=now - timedelta(hours=1), movement={"A>B": 1, "none>C": 2}, changed=1,
                          customers=7, seconds=0.5, trigger="manual")
        make_run(b.id, started_at=now - timedelta(hours=3), movement={"none>A": 1}, status="failed",
                 error="boom")
        make_change(customers[2], latest, "A", "B", changed_at=now - timedelta(days=1))
        make_change(customers[3], latest, None, "C", changed_at=now - timedelta(days=1))
        make_change(customers[4], old, "B", "C", changed_at=now - timedelta(days=60))
        db.session.commit()
        return {"A": a.id, "B": b.id, "latest_run": latest.id}


def english(client):
    client.get("/lang/en")
    return client


def chart_options(page: str) -> list[dict]:
    return [json.loads(unescape(raw)) for raw in re.findall(r"data-option='([^']*)'", page)]


def test_tier_counts_are_per_franchise_and_tier(app, network):
    with app.app_context():
        counts = figures.tier_counts(EVERYTHING)
        assert counts[network["A"]] == {"A": 2, "B": 1, "C": 3}
        assert counts[network["B"]] == {"A": 1, "B": 0, "C": 1}
        assert figures.totals(counts) == {"A": 3, "B": 1, "C": 4}
        only_b = figures.tier_counts(Scope(False, frozenset({network["B"]})))
        assert list(only_b) == [network["B"]]


def test_movement_counts_the_changes_of_the_period_only(app, network):
    with app.app_context():
        now = utcnow()
        week = figures.movement(EVERYTHING, now - timedelta(days=7), now)
        assert week == {("A", "B"): 1, ("none", "C"): 1}
        quarter = figures.movement(EVERYTHING, now - timedelta(days=90), now)
        assert quarter[("B", "C")] == 1 and sum(quarter.values()) == 3
        assert figures.movement(Scope(False, frozenset({network["B"]})), now - timedelta(days=90), now) == {}


def test_latest_run_of_each_franchise_and_their_movement(app, network):
    with app.app_context():
        runs = figures.latest_runs(EVERYTHING)
        assert [(run.franchise_id, run.id) for run, _name, _code in runs][0] == (network["A"], network["latest_run"])
        assert len(runs) == 2
        assert figures.run_movement(run for run, _n, _c in runs) == {("A", "B"): 1, ("none", "C"): 2,
                                                                     ("none", "A"): 1}


def test_rfm_grid_counts_customers_and_averages_monetary_per_cell(app, network):
    with app.app_context():
        grid = figures.rfm_grid(Scope(False, frozenset({network["A"]})))
        assert len(grid) == 25
        assert grid[(1, 1)].customers == 2 and grid[(1, 1)].average_monetary == 20.0
        assert grid[(1, 1)].segment == "lost"
        assert grid[(5, 5)].customers == 1 and grid[(5, 4)].customers == 1
        assert grid[(3, 3)].customers == 0 and grid[(3, 3)].segment is None
        assert sum(cell.customers for cell in grid.values()) == 6  # the unscored customer is left out
        assert figures.segment_counts(Scope(False, frozenset({network["A"]}))) == {
            "champions": 2, "loyal": 1, "lost": 2, "hibernating": 1, None: 1}


def test_hq_sees_every_franchise_with_charts(app, client_for, network):
    hq = english(client_for("hq"))
    response = hq.get("/tiering/overview/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'data-franchise="{network["A"]}"' in page and f'data-franchise="{network["B"]}"' in page
    options = chart_options(page)
    bars = next(o for o in options if o.get("series", [{}])[0].get("type") == "bar")
    assert [s["name"] for s in bars["series"]] == ["A", "B", "C"]
    assert sorted(zip(bars["xAxis"]["data"], bars["series"][0]["data"])) == [
        ("Franchise A (A)", 2), ("Franchise B (B)", 1)]
    sankey = next(o for o in options if o["series"][0]["type"] == "sankey")
    assert {(l["source"], l["target"], l["value"]) for l in sankey["series"][0]["links"]} == {
        ("A →", "→ B", 1), ("new →", "→ C", 1)}
    heatmap = next(o for o in options if o["series"][0]["type"] == "heatmap")
    cells = {(d["value"][1] + 1, d["value"][0] + 1): d["value"][3] for d in heatmap["series"][0]["data"]}
    assert cells[(1, 1)] == 2 and cells[(3, 3)] == 2  # franchise B's two loyal customers sit in R3 F3
    for rule in RULES:
        assert f'data-rule="{rule.code}"' in page
    assert re.search(r'data-rule="champions">.*?<td>4–5</td><td>4–5</td><td>4–5</td>', page, re.S)
    assert f'data-run-franchise="{network["B"]}" class="danger"' in page  # the failed run stands out
    assert 'data-recompute=' in page  # HQ may recompute


def test_movement_from_the_latest_runs_and_over_a_longer_period(app, client_for, network):
    hq = english(client_for("hq"))
    latest = hq.get("/tiering/overview/?movement=latest").get_data(as_text=True)
    assert 'data-move="none>C"><td>new</td>\n          <td>C</td><td>2</td>' in latest
    quarter = hq.get("/tiering/overview/?days=90").get_data(as_text=True)
    assert 'data-move="B>C"' in quarter
    week = hq.get("/tiering/overview/?days=7").get_data(as_text=True)
    assert 'data-move="B>C"' not in week


def test_a_franchise_manager_sees_only_their_franchise(app, client_for, network):
    amy = english(client_for("amy"))
    page = amy.get("/tiering/overview/").get_data(as_text=True)
    assert f'data-franchise="{network["A"]}"' in page
    assert f'data-franchise="{network["B"]}"' not in page and "Franchise B" not in page
    assert 'name="franchise"' not in page  # one franchise: no franchise filter
    assert 'data-recompute=' not in page  # account managers read, they do not recompute
    refused = amy.get(f"/tiering/overview/?franchise={network['B']}")
    assert refused.status_code == 400
    assert "franchise: no such franchise" in refused.get_data(as_text=True)
    assert amy.post("/tiering/overview/recompute", data={"franchise": network["A"]}).status_code in (302, 403)


def test_hq_filters_one_franchise(app, client_for, network):
    hq = english(client_for("hq"))
    page = hq.get(f"/tiering/overview/?franchise={network['B']}").get_data(as_text=True)
    assert f'data-franchise="{network["B"]}"' in page and f'data-franchise="{network["A"]}"' not in page
    assert re.search(r'data-figure="tier-A">.*?font-size: 2em">1<', page, re.S)


@pytest.mark.parametrize("query, field", [("days=8", "days"), ("movement=sideways", "movement"),
                                          ("franchise=abc", "franchise"), ("franchise=99999", "franchise")])
def test_bad_filters_get_a_message_naming_the_field(app, client_for, network, query, field):
    response = english(client_for("hq")).get(f"/tiering/overview/?{query}")
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)


def test_outlet_manager_may_not_recompute_another_franchise(app, client_for, network):
    olga = english(client_for("olga"))
    page = olga.get("/tiering/overview/").get_data(as_text=True)
    assert f'data-recompute="{network["A"]}"' in page
    refused = olga.post("/tiering/overview/recompute", data={"franchise": network["B"]}, follow_redirects=True)
    assert "franchise: no such franchise" in refused.get_data(as_text=True)
    with app.app_context():
        from plugins.tiering.models import TierRun
        assert db.session.query(TierRun).filter_by(franchise_id=network["B"]).count() == 1


def test_dashboard_widget_shows_the_viewers_tier_split(app, client_for, network):
    hq_page = english(client_for("hq")).get("/").get_data(as_text=True)
    assert 'data-widget="tiering.distribution"' in hq_page
    widget = hq_page.split('data-widget="tiering.distribution"', 1)[1]
    pie = chart_options(widget)[0]
    assert {d["name"]: d["value"] for d in pie["series"][0]["data"]} == {"A": 3, "B": 1, "C": 4}
    amy_page = english(client_for("amy")).get("/").get_data(as_text=True)
    pie = chart_options(amy_page.split('data-widget="tiering.distribution"', 1)[1])[0]
    assert {d["name"]: d["value"] for d in pie["series"][0]["data"]} == {"A": 2, "B": 1, "C": 3}
