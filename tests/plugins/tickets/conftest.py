"""The tickets plugin switched on for every franchise of the test network, and small builders of the
rows ticket tests start from (customers, shipments, tickets as intake would leave them)."""

from __future__ import annotations

import itertools

import pytest

from core.extensions import db
from core.models import Customer, Shipment
from core.plugins import set_activation
from plugins.tickets.choices import OPEN_STATUSES
from plugins.tickets.models import Ticket, TicketEvent

_serial = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def tickets_active(app):
    with app.app_context():
        set_activation("tickets", enabled=True)
        db.session.commit()
    yield


def make_customer(franchise_id: int, name: str = "杭州快货电商", kind: str = "B", **values) -> Customer:
    customer = Customer(franchise_id=franchise_id, kind=kind, name=name, **values)
    db.session.add(customer)
    db.session.flush()
    return customer


def make_shipment(franchise_id: int, customer=None, waybill_no: str | None = None, **values) -> Shipment:
    shipment = Shipment(franchise_id=franchise_id, customer=customer,
                        waybill_no=waybill_no or f"YT{next(_serial):010d}", **values)
    db.session.add(shipment)
    db.session.flush()
    return shipment


def make_ticket(franchise_id: int, subject: str = "查件", created_at=None, **values) -> Ticket:
    """A ticket row with its "created" timeline line, without dispatch or SLA (tests of those call them)."""
    ticket = Ticket(franchise_id=franchise_id, subject=subject, **values)
    if "next_due_at" not in values and values.get("status", "new") in OPEN_STATUSES and not values.get("sla_paused"):
        # what sla.clock.refresh would keep: the due time the ticket races now
        ticket.next_due_at = (ticket.first_response_due if ticket.first_responded_at is None
                              and ticket.first_response_due is not None else ticket.resolution_due)
    if created_at is not None:
        ticket.created_at = ticket.updated_at = created_at
    db.session.add(ticket)
    db.session.flush()
    db.session.add(TicketEvent(ticket=ticket, franchise_id=franchise_id, kind="created", at=ticket.created_at,
                               body=ticket.description,
                               internal=False, data={"channel": ticket.channel}))
    db.session.flush()
    return ticket
