"""Cross-franchise tickets: the parcel's other franchise, once invited, sees that one ticket and its timeline
and can add notes; it sees no other ticket of the owner, and revoking hides the ticket again."""

from __future__ import annotations

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from core.extensions import db
from core.plugins import set_activation
from core.tenancy import EVERYTHING, Franchise, Region, Scope, scope_as
from plugins.tickets import workflow
from plugins.tickets.models import Ticket, TicketEvent, TicketParticipant
from plugins.tickets.routing.sharing import TicketInterface, invite, revoke, visible_tickets_criterion
from plugins.tickets.workflow import TicketError
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket


@pytest.fixture
def case(app, ids):
    """Ticket X of A about a parcel A sends to B, and another ticket of A (Y)."""
    with app.app_context(), scope_as(EVERYTHING):
        customer = make_customer(ids["A"])
        parcel = make_shipment(ids["A"], customer=customer, dest_franchise_id=ids["B"])
        x = make_ticket(ids["A"], subject="派送站未经同意代收", shipment_id=parcel.id, waybill_no=parcel.waybill_no)
        y = make_ticket(ids["A"], subject="另一张工单")
        local = make_shipment(ids["A"])
        z = make_ticket(ids["A"], subject="本地件", shipment_id=local.id)
        db.session.commit()
        return {"x": x.id, "y": y.id, "z": z.id}


def visible_ids(franchise_id, interface_model=Ticket):
    with scope_as(Scope(False, frozenset({franchise_id}))):
        interface = TicketInterface(interface_model)
        return {row.id for row in interface.session.query(interface_model).filter(interface.criterion())}


def test_the_invited_franchise_sees_that_ticket_only_and_works_it_with_notes(app, ids, case):
    with app.app_context(), scope_as(EVERYTHING):
        x = db.session.get(Ticket, case["x"])
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        assert case["x"] not in visible_ids(ids["B"])
        invite(x, ids["B"], alice)
        db.session.commit()
        line = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == x.id,
                                                           TicketEvent.kind == "participant"))
        assert line.data["franchise_id"] == ids["B"] and line.data["role"] == "destination"

        seen_by_b = visible_ids(ids["B"])
        assert case["x"] in seen_by_b and not {case["y"], case["z"]} & seen_by_b
        with scope_as(Scope(False, frozenset({ids["B"]}))):
            interface = TicketInterface(Ticket)
            assert interface.get(case["x"]).subject == "派送站未经同意代收"
            assert interface.get(case["y"]) is None
            bob = db.session.scalar(select(User).where(User.username == "bob"))
            workflow.note(interface.get(case["x"]), bob, "已联系派送站, 明天重新投递")
            db.session.commit()
        timeline = visible_ids(ids["B"], TicketEvent)
        assert {e.id for e in db.session.get(Ticket, case["x"]).events} <= timeline
        assert not {e.id for e in db.session.get(Ticket, case["y"]).events} & timeline
        assert case["x"] in visible_ids(ids["A"])  # the owner keeps it, with B's note
        assert "已联系派送站, 明天重新投递" in [e.body for e in db.session.get(Ticket, case["x"]).events]

        assert revoke(x, ids["B"], alice) is True
        db.session.commit()
        assert case["x"] not in visible_ids(ids["B"])
        assert revoke(x, ids["B"], alice) is False


def test_only_the_parcels_other_franchise_can_be_invited_and_only_once(app, ids, case):
    with app.app_context(), scope_as(EVERYTHING):
        x, y, z = (db.session.get(Ticket, case[k]) for k in ("x", "y", "z"))
        region = db.session.get(Region, ids["R2"])
        c = Franchise(code=f"C{case['x']}", name="Franchise C", region=region)
        db.session.add(c)
        db.session.commit()
        for ticket, franchise_id in ((x, ids["A"]), (x, c.id), (y, ids["B"]), (z, ids["B"])):
            with pytest.raises(TicketError) as refused:
                invite(ticket, franchise_id)
            assert refused.value.field == "participant_franchise"
        with pytest.raises(TicketError) as refused:
            invite(x, ids["B"], role="origin")
        assert refused.value.field == "role"
        invite(x, ids["B"])
        db.session.commit()
        with pytest.raises(TicketError) as refused:
            invite(x, ids["B"])
        assert refused.value.field == "participant_franchise"
        db.session.rollback()
        assert len(db.session.scalars(select(TicketParticipant).where(TicketParticipant.ticket_id == x.id)).all()) == 1


def test_a_franchise_without_the_tickets_plugin_sees_no_shared_ticket(app, ids, case):
    with app.app_context(), scope_as(EVERYTHING):
        invite(db.session.get(Ticket, case["x"]), ids["B"])
        db.session.commit()
        assert case["x"] in visible_ids(ids["B"])
        set_activation("tickets", enabled=False, franchise_id=ids["B"])
        db.session.commit()
        try:
            assert case["x"] not in visible_ids(ids["B"])
            assert visible_tickets_criterion(Scope(False, frozenset({ids["B"]}))) is not None
        finally:
            set_activation("tickets", enabled=True, franchise_id=ids["B"])
            db.session.commit()
        assert visible_tickets_criterion(EVERYTHING) is None  # HQ: no condition at all


def test_through_the_api_an_agent_of_the_invited_franchise_reads_and_notes_that_ticket_only(app, ids, case,
                                                                                           api_headers):
    client, headers = app.test_client(), api_headers("bob")
    assert client.get(f"/api/v1/tickets/{case['x']}", headers=headers).status_code == 404
    with app.app_context(), scope_as(EVERYTHING):
        invite(db.session.get(Ticket, case["x"]), ids["B"])
        db.session.commit()
    assert client.get(f"/api/v1/tickets/{case['x']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/tickets/{case['y']}", headers=headers).status_code == 404
    noted = client.post(f"/api/v1/tickets/{case['x']}/note", headers=headers, json={"body": "目的地网点已核实"})
    assert noted.status_code == 200, noted.json
    timeline = client.get(f"/api/v1/tickets/{case['x']}/events", headers=headers).json["result"]
    assert "目的地网点已核实" in [line.get("body") for line in timeline]
    listed = client.get("/api/v1/tickets/", headers=headers).json["result"]
    assert case["x"] in [t["id"] for t in listed] and case["y"] not in [t["id"] for t in listed]
    with app.app_context(), scope_as(EVERYTHING):
        revoke(db.session.get(Ticket, case["x"]), ids["B"])
        db.session.commit()
    assert client.get(f"/api/v1/tickets/{case['x']}", headers=headers).status_code == 404
