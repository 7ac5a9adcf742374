"""Integrations: tracking pushes and e-commerce orders in, outbound webhooks and SMS/WeChat messages out.

Each part lives in its own module and exposes the same few names, gathered here into the plugin's hooks:
`MODELS`, `PERIODIC_JOBS`, `PERMISSIONS` ({role template: [(permission, view name)]}) and
`add_views(appbuilder, category)`.
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from plugins.integrations import inbound, notify, orders, webhooks
from plugins.integrations.menu import CATEGORY
from plugins.integrations.settings import IntegrationSettings

NAME = "integrations"
VERSION = "1.0.0"
LABEL = CATEGORY
PARTS = (inbound, orders, webhooks, notify)


@hookimpl
def crm_models():
    return [model for part in PARTS for model in part.MODELS]


@hookimpl
def crm_migration_dirs():
    return [Path(__file__).parent / "migrations" / "versions"]


@hookimpl
def crm_views(appbuilder, category):
    for part in PARTS:
        part.add_views(appbuilder, category)


@hookimpl
def crm_permissions():
    merged: dict[str, list] = {}
    for part in PARTS:
        for role, perms in part.PERMISSIONS.items():
            merged.setdefault(role, []).extend(perms)
    for perms in merged.values():
        perms.append(("menu_access", LABEL))
    return merged


@hookimpl
def crm_periodic_jobs():
    return [job for part in PARTS for job in part.PERIODIC_JOBS]


@hookimpl
def crm_settings_schema():
    return IntegrationSettings


@hookimpl
def crm_domain_event(event, franchise_id, payload):
    return webhooks.on_domain_event(event=event, franchise_id=franchise_id, payload=payload)


@hookimpl
def crm_send_message(franchise_id, customer_id, channel, template, params, purpose):
    return notify.send_message(franchise_id=franchise_id, customer_id=customer_id, channel=channel,
                               template=template, params=params, purpose=purpose)


@hookimpl
def crm_customer_data(customer):
    return {"messages": notify.customer_messages(customer)}


@hookimpl
def crm_customer_erase(customer):
    notify.erase_customer(customer)


@hookimpl
def crm_demo(app, franchise_ids):
    return orders.start_demo(app, franchise_ids)
