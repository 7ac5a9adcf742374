"""Tiering: A/B/C tiers with service levels, RFM scores and segments, rule tags and saved segments of customers,
recomputed in the database per franchise.

Each part lives in its own module or package and exposes the names `core.plugin_parts` gathers into the plugin's
hooks (`MODELS`, `PERIODIC_JOBS`, `PERMISSIONS`, `add_views`, `WIDGETS`, `PANELS`, `customer_data`,
`erase_customer`); the answers tiering gives other plugins are below.
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from core.plugin_parts import part_hooks
from plugins.tiering import jobs, models, overview, policy_views, segments, service, subject_rights, tagrules
from plugins.tiering.menu import CATEGORY

NAME = "tiering"
VERSION = "1.0.0"
LABEL = CATEGORY
PARTS = (models, jobs, policy_views, overview, tagrules, segments, subject_rights)

globals().update(part_hooks(PARTS, menu=LABEL, migrations=Path(__file__).parent / "migrations"))


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
