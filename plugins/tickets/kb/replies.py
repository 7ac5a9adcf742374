"""Canned replies: which ones a ticket's agent may use, filling their placeholders, and the replies that
keyword rules suggest for an incoming e-mail."""

from __future__ import annotations

from flask import has_app_context
from flask_babel import get_locale
from sqlalchemy import and_, case, or_, select

from core.clock import to_local
from core.extensions import db
from core.privacy import mask_name
from core.tenancy import scope_criterion
from plugins.tickets.kb.models import CannedReply, ReplyRule, split_keywords
from plugins.tickets.kb.placeholders import fill

DUE_FORMAT = "%Y-%m-%d %H:%M"


def user_language() -> str:
    locale = get_locale() if has_app_context() else None
    return getattr(locale, "language", None) or "zh"


def _in_scope(statement, model):
    condition = scope_criterion(model)
    return statement if condition is None else statement.where(condition)


def replies_for(ticket) -> list[CannedReply]:
    """Active canned replies for `ticket`: its team's, its franchise's for every team, and HQ's; those in the
    user's language first. Rows outside the user's scope are never offered."""
    available = or_(
        and_(CannedReply.team_id.is_not(None), CannedReply.team_id == ticket.team_id),
        and_(CannedReply.team_id.is_(None), CannedReply.franchise_id == ticket.franchise_id),
        and_(CannedReply.team_id.is_(None), CannedReply.franchise_id.is_(None)),
    )
    other_language = case((CannedReply.language == user_language(), 0), else_=1)
    statement = (select(CannedReply).where(CannedReply.active.is_(True), available)
                 .order_by(other_language, CannedReply.team_id.is_(None), CannedReply.franchise_id.is_(None),
                           CannedReply.title, CannedReply.id))
    return list(db.session.scalars(_in_scope(statement, CannedReply)))


def agent_name(agent) -> str:
    if agent is None:
        return ""
    first, last = (getattr(agent, "first_name", "") or "").strip(), (getattr(agent, "last_name", "") or "").strip()
    if first and last and not (first.isascii() and last.isascii()):
        return last + first  # Chinese order: family name first, no space
    return " ".join(part for part in (first, last) if part) or (getattr(agent, "username", "") or "")


def placeholder_values(ticket, agent) -> dict[str, str]:
    customer = ticket.customer
    if customer is not None:
        name = customer.display_name  # a person's name masked (PIPL), a business's in full
    else:
        name = mask_name(ticket.reporter_name)
    waybill = ticket.waybill_no or (ticket.shipment.waybill_no if ticket.shipment is not None else "")
    due = to_local(ticket.resolution_due)
    return {"customer_name": name or "", "waybill_no": waybill or "",
            "due_date": due.strftime(DUE_FORMAT) if due else "", "ticket_no": ticket.number,
            "agent_name": agent_name(agent)}


def render(canned: CannedReply, ticket, agent) -> str:
    """The canned reply's text for `ticket` as `agent` sends it; a placeholder it does not know stays as is."""
    return fill(canned.body, placeholder_values(ticket, agent))


def suggest(franchise_id: int | None, text: str | None) -> list[CannedReply]:
    """Canned replies whose rule has a keyword occurring in `text` (case-insensitive), in rule position order;
    the franchise's and HQ's active rules, each reply once."""
    haystack = (text or "").lower()
    if not haystack.strip():
        return []
    statement = (select(ReplyRule).join(CannedReply, ReplyRule.canned_reply_id == CannedReply.id)
                 .where(ReplyRule.active.is_(True), CannedReply.active.is_(True),
                        or_(ReplyRule.franchise_id.is_(None), ReplyRule.franchise_id == franchise_id),
                        or_(CannedReply.franchise_id.is_(None), CannedReply.franchise_id == franchise_id))
                 .order_by(ReplyRule.position, ReplyRule.id))
    statement = _in_scope(_in_scope(statement, ReplyRule), CannedReply)
    replies, seen = [], set()
    for rule in db.session.scalars(statement):  # the rules of one franchise: tens, not millions
        if rule.canned_reply_id in seen:
            continue
        if any(word in haystack for word in split_keywords(rule.keywords)):
            seen.add(rule.canned_reply_id)
            replies.append(rule.canned_reply)
    return replies
