"""SLA due times: derived from the ticket's timeline (waiting on the customer pauses the clock), the policy
chosen by its conditions or by a plugin, the calendar of the policy, team or franchise, and peak seasons."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import utcnow
from core.extensions import db
from core.hookspecs import hookimpl
from core.plugins import registry
from plugins.tickets import workflow
from plugins.tickets.routing.models import Team
from plugins.tickets.sla.calendar import ALWAYS_OPEN, WorkCalendar
from plugins.tickets.sla.clock import StatusChange, compute_clocks, refresh
from plugins.tickets.sla.config import Policy, config_for
from plugins.tickets.sla.models import DEFAULT_WEEK, BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy
from tests.plugins.tickets.conftest import make_ticket

MONDAY = date(2024, 3, 4)


def beijing(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm) - timedelta(hours=8)


CAL = WorkCalendar.build("Asia/Shanghai", DEFAULT_WEEK)
POLICY = Policy(id=1, name="p", position=1, active=True, types=None, priorities=None, tiers=None, channels=None,
                first_response_minutes=120, resolution_minutes=480, calendar_id=None, warn_before_minutes=30,
                escalate_raise_priority=True, escalate_to_team_id=None, notify_lead=True)


def clocks(changes=(), responded=None, factor=1, ticket_type="inquiry", initial="new"):
    return compute_clocks(created_at=beijing(MONDAY, 9), ticket_type=ticket_type, initial_status=initial,
                          changes=list(changes), first_responded_at=responded, policy=POLICY, calendar=CAL,
                          peak_factor=factor)


# --- the pure computation ---------------------------------------------------------------------------------

def test_due_times_count_business_hours_from_creation():
    result = clocks()
    assert result.first_response_due == beijing(MONDAY, 11)
    assert result.resolution_due == beijing(MONDAY, 18)
    assert result.paused is False and result.regulatory_due is None


def test_waiting_on_the_customer_moves_both_due_times_by_the_pause():
    pause = [StatusChange(beijing(MONDAY, 9, 30), "waiting", "in_progress"),
             StatusChange(beijing(MONDAY, 10, 30), "in_progress", "waiting")]
    result = clocks(pause)
    assert result.first_response_due == beijing(MONDAY, 12)
    assert result.resolution_due == beijing(MONDAY + timedelta(days=1), 10)


def test_a_pause_going_on_freezes_the_due_times_and_marks_the_ticket_paused():
    result = clocks([StatusChange(beijing(MONDAY, 9, 30), "waiting", "in_progress")])
    assert result.paused is True
    assert result.first_response_due == beijing(MONDAY, 11)  # as when the pause began, not NULL


def test_a_pause_after_the_first_response_does_not_move_its_due_time():
    pause = [StatusChange(beijing(MONDAY, 10), "waiting", "in_progress"),
             StatusChange(beijing(MONDAY, 14), "in_progress", "waiting")]
    result = clocks(pause, responded=beijing(MONDAY, 9, 45))
    assert result.first_response_due == beijing(MONDAY, 11)
    assert result.resolution_due == beijing(MONDAY + timedelta(days=1), 12)  # 3 business hours paused


def test_a_reopened_ticket_is_not_overdue_by_the_days_it_was_resolved():
    done = [StatusChange(beijing(MONDAY, 10), "resolved", "in_progress"),
            StatusChange(beijing(MONDAY + timedelta(days=2), 10), "in_progress", "resolved")]
    assert clocks(done).resolution_due == beijing(MONDAY + timedelta(days=2), 18)


def test_a_peak_season_multiplies_the_targets():
    assert clocks(factor=Decimal("2")).first_response_due == beijing(MONDAY, 14)  # 4 hours, lunch skipped


def test_a_complaint_must_be_answered_within_seven_calendar_days():
    assert clocks(ticket_type="complaint").regulatory_due == beijing(MONDAY, 9) + timedelta(days=7)


# --- on tickets -----------------------------------------------------------------------------------------

@pytest.fixture
def franchise(app, ids):
    """Franchise A with no SLA configuration; whatever a test adds is removed after it."""
    with app.app_context():
        yield ids["A"]
        db.session.rollback()
        for model in (SlaPolicy, CalendarDay, PeakSeason):
            db.session.query(model).delete()
        db.session.query(Team).update({"calendar_id": None})
        db.session.query(BusinessCalendar).delete()
        db.session.commit()


def policy(franchise_id, name, position=100, **values):
    row = SlaPolicy(franchise_id=franchise_id, name=name, position=position, **values)
    db.session.add(row)
    db.session.flush()
    return row


def new_calendar(franchise_id, name, week=None, **values):
    row = BusinessCalendar(franchise_id=franchise_id, name=name, week=week or dict(DEFAULT_WEEK), **values)
    db.session.add(row)
    db.session.flush()
    return row


def test_the_first_matching_active_policy_by_position_applies(franchise):
    policy(franchise, "complaints", position=20, types=["complaint"], first_response_minutes=30)
    urgent = policy(franchise, "urgent", position=10, priorities=["urgent"], first_response_minutes=15)
    policy(franchise, "inactive", position=1, active=False)
    tier_a = policy(franchise, "tier A by WeChat", position=30, tiers=["A"], channels=["wechat"])
    anything = policy(franchise, "catch-all", position=90)
    complaint = policy_of(franchise, type="complaint", priority="urgent")
    assert complaint.sla_policy_id == urgent.id  # position 10 is read before 20
    assert policy_of(franchise, type="complaint").sla_policy.name == "complaints"
    assert policy_of(franchise, customer_tier="A", channel="wechat").sla_policy_id == tier_a.id
    assert policy_of(franchise, customer_tier="A", channel="phone").sla_policy_id == anything.id


def policy_of(franchise_id, created_at=None, **values):
    ticket = make_ticket(franchise_id, created_at=created_at or beijing(MONDAY, 9), **values)
    refresh(ticket)
    db.session.flush()
    return ticket


def test_without_a_matching_policy_there_are_no_due_times_but_complaints_keep_the_legal_deadline(franchise):
    policy(franchise, "inquiries only", types=["inquiry"])
    ticket = policy_of(franchise, type="complaint")
    assert ticket.sla_policy_id is None and ticket.resolution_due is None
    assert ticket.regulatory_due == ticket.created_at + timedelta(days=7)


class ChoosesByHook:
    """A plugin answering crm_ticket_sla_policy, as the tiering plugin would by a customer's service level."""

    def __init__(self, chosen_id):
        self.chosen_id = chosen_id

    @hookimpl
    def crm_ticket_sla_policy(self, ticket):
        if ticket.customer_tier == "VIP":
            return db.session.get(SlaPolicy, self.chosen_id)
        return None


