"""Teams of a franchise, their members (away switch, open-ticket cap) and the dispatch rules that send a
ticket to a team (first match wins)."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.tenancy import InFranchise

ASSIGNMENT_METHODS = {"round_robin": _l("Round robin"), "least_busy": _l("Least busy"),
                      "manual": _l("Manual (team queue only)")}


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


class TeamMember(InFranchise, Model):
    __tablename__ = "tk_team_member"
    __crm_label__ = _l("Team member")
    __audited__ = True
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
