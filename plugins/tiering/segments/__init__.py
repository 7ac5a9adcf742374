"""Saved segments: the screens, and the target lists other plugins read through `crm_segment_customers` and
`crm_segments` (implemented in the plugin's __init__ with `segment_customers` and `segments_for`)."""

from plugins.tiering.segments.permissions import PERMISSIONS
from plugins.tiering.segments.service import segment_customers, segments_for


def add_views(appbuilder, category) -> None:
    from plugins.tiering.segments.views import add_views as add

    add(appbuilder)


__all__ = ["PERMISSIONS", "add_views", "segment_customers", "segments_for"]
