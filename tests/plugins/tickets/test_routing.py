"""Routing: dispatch rules send new tickets to a team (first match wins), the team assigns them round robin or
least busy (skipping agents away or at their cap), a returning agent picks up the backlog, and a person's
assignment outside the team or franchise is refused with nothing changed."""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import timedelta

import pytest
from flask_babel import gettext
from sqlalchemy import delete, event, func, select, update

from core.clock import utcnow
from core.extensions import db
from core.tenancy import EVERYTHING, Franchise, scope_as
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.routing.assign import assign_to, move_to_team
from plugins.tickets.routing.backlog import redispatch_backlog, set_away
from plugins.tickets.routing.dispatch import route
from plugins.tickets.routing.models import DispatchRule, Team, TeamMember
from plugins.tickets.workflow import TicketError
from tests.conftest import add_user
from tests.plugins.tickets.conftest import make_ticket

_serial = itertools.count(1)


@pytest.fixture
def ctx(app):
    """An app context with the system's scope, and no dispatch rules left by an earlier test."""
    with app.app_context(), scope_as(EVERYTHING):
        db.session.execute(delete(DispatchRule))
        db.session.commit()
        yield
        db.session.rollback()


def agents(app, franchise_id, count):
    franchise = db.session.get(Franchise, franchise_id)
    return [add_user(app, f"agent{next(_serial)}", "Frontline Agent", franchises=[franchise]) for _ in range(count)]


def team_of(franchise_id, users, assignment="round_robin", cap=20, **member_values):
    team = Team(franchise_id=franchise_id, name=f"组{next(_serial)}", assignment=assignment, max_open_per_agent=cap)
    db.session.add(team)
    db.session.flush()
    for user in users:
        db.session.add(TeamMember(franchise_id=franchise_id, team=team, user=user,
                                  **member_values.get(user.username, {})))
    db.session.flush()
    return team


def rule(franchise_id, team, position=100, **conditions):
    row = DispatchRule(franchise_id=franchise_id, name=f"rule{next(_serial)}", position=position, team=team,
                       **conditions)
    db.session.add(row)
    db.session.commit()
    return row


def new_ticket(franchise_id, **values):
    ticket = make_ticket(franchise_id, **values)
    route(ticket)
    db.session.commit()
    return ticket


def kinds(ticket):
    return [e.kind for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                               .order_by(TicketEvent.id))]


def test_the_first_matching_rule_sends_the_ticket_to_its_team(app, ids, ctx):
    complaints, zhejiang, everything_else, retired = (team_of(ids["A"], []) for _ in range(4))
    rule(ids["A"], retired, position=1, types=["complaint"], active=False)
    rule(ids["A"], zhejiang, position=5, district_prefixes=["33"], channels=["wechat", "phone"])
    rule(ids["A"], complaints, position=10, types=["complaint"], categories=["delay", "lost"], set_priority="high")
    rule(ids["A"], everything_else, position=20)

    delayed = new_ticket(ids["A"], type="complaint", category="delay", district_code="320102")
    assert delayed.team_id == complaints.id
    assert delayed.priority == "high"
    team_line = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == delayed.id,
                                                            TicketEvent.kind == "team"))
    assert team_line.data["to"] == complaints.id and team_line.data["rule"].startswith("rule")
    assert "priority" in kinds(delayed)

    hangzhou = new_ticket(ids["A"], type="complaint", category="delay", channel="wechat", district_code="330106")
    assert hangzhou.team_id == zhejiang.id  # lower position wins though the complaint rule matches too
    assert hangzhou.priority == "normal"
    by_app = new_ticket(ids["A"], type="complaint", category="delay", channel="app", district_code="330106")
    assert by_app.team_id == complaints.id
    rude = new_ticket(ids["A"], type="complaint", category="attitude")
    assert rude.team_id == everything_else.id


def test_a_ticket_no_rule_matches_stays_in_the_franchise_pool(app, ids, ctx):
    team = team_of(ids["A"], agents(app, ids["A"], 1))
    rule(ids["A"], team, types=["claim"], tiers=["A"])
    claim_of_b_tier = new_ticket(ids["A"], type="claim", customer_tier="B")
    inquiry = new_ticket(ids["A"], type="inquiry")
    # rules of another franchise never apply
    other = team_of(ids["B"], [])
    rule(ids["B"], other)
    for ticket in (claim_of_b_tier, inquiry):
        assert (ticket.team_id, ticket.assignee_id, ticket.status) == (None, None, "new")
        assert "team" not in kinds(ticket)