def test_a_plugin_may_choose_the_policy_before_the_conditions_are_read(franchise):
    policy(franchise, "everyone", position=1)
    vip = policy(franchise, "vip", position=50, types=["claim"], first_response_minutes=10)
    plugin = ChoosesByHook(vip.id)
    registry().pm.register(plugin, name="test_sla_chooser")
    try:
        assert policy_of(franchise, customer_tier="VIP").sla_policy_id == vip.id
        assert policy_of(franchise, customer_tier="B").sla_policy.name == "everyone"
    finally:
        registry().pm.unregister(plugin)


def test_the_calendar_is_the_policys_then_the_teams_then_the_default_then_around_the_clock(franchise):
    evenings = new_calendar(franchise, "evenings", week={str(d): [["18:00", "22:00"]] for d in range(7)})
    mornings = new_calendar(franchise, "mornings", week={str(d): [["06:00", "08:00"]] for d in range(7)})
    office = new_calendar(franchise, "office", is_default=True)
    team = Team(franchise_id=franchise, name="查件组-sla", calendar_id=mornings.id)
    db.session.add(team)
    own = policy(franchise, "own calendar", position=1, types=["claim"], calendar_id=evenings.id,
                 first_response_minutes=60)
    policy(franchise, "others", position=2, first_response_minutes=60)
    start = beijing(MONDAY, 9)
    assert policy_of(franchise, type="claim").first_response_due == beijing(MONDAY, 19)
    assert policy_of(franchise, team_id=team.id).first_response_due == beijing(MONDAY + timedelta(days=1), 7)
    assert policy_of(franchise).first_response_due == beijing(MONDAY, 10)
    own.calendar_id = None
    office.is_default = False
    db.session.flush()
    assert policy_of(franchise).first_response_due == start + timedelta(hours=1)  # 24x7
    assert config_for(franchise).calendar(None) is ALWAYS_OPEN


