"""Business calendars (weekly hours with several periods a day, holidays and make-up working days 调休),
peak seasons that relax targets (双11), and the SLA policies that pick targets by conditions."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from core.tenancy import InFranchise

# Monday..Sunday; each a list of ["HH:MM", "HH:MM"] periods (lunch breaks are gaps between periods)
DEFAULT_WEEK = {str(day): [["09:00", "12:00"], ["13:00", "18:00"]] for day in range(5)} | {"5": [], "6": []}
DAY_KINDS = {"holiday": _l("Holiday (no work)"), "workday": _l("Make-up working day (调休)")}


class BusinessCalendar(InFranchise, Model):
    __tablename__ = "tk_calendar"
    __crm_label__ = _l("Business calendar")
    __audited__ = True
    __table_args__ = (UniqueConstraint("franchise_id", "name", name="uq_tk_calendar_name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    timezone = Column(String(40), nullable=False, default="Asia/Shanghai")
    week = Column(JSON, nullable=False, default=lambda: dict(DEFAULT_WEEK))  # {"0": [["09:00","12:00"], ...]}
    # hours of a make-up working day (调休) when the day row names none: a normal weekday's
    is_default = Column(Boolean, nullable=False, default=False)

    def __repr__(self):
        return self.name or ""


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

    def __repr__(self):
        return self.name or ""
