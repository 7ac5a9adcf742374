"""Checking and saving a tag rule, for the form and the API alike: every problem named by its field, nothing
changed unless all is well, and a recompute queued for the franchises the rule decides."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from core.extensions import db
from core.models import Customer
from core.tenancy import Franchise, eq_or_null, model_scope
from plugins.tiering.fields import catalogue, check_conditions, conditions_clause, customers_base
from plugins.tiering.models import CustomerTag, TagRule
from plugins.tiering.policy import franchises_with_tiering

MAX_TAG = 32
MAX_DESCRIPTION = 200


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return _("a tag is required")
    if len(tag) > MAX_TAG:
        return _("at most %(count)d characters", count=MAX_TAG)
    if any(mark in tag for mark in ",，"):
        return _("a tag cannot hold a comma")  # manual tags are a comma separated list
    return None


def check_rule(values: dict, franchise_id: int | None, rule: TagRule | None = None) -> tuple[dict, dict]:
    """({tag, description, active, conditions}, {}) or ({}, {field: message}) for a rule of `franchise_id`."""
    errors = {}
    tag = values.get("tag")
    tag = tag.strip() if isinstance(tag, str) else ""
    problem = _tag_problem(tag)
    if problem:
        errors["tag"] = problem
    else:
        taken = select(TagRule.id).where(eq_or_null(TagRule.franchise_id, franchise_id), TagRule.tag == tag)
        if rule is not None and rule.id is not None:
            taken = taken.where(TagRule.id != rule.id)
        if db.session.scalar(taken.limit(1)) is not None:
            errors["tag"] = _("%(tag)s: this franchise already has a rule of this tag", tag=tag)
    description = values.get("description")
    if description is not None and not isinstance(description, str):
        errors["description"] = _("a text is needed")
    description = (description or "").strip() if isinstance(description, str) else ""
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = _("at most %(count)d characters", count=MAX_DESCRIPTION)
    active = values.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = _("yes or no is needed")
    raw = values.get("conditions")
    if isinstance(raw, list) and not raw:
        errors["conditions"] = _("conditions: add at least one condition")
    else:
        conditions, message = check_conditions(raw, franchise_id)
        if message:
            errors["conditions"] = message
    if errors:
        return {}, errors
    return {"tag": tag, "description": description or None, "active": active, "conditions": conditions}, {}


def affected_franchises(franchise_id: int | None) -> list[int]:
    """A franchise's rule changes that franchise; HQ's may change every franchise where tiering is active."""
    return [franchise_id] if franchise_id is not None else franchises_with_tiering()


def _queue_recompute(franchise_id: int | None, user_id: int | None) -> None:
    from plugins.tiering.recompute import request_recompute

    for affected in affected_franchises(franchise_id):
        request_recompute(affected, user_id=user_id, trigger="rules")


def save_rule(rule: TagRule | None, franchise_id: int | None, values: dict, user_id: int | None = None):
    """(the rule, {}) or (None, errors) with nothing changed; the caller commits (the recompute runs after)."""
    cleaned, errors = check_rule(values, franchise_id, rule)
    if errors:
        return None, errors
    if rule is None:
        rule = TagRule(franchise_id=franchise_id)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    db.session.add(rule)
    db.session.flush()
    _queue_recompute(franchise_id, user_id)
    return rule, {}


def delete_rule(rule: TagRule, user_id: int | None = None) -> None:
    """Remove a rule and the tags it gave (the caller commits); the recompute settles HQ tags it hid."""
    franchise_id = rule.franchise_id
    db.session.execute(delete(CustomerTag).where(CustomerTag.rule_id == rule.id))
    db.session.delete(rule)
    db.session.flush()
    _queue_recompute(franchise_id, user_id)


# --- reading -------------------------------------------------------------------------------------------


def tagged_counts(rule_ids: list[int]) -> dict[int, int]:
    """How many customers of the viewer's franchises each rule tags now: one grouped count."""
    if not rule_ids:
        return {}
    query = (select(CustomerTag.rule_id, func.count()).where(CustomerTag.rule_id.in_(rule_ids))
             .group_by(CustomerTag.rule_id))
    return dict(db.session.execute(model_scope(CustomerTag).restrict(query, CustomerTag.franchise_id)).all())


def preview_count(franchise_id: int | None, tag: str, conditions: list) -> int:
    """How many customers match `conditions` now: in the franchise, or for an HQ rule in the viewer's
    franchises that have no rule of their own for `tag` (where the HQ rule would apply)."""
    fields = catalogue(franchise_id)
    query = customers_base(func.count()).where(conditions_clause(conditions, fields))
    if franchise_id is not None:
        query = query.where(Customer.franchise_id == franchise_id)
    else:
        query = model_scope(CustomerTag).restrict(query, Customer.franchise_id)
        own = select(TagRule.franchise_id).where(TagRule.franchise_id.is_not(None), TagRule.tag == tag)
        query = query.where(Customer.franchise_id.not_in(own),
                            Customer.franchise_id.in_(select(Franchise.id).where(Franchise.active.is_(True))))
    return db.session.scalar(query)
