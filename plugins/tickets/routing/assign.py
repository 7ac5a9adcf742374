"""Assignment inside a team: by the team's method (round robin, least busy, or manual = the team's queue),
by a person (`assign_to`), and moving a ticket to another team.

Automatic assignment skips members who are away, inactive, no longer users of the franchise, or at their
open-ticket cap (the member's own, else the team's). The team row is locked for the choice (SELECT ... FOR
UPDATE on PostgreSQL; SQLite serialises writers anyway), so two workers cannot both give the "least
recently assigned" slot away, nor both fill an agent's last free place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from core.clock import utcnow
from core.extensions import db
from core.tenancy import user_franchise
from plugins.tickets import workflow
from plugins.tickets.models import AgentAlert, Ticket
from plugins.tickets.routing.models import Team, TeamMember, user_in_franchise
from plugins.tickets.workflow import TicketError

AUTOMATIC = ("round_robin", "least_busy")
TICK = timedelta(microseconds=1)


@dataclass
class Candidate:
    """A member who may take tickets now, with their load."""

    member: TeamMember
    open_count: int
    cap: int

    @property
    def free(self) -> int:
        return self.cap - self.open_count

    def rotation_key(self):
        # never assigned first, then longest ago; the member id keeps the order total
        last = self.member.last_assigned_at
        return (last is not None, last or datetime.min, self.member.id)


def lock_team(team_id: int) -> None:
    """Hold the team row until the transaction ends: assignments inside one team happen one at a time."""
    db.session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


def candidates(team: Team) -> list[Candidate]:
    """Active, present members who are still users of the team's franchise, with their open tickets counted
    in one grouped query. Read fresh from the database (the caller holds the team lock)."""
    members = db.session.scalars(
        select(TeamMember).join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id, TeamMember.active.is_(True), TeamMember.away.is_(False),
               User.active.is_(True),
               TeamMember.user_id.in_(select(user_franchise.c.user_id)
                                      .where(user_franchise.c.franchise_id == team.franchise_id)))
        .options(contains_eager(TeamMember.user))
        .execution_options(populate_existing=True)).all()
    if not members:
        return []
    counts = dict(db.session.execute(
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.in_([m.user_id for m in members]), Ticket.is_open.is_(True))
        .group_by(Ticket.assignee_id)).all())
    return [Candidate(m, counts.get(m.user_id, 0), m.max_open or team.max_open_per_agent) for m in members]


def pick(available: list[Candidate], method: str) -> Candidate | None:
    """The member the method gives the next ticket to, among those under their cap."""
    free = [c for c in available if c.free > 0]
    if not free:
        return None
    if method == "least_busy":
        return min(free, key=lambda c: (c.open_count, c.rotation_key()))
    return min(free, key=Candidate.rotation_key)


def next_stamp(available: list[Candidate]) -> datetime:
    """A `last_assigned_at` later than every member's: the rotation stays strict even within a microsecond."""
    latest = max((c.member.last_assigned_at for c in available if c.member.last_assigned_at), default=None)
    now = utcnow()
    return now if latest is None or latest < now else latest + TICK


def assign_in_team(ticket: Ticket, by=None, locked: bool = False) -> User | None:
    """Give the ticket to a member of its team by the team's method; None when it stays in the team's queue
    (manual team, nobody present or everyone at their cap). `locked`: the caller holds the team row."""
    team = ticket.team
    if team is None or not team.active or team.assignment not in AUTOMATIC or ticket.assignee_id is not None:
        return None
    if not locked:
        lock_team(team.id)
    available = candidates(team)
    chosen = pick(available, team.assignment)
    if chosen is None:
        return None
    give(ticket, chosen.member.user, by, member=chosen.member, stamp=next_stamp(available))
    return chosen.member.user


def set_assignee(ticket: Ticket, user: User | None) -> None:
    # the column too: later reads in this transaction see it before any flush
    ticket.assignee = user
    ticket.assignee_id = user.id if user is not None else None


