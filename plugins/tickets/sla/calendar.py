"""Business-time arithmetic: add business minutes to a moment, count business minutes between two moments.

Moments are naive UTC (as the database stores them); the calendar's periods are wall-clock times in its own
timezone. The walk goes day by day and period by period (never minute by minute), converting each period's
bounds to UTC, so a due time 10 business days ahead costs a few dozen steps and DST days stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l

UTC = timezone.utc
DAY = timedelta(days=1)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")

Period = tuple[int, int]  # minutes of the day, start < end, end <= 24 * 60


class CalendarError(ValueError):
    """A calendar that cannot be used (no working time at all, malformed periods)."""


# --- parsing and validation (forms and models) ------------------------------------------------------------


def parse_time(text: str) -> int:
    """"09:30" -> 570 minutes; "24:00" is the end of the day."""
    match = _TIME.match((text or "").strip())
    if not match:
        raise CalendarError(str(_l("%(value)s is not a time HH:MM", value=text)))
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise CalendarError(str(_l("%(value)s is not a time HH:MM", value=text)))
    return hours * 60 + minutes


def format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_periods(value) -> tuple[Period, ...]:
    """Periods from stored JSON ([["09:00", "12:00"], ...]) or text ("09:00-12:00, 13:00-18:00"), checked:
    well formed, start before end, no overlap. Raises CalendarError with a readable message."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "-"):
            return ()
        pairs = []
        for chunk in text.split(","):
            bounds = chunk.strip().split("-")
            if len(bounds) != 2:
                raise CalendarError(str(_l("%(value)s is not a period HH:MM-HH:MM", value=chunk.strip())))
            pairs.append(bounds)
    else:
        pairs = list(value)
    periods = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CalendarError(str(_l("%(value)s is not a period HH:MM-HH:MM", value=pair)))
        start, end = parse_time(str(pair[0])), parse_time(str(pair[1]))
        if start >= end:
            raise CalendarError(str(_l("%(start)s-%(end)s: the start must be before the end",
                                       start=format_time(start), end=format_time(end))))
        periods.append((start, end))
    periods.sort()
    for (_, end), (start, _) in zip(periods, periods[1:]):
        if start < end:
            raise CalendarError(str(_l("periods overlap at %(time)s", time=format_time(start))))
    return tuple(periods)


def periods_json(periods) -> list[list[str]]:
    return [[format_time(start), format_time(end)] for start, end in periods]


def periods_text(periods) -> str:
    return ", ".join(f"{format_time(start)}-{format_time(end)}" for start, end in periods)


def parse_week(week) -> tuple[tuple[Period, ...], ...]:
    """The stored week ({"0": [[..]], ... "6": []}, Monday = "0") as 7 tuples of periods."""
    week = week or {}
    days = []
    for day in range(7):
        try:
            days.append(parse_periods(week.get(str(day), week.get(day))))
        except CalendarError as exc:
            raise CalendarError(f"{WEEKDAY_NAMES[day]}: {exc}") from None
    return tuple(days)


def week_from_text(text: str) -> dict[str, list]:
    """One line per weekday, 1 = Monday .. 7 = Sunday: "1 09:00-12:00,13:00-18:00"; a day left out (or
    written "6" alone) has no working time."""
    week: dict[str, list] = {str(day): [] for day in range(7)}
    seen = set()
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit() or not 1 <= int(head) <= 7:
            raise CalendarError(str(_l("line %(line)d: start with the weekday 1 (Monday) to 7 (Sunday)",
                                       line=number)))
        day = int(head) - 1
        if day in seen:
            raise CalendarError(str(_l("line %(line)d: weekday %(day)s is given twice", line=number, day=head)))
        seen.add(day)
        try:
            week[str(day)] = periods_json(parse_periods(rest))
        except CalendarError as exc:
            raise CalendarError(str(_l("line %(line)d: %(problem)s", line=number, problem=str(exc)))) from None
    return week


def week_text(week) -> str:
    try:
        days = parse_week(week)
    except CalendarError:
        return ""
    return "\n".join(f"{day + 1} {periods_text(periods)}".rstrip() for day, periods in enumerate(days))


def zone_problem(name: str) -> str | None:
    try:
        zone_of(name)
    except CalendarError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=64)
def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo((name or "").strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(str(_l("%(value)s is not a known time zone (e.g. Asia/Shanghai)", value=name))) from None


# --- arithmetic --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkCalendar:
    """A weekly pattern in a timezone, with holidays and make-up working days (调休)."""

    zone: ZoneInfo
    week: tuple[tuple[Period, ...], ...]
    holidays: frozenset = frozenset()
    workdays: dict = field(default_factory=dict)  # date -> periods (empty: the Monday pattern)
    name: str = ""

    def __post_init__(self):
        if len(self.week) != 7:
            raise CalendarError("a week has 7 days")
        last = max([*self.holidays, *self.workdays], default=date.min)
        object.__setattr__(self, "_last_special", last)
        object.__setattr__(self, "_week_has_work", any(self.week))

    @classmethod
    def build(cls, timezone_name: str, week, days=(), name: str = "") -> "WorkCalendar":
        """From stored values: `days` are (date, kind, hours) with kind "holiday" or "workday"."""
        parsed_week = parse_week(week)
        holidays, workdays = set(), {}
        for day, kind, hours in days:
            if kind == "workday":
                workdays[day] = parse_periods(hours) or parsed_week[0]
            else:
                holidays.add(day)
        return cls(zone_of(timezone_name), parsed_week, frozenset(holidays), workdays, name)

    def periods_on(self, day: date) -> tuple[Period, ...]:
        if day in self.holidays:
            return ()
        worked = self.workdays.get(day)
        if worked is not None:
            return worked
        return self.week[day.weekday()]

    def _local_day(self, moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(self.zone).date()

    def _utc(self, day: date, minutes: int) -> datetime:
        local = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
        return local.replace(tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)

    def _spans(self, day: date):
        for start, end in self.periods_on(day):
            yield self._utc(day, start), self._utc(day, end)

    def _check_ahead(self, day: date) -> None:
        # past the last special date only the week pattern is left: without work in it, nothing ever comes
        if day > self._last_special and not self._week_has_work:
            raise CalendarError(str(_l("calendar %(name)s has no working time after %(day)s",
                                       name=self.name, day=day.isoformat())))

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of business time after `start` (naive UTC in and out)."""
        if seconds <= 0:
            return start
        remaining = float(seconds)
        day = self._local_day(start)
        while True:
            for span_start, span_end in self._spans(day):
                if span_end <= start:
                    continue
                begin = max(span_start, start)
                available = (span_end - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
            day += DAY
            self._check_ahead(day)

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return self.add_seconds(start, minutes * 60)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end) (0 when end is not after start)."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            for span_start, span_end in self._spans(day):
                begin, finish = max(span_start, start), min(span_end, end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += DAY
        return total

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return self.seconds_between(start, end) / 60


class AlwaysOpen:
    """No calendar at all: the clock runs 24x7."""

    name = "24x7"

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=max(seconds, 0))

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return self.add_seconds(start, minutes * 60)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return max((end - start).total_seconds(), 0.0)

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return self.seconds_between(start, end) / 60


ALWAYS_OPEN = AlwaysOpen()
