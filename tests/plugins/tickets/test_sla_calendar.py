"""Business-time arithmetic of SLA calendars: lunch breaks, weekends, holidays, make-up working days (调休),
time zones and long targets; and the checks that keep an unusable calendar out."""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta

import pytest

from plugins.tickets.sla.calendar import (ALWAYS_OPEN, CalendarError, WorkCalendar, parse_periods, week_from_text,
                                          week_text)
from plugins.tickets.sla.models import DEFAULT_WEEK

# Beijing is UTC+8: 09:00 local = 01:00 UTC. 2024-03-04 is a Monday.
MONDAY = date(2024, 3, 4)


def beijing(day: date, hh: int, mm: int = 0) -> datetime:
    """A Beijing wall-clock time as the database stores it (naive UTC)."""
    return datetime(day.year, day.month, day.day, hh, mm) - timedelta(hours=8)


def calendar(days=(), week=None, zone="Asia/Shanghai") -> WorkCalendar:
    return WorkCalendar.build(zone, week or DEFAULT_WEEK, days)


def test_the_lunch_break_is_not_business_time():
    cal = calendar()
    # 11:00 + 2 working hours: one hour before lunch, one after it
    assert cal.add_minutes(beijing(MONDAY, 11), 120) == beijing(MONDAY, 14)
    assert cal.minutes_between(beijing(MONDAY, 11), beijing(MONDAY, 14)) == 120
    # a ticket raised during lunch starts counting at 13:00
    assert cal.add_minutes(beijing(MONDAY, 12, 20), 30) == beijing(MONDAY, 13, 30)


def test_the_weekend_is_skipped():
    friday = MONDAY + timedelta(days=4)
    assert calendar().add_minutes(beijing(friday, 17), 120) == beijing(MONDAY + timedelta(days=7), 10)


def test_a_holiday_is_skipped():
    cal = calendar(days=[(MONDAY + timedelta(days=1), "holiday", None)])
    # Monday 17:00 + 2h: one hour on Monday, Tuesday is a holiday, one hour on Wednesday
    assert cal.add_minutes(beijing(MONDAY, 17), 120) == beijing(MONDAY + timedelta(days=2), 10)


def test_a_make_up_saturday_is_worked_with_mondays_hours():
    saturday = MONDAY + timedelta(days=5)
    cal = calendar(days=[(saturday, "workday", None)])
    assert cal.add_minutes(beijing(MONDAY + timedelta(days=4), 17), 120) == beijing(saturday, 10)
    # the lunch break of the Monday pattern applies on that Saturday too
    assert cal.add_minutes(beijing(saturday, 11, 30), 60) == beijing(saturday, 13, 30)


def test_a_make_up_day_may_have_hours_of_its_own():
    sunday = MONDAY + timedelta(days=6)
    cal = calendar(days=[(sunday, "workday", [["10:00", "12:00"]])])
    assert cal.add_minutes(beijing(MONDAY + timedelta(days=4), 17, 30), 60) == beijing(sunday, 10, 30)


def test_periods_are_local_times_of_the_calendars_zone():
    utc_start = datetime(2024, 3, 4, 1, 0)  # Beijing 09:00, London 01:00 (winter: UTC+0)
    assert calendar(zone="Asia/Shanghai").add_minutes(utc_start, 60) == datetime(2024, 3, 4, 2, 0)
    assert calendar(zone="Europe/London").add_minutes(utc_start, 60) == datetime(2024, 3, 4, 10, 0)


def test_summer_time_shifts_the_periods_in_utc():
    london = calendar(zone="Europe/London")
    # 2024-03-31 London moved to UTC+1: Monday 1 April 09:00 local is 08:00 UTC
    assert london.add_minutes(datetime(2024, 3, 29, 17, 30), 60) == datetime(2024, 4, 1, 8, 30)


def test_ten_business_days_with_a_golden_week():
    golden_week = [(date(2024, 10, d), "holiday", None) for d in range(1, 8)]
    make_up = [(date(2024, 9, 29), "workday", None), (date(2024, 10, 12), "workday", None)]
    cal = calendar(days=golden_week + make_up)
    start = beijing(date(2024, 9, 27), 9)  # a Friday morning
    # 10 days of 8 working hours: Fri 27, Sun 29 (调休), Mon 30, Tue 8 .. Fri 11 (4), Sat 12 (调休), Mon 14, Tue 15
    assert cal.add_minutes(start, 10 * 8 * 60) == beijing(date(2024, 10, 15), 18)
    assert cal.minutes_between(start, beijing(date(2024, 10, 15), 18)) == 4800


def test_adding_and_counting_agree():
    cal = calendar(days=[(MONDAY + timedelta(days=2), "holiday", None), (MONDAY + timedelta(days=5), "workday", None)])
    rnd = random.Random(5)
    for _ in range(500):
        start = datetime(2024, 3, 1) + timedelta(minutes=rnd.randrange(0, 60 * 24 * 20))
        minutes = rnd.choice([1, 45, 180, 479, 481, 2400])
        due = cal.add_minutes(start, minutes)
        assert due > start
        assert cal.minutes_between(start, due) == pytest.approx(minutes)


def test_a_due_time_is_computed_in_well_under_a_millisecond():
    cal = calendar(days=[(date(2024, 10, d), "holiday", None) for d in range(1, 8)])
    starts = [datetime(2024, 9, 20) + timedelta(minutes=13 * i) for i in range(2000)]
    began = time.perf_counter()
    for start in starts:
        cal.add_minutes(start, 3 * 8 * 60)
    per_call = (time.perf_counter() - began) / len(starts)
    assert per_call < 0.001, f"{per_call * 1000:.3f} ms per due time"


def test_no_calendar_means_around_the_clock():
    start = datetime(2024, 3, 9, 22, 0)  # a Saturday night
    assert ALWAYS_OPEN.add_minutes(start, 120) == datetime(2024, 3, 10, 0, 0)
    assert ALWAYS_OPEN.minutes_between(start, datetime(2024, 3, 10, 0, 0)) == 120


def test_a_calendar_without_working_time_raises_instead_of_looping():
    empty_week = {str(d): [] for d in range(7)}
    with pytest.raises(CalendarError):
        calendar(week=empty_week).add_minutes(datetime(2024, 3, 4), 60)
    only_one_day = calendar(week=empty_week, days=[(MONDAY, "workday", [["09:00", "10:00"]])])
    assert only_one_day.add_minutes(beijing(MONDAY, 9), 30) == beijing(MONDAY, 9, 30)
    with pytest.raises(CalendarError):
        only_one_day.add_minutes(beijing(MONDAY, 9), 120)


@pytest.mark.parametrize("text", ["9-12", "25:00-26:00", "09:60-10:00", "12:00-09:00", "09:00-12:00,11:00-13:00",
                                  "09:00"])
def test_malformed_periods_are_refused(text):
    with pytest.raises(CalendarError):
        parse_periods(text)


def test_the_week_typed_as_text_round_trips():
    week = week_from_text("1 09:00-12:00,13:00-18:00\n3 08:30-17:30\n6")
    assert week["0"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert week["2"] == [["08:30", "17:30"]]
    assert week["1"] == [] and week["5"] == []
    assert week_from_text(week_text(week)) == week


@pytest.mark.parametrize("text", ["8 09:00-12:00", "Mon 09:00-12:00", "1 09:00-12:00\n1 13:00-14:00",
                                  "2 13:00-12:00"])
def test_a_bad_week_line_is_refused_with_its_line_number(text):
    with pytest.raises(CalendarError, match="1|2"):
        week_from_text(text)
