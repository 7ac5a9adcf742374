"""The "Customer tiers" and "Tier history" lists (read-only, scoped, filtered by tier and segment), and a crawl
of every tiering read page as HQ and as a franchise's manager, in English and Chinese: none fails."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from core.clock import utcnow
from core.extensions import db
from core.tenancy import Franchise
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_change, make_customer, make_run, make_value

PAGES = ["/tiering/overview/", "/tiering/overview/?days=365&movement=latest", "/tiering/clusters/",
         "/tiering/clusters/?k=2", "/tiering/customers/list/", "/tiering/history/list/", "/"]


@pytest.fixture(scope="module")
def data(app):
    with app.app_context():
        ids = app.config["TEST_IDS"]
        add_user(app, "mia", "Outlet Manager", franchises=[db.session.get(Franchise, ids["A"])])
        now = utcnow()
        run_a = make_run(ids["A"], started_at=now - timedelta(hours=1), movement={"none>A": 1})
        run_b = make_run(ids["B"], started_at=now - timedelta(hours=1), movement={"none>C": 1})
        big = make_customer(ids["A"], name="义乌小商品城")
        person = make_customer(ids["A"], name="张伟", kind="C")
        other = make_customer(ids["B"], name="宁波港务")
        make_value(big, tier="A", monthly_revenue=Decimal("20000"), r_score=5, f_score=5, m_score=5,
                   rfm_segment="champions", last_shipment_at=now, frequency=30, tier_share=Decimal(40),
                   monetary=Decimal(90000))
        make_value(person, tier="C", monthly_revenue=Decimal("15"), r_score=1, f_score=1, m_score=1,
                   rfm_segment="lost", last_shipment_at=now - timedelta(days=300), frequency=1,
                   monetary=Decimal(15))
        make_value(other, tier="C", r_score=2, f_score=1, m_score=1, rfm_segment="hibernating")
        make_change(big, run_a, None, "A", changed_at=now, measure="revenue", method="pareto", share=Decimal(40))
        make_change(other, run_b, None, "C", changed_at=now, measure="revenue", method="pareto", share=Decimal(99))
        db.session.commit()
        return {"big": big.id, "person": person.id, "other": other.id}


def english(client):
    client.get("/lang/en")
    return client


def test_customer_tiers_list_links_to_the_360_page_and_masks_persons(app, client_for, data):
    page = english(client_for("mia")).get("/tiering/customers/list/").get_data(as_text=True)
    assert f'href="/customers/show/{data["big"]}">义乌小商品城</a>' in page
    assert "张伟" not in page and f'href="/customers/show/{data["person"]}">张*' in page
    assert "宁波港务" not in page  # franchise B's customer
    assert "¥20,000" in page and "Champions" in page


def test_customer_tiers_filter_by_tier_and_segment(app, client_for, data):
    mia = english(client_for("mia"))
    tier_c = mia.get("/tiering/customers/list/?_flt_0_tier=C").get_data(as_text=True)
    assert "义乌小商品城" not in tier_c and f"/customers/show/{data['person']}" in tier_c
    champions = mia.get("/tiering/customers/list/?_flt_0_rfm_segment=champions").get_data(as_text=True)
    assert "义乌小商品城" in champions and f"/customers/show/{data['person']}" not in champions


def test_customer_tier_detail_says_why(app, client_for, data):
    page = english(client_for("mia")).get(f"/tiering/customers/show/{data['big']}").get_data(as_text=True)
    assert "Within the top 80.0% of revenue (cumulative 40.0%)" in page and "¥90,000" in page


def test_tier_history_lists_changes_with_the_reason_in_scope(app, client_for, data):
    mia_page = english(client_for("mia")).get("/tiering/history/list/").get_data(as_text=True)
    assert "义乌小商品城" in mia_page and "宁波港务" not in mia_page
    assert "Within the top 80.0% of revenue (cumulative 40.0%)" in mia_page
    hq_page = english(client_for("hq")).get("/tiering/history/list/").get_data(as_text=True)
    assert "宁波港务" in hq_page and "Beyond the top 95.0% of revenue (cumulative 99.0%)" in hq_page


def test_lists_are_read_only(app, client_for, data):
    hq = english(client_for("hq"))
    for url in ("/tiering/customers/add", f"/tiering/customers/edit/{data['big']}", "/tiering/history/add"):
        assert hq.get(url).status_code in (302, 403, 404, 405)
    with app.app_context():
        from plugins.tiering.models import CustomerValue
        assert db.session.get(CustomerValue, data["big"]).tier == "A"


def test_a_frontline_agent_does_not_get_the_tier_screens(app, client_for, data):
    alice = english(client_for("alice"))
    for url in PAGES[:-1]:
        assert alice.get(url).status_code in (302, 403), url


@pytest.mark.parametrize("user", ["hq", "mia"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_read_page_answers(app, client_for, data, user, lang):
    client = client_for(user)
    client.get(f"/lang/{lang}")
    for url in PAGES + [f"/tiering/customers/show/{data['big']}", f"/customers/show/{data['big']}"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", client.get("/tiering/overview/").get_data(as_text=True))
