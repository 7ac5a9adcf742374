"""Business calendars (weekly hours with several periods a day, holidays and make-up working days 调休),
peak seasons that relax targets (双11), and the SLA policies that pick targets by conditions."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.tenancy import InFranchise
from plugins.tickets import choices
from plugins.tickets.conditions import list_errors

# Monday..Sunday; each a list of ["HH:MM", "HH:MM"] periods (lunch breaks are gaps between periods)
DEFAULT_WEEK = {str(day): [["09:00", "12:00"], ["13:00", "18:00"]] for day in range(5)} | {"5": [], "6": []}
DAY_KINDS = {"holiday": _l("Holiday (no work)"), "workday": _l("Make-up working day (调休)")}


def _updated_at():
    # every SLA configuration row carries it: the per-process cache compares (count, max(updated_at)) per
    # table to notice an edit made by any process (sla/config.py)
    return Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class BusinessCalendar(InFranchise, Model):
    __tablename__ = "tk_calendar"
    __crm_label__ = _l("Business calendar")
    __audited__ = True
    __table_args__ = (UniqueConstraint("franchise_id", "name", name="uq_tk_calendar_name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    timezone = Column(String(40), nullable=False, default="Asia/Shanghai")
    week = Column(JSON, nullable=False, default=lambda: dict(DEFAULT_WEEK))  # {"0": [["09:00","12:00"], ...]}
    # the franchise's calendar when neither the SLA policy nor the team names one
    is_default = Column(Boolean, nullable=False, default=False)
    updated_at = _updated_at()

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        from plugins.tickets.sla.calendar import CalendarError, parse_week, zone_problem

        errors = {}
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        problem = zone_problem(self.timezone or "")
        if problem:
            errors["timezone"] = problem
        try:
            if not any(parse_week(self.week)):
                errors["week"] = str(_l("the week has no working time: give at least one day's hours"))
        except CalendarError as exc:
            errors["week"] = str(exc)
        return errors


class CalendarDay(InFranchise, Model):
    """A date that differs from the weekly pattern: a holiday, or a weekend day worked (调休)."""

    __tablename__ = "tk_calendar_day"
    __crm_label__ = _l("Calendar day")
    __audited__ = True
    __table_args__ = (UniqueConstraint("calendar_id", "day", name="uq_tk_calendar_day"),)

    id = Column(Integer, primary_key=True)
    calendar_id = Column(Integer, ForeignKey("tk_calendar.id", ondelete="CASCADE"), nullable=False)
    calendar = relationship(BusinessCalendar, backref="days")
    day = Column(Date, nullable=False)
    kind = Column(String(8), nullable=False, default="holiday")
    hours = Column(JSON)  # a working day's periods; none = the Monday pattern
    name = Column(String(64))  # 国庆节, 春节调休 ...
    updated_at = _updated_at()

    def validation_errors(self) -> dict[str, str]:
        from plugins.tickets.sla.calendar import CalendarError, parse_periods

        errors = {}
        if self.calendar_id is None and self.calendar is None:
            errors["calendar"] = str(_l("required"))
        elif self.calendar is not None and self.franchise_id is not None \
                and self.calendar.franchise_id != self.franchise_id:
            errors["calendar"] = str(_l("belongs to another franchise"))
        if self.day is None:
            errors["day"] = str(_l("required"))
        if self.kind not in DAY_KINDS:
            errors["kind"] = str(_l("not one of: %(values)s", values=", ".join(DAY_KINDS)))
        try:
            periods = parse_periods(self.hours)
            if periods and self.kind == "holiday":
                errors["hours"] = str(_l("a holiday has no working hours"))
        except CalendarError as exc:
            errors["hours"] = str(exc)
        return errors


class PeakSeason(InFranchise, Model):
    """A period (双11, 春节) in which targets of tickets created inside it are multiplied by `factor`."""

    __tablename__ = "tk_peak_season"
    __crm_label__ = _l("Peak season")
    __audited__ = True
    __table_args__ = (Index("ix_tk_peak_season_franchise_start", "franchise_id", "starts_at"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    starts_at = Column(DateTime, nullable=False)
    ends_at = Column(DateTime, nullable=False)
    factor = Column(Numeric(4, 2), nullable=False, default=2)
    updated_at = _updated_at()

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        if self.starts_at is None:
            errors["starts_at"] = str(_l("required"))
        if self.ends_at is None:
            errors["ends_at"] = str(_l("required"))
        elif self.starts_at is not None and self.ends_at <= self.starts_at:
            errors["ends_at"] = str(_l("must be after the start"))
        if self.factor is None or not 0 < float(self.factor) <= 10:
            errors["factor"] = str(_l("a number above 0 and at most 10 (2 = twice the time)"))
        return errors


class SlaPolicy(InFranchise, Model):
    """Targets in business minutes for the tickets its conditions match (lists; empty = any). Lowest
    position first; the tiering plugin may answer `crm_ticket_sla_policy` before these rules are read."""

    __tablename__ = "tk_sla_policy"
    __crm_label__ = _l("SLA policy")
    __audited__ = True
    __table_args__ = (Index("ix_tk_sla_policy_franchise_position", "franchise_id", "position"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    position = Column(Integer, nullable=False, default=100)
    active = Column(Boolean, nullable=False, default=True)
    types = Column(JSON)
    priorities = Column(JSON)
    tiers = Column(JSON)
    channels = Column(JSON)
    first_response_minutes = Column(Integer, nullable=False, default=120)
    resolution_minutes = Column(Integer, nullable=False, default=24 * 60)
    calendar_id = Column(Integer, ForeignKey("tk_calendar.id"), nullable=True)  # none: the team's or default
    calendar = relationship(BusinessCalendar)
    warn_before_minutes = Column(Integer, nullable=False, default=60)
    # on breach: raise the priority one step, move to a team, tell the team lead
    escalate_raise_priority = Column(Boolean, nullable=False, default=True)
    escalate_to_team_id = Column(Integer, ForeignKey("tk_team.id"), nullable=True)
    escalate_to_team = relationship("Team")
    notify_lead = Column(Boolean, nullable=False, default=True)
    updated_at = _updated_at()

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        errors.update(list_errors(self, (("types", choices.TYPES), ("priorities", choices.PRIORITIES),
                                         ("channels", choices.CHANNELS))))
        if self.tiers is not None and (not isinstance(self.tiers, list)
                                       or any(not str(t).strip() or len(str(t)) > 8 for t in self.tiers)):
            errors["tiers"] = str(_l("tier codes of at most 8 characters, separated by commas"))
        for name in ("first_response_minutes", "resolution_minutes"):
            value = getattr(self, name)
            if value is None or value <= 0:
                errors[name] = str(_l("a number of minutes above 0"))
        if not errors.get("first_response_minutes") and not errors.get("resolution_minutes") \
                and self.resolution_minutes < self.first_response_minutes:
            errors["resolution_minutes"] = str(_l("cannot be shorter than the first-response target"))
        if self.warn_before_minutes is None or self.warn_before_minutes < 0:
            errors["warn_before_minutes"] = str(_l("a number of minutes, 0 or more"))
        for name in ("calendar", "escalate_to_team"):
            related = getattr(self, name)
            if related is not None and self.franchise_id is not None and related.franchise_id != self.franchise_id:
                errors[name] = str(_l("belongs to another franchise"))
        return errors
