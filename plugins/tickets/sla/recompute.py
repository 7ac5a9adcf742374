"""After a policy, calendar, calendar day or peak season changed: recompute the due times of the franchise's
open tickets from their timelines, in chunks (keyset by id, one commit each), so memory stays flat and a
long run never holds one huge transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from core import jobs
from core.clock import utcnow
from core.extensions import db
from plugins.tickets.models import Ticket, TicketEvent
from plugins.tickets.routing.models import Team
from plugins.tickets.sla.clock import apply_clocks, compute_clocks, timeline_of
from plugins.tickets.sla.config import config_for
from plugins.tickets.sla.policy import choose_calendar, choose_policy

CHUNK = 1000


def schedule_recompute(franchise_id: int) -> None:
    """Queue the recompute in the caller's transaction: it runs once the configuration change commits."""
    jobs.enqueue(recompute_open_tickets, franchise_id, franchise_id=franchise_id, queue="low")


def recompute_open_tickets(franchise_id: int, chunk_size: int = CHUNK, now: datetime | None = None) -> int:
    """Job: re-choose the policy and recompute the due times of every open ticket of the franchise.
    Commits per chunk; returns the number of tickets looked at."""
    now = now or utcnow()
    session = db.session
    config = config_for(franchise_id)
    team_calendars = dict(session.execute(
        select(Team.id, Team.calendar_id).where(Team.franchise_id == franchise_id)).all())
    last_id, done = 0, 0
    while True:
        tickets = list(session.scalars(
            select(Ticket).where(Ticket.franchise_id == franchise_id, Ticket.is_open.is_(True), Ticket.id > last_id)
            .order_by(Ticket.id).limit(chunk_size)))
        if not tickets:
            return done
        timelines: dict[int, list] = {}
        for event in session.execute(
                select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.data)
                .where(TicketEvent.ticket_id.in_([t.id for t in tickets]),
                       TicketEvent.kind.in_(("created", "status")))
                .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)):
            timelines.setdefault(event.ticket_id, []).append(event)
        for ticket in tickets:
            policy = choose_policy(ticket, config)
            calendar = choose_calendar(ticket, policy, config, team_calendars)
            created_at, initial, changes = timeline_of(ticket, timelines.get(ticket.id, ()))
            clocks = compute_clocks(created_at=created_at, ticket_type=ticket.type, initial_status=initial,
                                    changes=changes, first_responded_at=ticket.first_responded_at, policy=policy,
                                    calendar=calendar, peak_factor=config.peak_factor(created_at))
            apply_clocks(ticket, clocks, policy, now)
        done += len(tickets)
        last_id = tickets[-1].id
        session.commit()
        for ticket in tickets:  # the chunk's objects go: memory does not grow with the number of tickets
            session.expunge(ticket)
