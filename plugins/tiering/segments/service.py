"""Saved segments: checking and saving one, who is in it (counted, paged by customer id, exported in batches)
and the target-list hooks other plugins call. Everything is one SQL statement over the customers with their
figures (`fields.customers_base`), restricted to the franchises the reader may see."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from core import divisions
from core.extensions import db
from core.models import Customer
from core.plugins import registry
from core.privacy import mask_name
from core.tenancy import Scope, eq_or_null, model_scope, scope_criterion
from plugins.tiering.fields import catalogue, check_conditions, conditions_clause, customers_base
from plugins.tiering.models import CustomerTag, CustomerValue, Segment
from plugins.tiering.rfm import SEGMENTS

MAX_NAME = 64
MAX_DESCRIPTION = 200
EXPORT_BATCH = 1000


def check_segment(values: dict, franchise_id: int | None, segment: Segment | None = None) -> tuple[dict, dict]:
    """({name, description, conditions}, {}) or ({}, {field: message}); no conditions means every customer."""
    errors = {}
    name = values.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = _("a name is required")
    elif len(name) > MAX_NAME:
        errors["name"] = _("at most %(count)d characters", count=MAX_NAME)
    else:
        taken = select(Segment.id).where(eq_or_null(Segment.franchise_id, franchise_id), Segment.name == name)
        if segment is not None and segment.id is not None:
            taken = taken.where(Segment.id != segment.id)
        if db.session.scalar(taken.limit(1)) is not None:
            errors["name"] = _("%(name)s: this franchise already has a segment of this name", name=name)
    description = values.get("description")
    description = description.strip() if isinstance(description, str) else ""
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = _("at most %(count)d characters", count=MAX_DESCRIPTION)
    conditions, message = check_conditions(values.get("conditions"), franchise_id, for_segments=True)
    if message:
        errors["conditions"] = message
    if errors:
        return {}, errors
    return {"name": name, "description": description or None, "conditions": conditions}, {}


def save_segment(segment: Segment | None, franchise_id: int | None, values: dict, user_id: int | None = None):
    """(the segment, {}) or (None, errors) with nothing changed; the caller commits."""
    cleaned, errors = check_segment(values, franchise_id, segment)
    if errors:
        return None, errors
    if segment is None:
        segment = Segment(franchise_id=franchise_id, created_by_id=user_id)
    for name, value in cleaned.items():
        setattr(segment, name, value)
    db.session.add(segment)
    db.session.flush()
    return segment, {}


def visible_segment(pk: int) -> Segment | None:
    """A segment the viewer may see (HQ's included), else None."""
    query = select(Segment).where(Segment.id == pk)
    condition = scope_criterion(Segment)
    return db.session.scalar(query if condition is None else query.where(condition))


def checked(segment: Segment):
    """The stored conditions checked again (a custom field may have gone since): (conditions, message)."""
    return check_conditions(segment.conditions or [], segment.franchise_id, for_segments=True)


def reading_scope(franchise_id: int | None) -> Scope:
    """Whose customers a segment covers for the current reader: its franchise, or (HQ's) all the reader's
    franchises where tiering is active."""
    scope = model_scope(Segment)
    return scope if franchise_id is None else scope.intersect([franchise_id])


def members_query(franchise_id: int | None, conditions: list, scope: Scope, *columns):
    """SELECT `columns` of the segment's customers inside `scope`."""
    fields = catalogue(franchise_id, for_segments=True)
    query = customers_base(*columns).where(conditions_clause(conditions, fields))
    return scope.restrict(query, Customer.franchise_id)


def count_members(franchise_id: int | None, conditions: list, scope: Scope | None = None) -> int:
    scope = scope if scope is not None else reading_scope(franchise_id)
    return db.session.scalar(members_query(franchise_id, conditions, scope, func.count()))


MEMBER_COLUMNS = (Customer.id, Customer.kind, Customer.name, Customer.tags, Customer.district_code,
                  CustomerValue.tier, CustomerValue.rfm_segment, CustomerValue.r_score, CustomerValue.f_score,
                  CustomerValue.m_score, CustomerValue.monthly_volume, CustomerValue.monthly_revenue)


def _display_name(kind, name) -> str:
    # Customer.display_name from plain columns: a business in full, a person masked
    return name if kind == "B" else mask_name(name)


def _rule_tags(customer_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    if customer_ids:
        rows = db.session.execute(select(CustomerTag.customer_id, CustomerTag.tag)
                                  .where(CustomerTag.customer_id.in_(customer_ids))
                                  .order_by(CustomerTag.customer_id, CustomerTag.tag))
        for customer_id, tag in rows:
            tags.setdefault(customer_id, []).append(tag)
    return tags


def members_select(franchise_id: int | None, conditions: list, scope: Scope):
    """The members' columns, ready to page through (built once: an export builds it before it streams)."""
    return members_query(franchise_id, conditions, scope, *MEMBER_COLUMNS)


def page_of(query, after: int = 0, limit: int = 50) -> list[dict]:
    """One page of members by customer id (keyset: the ids after `after`), as screens and exports show them."""
    rows = db.session.execute(query.where(Customer.id > after).order_by(Customer.id).limit(limit)).all()
    rule_tags = _rule_tags([row.id for row in rows])
    members = []
    for row in rows:
        manual = [t.strip() for t in (row.tags or "").replace("，", ",").split(",") if t.strip()]
        members.append({
            "id": row.id, "name": _display_name(row.kind, row.name), "tier": row.tier or "",
            "rfm_segment": str(SEGMENTS.get(row.rfm_segment, row.rfm_segment or "")),
            "r": row.r_score, "f": row.f_score, "m": row.m_score,
            "monthly_volume": row.monthly_volume, "monthly_revenue": row.monthly_revenue,
            "tags": list(dict.fromkeys(manual + rule_tags.get(row.id, []))),
            "district": divisions.full_name(row.district_code) or row.district_code or ""})
    return members


def member_page(franchise_id: int | None, conditions: list, scope: Scope, after: int = 0,
                limit: int = 50) -> list[dict]:
    return page_of(members_select(franchise_id, conditions, scope), after, limit)


def member_batches(query, batch: int = EXPORT_BATCH):
    """Every member of `members_select`, `batch` at a time (each its own keyset query): memory stays flat."""
    after = 0
    while True:
        page = page_of(query, after, batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1]["id"]


# --- target lists for other plugins ------------------------------------------------------------------


def _tiering_active(franchise_id: int) -> bool:
    return registry().is_active("tiering", franchise_id)


def segment_customers(franchise_id: int, segment_id: int):
    """A SELECT of the customer ids of the segment in `franchise_id` (for INSERT ... SELECT), or None when the
    segment is not usable there (another franchise's, unknown, tiering off, or its conditions no longer hold)."""
    if franchise_id is None or not _tiering_active(franchise_id):
        return None
    segment = db.session.scalar(select(Segment).where(
        Segment.id == segment_id, or_(Segment.franchise_id.is_(None), Segment.franchise_id == franchise_id)))
    if segment is None:
        return None
    conditions, message = checked(segment)
    if message:
        return None
    fields = catalogue(segment.franchise_id, for_segments=True)
    return customers_base(Customer.id).where(Customer.franchise_id == franchise_id,
                                             conditions_clause(conditions, fields))


def segments_for(franchise_id: int):
    """[(id, name)] of the segments usable in `franchise_id`: its own and HQ's; None where tiering is off."""
    if franchise_id is None or not _tiering_active(franchise_id):
        return None
    rows = db.session.execute(select(Segment.id, Segment.name).where(
        or_(Segment.franchise_id.is_(None), Segment.franchise_id == franchise_id)).order_by(Segment.name))
    return [(segment_id, name) for segment_id, name in rows]
