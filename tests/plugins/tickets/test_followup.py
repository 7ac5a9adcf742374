"""After a ticket: a callback by rule when it closes (once), reopen by the customer within the window,
auto-close after N days without a reply, and the calls agents record on a callback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from core.plugin_settings import save_settings
from core.plugins import registry
from core.tenancy import EVERYTHING, scope_as
from plugins.tickets import workflow
from plugins.tickets.followup import service
from plugins.tickets.followup.models import CallbackRule, CallbackTask
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.routing.models import Team
from plugins.tickets.workflow import TicketError
from tests.plugins.tickets.conftest import make_customer, make_ticket


@pytest.fixture(scope="module")
def rules(app):
    """Franchise A calls back closed complaints a day later, and urgent delays 2 hours later; B has no rule."""
    ids = app.config["TEST_IDS"]
    with app.app_context():
        db.session.add_all([
            CallbackRule(franchise_id=ids["A"], name="投诉回访", types=["complaint"], delay_hours=24),
            CallbackRule(franchise_id=ids["A"], name="紧急延误", categories=["delay"], priorities=["urgent"],
                         delay_hours=2),
            CallbackRule(franchise_id=ids["A"], name="停用", active=False, delay_hours=1),
        ])
        db.session.commit()
    return ids


def user_id(name) -> int:
    return db.session.scalars(select(User.id).where(User.username == name)).one()


def callbacks_of(ticket_id) -> list[CallbackTask]:
    return db.session.scalars(select(CallbackTask).where(CallbackTask.ticket_id == ticket_id)
                              .order_by(CallbackTask.id)).all()


def resolved_ticket(franchise_id, days_ago: float, **values) -> Ticket:
    """A ticket resolved `days_ago` days ago, as the workflow would have left it."""
    at = utcnow() - timedelta(days=days_ago)
    ticket = make_ticket(franchise_id, created_at=at - timedelta(hours=5), **values)
    ticket.status, ticket.is_open, ticket.resolved_at = "resolved", False, at
    ticket.resolution_code = ticket.resolution_code or "answered"
    db.session.flush()
    return ticket


def test_closing_a_ticket_makes_the_callback_its_rule_asks_for_once(app, rules):
    with app.app_context(), scope_as(EVERYTHING):
        customer = make_customer(rules["A"])
        ticket = resolved_ticket(rules["A"], 0.1, type="complaint", category="delay", priority="urgent",
                                 customer=customer, assignee_id=user_id("alice"))
        workflow.change_status(ticket, "closed")
        db.session.commit()
        tasks = callbacks_of(ticket.id)
        # both the complaint rule and the urgent-delay rule match; the inactive one does not
        assert sorted((t.due_at - ticket.closed_at) for t in tasks) == [timedelta(hours=2), timedelta(hours=24)]
        assert {(t.assignee_id, t.customer_id, t.status) for t in tasks} == {(user_id("alice"), customer.id, "open")}
        assert any(args and args[0] == "ticket.closed" and args[2]["ticket_id"] == ticket.id
                   for args in db.session.scalars(select(JobOutbox.args)))
        # reopened and closed again: still one callback per rule
        workflow.change_status(ticket, "in_progress")
        workflow.change_status(ticket, "resolved", resolution_code="answered")
        workflow.change_status(ticket, "closed")
        assert service.on_closed(ticket) == 0
        db.session.commit()
        assert len(callbacks_of(ticket.id)) == 2


def test_a_ticket_no_rule_matches_gets_no_callback(app, rules):
    with app.app_context(), scope_as(EVERYTHING):
        inquiry = resolved_ticket(rules["A"], 0.1, type="inquiry", priority="urgent", category="damaged")
        elsewhere = resolved_ticket(rules["B"], 0.1, type="complaint")
        workflow.change_status(inquiry, "closed")
        workflow.change_status(elsewhere, "closed")
        db.session.commit()
        assert callbacks_of(inquiry.id) == [] and callbacks_of(elsewhere.id) == []


def test_the_customers_reply_reopens_a_ticket_only_within_the_window(app, rules):
    with app.app_context(), scope_as(EVERYTHING):
        recent = resolved_ticket(rules["A"], 3)
        old = resolved_ticket(rules["A"], 8)
        assert service.reopen_window_open(recent, utcnow()) and not service.reopen_window_open(old, utcnow())
        workflow.customer_reply(recent, "还是没收到")
        workflow.customer_reply(old, "还是没收到")
        assert (recent.status, recent.is_open, recent.reopened_count) == ("in_progress", True, 1)
        assert old.status == "resolved"
        db.session.commit()
        save_settings(registry(), "tickets", rules["A"], {"reopen_window_days": 0})
        try:
            never = resolved_ticket(rules["A"], 0.01)
            assert not service.reopen_window_open(never, utcnow())
        finally:
            save_settings(registry(), "tickets", rules["A"], {"reopen_window_days": 7})
        open_one = make_ticket(rules["A"])
        assert not service.reopen_window_open(open_one, utcnow())
        db.session.rollback()


def test_auto_close_closes_only_tickets_resolved_n_days_ago_without_a_customer_reply(app, rules):
    with app.app_context(), scope_as(EVERYTHING):
        due = resolved_ticket(rules["A"], 4, type="complaint")
        young = resolved_ticket(rules["A"], 2, type="complaint")
        answered = resolved_ticket(rules["A"], 5, type="complaint")
        answered.last_customer_reply_at = answered.resolved_at + timedelta(hours=3)
        other = resolved_ticket(rules["B"], 10)
        db.session.commit()
        events_before = db.session.scalar(select(func.count()).select_from(JobOutbox))
        assert service.auto_close(rules["A"]) == 1
        db.session.commit()
        db.session.expire_all()
        assert [t.status for t in (due, young, answered, other)] == ["closed", "resolved", "resolved", "resolved"]
        assert due.closed_at is not None and due.is_open is False
        [line] = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == due.id,
                                                              TicketEvent.kind == "status")).all()
        assert line.data == {"from": "resolved", "to": "closed", "auto": True} and line.user_id is None
        assert [t.rule.name for t in callbacks_of(due.id)] == ["投诉回访"]
        assert callbacks_of(due.id)[0].due_at == due.closed_at + timedelta(hours=24)
        closed_events = [args for args in db.session.scalars(select(JobOutbox.args).order_by(JobOutbox.id)
                                                             .offset(events_before))
                         if args and args[0] == "ticket.closed"]
        assert [(e[1], e[2]["ticket_id"], e[2]["resolution_code"]) for e in closed_events] == [
            (rules["A"], due.id, "answered")]
        assert service.auto_close(rules["A"]) == 0  # a second run finds nothing more
        db.session.commit()
        assert len(callbacks_of(due.id)) == 1


def test_auto_close_set_to_zero_never_closes(app, rules):
    with app.app_context(), scope_as(EVERYTHING):
        save_settings(registry(), "tickets", rules["B"], {"auto_close_days": 0})
        ticket = resolved_ticket(rules["B"], 60)
        db.session.commit()
        assert service.auto_close(rules["B"]) == 0
        db.session.expire_all()
        assert ticket.status == "resolved"


def open_callback(app, franchise_id, team_lead=None, agent="alice") -> tuple[int, int]:
    with app.app_context(), scope_as(EVERYTHING):
        team = None
        if team_lead:
            team = Team(franchise_id=franchise_id, name=f"投诉组{utcnow():%H%M%S%f}", lead_id=user_id(team_lead))
            db.session.add(team)
        ticket = resolved_ticket(franchise_id, 0.1, type="complaint", team=team, assignee_id=user_id(agent))
        workflow.change_status(ticket, "closed")
        db.session.commit()
        return callbacks_of(ticket.id)[0].id, ticket.id


def test_three_unanswered_calls_fail_a_callback(app, rules):
    task_id, _ = open_callback(app, rules["A"])
    with app.app_context(), scope_as(EVERYTHING):
        task = db.session.get(CallbackTask, task_id)
        alice = db.session.get(User, user_id("alice"))
        for attempt in range(1, 4):
            service.record_attempt(task, "no_answer", None, alice)
            assert task.attempts == attempt
            assert task.status == ("failed" if attempt == 3 else "open")
        with pytest.raises(TicketError) as finished:
            service.record_attempt(task, "satisfied", None, alice)
        assert finished.value.field == "status" and task.attempts == 3
        db.session.rollback()


def test_a_dissatisfied_customer_goes_on_the_timeline_and_alerts_the_team_lead(app, rules):
    task_id, ticket_id = open_callback(app, rules["A"], team_lead="ait")
    with app.app_context(), scope_as(EVERYTHING):
        task = db.session.get(CallbackTask, task_id)
        with pytest.raises(TicketError) as bad:
            service.record_attempt(task, "angry", None, None)
        assert bad.value.field == "outcome" and task.attempts == 0
        with pytest.raises(TicketError) as url:
            service.record_attempt(task, "satisfied", None, None, call_record_url="javascript:alert(1)")
        assert url.value.field == "call_record_url" and task.attempts == 0
        service.record_attempt(task, "dissatisfied", "快递员态度差", db.session.get(User, user_id("alice")),
                               call_record_url="https://pbx.example.com/rec/1.mp3")
        db.session.commit()
        assert (task.status, task.outcome, task.attempts) == ("done", "dissatisfied", 1)
        line = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                            TicketEvent.kind == "callback")).one()
        assert line.data["outcome"] == "dissatisfied" and "快递员态度差" in line.body
        [alert] = db.session.scalars(select(AgentAlert).where(AgentAlert.ticket_id == ticket_id)).all()
        assert (alert.user_id, alert.kind) == (user_id("ait"), "dissatisfied")


def test_a_satisfied_customer_ends_the_callback_without_an_alert(app, rules):
    task_id, ticket_id = open_callback(app, rules["A"], team_lead="ait")
    with app.app_context(), scope_as(EVERYTHING):
        service.record_attempt(db.session.get(CallbackTask, task_id), "satisfied", None, None)
        db.session.commit()
        assert db.session.get(CallbackTask, task_id).status == "done"
        assert db.session.scalar(select(func.count()).select_from(AgentAlert)
                                 .where(AgentAlert.ticket_id == ticket_id)) == 0