def test_holidays_of_the_calendar_push_the_due_time(franchise):
    office = new_calendar(franchise, "office", is_default=True)
    db.session.add(CalendarDay(franchise_id=franchise, calendar_id=office.id, day=MONDAY + timedelta(days=1),
                               kind="holiday", name="假日"))
    policy(franchise, "all", first_response_minutes=120)
    ticket = policy_of(franchise, created_at=beijing(MONDAY, 17))
    assert ticket.first_response_due == beijing(MONDAY + timedelta(days=2), 10)


def test_a_ticket_created_in_a_peak_season_gets_the_relaxed_targets(franchise):
    policy(franchise, "all", first_response_minutes=60)
    db.session.add(PeakSeason(franchise_id=franchise, name="双11", starts_at=datetime(2024, 11, 10, 16),
                              ends_at=datetime(2024, 11, 20, 16), factor=Decimal("3")))
    inside = policy_of(franchise, created_at=datetime(2024, 11, 11, 2))
    outside = policy_of(franchise, created_at=datetime(2024, 11, 21, 2))
    assert inside.first_response_due == datetime(2024, 11, 11, 5)
    assert outside.first_response_due == datetime(2024, 11, 21, 3)


def test_waiting_on_the_customer_through_the_workflow_pauses_and_then_extends(franchise, app):
    policy(franchise, "all", first_response_minutes=600, resolution_minutes=1200)
    start = utcnow() - timedelta(hours=3)
    ticket = policy_of(franchise, created_at=start)
    assert ticket.first_response_due == start + timedelta(hours=10)
    workflow.change_status(ticket, "waiting", at=start + timedelta(hours=1))
    assert ticket.sla_paused is True
    assert ticket.first_response_due == start + timedelta(hours=10)  # frozen while waiting
    workflow.change_status(ticket, "in_progress", at=start + timedelta(hours=3))
    assert ticket.sla_paused is False
    assert ticket.first_response_due == start + timedelta(hours=12)
    assert ticket.resolution_due == start + timedelta(hours=22)


def test_a_late_first_response_is_marked_breached_for_good(franchise, app):
    policy(franchise, "all", first_response_minutes=60, resolution_minutes=6000)
    created = utcnow() - timedelta(hours=2)
    late = policy_of(franchise, created_at=created)
    workflow.reply(late, None, "您好，我们正在查询")
    assert late.first_responded_at is not None and late.first_response_breached is True
    on_time = policy_of(franchise, created_at=utcnow() - timedelta(minutes=5))
    workflow.reply(on_time, None, "您好")
    assert on_time.first_response_breached is False


def test_an_edited_policy_is_used_at_once(franchise):
    rule = policy(franchise, "all", first_response_minutes=60)
    assert policy_of(franchise, created_at=datetime(2024, 3, 4)).first_response_due == datetime(2024, 3, 4, 1)
    rule.first_response_minutes = 30
    db.session.flush()
    assert policy_of(franchise, created_at=datetime(2024, 3, 4)).first_response_due == datetime(2024, 3, 4, 0, 30)
    rule.active = False
    db.session.flush()
    assert policy_of(franchise, created_at=datetime(2024, 3, 4)).first_response_due is None
