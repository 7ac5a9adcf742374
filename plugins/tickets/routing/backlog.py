"""The unassigned backlog of a team (tickets with a team, open, nobody on them): handed out when an agent
comes back from being away, and every few minutes by a periodic job (escalation may move tickets to a team
without an assignee).

The work is proportional to what can be handed out: the members' free places are counted first, and only
that many tickets are read (the team queue index: team, open, assignee, due time), most urgent first.
"""

from __future__ import annotations

from sqlalchemy import exists, select

from core.extensions import db
from plugins.tickets.models import Ticket
from plugins.tickets.routing.assign import AUTOMATIC, candidates, give, lock_team, next_stamp, pick, TICK
from plugins.tickets.routing.models import Team, TeamMember


def backlog_query(team_id: int, limit: int):
    return (select(Ticket)
            .where(Ticket.team_id == team_id, Ticket.is_open.is_(True), Ticket.assignee_id.is_(None))
            .order_by(Ticket.resolution_due.asc().nulls_last(), Ticket.created_at, Ticket.id)
            .limit(limit))


def dispatch_team_backlog(team: Team, by=None) -> int:
    """Give the team's unassigned open tickets to its present members up to their caps; how many were given."""
    if not team.active or team.assignment not in AUTOMATIC:
        return 0
    lock_team(team.id)
    available = candidates(team)
    places = sum(max(c.free, 0) for c in available)
    if not places:
        return 0
    stamp = next_stamp(available)
    given = 0
    for ticket in db.session.scalars(backlog_query(team.id, places)).all():
        chosen = pick(available, team.assignment)
        if chosen is None:
            break
        give(ticket, chosen.member.user, by, member=chosen.member, stamp=stamp)
        chosen.open_count += 1
        stamp += TICK
        given += 1
    return given


def set_away(user_id: int, franchise_id: int, away: bool, by=None) -> int:
    """Mark the user away (or back) in every team of theirs in the franchise. Coming back hands them, and
    their colleagues with free places, the teams' unassigned backlog; returns how many tickets were given."""
    members = db.session.scalars(select(TeamMember).where(TeamMember.user_id == user_id,
                                                          TeamMember.franchise_id == franchise_id)).all()
    for member in members:
        member.away = away
    if away:
        return 0
    db.session.flush()
    teams = {member.team for member in members if member.active}
    return sum(dispatch_team_backlog(team, by) for team in sorted(teams, key=lambda t: t.id))


def redispatch_backlog(franchise_id: int) -> int:
    """Periodic job: every team of the franchise with an unassigned backlog hands it out."""
    has_backlog = exists().where(Ticket.team_id == Team.id, Ticket.is_open.is_(True), Ticket.assignee_id.is_(None))
    teams = db.session.scalars(
        select(Team).where(Team.franchise_id == franchise_id, Team.active.is_(True),
                           Team.assignment.in_(AUTOMATIC), has_backlog).order_by(Team.id)).all()
    return sum(dispatch_team_backlog(team) for team in teams)
