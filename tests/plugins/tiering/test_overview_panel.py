"""Why a customer is in its tier (in words), and the tier panel of the customer 360 page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from core.clock import utcnow
from core.extensions import db
from plugins.tiering.models import CustomerTag, TagRule, TierPolicy, TierServiceLevel
from plugins.tiering.overview.reasons import tier_reason
from tests.plugins.tiering.conftest import make_change, make_customer, make_run, make_value

THRESHOLD = {"measure": "revenue", "method": "threshold", "window_days": 90, "a_cut": 10000, "b_cut": 3000,
             "rfm_window_days": 365}
PARETO = {"measure": "revenue", "method": "pareto", "window_days": 90, "a_cut": 80, "b_cut": 95}


def value(**figures):
    base = {"tier": "A", "monthly_volume": Decimal(0), "monthly_revenue": Decimal(0), "tier_share": None,
            "franchise_id": None}
    return SimpleNamespace(**{**base, **figures})


@pytest.mark.parametrize("figures, policy, expected", [
    ({"tier": "A", "monthly_revenue": Decimal("12345")}, THRESHOLD,
     "Monthly revenue ¥12,345 (last 90 days) is at least the A threshold ¥10,000"),
    ({"tier": "B", "monthly_revenue": Decimal("4500.50")}, THRESHOLD,
     "Monthly revenue ¥4,500.50 (last 90 days) is at least the B threshold ¥3,000 but below the A threshold ¥10,000"),
    ({"tier": "C", "monthly_revenue": Decimal("12")}, THRESHOLD,
     "Monthly revenue ¥12 (last 90 days) is below the B threshold ¥3,000"),
    ({"tier": "A", "monthly_volume": Decimal("1500")}, {**THRESHOLD, "measure": "volume", "a_cut": 1000},
     "Monthly volume 1,500 parcels (last 90 days) is at least the A threshold 1,000"),
    ({"tier": "A", "tier_share": Decimal("63.2")}, PARETO, "Within the top 80.0% of revenue (cumulative 63.2%)"),
    ({"tier": "B", "tier_share": Decimal("87.15")}, PARETO,
     "Within the top 95.0% of revenue but beyond the top 80.0% (cumulative 87.2%)"),
    ({"tier": "C", "tier_share": Decimal("97.5")}, {**PARETO, "measure": "volume"},
     "Beyond the top 95.0% of volume (cumulative 97.5%)"),
    ({"tier": "C", "tier_share": None}, PARETO, "No revenue in the last 90 days"),
])
def test_reason_names_the_figure_and_the_cut(app, figures, policy, expected):
    with app.test_request_context("/"), force_locale("en"):
        assert tier_reason(value(**figures), policy=policy) == expected


def test_reason_of_a_tier_change_uses_the_figures_it_saw(app):
    change = SimpleNamespace(to_tier="B", run_id=None, measure="revenue", method="threshold",
                             value=Decimal("5000"), share=None)
    with app.test_request_context("/"), force_locale("en"):
        assert tier_reason(None, history=change, policy=THRESHOLD).startswith("Monthly revenue ¥5,000")


@pytest.fixture(scope="module")
def customers(app):
    with app.app_context():
        a = app.config["TEST_IDS"]["A"]
        run = make_run(a, policy=THRESHOLD)
        hq_policy = TierPolicy(franchise_id=None, measure="revenue", method="threshold", window_days=90,
                               a_cut=10000, b_cut=3000)
        hq_policy.levels = [TierServiceLevel(tier="A", callback_days=14, dedicated_manager=True,
                                             ticket_priority="high", sla_policy_name="VIP")]
        rule = TagRule(franchise_id=None, tag="高价值", conditions=[])
        db.session.add_all([hq_policy, rule])
        valued = make_customer(a, name="杭州快货电商", tags="月结, 重点")
        make_value(valued, tier="A", monthly_revenue=Decimal("12345"), r_score=5, f_score=4, m_score=5,
                   rfm_segment="champions", tier_since=datetime(2024, 3, 1, 2, 0))
        db.session.flush()
        db.session.add(CustomerTag(customer_id=valued.id, franchise_id=a, rule_id=rule.id, tag="高价值"))
        start = utcnow() - timedelta(days=30)
        tiers = ["C", "B", "C", "B", "A", "B", "A"]
        for n, (before, after) in enumerate(zip([None] + tiers, tiers)):
            make_change(valued, run, before, after, changed_at=start + timedelta(days=n), measure="revenue",
                        method="threshold", value=Decimal(1000 * (n + 1)))
        fresh = make_customer(a, name="新客户")
        db.session.commit()
        return {"valued": valued.id, "fresh": fresh.id}


def panel_of(page: str) -> str:
    match = re.search(r'<div data-panel="tiering">(.*?)\n</div>', page, re.S)
    assert match, "the tier panel is on the page"
    return match.group(1)


def test_360_panel_shows_tier_reason_service_level_scores_tags_and_changes(app, client_for, customers):
    hq = client_for("hq")
    hq.get("/lang/en")
    panel = panel_of(hq.get(f"/customers/show/{customers['valued']}").get_data(as_text=True))
    assert 'data-tier="A"' in panel
    assert "Monthly revenue ¥12,345 (last 90 days) is at least the A threshold ¥10,000" in panel
    assert "since 2024-03-01" in panel
    assert "a call every 14 days" in panel and "dedicated account manager" in panel and "VIP" in panel
    assert "R 5 · F 4 · M 5 · Champions" in panel
    assert re.search(r"data-rule-tag>高价值<", panel)
    assert re.findall(r"data-manual-tag>([^<]+)<", panel) == ["月结", "重点"]
    rows = re.findall(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d</td><td>([^<]*)</td>\s*<td>([^<]*)</td>", panel)
    assert rows == [("B", "A"), ("A", "B"), ("B", "A"), ("C", "B"), ("B", "C")]  # the last five, newest first


def test_360_panel_says_when_the_tier_is_not_computed_yet(app, client_for, customers):
    zh = client_for("hq")
    zh.get("/lang/zh")
    assert zh.get(f"/customers/show/{customers['fresh']}").status_code == 200
    en = client_for("hq")
    en.get("/lang/en")
    panel = panel_of(en.get(f"/customers/show/{customers['fresh']}").get_data(as_text=True))
    assert "Tier not computed yet." in panel and "data-tier" in panel
