"""Cross-franchise tickets: the other franchise of a ticket's parcel (origin or destination) is invited as a
participant and then sees that ticket, and its timeline, only. Sharing is this list, never a wider scope.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.tenancy import Franchise, Scope, ScopedInterface, current_scope
from plugins.tickets import workflow
from plugins.tickets.models import Ticket, TicketEvent, TicketParticipant
from plugins.tickets.workflow import TicketError

PLUGIN = "tickets"
FIELD = "participant_franchise"
ROLES = {"origin": _l("Origin franchise"), "destination": _l("Destination franchise")}


def invitable_franchises(ticket: Ticket) -> dict[int, str]:
    """{franchise id: role} of the parcel's franchises other than the ticket's own."""
    shipment = ticket.shipment
    if shipment is None:
        return {}
    found = {}
    for franchise_id, role in ((shipment.franchise_id, "origin"), (shipment.dest_franchise_id, "destination")):
        if franchise_id is not None and franchise_id != ticket.franchise_id:
            found.setdefault(franchise_id, role)
    return found


def participant(ticket_id: int, franchise_id: int) -> TicketParticipant | None:
    return db.session.scalar(select(TicketParticipant).where(
        TicketParticipant.ticket_id == ticket_id, TicketParticipant.participant_franchise_id == franchise_id))


def invite(ticket: Ticket, franchise_id: int, user=None, role: str | None = None) -> TicketParticipant:
    """Invite the other franchise of the ticket's parcel; raises TicketError("participant_franchise", ...)
    for any other franchise, the ticket's own, or a second invitation. `role` defaults to the franchise's
    place on the route; given, it must agree with it."""
    allowed = invitable_franchises(ticket)
    if franchise_id == ticket.franchise_id:
        raise TicketError(FIELD, _l("a ticket's own franchise is not invited"))
    if franchise_id not in allowed:
        raise TicketError(FIELD, _l("only the other franchise of the ticket's parcel (origin or destination) "
                                    "can be invited"))
    if role is not None and role != allowed[franchise_id]:
        raise TicketError("role", _l("this franchise is the parcel's %(role)s",
                                     role=ROLES.get(allowed[franchise_id], allowed[franchise_id])))
    role = allowed[franchise_id]
    if participant(ticket.id, franchise_id) is not None:
        raise TicketError(FIELD, _l("this franchise is already a participant"))
    row = TicketParticipant(ticket_id=ticket.id, franchise_id=ticket.franchise_id,
                            participant_franchise_id=franchise_id, role=role,
                            invited_by_id=workflow.user_id_of(user))
    try:
        with db.session.begin_nested():  # two people inviting at once: the unique key decides
            db.session.add(row)
    except IntegrityError:
        raise TicketError(FIELD, _l("this franchise is already a participant")) from None
    workflow.record(ticket, "participant", user, data={"action": "invited", "franchise_id": franchise_id,
                                                       "franchise": _franchise_name(franchise_id), "role": role})
    return row


def revoke(ticket: Ticket, franchise_id: int, user=None) -> bool:
    """End a franchise's participation: it no longer sees the ticket. False if it was not a participant."""
    removed = db.session.execute(delete(TicketParticipant).where(
        TicketParticipant.ticket_id == ticket.id, TicketParticipant.participant_franchise_id == franchise_id)
    ).rowcount
    if removed:
        workflow.record(ticket, "participant", user, data={"action": "revoked", "franchise_id": franchise_id,
                                                           "franchise": _franchise_name(franchise_id)})
    return bool(removed)


def _franchise_name(franchise_id: int) -> str | None:
    return db.session.scalar(select(Franchise.name).where(Franchise.id == franchise_id))


def _where_active(scope: Scope) -> Scope:
    """The scope narrowed to franchises where tickets are active (what `model_scope(Ticket)` gives for the
    current user, for any scope)."""
    plugins = current_app.extensions.get("crm_plugins") if has_app_context() else None
    if plugins is None or (scope.all and plugins.active_everywhere(PLUGIN)):
        return scope
    return plugins.scope_where_active(PLUGIN, scope)


def shared_ticket_ids(scope: Scope):
    """The ids of tickets the scope's franchises were invited to (a subquery)."""
    return select(TicketParticipant.ticket_id).where(scope.criterion(TicketParticipant.participant_franchise_id))


def visible_tickets_criterion(scope: Scope | None = None, ticket_id_column=None):
    """The condition for the tickets a scope sees (None: all): its franchises' own tickets, and those its
    franchises take part in, counting only franchises where the tickets plugin is active.

    `ticket_id_column` applies the same rule to rows of a ticket (e.g. `TicketEvent.ticket_id`), whose
    franchise column is the ticket owner's.
    """
    scope = _where_active(current_scope() if scope is None else scope)
    if scope.all:
        return None
    if not scope.franchise_ids:
        return scope.criterion(Ticket.franchise_id)  # false()
    if ticket_id_column is None:
        own, ids = scope.criterion(Ticket.franchise_id), Ticket.id
    else:
        own, ids = scope.criterion(ticket_id_column.table.c.franchise_id), ticket_id_column
    return or_(own, ids.in_(shared_ticket_ids(scope)))


class TicketInterface(ScopedInterface):
    """The scoped interface of tickets and their timeline, with shared tickets included. Writes keep the
    ordinary scope check: a participant works a ticket through the workflow (notes, replies), it cannot
    edit or delete the owner's row."""

    def criterion(self):
        if self.obj is Ticket:
            return visible_tickets_criterion()
        if self.obj is TicketEvent:
            return visible_tickets_criterion(ticket_id_column=TicketEvent.ticket_id)
        return super().criterion()
