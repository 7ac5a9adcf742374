"""Exception parcels open tickets by themselves.

The integrations plugin raises `shipment.exception` once per (shipment, kind); the outbox may deliver it
more than once. A unique link row per (shipment, kind) makes the ticket appear exactly once: a redelivery
finds the link and does nothing. A parcel that already has an open ticket gets a timeline line on it
instead of a second ticket.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.clock import utcnow
from core.extensions import db
from core.models import Shipment
from core.models.statuses import STATUSES
from core.tenancy import Scope, scope_as
from plugins.tickets import choices
from plugins.tickets.desk.intake import open_new
from plugins.tickets.models import ExceptionTicketLink, Ticket, open_ticket_for_shipment
from plugins.tickets.workflow import record, set_priority


def on_domain_event(event: str, franchise_id: int, payload: dict) -> None:
    if event == "shipment.exception":
        with scope_as(Scope(False, frozenset({franchise_id}))):
            ticket_for_exception(franchise_id, payload)
    elif event == "shipment.delivered":
        with scope_as(Scope(False, frozenset({franchise_id}))):
            note_delivery(payload)


def ticket_for_exception(franchise_id: int, payload: dict) -> Ticket | None:
    """Open (or attach to) the ticket of this exception, once; commits. Returns the ticket (None if ignored)."""
    shipment = db.session.get(Shipment, payload.get("shipment_id"))
    kind = payload.get("kind")
    if shipment is None or not kind or shipment.franchise_id != franchise_id:
        return None
    existing = db.session.scalar(select(ExceptionTicketLink.ticket_id).where(
        ExceptionTicketLink.shipment_id == shipment.id, ExceptionTicketLink.kind == kind))
    if existing is not None:
        return db.session.get(Ticket, existing)
    ticket = open_ticket_for_shipment(db.session, shipment.id)
    detail = _describe(kind, payload)
    if ticket is not None:
        record(ticket, "attached", None, body=detail, internal=False,
               data={"channel": "system", "exception_kind": kind, "event_id": payload.get("event_id")})
        if kind in choices.URGENT_EXCEPTIONS:
            set_priority(ticket, "urgent", None, reason=detail)
    else:
        ticket = Ticket(franchise_id=franchise_id, type="exception", channel="system",
                        category=choices.EXCEPTION_CATEGORY.get(kind, "other"),
                        priority="urgent" if kind in choices.URGENT_EXCEPTIONS else "normal",
                        subject=str(_l("%(kind)s: %(waybill)s", kind=_kind_label(kind), waybill=shipment.waybill_no)),
                        description=detail, shipment=shipment, waybill_no=shipment.waybill_no,
                        customer_id=shipment.customer_id, reporter_role="other",
                        created_at=_parse_time(payload.get("occurred_at")) or utcnow())
        open_new(ticket, None, exception_kind=kind)
    db.session.add(ExceptionTicketLink(franchise_id=franchise_id, shipment_id=shipment.id, kind=kind,
                                       ticket_id=ticket.id, event_id=payload.get("event_id")))
    try:
        db.session.commit()
    except IntegrityError:
        # a concurrent delivery of the same event won the race: its ticket stands, ours is undone
        db.session.rollback()
        return db.session.get(Ticket, db.session.scalar(select(ExceptionTicketLink.ticket_id).where(
            ExceptionTicketLink.shipment_id == shipment.id, ExceptionTicketLink.kind == kind)))
    return ticket


def note_delivery(payload: dict) -> None:
    """A delivered parcel settles waiting and stall exceptions: say so on its open tickets; commits."""
    tickets = db.session.scalars(select(Ticket).where(Ticket.shipment_id == payload.get("shipment_id"),
                                                      Ticket.is_open.is_(True))).all()
    for ticket in tickets:
        already = any(e.kind == "note" and (e.data or {}).get("event_id") == payload.get("event_id")
                      for e in ticket.events)
        if not already:
            record(ticket, "note", None, body=str(_l("The parcel was delivered at %(time)s.",
                                                     time=payload.get("delivered_at") or "")),
                   data={"event_id": payload.get("event_id"), "delivered": True})
    db.session.commit()


def _kind_label(kind: str) -> str:
    if kind == "STALLED":
        return str(_l("No tracking update"))
    status = STATUSES.get(kind)
    return str(status.label) if status is not None else kind


def _describe(kind: str, payload: dict) -> str:
    parts = [_kind_label(kind)]
    if payload.get("detail"):
        parts.append(str(payload["detail"]))
    if payload.get("occurred_at"):
        parts.append(str(payload["occurred_at"]))
    return " · ".join(parts)


def _parse_time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return min(moment, utcnow())
