"""Teams of a franchise, their members (away switch, open-ticket cap) and the dispatch rules that send a
ticket to a team (first match wins)."""

from __future__ import annotations

import re

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.extensions import db
from core.tenancy import InFranchise, user_franchise
from plugins.tickets import choices
from plugins.tickets.conditions import list_errors

ASSIGNMENT_METHODS = {"round_robin": _l("Round robin"), "least_busy": _l("Least busy"),
                      "manual": _l("Manual (team queue only)")}
# GB/T 2260: province (2 digits), city (4) or district (6)
DISTRICT_PREFIX = re.compile(r"^\d{2}(\d{2}){0,2}$")


def user_in_franchise(user_id, franchise_id) -> bool:
    if user_id is None or franchise_id is None:
        return False
    with db.session.no_autoflush:  # a half-filled form row must not be written by the check
        return db.session.scalar(select(user_franchise.c.user_id).where(
            user_franchise.c.user_id == user_id, user_franchise.c.franchise_id == franchise_id)) is not None


def _id_of(obj, fallback):
    return obj.id if obj is not None else fallback


def _franchise_of(row):
    """The franchise a row is being put in (the relationship a form sets, else the column)."""
    return _id_of(row.franchise, row.franchise_id)


class Team(InFranchise, Model):
    __tablename__ = "tk_team"
    __crm_label__ = _l("Team")
    __audited__ = True
    __table_args__ = (UniqueConstraint("franchise_id", "name", name="uq_tk_team_name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)  # 查件组, 理赔组, 投诉组 ...
    lead_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    lead = relationship(User, foreign_keys=[lead_id])
    assignment = Column(String(12), nullable=False, default="round_robin")
    # open tickets an agent may hold before the team skips them (a member's own cap overrides)
    max_open_per_agent = Column(Integer, nullable=False, default=20)
    # working hours of the team: the SLA clock of its tickets counts in this calendar
    calendar_id = Column(Integer, ForeignKey("tk_calendar.id"), nullable=True)
    calendar = relationship("BusinessCalendar")
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        franchise_id = _franchise_of(self)
        if self.assignment not in ASSIGNMENT_METHODS:
            errors["assignment"] = str(_l("not one of: %(values)s", values=", ".join(ASSIGNMENT_METHODS)))
        if self.max_open_per_agent is not None and self.max_open_per_agent < 1:
            errors["max_open_per_agent"] = str(_l("at least 1"))
        lead_id = _id_of(self.lead, self.lead_id)
        if lead_id is not None and not user_in_franchise(lead_id, franchise_id):
            errors["lead"] = str(_l("%(user)s is not a user of this team's franchise",
                                    user=self.lead or lead_id))
        calendar = self.calendar
        if calendar is not None and calendar.franchise_id != franchise_id:
            errors["calendar"] = str(_l("the calendar belongs to another franchise"))
        return errors


class TeamMember(InFranchise, Model):
    __tablename__ = "tk_team_member"
    __crm_label__ = _l("Team member")
    __audited__ = True
    __audit_ignore__ = {"last_assigned_at"}  # moves with every assignment: the ticket's timeline has it
    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_tk_team_member"),
                      Index("ix_tk_team_member_user", "user_id"))

    id = Column(Integer, primary_key=True)
    team_id = Column(Integer, ForeignKey("tk_team.id", ondelete="CASCADE"), nullable=False)
    team = relationship(Team, backref="members")
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    user = relationship(User)
    away = Column(Boolean, nullable=False, default=False)
    max_open = Column(Integer, nullable=True)  # none: the team's cap
    # round robin picks the member who got a ticket longest ago
    last_assigned_at = Column(DateTime)
    active = Column(Boolean, nullable=False, default=True)
    joined_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return str(self.user) if self.user is not None else ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        team = self.team
        if team is None:
            return {"team": str(_l("required"))}
        if _franchise_of(self) != team.franchise_id:
            errors["team"] = str(_l("the team belongs to another franchise"))
        user_id = _id_of(self.user, self.user_id)
        if user_id is None:
            errors["user"] = str(_l("required"))
        elif not user_in_franchise(user_id, team.franchise_id):
            errors["user"] = str(_l("%(user)s is not a user of the team's franchise", user=self.user or user_id))
        elif self._duplicate(team.id, user_id):
            errors["user"] = str(_l("already a member of this team"))
        if self.max_open is not None and self.max_open < 1:
            errors["max_open"] = str(_l("at least 1, or empty for the team's cap"))
        return errors

    def _duplicate(self, team_id, user_id) -> bool:
        with db.session.no_autoflush:
            return db.session.scalar(select(TeamMember.id).where(
                TeamMember.team_id == team_id, TeamMember.user_id == user_id,
                TeamMember.id != (self.id or 0))) is not None


class DispatchRule(InFranchise, Model):
    """Conditions on a new ticket (each a list; empty = any) and the team it goes to. Lowest position first."""

    __tablename__ = "tk_dispatch_rule"
    __crm_label__ = _l("Dispatch rule")
    __audited__ = True
    __table_args__ = (Index("ix_tk_dispatch_rule_franchise_position", "franchise_id", "position"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    position = Column(Integer, nullable=False, default=100)
    active = Column(Boolean, nullable=False, default=True)
    types = Column(JSON)          # ["complaint", ...]
    categories = Column(JSON)
    priorities = Column(JSON)
    channels = Column(JSON)
    tiers = Column(JSON)          # ["A", "B"]: the customer's tier from the tiering plugin
    district_prefixes = Column(JSON)  # ["33", "3301"]: GB/T 2260 codes of the area, any prefix matches
    team_id = Column(Integer, ForeignKey("tk_team.id", ondelete="CASCADE"), nullable=False)
    team = relationship(Team)
    set_priority = Column(String(8))  # optional: raise or set the priority when the rule matches

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        errors.update(list_errors(self, (("types", choices.TYPES), ("categories", choices.CATEGORIES),
                                         ("priorities", choices.PRIORITIES), ("channels", choices.CHANNELS))))
        bad = [p for p in self.district_prefixes or [] if not DISTRICT_PREFIX.match(str(p))]
        if bad:
            errors["district_prefixes"] = str(_l("%(values)s: district prefixes are 2, 4 or 6 digits (GB/T 2260)",
                                                 values=", ".join(map(str, bad))))
        if any(not isinstance(t, str) or not t.strip() or len(t) > 8 for t in self.tiers or []):
            errors["tiers"] = str(_l("tiers are short codes such as A, B, C"))
        if self.set_priority and self.set_priority not in choices.PRIORITIES:
            errors["set_priority"] = str(_l("not one of: %(values)s", values=", ".join(choices.PRIORITIES)))
        team = self.team
        if team is None:
            errors["team"] = str(_l("required"))
        elif team.franchise_id != _franchise_of(self):
            errors["team"] = str(_l("the team belongs to another franchise"))
        return errors
