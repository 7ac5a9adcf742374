"""A franchise's SLA configuration (policies, calendars with their days, peak seasons) as plain values, kept
per process and reloaded when any of its rows changed.

Ticket creation refreshes the SLA of every new ticket: reading four tables each time would cost more than
the rest of intake. One small query (row count and latest `updated_at` of each table, for the franchise)
tells whether the cached copy is still the database's; any edit, in any process, changes that answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core.extensions import db
from plugins.tickets.sla.calendar import ALWAYS_OPEN, CalendarError, WorkCalendar
from plugins.tickets.sla.models import BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy

CACHE_KEY = "crm_tickets_sla_config"


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    position: int
    active: bool
    types: frozenset | None
    priorities: frozenset | None
    tiers: frozenset | None
    channels: frozenset | None
    first_response_minutes: int
    resolution_minutes: int
    calendar_id: int | None
    warn_before_minutes: int
    escalate_raise_priority: bool
    escalate_to_team_id: int | None
    notify_lead: bool

    @classmethod
    def of(cls, row: SlaPolicy) -> "Policy":
        def codes(values):
            return frozenset(str(v) for v in values) if values else None

        return cls(id=row.id, name=row.name, position=row.position or 0, active=bool(row.active),
                   types=codes(row.types), priorities=codes(row.priorities), tiers=codes(row.tiers),
                   channels=codes(row.channels), first_response_minutes=row.first_response_minutes or 0,
                   resolution_minutes=row.resolution_minutes or 0, calendar_id=row.calendar_id,
                   warn_before_minutes=row.warn_before_minutes or 0,
                   escalate_raise_priority=bool(row.escalate_raise_priority),
                   escalate_to_team_id=row.escalate_to_team_id, notify_lead=bool(row.notify_lead))

    def matches(self, type_: str | None, priority: str | None, tier: str | None, channel: str | None) -> bool:
        return all(allowed is None or value in allowed for allowed, value in (
            (self.types, type_), (self.priorities, priority), (self.tiers, tier), (self.channels, channel)))


@dataclass(frozen=True)
class Peak:
    starts_at: datetime
    ends_at: datetime
    factor: Decimal


@dataclass
class SlaConfig:
    """Everything the clock needs for one franchise."""

    policies: list[Policy] = field(default_factory=list)  # all, active or not, by position
    calendars: dict[int, WorkCalendar] = field(default_factory=dict)
    default_calendar_id: int | None = None
    peaks: list[Peak] = field(default_factory=list)

    def policy(self, policy_id: int | None) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def matching_policy(self, type_, priority, tier, channel) -> Policy | None:
        return next((p for p in self.policies if p.active and p.matches(type_, priority, tier, channel)), None)

    def calendar(self, *candidate_ids):
        """The first of the candidates that is a calendar of this franchise, else the default, else 24x7."""
        for calendar_id in (*candidate_ids, self.default_calendar_id):
            if calendar_id is not None and calendar_id in self.calendars:
                return self.calendars[calendar_id]
        return ALWAYS_OPEN

    def peak_factor(self, created_at: datetime) -> Decimal:
        """The largest factor of the peak seasons the ticket was created in (1 outside them)."""
        factors = [p.factor for p in self.peaks if p.starts_at <= created_at < p.ends_at]
        return max(factors) if factors else Decimal(1)


def _version(franchise_id: int) -> tuple:
    def stamp(model):
        return (select(func.count(model.id)).where(model.franchise_id == franchise_id).scalar_subquery(),
                select(func.max(model.updated_at)).where(model.franchise_id == franchise_id).scalar_subquery())

    columns = [column for model in (SlaPolicy, BusinessCalendar, CalendarDay, PeakSeason) for column in stamp(model)]
    return tuple(db.session.execute(select(*columns)).one())


def load(franchise_id: int) -> SlaConfig:
    """Read the franchise's configuration from the database (no cache)."""
    session = db.session
    policies = [Policy.of(row) for row in session.scalars(
        select(SlaPolicy).where(SlaPolicy.franchise_id == franchise_id).order_by(SlaPolicy.position, SlaPolicy.id))]
    days: dict[int, list] = {}
    for calendar_id, day, kind, hours in session.execute(
            select(CalendarDay.calendar_id, CalendarDay.day, CalendarDay.kind, CalendarDay.hours)
            .where(CalendarDay.franchise_id == franchise_id)):
        days.setdefault(calendar_id, []).append((day, kind, hours))
    calendars, default_id = {}, None
    for row in session.execute(select(BusinessCalendar.id, BusinessCalendar.name, BusinessCalendar.timezone,
                                      BusinessCalendar.week, BusinessCalendar.is_default)
                               .where(BusinessCalendar.franchise_id == franchise_id).order_by(BusinessCalendar.id)):
        try:
            calendars[row.id] = WorkCalendar.build(row.timezone, row.week, days.get(row.id, ()), name=row.name)
        except CalendarError:
            continue  # a broken row (written around the form) counts as no calendar: 24x7, never a crash
        if row.is_default and default_id is None:
            default_id = row.id
    peaks = [Peak(row.starts_at, row.ends_at, Decimal(row.factor)) for row in session.execute(
        select(PeakSeason.starts_at, PeakSeason.ends_at, PeakSeason.factor)
        .where(PeakSeason.franchise_id == franchise_id))]
    return SlaConfig(policies, calendars, default_id, peaks)


CONFIG_MODELS = (BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy)


def config_for(franchise_id: int) -> SlaConfig:
    """The franchise's configuration, from this process's cache when no row changed since it was read (checked
    once per transaction: intake refreshes a new ticket's clocks more than once)."""
    checked = db.session.info.setdefault(CACHE_KEY, {})
    if franchise_id in checked:
        return checked[franchise_id]
    checked[franchise_id] = config = _current(franchise_id)
    return config


def _current(franchise_id: int) -> SlaConfig:
    cache = current_app.extensions.setdefault(CACHE_KEY, {})
    version = _version(franchise_id)
    cached = cache.get(franchise_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    config = load(franchise_id)
    cache[franchise_id] = (version, config)
    return config


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_checked(session):
    session.info.pop(CACHE_KEY, None)


@event.listens_for(Session, "after_flush")
def _forget_on_changes(session, flush_context):
    if any(isinstance(obj, CONFIG_MODELS) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(CACHE_KEY, None)
