"""The SLA screens: franchise IT sets up calendars and policies (bad input refused with the field named),
outlet managers read them, and a changed policy recomputes the due times of open tickets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from plugins.tickets.models import Ticket
from plugins.tickets.sla.clock import refresh
from plugins.tickets.sla.models import BusinessCalendar, CalendarDay, SlaPolicy
from tests.conftest import add_user
from tests.plugins.tickets.conftest import make_ticket


@pytest.fixture
def it(client_for):
    client = client_for("ait")
    client.get("/lang/en")
    return client


def calendars(name):
    return db.session.scalar(select(func.count()).select_from(BusinessCalendar).where(BusinessCalendar.name == name))


def add_calendar(client, ids, name, week, timezone="Asia/Shanghai"):
    return client.post("/tickets/sla/calendars/add", data={"name": name, "timezone": timezone, "week": week,
                                                          "franchise": ids["A"]}, follow_redirects=True)


def test_franchise_it_sets_up_a_calendar_with_a_lunch_break(app, ids, it):
    response = add_calendar(it, ids, "总部客服", "1 09:00-12:00,13:00-18:00\n2 09:00-12:00,13:00-18:00\n6 10:00-15:00")
    assert response.status_code == 200
    with app.app_context():
        row = db.session.scalar(select(BusinessCalendar).where(BusinessCalendar.name == "总部客服"))
        assert row.week["0"] == [["09:00", "12:00"], ["13:00", "18:00"]]
        assert row.week["5"] == [["10:00", "15:00"]] and row.week["2"] == []
        assert row.franchise_id == ids["A"]


@pytest.mark.parametrize("week, message", [
    ("8 09:00-12:00", "line 1"),
    ("1 09:00-12:00,11:00-13:00", "overlap"),
    ("1 13:00-09:00", "start must be before the end"),
    ("6\n7", "no working time"),
])
def test_a_bad_week_is_refused_with_a_message_at_the_field(app, ids, it, week, message):
    response = add_calendar(it, ids, "坏日历", week)
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert calendars("坏日历") == 0


def test_an_unknown_time_zone_is_refused(app, ids, it):
    response = add_calendar(it, ids, "火星", "1 09:00-18:00", timezone="Mars/Olympus")
    assert "Mars/Olympus is not a known time zone" in response.get_data(as_text=True)
    with app.app_context():
        assert calendars("火星") == 0


def test_a_holiday_with_hours_is_refused(app, ids, it):
    with app.app_context():
        calendar_id = db.session.scalar(select(BusinessCalendar.id).where(BusinessCalendar.name == "总部客服"))
    response = it.post("/tickets/sla/calendar-days/add", data={
        "calendar": calendar_id, "day": "2024-10-01", "kind": "holiday", "hours": "09:00-12:00", "name": "国庆节"},
        follow_redirects=True)
    assert "a holiday has no working hours" in response.get_data(as_text=True)
    response = it.post("/tickets/sla/calendar-days/add", data={
        "calendar": calendar_id, "day": "2024-10-12", "kind": "workday", "hours": "", "name": "国庆调休"},
        follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        day = db.session.scalar(select(CalendarDay).where(CalendarDay.name == "国庆调休"))
        assert day.kind == "workday" and day.franchise_id == ids["A"] and day.hours is None


def add_policy(client, ids, **values):
    data = {"name": "标准", "position": "10", "active": "y", "first_response_minutes": "60",
            "resolution_minutes": "600", "warn_before_minutes": "30", "franchise": ids["A"]}
    data.update(values)
    return client.post("/tickets/sla/policies/add", data=data, follow_redirects=True)


def test_a_policy_with_conditions_is_saved_as_lists(app, ids, it):
    response = add_policy(it, ids, name="投诉加急", types=["complaint"], priorities=["urgent", "high"],
                          tiers="A，B", position="5")
    assert response.status_code == 200
    with app.app_context():
        row = db.session.scalar(select(SlaPolicy).where(SlaPolicy.name == "投诉加急"))
        assert row.types == ["complaint"] and sorted(row.priorities) == ["high", "urgent"]
        assert row.tiers == ["A", "B"] and row.channels is None


def test_a_policy_with_impossible_targets_is_refused(app, ids, it):
    response = add_policy(it, ids, name="坏规则", first_response_minutes="600", resolution_minutes="60")
    assert "cannot be shorter than the first-response target" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SlaPolicy).where(SlaPolicy.name == "坏规则")) == 0


def test_changing_a_policy_recomputes_the_open_tickets(app, ids, it):
    with app.app_context():
        policy = SlaPolicy(franchise_id=ids["A"], name="改我", position=1, first_response_minutes=60,
                           resolution_minutes=600)
        db.session.add(policy)
        db.session.flush()
        created = utcnow() - timedelta(minutes=10)
        ticket = make_ticket(ids["A"], created_at=created)
        refresh(ticket)
        db.session.commit()
        ticket_id, policy_id = ticket.id, policy.id
        assert ticket.sla_policy_id == policy_id
        before = ticket.first_response_due
    response = it.post(f"/tickets/sla/policies/edit/{policy_id}", data={
        "name": "改我", "position": "1", "active": "y", "first_response_minutes": "240", "resolution_minutes": "900",
        "warn_before_minutes": "30", "franchise": ids["A"]}, follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        # the queued job ran after the edit committed: 4 business hours now instead of 1
        assert ticket.first_response_due > before
        assert ticket.sla_policy_id == policy_id
        first, resolution = ticket.first_response_due, ticket.resolution_due
    with app.app_context():
        policy = db.session.get(SlaPolicy, policy_id)
        policy.first_response_minutes = 60
        db.session.commit()
        from plugins.tickets.sla.recompute import recompute_open_tickets

        assert recompute_open_tickets(ids["A"], chunk_size=1) >= 1
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.first_response_due < first and ticket.resolution_due == resolution


def test_outlet_managers_read_but_do_not_change_sla_settings(app, ids, client_for):
    with app.app_context():
        from core.tenancy import Franchise

        add_user(app, "om", "Outlet Manager", franchises=[db.session.get(Franchise, ids["A"])])
    client = client_for("om")
    assert client.get("/tickets/sla/policies/list/").status_code == 200
    assert client.get("/tickets/sla/calendars/list/").status_code == 200
    refused = client.get("/tickets/sla/policies/add", follow_redirects=False)
    assert refused.status_code in (302, 403)
    add_policy(client, ids, name="越权")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SlaPolicy).where(SlaPolicy.name == "越权")) == 0
