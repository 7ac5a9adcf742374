"""Home dashboard widgets: declared by plugins (and core), rendered for the viewer's franchise scope."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.extensions import db
from core.jobs import JOB_STATUSES, JobOutbox
from core.tenancy import Franchise, Scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Widget:
    """`render(scope)` returns {"kind": "figure", "value": .., "unit": ..} or {"kind": "chart", "option": {..}}."""

    key: str
    title: object
    render: Callable[[Scope], dict]
    order: int = 100


def _franchise_count(scope: Scope) -> dict:
    query = select(func.count()).select_from(Franchise).where(Franchise.active.is_(True))
    return {"kind": "figure", "value": db.session.scalar(scope.restrict(query, Franchise.id)), "unit": ""}


def _jobs_by_status(scope: Scope) -> dict:
    query = scope.restrict(select(JobOutbox.status, func.count()).group_by(JobOutbox.status), JobOutbox.franchise_id)
    counts = dict(db.session.execute(query).all())
    if not counts:
        return {"kind": "figure", "value": 0, "unit": str(_l("jobs so far"))}
    statuses = list(JOB_STATUSES)
    return {"kind": "chart", "option": {
        "tooltip": {},
        "xAxis": {"type": "category", "data": [str(JOB_STATUSES[s]) for s in statuses]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "data": [counts.get(s, 0) for s in statuses]}],
    }}


CORE_WIDGETS = [
    Widget("core.franchises", _l("Active franchises"), _franchise_count, order=10),
    Widget("core.jobs", _l("Background jobs by status"), _jobs_by_status, order=90),
]


def widgets_for(registry, scope: Scope) -> list[tuple[Widget, dict]]:
    """Render every widget the viewer may see; a plugin's widgets only see franchises where it is active."""
    entries = [(w, scope) for w in CORE_WIDGETS]
    for name in registry.plugins:
        plugin_scope = registry.scope_where_active(name, scope)
        if not plugin_scope.all and not plugin_scope.franchise_ids:
            continue
        for widgets in registry.call_for("crm_dashboard_widgets", name):
            entries.extend((w, plugin_scope) for w in widgets or [])
    rendered = []
    for widget, widget_scope in sorted(entries, key=lambda e: e[0].order):
        try:
            rendered.append((widget, widget.render(widget_scope)))
        except Exception:  # one broken widget must not take the home page down
            log.exception("dashboard widget %s failed", widget.key)
            rendered.append((widget, {"kind": "error"}))
    return rendered
