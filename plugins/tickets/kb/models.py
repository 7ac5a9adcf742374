"""Knowledge base (articles in categories, zh or en), canned replies with placeholders scoped to a team or
franchise, and keyword rules that suggest a reply for incoming text. Rows without a franchise are HQ's,
shared with every franchise."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.extensions import db
from core.tenancy import Franchise, assigned_franchise
from plugins.tickets.kb.placeholders import placeholder_problem

LANGUAGES = {"zh": "中文", "en": "English"}


def split_keywords(text: str | None) -> list[str]:
    """Comma separated words (ASCII or full-width comma), trimmed, lower case, without empties."""
    return [word.strip().lower() for word in (text or "").replace("，", ",").split(",") if word.strip()]


def _required(item, *names) -> dict[str, str]:
    return {name: str(_l("required")) for name in names if not (getattr(item, name) or "").strip()}


def _language_problem(item) -> dict[str, str]:
    if item.language is not None and item.language not in LANGUAGES:  # none: the default
        return {"language": str(_l("not one of: %(values)s", values=", ".join(LANGUAGES)))}
    return {}


class _SharedConfig:
    """A franchise's own row, or HQ's (no franchise) which every franchise sees."""

    __shared_rows__ = True


class KbCategory(_SharedConfig, Model):
    __tablename__ = "tk_kb_category"
    __crm_label__ = _l("Knowledge category")

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    name_zh = Column(String(64), nullable=False)
    name_en = Column(String(64))
    position = Column(Integer, nullable=False, default=100)

    def __repr__(self):
        return self.name_zh or ""


class KbArticle(_SharedConfig, Model):
    __tablename__ = "tk_kb_article"
    __crm_label__ = _l("Knowledge article")
    __audited__ = True
    __table_args__ = (Index("ix_tk_kb_article_franchise_category", "franchise_id", "category_id"),)

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    category_id = Column(Integer, ForeignKey("tk_kb_category.id"), nullable=True)
    category = relationship(KbCategory)
    language = Column(String(2), nullable=False, default="zh")
    title = Column(String(200), nullable=False)
    body = Column(Text, nullable=False)
    keywords = Column(String(500))  # extra search words and synonyms, comma separated
    published = Column(Boolean, nullable=False, default=True)
    views = Column(Integer, nullable=False, default=0)
    helpful = Column(Integer, nullable=False, default=0)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self):
        return self.title or ""

    def validation_errors(self) -> dict[str, str]:
        return {**_required(self, "title", "body"), **_language_problem(self)}


class CannedReply(_SharedConfig, Model):
    """A reply template: {customer_name}, {waybill_no}, {due_date}, {ticket_no}, {agent_name} are filled in."""

    __tablename__ = "tk_canned_reply"
    __crm_label__ = _l("Canned reply")
    __audited__ = True

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    team_id = Column(Integer, ForeignKey("tk_team.id", ondelete="CASCADE"), nullable=True)  # none: all teams
    team = relationship("Team")
    language = Column(String(2), nullable=False, default="zh")
    title = Column(String(100), nullable=False)
    body = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self):
        return self.title or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {**_required(self, "title", "body"), **_language_problem(self)}
        problem = placeholder_problem(self.body)
        if problem:
            errors["body"] = problem
        team = self.team
        if team is None and self.team_id is not None:
            from plugins.tickets.routing.models import Team

            team = db.session.get(Team, self.team_id)
        if team is not None and team.franchise_id != assigned_franchise(self):
            # a team's reply belongs to the team's franchise; HQ's shared replies are for every team
            errors["team"] = str(_l("the team must belong to the reply's franchise"))
        return errors


class ReplyRule(_SharedConfig, Model):
    """Keywords (any of, comma separated) in incoming e-mail text that suggest a canned reply."""

    __tablename__ = "tk_reply_rule"
    __crm_label__ = _l("Reply suggestion rule")
    __audited__ = True

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    keywords = Column(String(500), nullable=False)
    canned_reply_id = Column(Integer, ForeignKey("tk_canned_reply.id", ondelete="CASCADE"), nullable=False)
    canned_reply = relationship(CannedReply)
    position = Column(Integer, nullable=False, default=100)
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self):
        return self.keywords or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not split_keywords(self.keywords):
            errors["keywords"] = str(_l("required"))
        canned = self.canned_reply
        if canned is None and self.canned_reply_id is not None:
            canned = db.session.get(CannedReply, self.canned_reply_id)
        if canned is None:
            errors["canned_reply"] = str(_l("required"))
        elif canned.franchise_id is not None and canned.franchise_id != assigned_franchise(self):
            errors["canned_reply"] = str(_l("the canned reply must be HQ's or the rule's franchise's"))
        return errors