def test_round_robin_rotates_and_skips_away_and_capped_agents(app, ids, ctx):
    a1, a2, a3, a4 = agents(app, ids["A"], 4)
    team = team_of(ids["A"], [a1, a2, a3, a4], **{a2.username: {"away": True}, a3.username: {"max_open": 1}})
    rule(ids["A"], team)
    got = [new_ticket(ids["A"]).assignee_id for _ in range(6)]
    assert got == [a1.id, a3.id, a4.id, a1.id, a4.id, a1.id]

    ticket = db.session.scalar(select(Ticket).where(Ticket.assignee_id == a3.id))
    assert ticket.status == "assigned" and ticket.is_open
    assert kinds(ticket)[:4] == ["created", "team", "assigned", "status"]
    alert = db.session.scalar(select(AgentAlert).where(AgentAlert.ticket_id == ticket.id))
    assert (alert.user_id, alert.kind) == (a3.id, "assigned")
    assert db.session.scalar(select(func.count()).select_from(AgentAlert).where(AgentAlert.user_id == a2.id)) == 0


def test_round_robin_leaves_the_ticket_in_the_queue_when_everyone_is_full(app, ids, ctx):
    (a1,) = agents(app, ids["A"], 1)
    team = team_of(ids["A"], [a1], cap=1)
    rule(ids["A"], team)
    first, second = new_ticket(ids["A"]), new_ticket(ids["A"])
    assert first.assignee_id == a1.id
    assert (second.team_id, second.assignee_id, second.status) == (team.id, None, "new")


def test_least_busy_gives_the_ticket_to_the_agent_with_fewest_open_tickets(app, ids, ctx):
    busy, idle, some = agents(app, ids["A"], 3)
    for user, count in ((busy, 2), (some, 1)):
        for _ in range(count):
            make_ticket(ids["A"], assignee_id=user.id, status="in_progress")
    make_ticket(ids["A"], assignee_id=idle.id, status="closed", is_open=False)  # done work does not count
    team = team_of(ids["A"], [busy, idle, some], assignment="least_busy")
    rule(ids["A"], team)
    got = [new_ticket(ids["A"]).assignee_id for _ in range(3)]
    # idle (0), then the tie of one each goes to whoever was given a ticket longest ago (some: never)
    assert got == [idle.id, some.id, idle.id]


def test_a_manual_team_keeps_new_tickets_in_its_queue(app, ids, ctx):
    team = team_of(ids["A"], agents(app, ids["A"], 2), assignment="manual")
    rule(ids["A"], team)
    ticket = new_ticket(ids["A"])
    assert (ticket.team_id, ticket.assignee_id, ticket.status) == (team.id, None, "new")


def test_an_agent_coming_back_picks_up_the_teams_backlog_most_urgent_first(app, ids, ctx):
    returning, full = agents(app, ids["A"], 2)
    make_ticket(ids["A"], assignee_id=full.id, status="in_progress")
    team = team_of(ids["A"], [returning, full], **{returning.username: {"away": True, "max_open": 2},
                                                    full.username: {"max_open": 1}})
    rule(ids["A"], team)
    now = utcnow()
    later, urgent, middle = (new_ticket(ids["A"], resolution_due=now + timedelta(hours=h)) for h in (9, 1, 5))
    assert [t.assignee_id for t in (later, urgent, middle)] == [None, None, None]

    given = set_away(returning.id, ids["A"], False, by=returning)
    db.session.commit()
    assert given == 2
    assert [db.session.get(Ticket, t.id).assignee_id for t in (urgent, middle, later)] == [
        returning.id, returning.id, None]
    assert db.session.get(Ticket, urgent.id).status == "assigned"
    assert db.session.scalar(select(TeamMember.away).where(TeamMember.user_id == returning.id)) is False

    assert set_away(returning.id, ids["A"], True) == 0
    db.session.commit()
    assert db.session.scalar(select(TeamMember.away).where(TeamMember.user_id == returning.id)) is True


def test_the_periodic_job_hands_out_tickets_moved_to_a_team_without_an_assignee(app, ids, ctx):
    (agent,) = agents(app, ids["A"], 1)
    (agent_b,) = agents(app, ids["B"], 1)
    team, team_b = team_of(ids["A"], [agent]), team_of(ids["B"], [agent_b])
    escalated = [make_ticket(ids["A"], status="in_progress") for _ in range(2)]
    waiting_b = make_ticket(ids["B"])
    # as an SLA escalation does it: a set-based move to the team, nobody assigned
    db.session.execute(update(Ticket).where(Ticket.id.in_([t.id for t in escalated])).values(team_id=team.id))
    db.session.execute(update(Ticket).where(Ticket.id == waiting_b.id).values(team_id=team_b.id))
    db.session.commit()

    assert redispatch_backlog(ids["A"]) == 2
    db.session.commit()
    assert redispatch_backlog(ids["A"]) == 0
    for ticket in escalated:
        db.session.refresh(ticket)
        assert (ticket.assignee_id, ticket.status) == (agent.id, "in_progress")
    db.session.refresh(waiting_b)
    assert waiting_b.assignee_id is None  # another franchise's run does that


