"""What may happen to a ticket, and the timeline line each change leaves.

Every change of status, priority, team or assignee goes through here so that the timeline (who, when,
what) is complete: the SLA clocks are derived from it. Functions change the session and do not commit.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.clock import utcnow
from core.errors import UserInputError
from core.events import emit
from core.extensions import db
from core.tenancy import may_write
from plugins.tickets import choices
from plugins.tickets.models import Ticket, TicketEvent
from plugins.tickets.sla.clock import refresh


class TicketError(UserInputError):
    """A refused change, naming the field it is about (forms show it there, the API answers 422 with it)."""

    def __init__(self, field: str, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


def user_id_of(user) -> int | None:
    return getattr(user, "id", None) if user is not None else None


def record(ticket: Ticket, kind: str, user=None, body: str | None = None, internal: bool = True,
           data: dict | None = None, at=None) -> TicketEvent:
    """Add a line to the ticket's timeline."""
    event = TicketEvent(ticket=ticket, franchise_id=ticket.franchise_id, kind=kind, user_id=user_id_of(user),
                        body=body, internal=internal, data=data, at=at or utcnow())
    db.session.add(event)
    ticket.updated_at = event.at
    return event


def require_owner(ticket: Ticket, field: str) -> None:
    """An invited franchise works the ticket through notes and replies; its status, priority, team and
    assignee stay the owner's to change."""
    if not may_write(Ticket, ticket.franchise_id):
        raise TicketError(field, _l("only the franchise that owns this ticket can change this"))


def status_problem(ticket: Ticket, to: str, resolution_code: str | None = None) -> TicketError | None:
    """Why the ticket cannot move to `to`, naming the field (or None)."""
    if to not in choices.STATUSES:
        return TicketError("status", _l("not one of: %(values)s", values=", ".join(choices.STATUSES)))
    if to == ticket.status:
        return None
    if to not in choices.TRANSITIONS.get(ticket.status, ()):
        return TicketError("status", _l("a %(from)s ticket cannot become %(to)s", **{
            "from": choices.label(choices.STATUSES, ticket.status), "to": choices.label(choices.STATUSES, to)}))
    code = resolution_code or ticket.resolution_code
    if to in choices.DONE_STATUSES and not code:
        return TicketError("resolution_code", _l("a resolution code is required to resolve or close a ticket"))
    if code and code not in choices.RESOLUTION_CODES:
        return TicketError("resolution_code", _l("unknown resolution code %(code)s", code=code))
    return None


def change_status(ticket: Ticket, to: str, user=None, resolution_code: str | None = None,
                  note: str | None = None, at=None) -> None:
    """Move the ticket to status `to`, or raise TicketError naming the field."""
    problem = status_problem(ticket, to, resolution_code)
    if problem is not None:
        raise problem
    if to == ticket.status:
        return
    now = at or utcnow()
    before = ticket.status
    if resolution_code:
        ticket.resolution_code = resolution_code
    if note:
        ticket.resolution_note = note
    ticket.status = to
    ticket.is_open = to in choices.OPEN_STATUSES
    ticket.sla_paused = to in choices.PAUSED_STATUSES
    if to == "resolved":
        ticket.resolved_at = now
    elif to == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif before in choices.DONE_STATUSES:  # a reopen: the ticket is worked again
        ticket.reopened_count = (ticket.reopened_count or 0) + 1
        ticket.resolved_at = ticket.closed_at = None
        ticket.resolution_code = None
    record(ticket, "status", user, body=note, data={"from": before, "to": to, "resolution_code": resolution_code},
           at=now)
    refresh(ticket)
    if to == "closed":
        _on_closed(ticket)
    if to == "resolved":
        emit("ticket.resolved", ticket.franchise_id, event_payload(ticket))


def set_priority(ticket: Ticket, to: str, user=None, reason: str | None = None) -> None:
    if to not in choices.PRIORITIES:
        raise TicketError("priority", _l("not one of: %(values)s", values=", ".join(choices.PRIORITIES)))
    if to == ticket.priority:
        return
    before, ticket.priority = ticket.priority, to
    record(ticket, "priority", user, body=reason, data={"from": before, "to": to})
    refresh(ticket)


def reply(ticket: Ticket, user, body: str) -> TicketEvent:
    """A reply to the customer: the first one is the first response."""
    body = (body or "").strip()
    if not body:
        raise TicketError("body", _l("required"))
    if ticket.status == "closed":
        raise TicketError("status", _l("a closed ticket takes no replies; reopen it first"))
    event = record(ticket, "reply", user, body=body, internal=False)
    ticket.last_agent_reply_at = event.at
    if ticket.first_responded_at is None:
        ticket.first_responded_at = event.at
    if ticket.status in ("new", "assigned"):
        change_status(ticket, "in_progress", user, at=event.at)
    else:
        refresh(ticket)
    return event


def note(ticket: Ticket, user, body: str) -> TicketEvent:
    """An internal note: colleagues see it, the customer never does."""
    body = (body or "").strip()
    if not body:
        raise TicketError("body", _l("required"))
    return record(ticket, "note", user, body=body, internal=True)


def customer_reply(ticket: Ticket, body: str, channel: str | None = None) -> TicketEvent:
    """A message from the customer: it restarts a paused clock and may reopen a recently finished ticket."""
    from plugins.tickets.followup.service import reopen_window_open  # followup builds on this module

    body = (body or "").strip()
    if not body:
        raise TicketError("body", _l("required"))
    event = record(ticket, "customer_reply", None, body=body, internal=False,
                   data={"channel": channel} if channel else None)
    ticket.last_customer_reply_at = event.at
    if ticket.status == "waiting":
        change_status(ticket, "in_progress", at=event.at)
    elif ticket.status in choices.DONE_STATUSES and reopen_window_open(ticket, event.at):
        change_status(ticket, "in_progress", note=str(_l("Reopened by the customer's reply")), at=event.at)
    return event


def _on_closed(ticket: Ticket) -> None:
    from plugins.tickets.followup.service import on_closed  # followup builds on this module

    on_closed(ticket)
    emit("ticket.closed", ticket.franchise_id, event_payload(ticket))


def event_payload(ticket: Ticket) -> dict:
    return {"ticket_id": ticket.id, "type": ticket.type, "category": ticket.category,
            "customer_id": ticket.customer_id, "shipment_id": ticket.shipment_id, "waybill_no": ticket.waybill_no,
            "channel": ticket.channel, "resolution_code": ticket.resolution_code,
            "team_id": ticket.team_id, "assignee_id": ticket.assignee_id}
