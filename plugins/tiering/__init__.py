"""Tiering: A/B/C tiers with service levels, RFM scores and segments, rule tags and saved segments of customers,
recomputed in the database per franchise.

Each part lives in its own module or package and exposes the same few names, gathered here into the plugin's
hooks: `MODELS`, `PERIODIC_JOBS`, `PERMISSIONS` ({role template: [(permission, view name)]}) and
`add_views(appbuilder, category)`; parts with more to say also expose `WIDGETS`, `PANELS`,
`on_domain_event(event, franchise_id, payload)`, `customer_data(customer)` and `erase_customer(customer)`.
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from plugins.tiering import jobs, models, overview, policy_views, segments, service, subject_rights, tagrules
from plugins.tiering.menu import CATEGORY

NAME = "tiering"
VERSION = "1.0.0"
LABEL = CATEGORY
PARTS = (models, jobs, policy_views, overview, tagrules, segments, subject_rights)


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
def crm_periodic_jobs():
    return [job for jobs in _each("PERIODIC_JOBS") for job in jobs]


@hookimpl
def crm_dashboard_widgets():
    return [widget for widgets in _each("WIDGETS") for widget in widgets]


@hookimpl
def crm_customer_panels():
    return [panel for panels in _each("PANELS") for panel in panels]


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
def crm_customer_tier(franchise_id, customer_id):
    return service.tier_of(franchise_id, customer_id)


@hookimpl
def crm_customer_service_level(franchise_id, customer_id):
    return service.service_level(franchise_id, customer_id)


@hookimpl
def crm_ticket_sla_policy(ticket):
    return service.sla_policy_for(ticket)


@hookimpl
def crm_segment_customers(franchise_id, segment_id):
    return segments.segment_customers(franchise_id, segment_id)


@hookimpl
def crm_segments(franchise_id):
    return segments.segments_for(franchise_id)


@hookimpl
def crm_demo(app, franchise_ids):
    from plugins.tiering.demo import add_demo

    return add_demo(app, franchise_ids)
