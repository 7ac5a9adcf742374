"""The tier panel of the customer 360 page: tier and why, since when, what the tier is owed (service level),
RFM scores and segment, rule and manual tags, and the last tier changes."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from core.clock import to_local
from core.customer360 import Panel
from core.extensions import db
from core.tenancy import scope_criterion
from plugins.tiering.menu import TEMPLATE_FOLDER
from plugins.tiering.models import CustomerTag, CustomerValue, TierHistory
from plugins.tiering.overview.reasons import latest_policy, tier_reason
from plugins.tiering.policy import TICKET_PRIORITIES
from plugins.tiering.rfm import SEGMENTS
from plugins.tiering.service import level_of_tier

HISTORY_LINES = 5
TEMPLATE = Path(TEMPLATE_FOLDER) / "tiering" / "overview_panel.html"


def customer_value(customer) -> CustomerValue | None:
    query = select(CustomerValue).where(CustomerValue.customer_id == customer.id)
    condition = scope_criterion(CustomerValue)
    return db.session.scalars(query if condition is None else query.where(condition)).first()


def recent_changes(customer, limit: int = HISTORY_LINES) -> list[TierHistory]:
    query = (select(TierHistory).where(TierHistory.customer_id == customer.id)
             .order_by(TierHistory.changed_at.desc(), TierHistory.id.desc()).limit(limit))
    condition = scope_criterion(TierHistory)
    return list(db.session.scalars(query if condition is None else query.where(condition)))


def rule_tags(customer) -> list[str]:
    query = select(CustomerTag.tag).where(CustomerTag.customer_id == customer.id).order_by(CustomerTag.tag)
    return list(dict.fromkeys(db.session.scalars(query)))


def _template():
    cache = current_app.extensions.setdefault("tiering_templates", {})
    if "panel" not in cache:
        # the 360 page belongs to core's view, whose template folder does not hold the plugin's files
        cache["panel"] = current_app.jinja_env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return cache["panel"]


def render_panel(customer) -> Markup:
    value = customer_value(customer)
    changes = recent_changes(customer) if value is not None else []
    policy = latest_policy(customer.franchise_id) if value is not None else None
    html = _template().render(
        value=value, reason=tier_reason(value, policy=policy) if value is not None else None,
        since=to_local(value.tier_since) if value is not None and value.tier_since else None,
        level=level_of_tier(customer.franchise_id, value.tier) if value is not None else None,
        segment=SEGMENTS.get(value.rfm_segment) if value is not None and value.rfm_segment else None,
        rule_tags=rule_tags(customer), manual_tags=customer.tag_list(), priorities=TICKET_PRIORITIES,
        changes=[(to_local(h.changed_at), h, tier_reason(None, history=h)) for h in changes])
    return Markup(html)


PANELS = [Panel("tiering", _l("Tier and value"), render_panel, order=10)]
