"""Report periods: what staff pick in local dates, turned into the UTC [start, end) the database compares."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from core.clock import local_now, network_zone


def local_midnight_utc(day: date) -> datetime:
    """The start of a local day as naive UTC."""
    return datetime.combine(day, time(), network_zone()).astimezone(timezone.utc).replace(tzinfo=None)


def days_utc(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of `first`, end of `last`) in naive UTC: both local days are included."""
    return local_midnight_utc(first), local_midnight_utc(last + timedelta(days=1))


def this_month() -> tuple[date, date]:
    today = local_now().date()
    return today.replace(day=1), today


def last_days(count: int) -> tuple[date, date]:
    today = local_now().date()
    return today - timedelta(days=count - 1), today
