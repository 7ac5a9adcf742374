"""Intake: tickets through the API and from exception parcels, one ticket per parcel, clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.events import deliver, emit
from core.extensions import db
from core.jobs import JobOutbox
from core.tenancy import EVERYTHING, scope_as
from plugins.tickets.models import ExceptionTicketLink, Ticket, TicketEvent
from tests.plugins.tickets.conftest import make_customer, make_shipment


@pytest.fixture
def parcel(app, ids):
    with app.app_context(), scope_as(EVERYTHING):
        customer = make_customer(ids["A"], name="义乌小商品批发")
        shipment = make_shipment(ids["A"], customer=customer, dest_franchise_id=ids["B"],
                                 declared_value=Decimal("300"))
        db.session.commit()
        return {"customer_id": customer.id, "shipment_id": shipment.id, "waybill_no": shipment.waybill_no}


def ticket_count(app, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(Ticket)
        for key, value in where.items():
            query = query.where(getattr(Ticket, key) == value)
        return db.session.scalar(query)


def test_an_agent_opens_a_ticket_by_waybill_and_the_parcels_customer_is_filled_in(app, api_headers, parcel):
    client = app.test_client()
    response = client.post("/api/v1/tickets/", headers=api_headers("alice"), json={
        "type": "complaint", "category": "delay", "subject": "三天没有更新", "waybill_no": parcel["waybill_no"].lower(),
        "reporter_role": "receiver", "reporter_name": "王小明", "reporter_phone": "13912345678"})
    assert response.status_code == 201, response.json
    result = response.json["result"]
    assert result["customer_id"] == parcel["customer_id"]
    assert result["shipment_id"] == parcel["shipment_id"]
    assert result["channel"] == "api" and result["status"] in ("new", "assigned")
    assert result["reporter_phone"] == "139****5678" and result["reporter_name"] != "王小明"
    assert result["regulatory_due"] is not None  # a complaint shows the regulator's 7 days
    with app.app_context():
        ticket = db.session.get(Ticket, response.json["id"])
        assert ticket.reporter_phone == "13912345678"  # stored encrypted, readable by the system
        assert [e.kind for e in ticket.events][0] == "created"
        queued = db.session.scalars(select(JobOutbox.args)).all()
        assert any(args and args[0] == "ticket.created" and args[2]["ticket_id"] == ticket.id for args in queued)


def test_a_second_report_on_the_same_parcel_attaches_to_its_open_ticket(app, api_headers, parcel):
    headers = api_headers("alice")
    client = app.test_client()
    first = client.post("/api/v1/tickets/", headers=headers, json={"subject": "查件", "waybill_no": parcel["waybill_no"]})
    second = client.post("/api/v1/tickets/", headers=headers, json={
        "subject": "还是没到", "waybill_no": parcel["waybill_no"], "priority": "high", "channel": "wechat"})
    assert first.status_code == 201 and second.status_code == 200
    assert second.json["attached"] is True and second.json["id"] == first.json["id"]
    assert second.json["result"]["priority"] == "high"  # the more urgent report raises the ticket
    assert ticket_count(app, shipment_id=parcel["shipment_id"]) == 1
    events = client.get(f"/api/v1/tickets/{first.json['id']}/events", headers=headers).json["result"]
    attached = [e for e in events if e["kind"] == "attached"]
    assert attached and attached[0]["body"] == "还是没到" and attached[0]["data"]["channel"] == "wechat"


@pytest.mark.parametrize("body, field", [
    ({"subject": "x", "waybill_no": "NOSUCH00001"}, "waybill_no"),
    ({"subject": "x", "type": "praise"}, "type"),
    ({"subject": "", "type": "inquiry"}, "subject"),
    ({"subject": "x", "type": "complaint"}, "category"),
    ({"subject": "x", "reporter_phone": "12"}, "reporter_phone"),
    ({"subject": "x", "customer_id": "abc"}, "customer_id"),
    ({"subject": "x", "colour": "red"}, "colour"),
    ({"subject": "x", "custom": ["a"]}, "custom"),
    ({"subject": "x" * 201}, "subject"),
])
def test_bad_reports_are_refused_naming_the_field_and_nothing_is_stored(app, api_headers, body, field):
    before = ticket_count(app)
    response = app.test_client().post("/api/v1/tickets/", headers=api_headers("alice"), json=body)
    assert response.status_code == 422
    assert field in response.json["message"]
    assert ticket_count(app) == before


def test_a_customer_or_parcel_of_another_franchise_is_refused(app, api_headers, ids, parcel):
    with app.app_context(), scope_as(EVERYTHING):
        other = make_customer(ids["B"], name="B 的客户")
        foreign = make_shipment(ids["B"])  # a parcel of B's that never touches A
        db.session.commit()
        other_id, foreign_waybill = other.id, foreign.waybill_no
    client = app.test_client()
    headers = api_headers("alice")
    response = client.post("/api/v1/tickets/", headers=headers, json={"subject": "x", "customer_id": other_id})
    assert response.status_code == 422 and "customer_id" in response.json["message"]
    response = client.post("/api/v1/tickets/", headers=headers, json={"subject": "x", "waybill_no": foreign_waybill})
    assert response.status_code == 422 and "waybill_no" in response.json["message"]


def test_the_destination_franchise_may_open_a_ticket_on_a_parcel_it_delivers(app, api_headers, ids, parcel):
    response = app.test_client().post("/api/v1/tickets/", headers=api_headers("bob"), json={
        "subject": "收件人投诉放驿站", "type": "complaint", "category": "delivery_service",
        "waybill_no": parcel["waybill_no"], "reporter_role": "receiver"})
    assert response.status_code == 201, response.json
    result = response.json["result"]
    # B's ticket on A's parcel: the parcel is linked, A's customer record is not B's to attach
    assert result["franchise_id"] == ids["B"] and result["shipment_id"] == parcel["shipment_id"]
    assert result["customer_id"] is None


def test_an_agent_of_another_franchise_cannot_see_or_work_the_ticket(app, api_headers, parcel):
    created = app.test_client().post("/api/v1/tickets/", headers=api_headers("alice"),
                                     json={"subject": "查件 only A", "type": "inquiry"})
    pk = created.json["id"]
    client = app.test_client()
    bob = api_headers("bob")
    assert client.get(f"/api/v1/tickets/{pk}", headers=bob).status_code == 404
    assert client.post(f"/api/v1/tickets/{pk}/note", headers=bob, json={"body": "hi"}).status_code == 404
    listed = client.get("/api/v1/tickets/?limit=100", headers=bob).json["result"]
    assert pk not in [t["id"] for t in listed]


def test_status_rules_are_enforced_through_the_api(app, api_headers):
    headers = api_headers("alice")
    client = app.test_client()
    pk = client.post("/api/v1/tickets/", headers=headers, json={"subject": "改地址", "type": "address_change"}).json["id"]
    refused = client.post(f"/api/v1/tickets/{pk}/status", headers=headers, json={"status": "resolved"})
    assert refused.status_code == 422 and "resolution_code" in refused.json["message"]
    assert client.get(f"/api/v1/tickets/{pk}", headers=headers).json["result"]["status"] in ("new", "assigned")
    done = client.post(f"/api/v1/tickets/{pk}/status", headers=headers,
                       json={"status": "resolved", "resolution_code": "address_updated"})
    assert done.status_code == 200 and done.json["result"]["status"] == "resolved"
    closed = client.post(f"/api/v1/tickets/{pk}/status", headers=headers, json={"status": "closed"})
    assert closed.status_code == 200
    again = client.post(f"/api/v1/tickets/{pk}/status", headers=headers, json={"status": "resolved"})
    assert again.status_code == 422 and "status" in again.json["message"]
    assert client.post(f"/api/v1/tickets/{pk}/reply", headers=headers, json={"body": "ok"}).status_code == 422


def test_a_reply_is_the_first_response_and_a_note_stays_internal(app, api_headers):
    headers = api_headers("alice")
    client = app.test_client()
    pk = client.post("/api/v1/tickets/", headers=headers, json={"subject": "查件", "type": "inquiry"}).json["id"]
    client.post(f"/api/v1/tickets/{pk}/note", headers=headers, json={"body": "问过网点"})
    response = client.post(f"/api/v1/tickets/{pk}/reply", headers=headers, json={"body": "已联系派送员"})
    assert response.json["result"]["status"] == "in_progress"
    events = client.get(f"/api/v1/tickets/{pk}/events", headers=headers).json["result"]
    kinds = {e["kind"]: e["internal"] for e in events}
    assert kinds["note"] is True and kinds["reply"] is False
    with app.app_context():
        assert db.session.get(Ticket, pk).first_responded_at is not None
    assert client.post(f"/api/v1/tickets/{pk}/reply", headers=headers, json={"body": " "}).status_code == 422


def exception_payload(parcel, kind="LOST", event_id="ev-1"):
    return {"shipment_id": parcel["shipment_id"], "waybill_no": parcel["waybill_no"], "kind": kind,
            "occurred_at": "2026-11-20T08:00:00", "source": "event", "provider": "kuaidi100",
            "detail": "网点报丢失", "event_id": event_id}


def test_an_exception_event_opens_one_urgent_ticket_however_often_it_is_delivered(app, ids, parcel):
    with app.app_context():
        payload = exception_payload(parcel)
        deliver("shipment.exception", ids["A"], payload)
        deliver("shipment.exception", ids["A"], payload)  # the outbox delivers at least once
        tickets = db.session.scalars(select(Ticket).where(Ticket.shipment_id == parcel["shipment_id"])).all()
        assert len(tickets) == 1
        ticket = tickets[0]
        assert (ticket.type, ticket.priority, ticket.category, ticket.channel) == ("exception", "urgent", "lost",
                                                                                   "system")
        assert ticket.customer_id == parcel["customer_id"] and ticket.exception_kind == "LOST"
        assert db.session.scalar(select(func.count()).select_from(ExceptionTicketLink)) == 1


def test_another_exception_kind_on_a_parcel_with_an_open_ticket_attaches_to_it(app, ids, parcel):
    with app.app_context():
        deliver("shipment.exception", ids["A"], exception_payload(parcel, kind="STALLED", event_id="e1"))
        deliver("shipment.exception", ids["A"], exception_payload(parcel, kind="DAMAGED", event_id="e2"))
        tickets = db.session.scalars(select(Ticket).where(Ticket.shipment_id == parcel["shipment_id"])).all()
        assert len(tickets) == 1
        assert tickets[0].priority == "urgent"  # damaged raised the stalled parcel's ticket
        kinds = [e.kind for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == tickets[0].id))]
        assert "attached" in kinds


def test_exception_events_reach_the_ticket_through_the_outbox(app, ids, parcel):
    with app.app_context():
        emit("shipment.exception", ids["A"], exception_payload(parcel, kind="DAMAGED", event_id="outbox-1"))
        db.session.commit()  # without Redis the job runs in-process after the commit
        assert ticket_count(app, shipment_id=parcel["shipment_id"], type="exception") == 1


def test_a_delivered_parcel_is_noted_on_its_open_ticket(app, ids, parcel):
    with app.app_context():
        deliver("shipment.exception", ids["A"], exception_payload(parcel, kind="STALLED"))
        event = {"shipment_id": parcel["shipment_id"], "waybill_no": parcel["waybill_no"],
                 "delivered_at": "2026-11-21T10:00:00", "event_id": "d1"}
        deliver("shipment.delivered", ids["A"], event)
        deliver("shipment.delivered", ids["A"], event)
        ticket = db.session.scalar(select(Ticket).where(Ticket.shipment_id == parcel["shipment_id"]))
        notes = [e for e in ticket.events if e.kind == "note" and (e.data or {}).get("delivered")]
        assert len(notes) == 1


def test_the_fast_form_lookup_finds_the_parcel_and_its_open_ticket(app, client_for, api_headers, parcel):
    created = app.test_client().post("/api/v1/tickets/", headers=api_headers("alice"),
                                     json={"subject": "查件", "waybill_no": parcel["waybill_no"]})
    with app.test_request_context():
        from flask import g

        from plugins.tickets.desk.intake import lookup

        with app.app_context():
            from flask_appbuilder.security.sqla.models import User

            g.user = db.session.scalar(select(User).where(User.username == "alice"))
            found = lookup(waybill_no=parcel["waybill_no"])
            assert [s["id"] for s in found["shipments"]] == [parcel["shipment_id"]]
            assert found["open_ticket"]["id"] == created.json["id"]
            g.user = db.session.scalar(select(User).where(User.username == "nobody"))
            g.pop("_crm_scope", None)
            assert lookup(waybill_no=parcel["waybill_no"])["shipments"] == []


def test_a_new_ticket_is_dispatched_assigned_and_its_clocks_started_in_one_go(app, api_headers, ids):
    from flask_appbuilder.security.sqla.models import User

    from plugins.tickets.routing.models import DispatchRule, Team, TeamMember
    from plugins.tickets.sla.models import SlaPolicy

    with app.app_context(), scope_as(EVERYTHING):
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        team = Team(franchise_id=ids["A"], name="改址组")
        db.session.add_all([team, TeamMember(franchise_id=ids["A"], team=team, user=alice),
                            DispatchRule(franchise_id=ids["A"], name="改址", types=["address_change"], team=team),
                            SlaPolicy(franchise_id=ids["A"], name="改址时效", types=["address_change"],
                                      first_response_minutes=30, resolution_minutes=240)])
        db.session.commit()
        team_id, alice_id = team.id, alice.id
    response = app.test_client().post("/api/v1/tickets/", headers=api_headers("hq"), json={
        "subject": "改到公司地址", "type": "address_change", "franchise_id": ids["A"]})
    assert response.status_code == 201, response.json
    result = response.json["result"]
    assert (result["team_id"], result["assignee_id"], result["status"]) == (team_id, alice_id, "assigned")
    assert result["first_response_due"] and result["resolution_due"]
    with app.app_context():
        ticket = db.session.get(Ticket, result["id"])
        assert [e.kind for e in sorted(ticket.events, key=lambda e: e.id)] == ["created", "team", "assigned", "status"]
        assert ticket.next_due_at == ticket.first_response_due


def test_a_ticket_remembers_where_its_parcel_was_last_scanned_for_the_reports(app, api_headers, ids, parcel):
    import datetime as dt

    from core.models import TrackingEvent

    with app.app_context(), scope_as(EVERYTHING):
        for hours, place in ((30, "义乌分拨中心"), (6, "杭州转运中心")):
            db.session.add(TrackingEvent(franchise_id=ids["A"], shipment_id=parcel["shipment_id"], status="IN_TRANSIT",
                                         occurred_at=dt.datetime(2026, 11, 20) - dt.timedelta(hours=hours),
                                         location=place, raw_code=str(hours)))
        db.session.commit()
    response = app.test_client().post("/api/v1/tickets/", headers=api_headers("alice"), json={
        "subject": "延误", "type": "complaint", "category": "delay", "waybill_no": parcel["waybill_no"]})
    with app.app_context():
        assert db.session.get(Ticket, response.json["id"]).transfer_centre == "杭州转运中心"
