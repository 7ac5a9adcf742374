"""Ticket reports, dashboard widgets and the customer 360 panel."""

from plugins.tickets.reports.panels import PANELS
from plugins.tickets.reports.permissions import PERMISSIONS
from plugins.tickets.reports.widgets import WIDGETS

MODELS: list = []


def add_views(appbuilder, category) -> None:
    # imported here like every part's views: building them configures the mappers of all parts' models
    from plugins.tickets.reports.views import add_views as add

    add(appbuilder, category)


__all__ = ["MODELS", "PANELS", "PERMISSIONS", "WIDGETS", "add_views"]
