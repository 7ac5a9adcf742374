"""What the ticket page shows: the header facts, the timeline with names resolved in bulk, and the choices
its action forms offer (transitions, team members, teams, franchises to invite)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.clock import utcnow
from core.extensions import db
from core.privacy import masked
from core.tenancy import Franchise
from plugins.tickets import choices
from plugins.tickets.desk.display import is_overdue, label, local_time
from plugins.tickets.kb.replies import render, suggest
from plugins.tickets.models import Ticket, TicketEvent, TicketParticipant
from plugins.tickets.routing import sharing
from plugins.tickets.routing.models import Team, TeamMember


@dataclass
class Due:
    """One SLA due time with its badges."""

    at: str
    overdue: bool
    paused: bool


@dataclass
class RegulatoryDue:
    at: str
    days: int
    overdue: bool
    answered: bool


@dataclass
class TimelineLine:
    at: str
    kind: str
    kind_label: str
    who: str
    body: str | None
    internal: bool
    details: list[str] = field(default_factory=list)


def sla_dues(ticket: Ticket) -> dict[str, Due]:
    """First response (until given) and resolution due times, marked overdue or paused."""
    dues = {}
    open_ = ticket.is_open
    if ticket.first_response_due is not None and ticket.first_responded_at is None:
        dues["first_response"] = Due(local_time(ticket.first_response_due),
                                     is_overdue(ticket.first_response_due, ticket.sla_paused, open_),
                                     bool(ticket.sla_paused and open_))
    if ticket.resolution_due is not None:
        dues["resolution"] = Due(local_time(ticket.resolution_due),
                                 is_overdue(ticket.resolution_due, ticket.sla_paused, open_),
                                 bool(ticket.sla_paused and open_))
    return dues


def regulatory_due(ticket: Ticket) -> RegulatoryDue | None:
    """Complaints: the regulator's answer deadline (calendar days from the report), late when not answered
    (resolved) by then."""
    if ticket.type != "complaint":
        return None
    due = ticket.regulatory_due or (ticket.created_at + timedelta(days=choices.COMPLAINT_ANSWER_DAYS))
    answered_at = ticket.resolved_at
    overdue = (answered_at or utcnow()) > due
    return RegulatoryDue(local_time(due), choices.COMPLAINT_ANSWER_DAYS, overdue, answered_at is not None)


def reporter_facts(ticket: Ticket) -> dict[str, str]:
    return {"role": label("reporter_role", ticket.reporter_role), "name": ticket.reporter_masked,
            "phone": masked(ticket, "reporter_phone")}


def timeline(ticket: Ticket) -> list[TimelineLine]:
    """The ticket's events, oldest first; people and teams a change names are read in one query each."""
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                .options(selectinload(TicketEvent.user))
                                .order_by(TicketEvent.at, TicketEvent.id)).all()
    user_ids, team_ids = set(), set()
    for event in events:
        data = event.data or {}
        if event.kind == "assigned":
            user_ids.update(v for v in (data.get("from"), data.get("to")) if isinstance(v, int))
        elif event.kind == "team":
            team_ids.update(v for v in (data.get("from"), data.get("to")) if isinstance(v, int))
    users = _names(User, user_ids, lambda u: u.username)
    teams = _names(Team, team_ids, lambda t: t.name)
    return [TimelineLine(at=local_time(e.at), kind=e.kind, kind_label=label("event", e.kind),
                         who=_who(e), body=e.body, internal=bool(e.internal), details=_details(e, users, teams))
            for e in events]


def _names(model, ids, name_of) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: name_of(row) for row in db.session.scalars(select(model).where(model.id.in_(sorted(ids))))}


def _who(event: TicketEvent) -> str:
    # empty: the customer (their messages) or the system; the template names which
    return event.user.username if event.user is not None else ""


def _details(event: TicketEvent, users: dict, teams: dict) -> list[str]:
    """What a change changed, as short "from → to" texts."""
    data = event.data or {}
    if event.kind in ("status", "priority"):
        kind = "status" if event.kind == "status" else "priority"
        lines = [f"{label(kind, data.get('from'))} → {label(kind, data.get('to'))}"]
        if data.get("resolution_code"):
            lines.append(label("resolution", data["resolution_code"]))
        return lines
    if event.kind == "assigned":
        return [f"{users.get(data.get('from'), '—')} → {users.get(data.get('to'), '—')}"]
    if event.kind == "team":
        return [f"{teams.get(data.get('from'), '—')} → {teams.get(data.get('to'), '—')}"]
    if event.kind in ("created", "attached", "customer_reply") and data.get("channel"):
        return [label("channel", data["channel"])]
    return []


# --- choices of the action forms -----------------------------------------------------------------------


def next_statuses(ticket: Ticket) -> list[tuple[str, str]]:
    return [(code, label("status", code)) for code in choices.STATUSES
            if code in choices.TRANSITIONS.get(ticket.status, ())]


def team_members(ticket: Ticket) -> list[tuple[int, str]]:
    """Who the ticket may be assigned to: active members of its team (of the franchise's teams when it has
    none), not away."""
    query = (select(User.id, User.username).join(TeamMember, TeamMember.user_id == User.id)
             .join(Team, Team.id == TeamMember.team_id)
             .where(TeamMember.active.is_(True), TeamMember.away.is_(False), Team.active.is_(True),
                    User.active.is_(True)))
    if ticket.team_id is not None:
        query = query.where(TeamMember.team_id == ticket.team_id)
    else:
        query = query.where(Team.franchise_id == ticket.franchise_id)
    return list(dict.fromkeys((uid, name) for uid, name in db.session.execute(query.order_by(User.username))))


def teams_of(ticket: Ticket) -> list[tuple[int, str]]:
    query = (select(Team.id, Team.name).where(Team.franchise_id == ticket.franchise_id, Team.active.is_(True))
             .order_by(Team.name))
    return [(tid, name) for tid, name in db.session.execute(query)]


def invitable_franchises(ticket: Ticket) -> list[tuple[int, str, str]]:
    """(id, name, role) of the parcel's other franchises (origin or destination) not yet invited."""
    route = sharing.invitable_franchises(ticket)
    invited = {p.participant_franchise_id for p in ticket.participants}
    wanted = [fid for fid in route if fid not in invited]
    if not wanted:
        return []
    names = {fid: f"{name} ({code})" for fid, name, code in db.session.execute(
        select(Franchise.id, Franchise.name, Franchise.code).where(Franchise.id.in_(wanted)))}
    return [(fid, names.get(fid, str(fid)), route[fid]) for fid in wanted]


def participants(ticket: Ticket) -> list[TicketParticipant]:
    return list(ticket.participants)


def suggested_replies(ticket: Ticket, agent) -> list[tuple[str, str]]:
    """(title, text) of the canned replies the keyword rules suggest for the customer's latest words (their
    last message, else the report that opened the ticket), filled in for this ticket."""
    said = [e for e in ticket.events
            if not e.internal and e.kind in ("customer_reply", "created", "attached") and e.body]
    if not said:
        return []
    latest = max(said, key=lambda e: (e.at, e.id or 0))
    return [(canned.title, render(canned, ticket, agent)) for canned in suggest(ticket.franchise_id, latest.body)]
