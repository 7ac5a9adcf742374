"""The inbound side of the plugin: push endpoints, inbox, exception detection, and their screens and jobs."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from core.jobs import PeriodicJob
from plugins.integrations.inbound import gateway, inbox, watch
from plugins.integrations.inbound.models import InboundPayload, ShipmentException, UnmatchedEvent
from plugins.integrations.inbound.views import InboundPayloadView, ShipmentExceptionView, UnmatchedEventView
from plugins.integrations.menu import add_view

MODELS = [InboundPayload, UnmatchedEvent, ShipmentException]

PERIODIC_JOBS = [
    PeriodicJob("watch_shipments", watch.watch_shipments, interval=15 * 60),
    PeriodicJob("match_unmatched_events", inbox.match_unmatched, interval=10 * 60),
    PeriodicJob("purge_inbox", inbox.purge_inbox, cron="30 3 * * *"),
]

_READ = ("can_list", "can_show")
PERMISSIONS = {
    "Franchise IT": [*((p, "InboundPayloadView") for p in (*_READ, "replay")),
                     *((p, "UnmatchedEventView") for p in (*_READ, "match")),
                     *((p, "ShipmentExceptionView") for p in _READ),
                     ("menu_access", "Inbound payloads"), ("menu_access", "Unmatched events"),
                     ("menu_access", "Shipment exceptions")],
    "Outlet Manager": [*((p, "UnmatchedEventView") for p in _READ),
                       *((p, "ShipmentExceptionView") for p in _READ),
                       ("menu_access", "Unmatched events"), ("menu_access", "Shipment exceptions")],
}


def add_views(appbuilder, category):
    gateway.install(current_app._get_current_object())  # views are added inside the factory's app context
    add_view(appbuilder, InboundPayloadView, "Inbound payloads", _l("Inbound payloads"), "fa-inbox")
    add_view(appbuilder, UnmatchedEventView, "Unmatched events", _l("Unmatched events"), "fa-question-circle")
    add_view(appbuilder, ShipmentExceptionView, "Shipment exceptions", _l("Shipment exceptions"),
             "fa-exclamation-triangle")
