"""What a tier is owed reaches the tickets plugin through hooks: the ticket carries the customer's tier, starts
at the tier's least priority and runs on the SLA policy the tier names; tickets' complaint counts feed tag rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.extensions import db
from core.plugins import set_activation
from plugins.tickets.models import Ticket
from plugins.tickets.sla.models import SlaPolicy
from plugins.tiering.models import CustomerTag, TagRule
from plugins.tiering.policy import save_policy
from plugins.tiering.recompute import recompute
from tests.plugins.tiering.conftest import make_customer, make_shipment

POLICY = {"measure": "volume", "method": "threshold", "window_days": 30, "a_cut": 3, "b_cut": 2,
          "rfm_window_days": 365,
          "levels": {"A": {"ticket_priority": "high", "sla_policy_name": "大客户SLA", "dedicated_manager": True,
                           "callback_days": 14}}}


@pytest.fixture(scope="module")
def customers(app):
    """Franchise A: a big shipper (tier A, owed high priority and the "大客户SLA" policy) and a small one (C)."""
    ids = app.config["TEST_IDS"]
    with app.app_context():
        set_activation("tickets", enabled=True)
        save_policy(ids["A"], POLICY)
        db.session.add_all([
            SlaPolicy(franchise_id=ids["A"], name="普通SLA", position=1, first_response_minutes=240,
                      resolution_minutes=2880),
            SlaPolicy(franchise_id=ids["A"], name="大客户SLA", position=2, first_response_minutes=30,
                      resolution_minutes=480)])
        big = make_customer(ids["A"], name="大客户电商")
        small = make_customer(ids["A"], name="小店")
        for _ in range(4):
            make_shipment(ids["A"], big, fee=12)
        make_shipment(ids["A"], small, fee=12)
        db.session.commit()
        recompute(ids["A"])
        return {"big": big.id, "small": small.id}


def open_ticket(client, headers, customer_id, **values):
    response = client.post("/api/v1/tickets/", headers=headers,
                           json={"subject": "查件", "customer_id": customer_id, **values})
    assert response.status_code == 201, response.json
    return response.json["result"]


def test_a_tier_a_customers_ticket_starts_high_on_the_tiers_sla_policy(app, api_headers, customers):
    headers = api_headers("alice")
    client = app.test_client()
    big = open_ticket(client, headers, customers["big"])
    small = open_ticket(client, headers, customers["small"])
    assert (big["customer_tier"], big["priority"]) == ("A", "high")
    assert (small["customer_tier"], small["priority"]) == ("C", "normal")
    urgent = open_ticket(client, headers, customers["big"], priority="urgent")
    assert urgent["priority"] == "urgent"  # the tier sets a floor, never lowers
    with app.app_context():
        policies = dict(db.session.execute(select(Ticket.id, SlaPolicy.name).join(
            SlaPolicy, SlaPolicy.id == Ticket.sla_policy_id).where(Ticket.id.in_([big["id"], small["id"]]))).all())
    assert policies == {big["id"]: "大客户SLA", small["id"]: "普通SLA"}


def test_complaint_counts_from_tickets_drive_a_tag_rule(app, api_headers, customers):
    ids = app.config["TEST_IDS"]
    client = app.test_client()
    headers = api_headers("alice")
    for category in ("charges", "charges", "delay"):
        open_ticket(client, headers, customers["small"], type="complaint", category=category)
    with app.app_context():
        db.session.add(TagRule(franchise_id=ids["A"], tag="价格敏感", conditions=[
            {"field": "metric.charge_complaints_90d", "op": ">=", "value": 2}]))
        db.session.add(TagRule(franchise_id=ids["A"], tag="投诉敏感", conditions=[
            {"field": "metric.complaints_90d", "op": ">=", "value": 3}]))
        db.session.commit()
        run = recompute(ids["A"])
        assert run.error is None
        tags = db.session.execute(select(CustomerTag.customer_id, CustomerTag.tag)
                                  .where(CustomerTag.franchise_id == ids["A"])).all()
        assert sorted(tags) == [(customers["small"], "价格敏感"), (customers["small"], "投诉敏感")]


def test_the_service_level_hook_answers_for_the_tier(app, customers):
    ids = app.config["TEST_IDS"]
    with app.app_context():
        hook = app.extensions["crm_plugins"].hook_for_franchise("crm_customer_service_level", ids["A"])
        assert hook(franchise_id=ids["A"], customer_id=customers["big"]) == {
            "tier": "A", "callback_days": 14, "dedicated_manager": True, "ticket_priority": "high",
            "sla_policy_name": "大客户SLA"}
        assert hook(franchise_id=ids["A"], customer_id=customers["small"])["callback_days"] is None


def test_a_persons_export_holds_the_profile_and_an_erase_forgets_it(app):
    from core.subject_rights import customer_data, erase_customer
    from plugins.tiering.models import CustomerValue, TierHistory

    ids = app.config["TEST_IDS"]
    with app.app_context():
        person = make_customer(ids["A"], name="张三", kind="C")
        make_shipment(ids["A"], person, fee=15)
        db.session.commit()
        recompute(ids["A"])
        data = customer_data(person)
        assert data["customer_value"][0]["tier"] in ("A", "B", "C") and data["tier_history"] == []
        erase_customer(person, reason="客户申请删除 (PIPL 47)")
        db.session.commit()
        assert db.session.get(CustomerValue, person.id) is None
        assert db.session.scalar(select(TierHistory.id).where(TierHistory.customer_id == person.id)) is None
        recompute(ids["A"])
        assert db.session.get(CustomerValue, person.id) is None  # erased customers stay out
