"""Which form layout applies to the current user for an entity."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from core.extensions import db
from core.lowcode.models import FormLayout
from core.tenancy import current_scope


def layout_for(model):
    """The franchise's own layout when the user works in exactly one franchise, else the global one."""
    entity = model.__tablename__
    cache = g.setdefault("_crm_layouts", {}) if has_request_context() else {}
    if entity in cache:
        return cache[entity]
    scope = current_scope()
    rows = db.session.scalars(select(FormLayout).where(FormLayout.entity == entity)).all()
    chosen = None
    if not scope.all and len(scope.franchise_ids) == 1:
        (only,) = scope.franchise_ids
        chosen = next((r for r in rows if r.franchise_id == only), None)
    if chosen is None:
        chosen = next((r for r in rows if r.franchise_id is None), None)
    cache[entity] = chosen
    return chosen
