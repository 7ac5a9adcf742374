"""What tickets hold about a customer, for the data-subject export and erase (PIPL art. 45 and 47)."""

from __future__ import annotations

from sqlalchemy import select, update

from core.extensions import db
from plugins.tickets.models import Ticket, TicketEvent


def customer_data(customer) -> dict:
    tickets = db.session.scalars(select(Ticket).where(Ticket.customer_id == customer.id).order_by(Ticket.id)).all()
    return {"tickets": [{
        "number": t.number, "created_at": t.created_at.isoformat(), "type": t.type, "category": t.category,
        "status": t.status, "subject": t.subject, "description": t.description, "waybill_no": t.waybill_no,
        "reporter_role": t.reporter_role, "reporter_name": t.reporter_name, "reporter_phone": t.reporter_phone,
        "replies": [e.body for e in t.events if not e.internal and e.body],
    } for t in tickets]}


def erase_customer(customer) -> None:
    """Tickets keep their type, category, times and outcome (the statistics); the words and the person go.
    Called inside the erase's transaction."""
    ticket_ids = select(Ticket.id).where(Ticket.customer_id == customer.id).scalar_subquery()
    db.session.execute(update(Ticket).where(Ticket.customer_id == customer.id).values(
        reporter_name=None, reporter_phone_enc=None, reporter_phone_hash=None, description=None,
        subject="—").execution_options(synchronize_session=False))
    db.session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.body.is_not(None))
                       .values(body=None).execution_options(synchronize_session=False))