def set_team(ticket: Ticket, team: Team | None) -> None:
    ticket.team = team
    ticket.team_id = team.id if team is not None else None


def give(ticket: Ticket, user: User | None, by=None, member: TeamMember | None = None, stamp=None) -> None:
    """Set the assignee (None: back to the team's queue) with its timeline line, status and alert."""
    before = ticket.assignee_id
    set_assignee(ticket, user)
    workflow.record(ticket, "assigned", by, data={"from": before, "to": user.id if user is not None else None})
    if user is None:
        if ticket.status == "assigned":
            workflow.change_status(ticket, "new", by)
        return
    if member is not None:
        member.last_assigned_at = stamp or utcnow()
    if ticket.status == "new":
        workflow.change_status(ticket, "assigned", by)
    if workflow.user_id_of(by) != user.id:
        # by relationship: a new ticket gets its id at the one flush after intake
        db.session.add(AgentAlert(user_id=user.id, ticket=ticket, franchise_id=ticket.franchise_id,
                                  kind="assigned", message=(ticket.subject or "")[:255]))


def membership(team_id: int, user_id: int) -> TeamMember | None:
    return db.session.scalar(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id,
                                                      TeamMember.active.is_(True)))


def assignee_problem(ticket: Ticket, user: User) -> str | None:
    """Why `user` may not take the ticket (or None): they must be an active user of the ticket's franchise
    and, when the ticket has a team, an active member of it. Being away or at the cap does not stop a person
    from assigning deliberately."""
    if not getattr(user, "active", False):
        return str(_l("%(user)s is not an active user", user=user))
    if not user_in_franchise(user.id, ticket.franchise_id):
        return str(_l("%(user)s is not a user of this ticket's franchise", user=user))
    if ticket.team_id is not None and membership(ticket.team_id, user.id) is None:
        return str(_l("%(user)s is not a member of team %(team)s", user=user, team=ticket.team))
    return None


def assign_to(ticket: Ticket, user, by=None) -> None:
    """A person assigns the ticket to `user` (a User or id; None: back to the team's queue).

    Raises TicketError("assignee", ...) and changes nothing when the user is outside the team or franchise.
    """
    if user is not None and not isinstance(user, User):
        found = db.session.get(User, int(user))
        if found is None:
            raise TicketError("assignee", _l("no such user"))
        user = found
    if user is not None:
        problem = assignee_problem(ticket, user)
        if problem:
            raise TicketError("assignee", problem)
    if (user.id if user is not None else None) == ticket.assignee_id:
        return
    member = membership(ticket.team_id, user.id) if user is not None and ticket.team_id is not None else None
    give(ticket, user, by, member=member)


def move_to_team(ticket: Ticket, team, by=None, assign: bool = True) -> None:
    """Send the ticket to another team of its franchise. Its assignee stays only if a member of the new team;
    otherwise the new team assigns it by its method (`assign`), or it waits in that team's queue."""
    if team is not None and not isinstance(team, Team):
        team = db.session.get(Team, int(team))
    if team is None or team.franchise_id != ticket.franchise_id:
        raise TicketError("team", _l("no such team in this ticket's franchise"))
    if not team.active:
        raise TicketError("team", _l("team %(team)s is not active", team=team))
    if team.id == ticket.team_id:
        return
    before = ticket.team_id
    set_team(ticket, team)
    workflow.record(ticket, "team", by, data={"from": before, "to": team.id})
    if ticket.assignee_id is not None and membership(team.id, ticket.assignee_id) is None:
        # the assignee leaves with the old team; the status follows only if nobody takes it over
        before_assignee = ticket.assignee_id
        set_assignee(ticket, None)
        workflow.record(ticket, "assigned", by, data={"from": before_assignee, "to": None})
    if ticket.assignee_id is None and ticket.is_open and assign:
        assign_in_team(ticket, by)
    if ticket.assignee_id is None and ticket.status == "assigned":
        workflow.change_status(ticket, "new", by)
