"""Tickets: inquiries, complaints, claims and exception parcels, with routing, SLA, escalation, claims,
callbacks, a knowledge base and reports.

Each part lives in its own package and exposes the names `core.plugin_parts` gathers into the plugin's hooks
(`MODELS`, `PERIODIC_JOBS`, `PERMISSIONS`, `add_views`, `WIDGETS`, `PANELS`, `on_domain_event`, `customer_data`,
`erase_customer`); what is the plugin's own is below.
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from core.plugin_parts import part_hooks
from plugins.tickets import claims, desk, followup, kb, reports, routing, sla
from plugins.tickets.menu import CATEGORY
from plugins.tickets.settings import TicketSettings

NAME = "tickets"
VERSION = "1.0.0"
LABEL = CATEGORY
PARTS = (desk, routing, sla, claims, followup, kb, reports)

globals().update(part_hooks(PARTS, menu=LABEL, migrations=Path(__file__).parent / "migrations"))


@hookimpl
def crm_custom_field_targets():
    return desk.CUSTOM_FIELD_TARGETS


@hookimpl
def crm_customer_metrics():
    from plugins.tickets.reports.customer_figures import CUSTOMER_METRICS

    return CUSTOMER_METRICS


@hookimpl
def crm_settings_schema():
    return TicketSettings


@hookimpl
def crm_demo(app, franchise_ids):
    from plugins.tickets.demo import add_demo

    return add_demo(app, franchise_ids)