def test_a_person_assigns_to_a_team_member_even_one_who_is_away(app, ids, ctx):
    member, lead = agents(app, ids["A"], 2)
    team = team_of(ids["A"], [member], assignment="manual", **{member.username: {"away": True}})
    ticket = make_ticket(ids["A"], team_id=team.id)
    assign_to(ticket, member, by=lead)
    db.session.commit()
    assert (ticket.assignee_id, ticket.status) == (member.id, "assigned")
    line = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.kind == "assigned"))
    assert (line.data, line.user_id) == ({"from": None, "to": member.id}, lead.id)
    assert db.session.scalar(select(AgentAlert.user_id).where(AgentAlert.ticket_id == ticket.id)) == member.id


def state_of(ticket):
    db.session.refresh(ticket)
    counts = [db.session.scalar(select(func.count()).select_from(model).where(model.ticket_id == ticket.id))
              for model in (TicketEvent, AgentAlert)]
    return ticket.assignee_id, ticket.status, ticket.team_id, counts


def test_assignment_outside_the_team_or_the_franchise_is_refused_with_nothing_changed(app, ids, ctx):
    member, outsider = agents(app, ids["A"], 2)
    (of_b,) = agents(app, ids["B"], 1)
    team = team_of(ids["A"], [member], assignment="manual")
    ticket = make_ticket(ids["A"], team_id=team.id)
    db.session.commit()
    before = state_of(ticket)

    with pytest.raises(TicketError) as refused:
        assign_to(ticket, outsider)
    assert refused.value.field == "assignee"
    assert refused.value.problem == gettext("%(user)s is not a member of team %(team)s", user=outsider, team=team)
    db.session.rollback()
    assert state_of(ticket) == before

    with pytest.raises(TicketError) as refused:
        assign_to(ticket, of_b.id)
    assert refused.value.problem == gettext("%(user)s is not a user of this ticket's franchise", user=of_b)
    db.session.rollback()
    assert state_of(ticket) == before

    unrouted = make_ticket(ids["A"])
    with pytest.raises(TicketError):
        assign_to(unrouted, of_b)  # no team: the franchise still decides
    assign_to(unrouted, outsider)
    assert unrouted.assignee_id == outsider.id


def test_moving_a_ticket_to_another_team_reassigns_it_there(app, ids, ctx):
    old_agent, new_agent = agents(app, ids["A"], 2)
    old, new = team_of(ids["A"], [old_agent]), team_of(ids["A"], [new_agent])
    rule(ids["A"], old)
    ticket = new_ticket(ids["A"])
    assert ticket.assignee_id == old_agent.id

    with pytest.raises(TicketError) as refused:
        move_to_team(ticket, team_of(ids["B"], []))
    assert refused.value.field == "team"
    inactive = team_of(ids["A"], [])
    inactive.active = False
    with pytest.raises(TicketError):
        move_to_team(ticket, inactive)
    assert ticket.team_id == old.id

    move_to_team(ticket, new)
    db.session.commit()
    assert (ticket.team_id, ticket.assignee_id, ticket.status) == (new.id, new_agent.id, "assigned")


def test_an_edited_rule_applies_to_the_next_ticket(app, ids, ctx):
    first, second = team_of(ids["A"], []), team_of(ids["A"], [])
    row = rule(ids["A"], first)
    assert new_ticket(ids["A"]).team_id == first.id

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        new_ticket(ids["A"])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert not [s for s in statements if "FROM tk_dispatch_rule" in s]  # cached between tickets

    row.team = second
    db.session.commit()
    assert new_ticket(ids["A"]).team_id == second.id
    row.active = False
    db.session.commit()
    assert new_ticket(ids["A"]).team_id is None
    second.active = False
    db.session.commit()
    row.active = True
    db.session.commit()
    assert new_ticket(ids["A"]).team_id is None  # a rule to an inactive team is skipped


@pytest.mark.skipif(not os.environ.get("CRM_TEST_DATABASE_URL"), reason="row locks: PostgreSQL")
def test_two_workers_assigning_in_one_team_give_the_tickets_to_different_agents(app, ids, ctx):
    a1, a2 = agents(app, ids["A"], 2)
    team = team_of(ids["A"], [a1, a2])
    rule(ids["A"], team)
    tickets = [make_ticket(ids["A"]).id for _ in range(2)]
    db.session.commit()
    results, errors = {}, []
    first_locked = threading.Event()

    def work(ticket_id, hold):
        try:
            with app.app_context(), scope_as(EVERYTHING):
                ticket = db.session.get(Ticket, ticket_id)
                route(ticket)
                if hold:
                    first_locked.set()
                    time.sleep(0.5)  # the other worker is waiting for the team row meanwhile
                db.session.commit()
                results[ticket_id] = ticket.assignee_id
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    holder = threading.Thread(target=work, args=(tickets[0], True))
    holder.start()
    first_locked.wait(5)
    waiter = threading.Thread(target=work, args=(tickets[1], False))
    waiter.start()
    holder.join(10)
    waiter.join(10)
    assert not errors
    assert sorted(results.values()) == sorted([a1.id, a2.id])
