"""The SLA scan: a ticket is warned once before its due time and escalated once after it (priority up, moved
to the escalation team, the team lead alerted, a timeline line each); paused tickets are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from plugins.tickets import workflow
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.routing.models import Team
from plugins.tickets.sla.clock import refresh
from plugins.tickets.sla.models import SlaPolicy
from plugins.tickets.sla.scan import scan_sla
from tests.plugins.tickets.conftest import make_ticket


def user_id(app, name):
    return app.appbuilder.sm.find_user(username=name).id


@pytest.fixture
def setup(app, ids):
    """Franchise A: a 查件组 led by ait with alice in it, an escalation team led by r1boss, one 24x7 policy
    (first response 60 min, resolution 600 min, warn 30 min before). Rolled back after the test."""
    with app.app_context():
        a = ids["A"]
        desk = Team(franchise_id=a, name="查件组", lead_id=user_id(app, "ait"))
        escalation = Team(franchise_id=a, name="升级组", lead_id=user_id(app, "r1boss"))
        db.session.add_all([desk, escalation])
        db.session.flush()
        rule = SlaPolicy(franchise_id=a, name="standard", first_response_minutes=60, resolution_minutes=600,
                         warn_before_minutes=30, escalate_to_team_id=escalation.id)
        db.session.add(rule)
        db.session.flush()
        yield {"franchise": a, "desk": desk, "escalation": escalation, "policy": rule,
               "alice": user_id(app, "alice"), "ait": user_id(app, "ait"), "r1boss": user_id(app, "r1boss")}
        db.session.rollback()


def ticket(setup, minutes_ago, **values):
    values.setdefault("team_id", setup["desk"].id)
    created = utcnow() - timedelta(minutes=minutes_ago)
    row = make_ticket(setup["franchise"], created_at=created, **values)
    refresh(row)
    db.session.flush()
    return row


def alerts(ticket_id, kind):
    return db.session.scalars(select(AgentAlert.user_id).where(AgentAlert.ticket_id == ticket_id,
                                                               AgentAlert.kind == kind)).all()


def lines(ticket_id, kind):
    return db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                        TicketEvent.kind == kind)).all()


def test_a_ticket_due_soon_is_warned_once_to_its_assignee(setup):
    due_soon = ticket(setup, 45, assignee_id=setup["alice"], status="assigned")
    unassigned = ticket(setup, 40)
    relaxed = ticket(setup, 5)
    assert scan_sla(setup["franchise"]) == {"breached": 0, "warned": 2}
    db.session.expire_all()
    assert due_soon.sla_state == "warned" and relaxed.sla_state == "ok"
    assert alerts(due_soon.id, "sla_warning") == [setup["alice"]]
    assert alerts(unassigned.id, "sla_warning") == [setup["ait"]]  # the team lead when nobody has it
    assert [line.data["target"] for line in lines(due_soon.id, "sla")] == ["first_response"]
    assert scan_sla(setup["franchise"]) == {"breached": 0, "warned": 0}
    assert len(alerts(due_soon.id, "sla_warning")) == 1 and len(lines(due_soon.id, "sla")) == 1


def test_an_overdue_ticket_is_escalated_once(setup):
    late = ticket(setup, 90, assignee_id=setup["alice"], status="assigned", priority="normal")
    assert scan_sla(setup["franchise"]) == {"breached": 1, "warned": 0}
    db.session.expire_all()
    assert late.sla_state == "breached" and late.first_response_breached is True
    assert late.resolution_breached is False
    assert late.priority == "high" and late.escalation_level == 1
    assert late.team_id == setup["escalation"].id and late.assignee_id is None
    assert alerts(late.id, "sla_breach") == [setup["r1boss"]]  # the lead of the team it went to
    [line] = lines(late.id, "escalated")
    assert line.data["priority_from"] == "normal" and line.data["priority_to"] == "high"
    assert line.data["team_to"] == setup["escalation"].id and line.data["assignee_from"] == setup["alice"]
    announced = [job for job in db.session.scalars(select(JobOutbox).where(JobOutbox.func == "core.events:deliver"))
                 if job.args[0] == "ticket.sla_breached"]
    assert [job.args[2]["ticket_id"] for job in announced] == [late.id]
    assert scan_sla(setup["franchise"]) == {"breached": 0, "warned": 0}
    db.session.expire_all()
    assert late.priority == "high" and late.escalation_level == 1 and len(lines(late.id, "escalated")) == 1


def test_the_resolution_clock_is_escalated_after_a_late_first_response(setup):
    late = ticket(setup, 90, assignee_id=setup["alice"], status="assigned", priority="urgent")
    scan_sla(setup["franchise"])
    db.session.expire_all()
    workflow.reply(late, None, "已为您催件")
    db.session.flush()
    assert late.sla_state == "ok"  # now racing the resolution, due in 8.5 hours
    late.resolution_due = late.next_due_at = utcnow() - timedelta(minutes=1)  # as if those hours had passed
    db.session.flush()
    assert scan_sla(setup["franchise"])["breached"] == 1
    db.session.expire_all()
    assert late.resolution_breached is True and late.escalation_level == 2
    assert late.priority == "urgent"  # nothing above urgent


def test_policy_settings_decide_the_escalation(setup):
    setup["policy"].escalate_raise_priority = False
    setup["policy"].escalate_to_team_id = None
    setup["policy"].notify_lead = False
    db.session.flush()
    late = ticket(setup, 90, assignee_id=setup["alice"], status="assigned", priority="low")
    scan_sla(setup["franchise"])
    db.session.expire_all()
    assert late.sla_state == "breached"
    assert (late.priority, late.team_id, late.assignee_id) == ("low", setup["desk"].id, setup["alice"])
    assert alerts(late.id, "sla_breach") == []


def test_paused_and_finished_tickets_are_left_alone(setup):
    waiting = ticket(setup, 90)
    workflow.change_status(waiting, "waiting", at=waiting.created_at + timedelta(minutes=1))
    done = ticket(setup, 90)
    workflow.change_status(done, "resolved", resolution_code="answered")
    db.session.flush()
    assert scan_sla(setup["franchise"]) == {"breached": 0, "warned": 0}
    db.session.expire_all()
    assert waiting.sla_state == "ok" and done.sla_state == "ok"


def test_other_franchises_are_not_touched(setup, ids):
    other = make_ticket(ids["B"], created_at=utcnow() - timedelta(days=3))
    other.first_response_due = utcnow() - timedelta(days=2)
    other.sla_policy_id = setup["policy"].id  # even a (wrongly) shared policy id
    db.session.flush()
    scan_sla(setup["franchise"])
    db.session.expire_all()
    assert other.sla_state == "ok"
    assert db.session.scalar(select(func.count()).select_from(AgentAlert).where(AgentAlert.ticket_id == other.id)) == 0


def test_a_large_backlog_is_handled_in_the_same_few_statements(setup):
    tickets = [ticket(setup, 120 + n, assignee_id=setup["alice"], status="assigned") for n in range(1105)]
    result = scan_sla(setup["franchise"])
    assert result == {"breached": 1105, "warned": 0}
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.id.in_([t.id for t in tickets[:500]]), Ticket.sla_state == "breached")) == 500
    assert scan_sla(setup["franchise"]) == {"breached": 0, "warned": 0}
