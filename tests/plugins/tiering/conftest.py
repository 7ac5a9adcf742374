"""The tiering plugin switched on for every franchise of the test network, and small builders of the rows
tiering tests start from: customers, shipments, computed values (as a recompute would leave them) and runs."""

from __future__ import annotations

import itertools

import pytest

from core.clock import utcnow
from core.extensions import db
from core.models import Customer, Shipment
from core.plugins import set_activation
from plugins.tiering.models import CustomerValue, TierHistory, TierRun

_serial = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def tiering_active(app):
    with app.app_context():
        set_activation("tiering", enabled=True)
        db.session.commit()
    yield


def make_customer(franchise_id: int, name: str = "杭州快货电商", kind: str = "B", **values) -> Customer:
    customer = Customer(franchise_id=franchise_id, kind=kind, name=name, **values)
    db.session.add(customer)
    db.session.flush()
    return customer


def make_shipment(franchise_id: int, customer=None, waybill_no: str | None = None, **values) -> Shipment:
    shipment = Shipment(franchise_id=franchise_id, customer=customer,
                        waybill_no=waybill_no or f"TR{next(_serial):010d}", **values)
    db.session.add(shipment)
    db.session.flush()
    return shipment


def make_value(customer, **figures) -> CustomerValue:
    """The customer's CustomerValue row with the given figures (tier, r_score, monthly_revenue, ...)."""
    value = CustomerValue(customer_id=customer.id, franchise_id=customer.franchise_id, **figures)
    db.session.add(value)
    db.session.flush()
    return value


def make_run(franchise_id: int, policy: dict | None = None, **values) -> TierRun:
    """A finished recompute run with the policy it applied (a Pareto revenue policy unless given)."""
    policy = policy or {"measure": "revenue", "method": "pareto", "window_days": 90, "a_cut": 80.0, "b_cut": 95.0,
                        "rfm_window_days": 365}
    values.setdefault("finished_at", utcnow())
    run = TierRun(franchise_id=franchise_id, policy=policy, status=values.pop("status", "done"), **values)
    db.session.add(run)
    db.session.flush()
    return run


def make_change(customer, run, from_tier, to_tier, **values) -> TierHistory:
    change = TierHistory(customer_id=customer.id, franchise_id=customer.franchise_id, run_id=run.id,
                         from_tier=from_tier, to_tier=to_tier, **values)
    db.session.add(change)
    db.session.flush()
    return change
