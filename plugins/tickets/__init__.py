"""Tickets: inquiries, complaints, claims and exception parcels, with routing, SLA, escalation, claims,
callbacks, a knowledge base and reports.

Each part lives in its own package and exposes the same few names, gathered here into the plugin's hooks:
`MODELS`, `PERIODIC_JOBS`, `PERMISSIONS` ({role template: [(permission, view name)]}) and
`add_views(appbuilder, category)`; parts with more to say also expose `WIDGETS`, `PANELS`,
`on_domain_event(event, franchise_id, payload)`, `customer_data(customer)` and `erase_customer(customer)`.
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from plugins.tickets import claims, desk, followup, kb, reports, routing, sla
from plugins.tickets.menu import CATEGORY
from plugins.tickets.settings import TicketSettings

NAME = "tickets"
VERSION = "1.0.0"
LABEL = CATEGORY
PARTS = (desk, routing, sla, claims, followup, kb, reports)


def _each(name):
    return [getattr(part, name) for part in PARTS if hasattr(part, name)]


@hookimpl
def crm_models():
    return [model for models in _each("MODELS") for model in models]


@hookimpl
def crm_migration_dirs():
    return [Path(__file__).parent / "migrations" / "versions"]


@hookimpl
def crm_views(appbuilder, category):
    for add_views in _each("add_views"):
        add_views(appbuilder, category)


@hookimpl
def crm_permissions():
    merged: dict[str, list] = {}
    for permissions in _each("PERMISSIONS"):
        for role, perms in permissions.items():
            merged.setdefault(role, []).extend(perms)
    for perms in merged.values():
        perms.append(("menu_access", LABEL))
    return merged


@hookimpl
def crm_custom_field_targets():
    return desk.CUSTOM_FIELD_TARGETS


@hookimpl
def crm_periodic_jobs():
    return [job for jobs in _each("PERIODIC_JOBS") for job in jobs]


@hookimpl
def crm_dashboard_widgets():
    return [widget for widgets in _each("WIDGETS") for widget in widgets]


@hookimpl
def crm_customer_panels():
    return [panel for panels in _each("PANELS") for panel in panels]


@hookimpl
def crm_customer_metrics():
    from plugins.tickets.reports.customer_figures import CUSTOMER_METRICS

    return CUSTOMER_METRICS


@hookimpl
def crm_settings_schema():
    return TicketSettings


@hookimpl
def crm_domain_event(event, franchise_id, payload):
    for handle in _each("on_domain_event"):
        handle(event=event, franchise_id=franchise_id, payload=payload)


@hookimpl
def crm_customer_data(customer):
    data = {}
    for collect in _each("customer_data"):
        data.update(collect(customer))
    return data


@hookimpl
def crm_customer_erase(customer):
    for erase in _each("erase_customer"):
        erase(customer)


@hookimpl
def crm_demo(app, franchise_ids):
    from plugins.tickets.demo import add_demo

    return add_demo(app, franchise_ids)
