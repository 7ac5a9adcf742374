"""Tiering's read side: the tier overview (distribution, movement, RFM grid and rules, latest recomputes), the
RFM cluster suggestion, the customer tier and tier history lists, the dashboard widget and the 360 panel."""

from plugins.tiering.overview.panel import PANELS
from plugins.tiering.overview.permissions import PERMISSIONS
from plugins.tiering.overview.widgets import WIDGETS

MODELS: list = []


def add_views(appbuilder, category) -> None:
    # imported here like every part's views: building them configures the mappers of all parts' models
    from plugins.tiering.overview import cluster_views, lists, views

    views.add_views(appbuilder)
    cluster_views.add_views(appbuilder)
    lists.add_views(appbuilder)


__all__ = ["MODELS", "PANELS", "PERMISSIONS", "WIDGETS", "add_views"]
