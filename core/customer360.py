"""Panels that plugins add to the customer 360 page (tickets, tier, churn risk, surveys ...)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup, escape

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Panel:
    key: str
    title: object
    render: Callable  # render(customer) -> markup or None
    order: int = 100


def panels_for(customer) -> list[tuple[Panel, Markup]]:
    """The rendered panels of plugins active in the customer's franchise, in order; a failing panel is
    replaced by a notice instead of taking the page down."""
    registry = current_app.extensions["crm_plugins"]
    panels = []
    for contributed in registry.hook_for_franchise("crm_customer_panels", customer.franchise_id)():
        panels.extend(contributed or [])
    rendered = []
    for panel in sorted(panels, key=lambda p: (p.order, p.key)):
        try:
            body = panel.render(customer)
        except Exception:  # one plugin's bug must not hide the customer from the agent
            log.exception("customer panel %s failed", panel.key)
            body = Markup('<p class="text-muted">%s</p>') % escape(_unavailable())
        if body is not None:
            rendered.append((panel, Markup(body)))
    return rendered


def _unavailable():
    from flask_babel import gettext

    return gettext("This panel is unavailable right now.")
