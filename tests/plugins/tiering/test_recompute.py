"""The recompute: tiers by thresholds and by Pareto share, RFM quintiles and segments, history and `tier.changed`
events only for customers whose tier changed, and a dry run that predicts what a save will move."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import delete, select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from core.models import Customer, Shipment
from plugins.tiering.models import CustomerValue, TierHistory, TierPolicy, TierRun, TierServiceLevel
from plugins.tiering.policy import save_policy
from plugins.tiering.recompute import dry_run, recompute
from plugins.tiering.rfm import RULES, segment_of

_waybills = itertools.count(1)
THRESHOLD_VOLUME = {"measure": "volume", "method": "threshold", "window_days": 30, "a_cut": 10, "b_cut": 3,
                    "rfm_window_days": 365}


@pytest.fixture
def franchise(app, ids):
    """Franchise B, emptied of customers, values and policies before each test."""
    with app.app_context():
        for model in (TierHistory, CustomerValue, TierRun):
            db.session.execute(delete(model))
        db.session.execute(delete(TierServiceLevel))
        db.session.execute(delete(TierPolicy))
        db.session.execute(delete(JobOutbox))
        db.session.execute(delete(Shipment))
        db.session.execute(delete(Customer))
        db.session.commit()
    return ids["B"]


def customer_shipping(franchise_id, parcels=0, fee=10, days_ago=1, name=None, status="DELIVERED", **values):
    """A business customer with `parcels` shipments of `fee` yuan, the newest `days_ago` days old."""
    customer = Customer(franchise_id=franchise_id, kind="B", name=name or f"客户{next(_waybills)}", **values)
    db.session.add(customer)
    db.session.flush()
    add_parcels(customer, parcels, fee=fee, days_ago=days_ago, status=status)
    return customer


def add_parcels(customer, parcels, fee=10, days_ago=1, status="DELIVERED"):
    now = utcnow()
    for n in range(parcels):
        db.session.add(Shipment(franchise_id=customer.franchise_id, customer_id=customer.id, fee=fee, status=status,
                                waybill_no=f"RC{next(_waybills):010d}",
                                created_at=now - dt.timedelta(days=days_ago, minutes=n)))
    db.session.flush()


def use_policy(franchise_id, **values):
    policy, errors = save_policy(franchise_id, {**THRESHOLD_VOLUME, **values})
    assert not errors, errors
    db.session.execute(delete(JobOutbox))  # the recompute the save queued: the tests run it themselves
    db.session.commit()


def tiers(franchise_id) -> dict[str, str]:
    rows = db.session.execute(select(Customer.name, CustomerValue.tier).join(
        CustomerValue, CustomerValue.customer_id == Customer.id).where(Customer.franchise_id == franchise_id))
    return dict(rows.all())


def tier_events():
    rows = db.session.scalars(select(JobOutbox).where(JobOutbox.func == "core.events:deliver")).all()
    return [row.args[2] for row in rows if row.args[0] == "tier.changed"]


def test_thresholds_on_monthly_volume_place_customers_in_a_b_c(app, franchise):
    with app.app_context():
        use_policy(franchise)
        customer_shipping(franchise, 12, name="big")
        customer_shipping(franchise, 10, name="exactly_a")
        customer_shipping(franchise, 3, name="exactly_b")
        customer_shipping(franchise, 2, name="small")
        customer_shipping(franchise, 0, name="never")
        customer_shipping(franchise, 20, days_ago=40, name="before_window")
        customer_shipping(franchise, 20, status="CANCELLED", name="cancelled_only")
        db.session.commit()
        run = recompute(franchise)
        assert tiers(franchise) == {"big": "A", "exactly_a": "A", "exactly_b": "B", "small": "C", "never": "C",
                                    "before_window": "C", "cancelled_only": "C"}
        assert run.status == "done" and run.customers == 7 and run.tier_counts == {"A": 2, "B": 1, "C": 4}


def test_pareto_shares_follow_the_cumulative_revenue(app, franchise):
    with app.app_context():
        use_policy(franchise, measure="revenue", method="pareto", a_cut=80, b_cut=95)
        for name, fee in (("r50", 50), ("r30", 30), ("r10", 10), ("r5", 5), ("r5b", 5)):
            customer_shipping(franchise, 1, fee=fee, name=name)
        customer_shipping(franchise, 0, name="none")
        db.session.commit()
        recompute(franchise)
        # cumulative shares 50, 80 (<= 80: A), 90, 95 (<= 95: B), 100
        assert tiers(franchise) == {"r50": "A", "r30": "A", "r10": "B", "r5": "B", "r5b": "C", "none": "C"}
        share = db.session.scalar(select(CustomerValue.tier_share).join(Customer).where(Customer.name == "r10"))
        assert float(share) == pytest.approx(90.0)


def test_rfm_scores_are_quintiles_within_the_franchise_and_name_the_segment(app, franchise, ids):
    with app.app_context():
        use_policy(franchise)
        for n in range(1, 11):  # n parcels, the busier the more recent and the dearer
            customer_shipping(franchise, n, fee=n, days_ago=100 - 9 * n, name=f"c{n:02d}")
        other = customer_shipping(ids["A"], 50, fee=100, name="other franchise")
        db.session.commit()
        recompute(franchise)
        rows = db.session.execute(select(Customer.name, CustomerValue.r_score, CustomerValue.f_score,
                                         CustomerValue.m_score, CustomerValue.rfm_segment)
                                  .join(CustomerValue).where(Customer.franchise_id == franchise)
                                  .order_by(Customer.name)).all()
        assert [row.f_score for row in rows] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert [row.r_score for row in rows] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert all(row.rfm_segment == segment_of(row.r_score, row.f_score, row.m_score) for row in rows)
        assert rows[-1].rfm_segment == "champions" and rows[0].rfm_segment == "lost"
        assert db.session.get(CustomerValue, other.id) is None  # franchise A was not recomputed


def test_every_rfm_cell_belongs_to_a_named_segment():
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        assert segment_of(r, f, m) in {rule.code for rule in RULES}, (r, f, m)


def test_history_and_events_only_for_customers_whose_tier_changed(app, franchise):
    with app.app_context():
        use_policy(franchise)
        grower = customer_shipping(franchise, 2, name="grower")
        customer_shipping(franchise, 12, name="steady")
        db.session.commit()
        first = recompute(franchise)
        assert first.movement == {"none>C": 1, "none>A": 1} and first.changed == 0
        assert tier_events() == []  # a first tier is history, not a change

        second = recompute(franchise)
        assert second.changed == 0 and second.movement == {}
        assert db.session.scalar(select(TierHistory.id).where(TierHistory.run_id == second.id)) is None

        add_parcels(grower, 9)  # 11 parcels in 30 days: A
        db.session.commit()
        third = recompute(franchise)
        assert third.changed == 1 and third.movement == {"C>A": 1}
        history = db.session.scalars(select(TierHistory).where(TierHistory.run_id == third.id)).all()
        assert [(h.customer_id, h.from_tier, h.to_tier, h.method, h.measure) for h in history] == [
            (grower.id, "C", "A", "threshold", "volume")]
        assert float(history[0].value) == pytest.approx(11.0)
        events = tier_events()
        assert [(e["customer_id"], e["from_tier"], e["to_tier"]) for e in events] == [(grower.id, "C", "A")]
        value = db.session.get(CustomerValue, grower.id)
        assert value.previous_tier == "C" and value.changed_run_id == third.id


def test_a_merged_customer_leaves_the_figures(app, franchise):
    with app.app_context():
        use_policy(franchise)
        survivor = customer_shipping(franchise, 4, name="survivor")
        merged = customer_shipping(franchise, 4, name="merged")
        db.session.commit()
        recompute(franchise)
        merged.merged_into_id, merged.status = survivor.id, "merged"
        db.session.commit()
        run = recompute(franchise)
        assert db.session.get(CustomerValue, merged.id) is None and run.customers == 1


def test_dry_run_predicts_the_moves_a_save_makes(app, franchise):
    with app.app_context():
        use_policy(franchise)
        for n in (1, 4, 8, 12, 20):
            customer_shipping(franchise, n)
        db.session.commit()
        recompute(franchise)
        stricter = {**THRESHOLD_VOLUME, "a_cut": 15, "b_cut": 5}
        predicted = dry_run(franchise, stricter)
        assert predicted == {"A>A": 1, "A>B": 1, "B>B": 1, "B>C": 1, "C>C": 1}
        assert db.session.scalar(select(TierPolicy.a_cut).where(TierPolicy.franchise_id == franchise)) == 10
        use_policy(franchise, a_cut=15, b_cut=5)
        run = recompute(franchise)
        assert run.movement == {"A>B": 1, "B>C": 1}


def test_hq_default_decides_franchises_without_their_own(app, franchise):
    with app.app_context():
        customer_shipping(franchise, 4, name="four")
        db.session.commit()
        policy, errors = save_policy(None, {**THRESHOLD_VOLUME, "a_cut": 4, "b_cut": 2})
        assert not errors
        db.session.commit()
        recompute(franchise)
        assert tiers(franchise) == {"four": "A"}
        use_policy(franchise, a_cut=10, b_cut=5)
        run = recompute(franchise)
        assert tiers(franchise) == {"four": "C"} and run.policy["source"] == "franchise"
