"""Plugins built of parts (sub-packages or modules, each with its models, screens and jobs) declare the same few
names in every part; `part_hooks` turns them into the plugin's hook implementations, so a plugin's `__init__.py`
keeps only what is its own.

A part may expose `MODELS`, `PERIODIC_JOBS`, `PERMISSIONS` ({role template: [(permission, view name)]}),
`add_views(appbuilder, category)`, `WIDGETS`, `PANELS`, `on_domain_event(event, franchise_id, payload)`,
`customer_data(customer)` and `erase_customer(customer)`.

    PARTS = (desk, routing, reports)
    globals().update(part_hooks(PARTS, menu=CATEGORY, migrations=Path(__file__).parent / "migrations"))
"""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl


def part_hooks(parts, menu: str, migrations: Path | None = None) -> dict:
    """{hook name: implementation} gathering `parts`; every role given a permission also sees the `menu`."""

    def each(name):
        return [getattr(part, name) for part in parts if hasattr(part, name)]

    def joined(name):
        return [item for items in each(name) for item in items]

    @hookimpl
    def crm_models():
        return joined("MODELS")

    @hookimpl
    def crm_migration_dirs():
        return [migrations / "versions"]

    @hookimpl
    def crm_views(appbuilder, category):
        for add_views in each("add_views"):
            add_views(appbuilder, category)

    @hookimpl
    def crm_permissions():
        merged: dict[str, list] = {}
        for permissions in each("PERMISSIONS"):
            for role, perms in permissions.items():
                merged.setdefault(role, []).extend(perms)
        for perms in merged.values():
            perms.append(("menu_access", menu))
        return merged

    @hookimpl
    def crm_periodic_jobs():
        return joined("PERIODIC_JOBS")

    @hookimpl
    def crm_dashboard_widgets():
        return joined("WIDGETS")

    @hookimpl
    def crm_customer_panels():
        return joined("PANELS")

    @hookimpl
    def crm_domain_event(event, franchise_id, payload):
        for handle in each("on_domain_event"):
            handle(event=event, franchise_id=franchise_id, payload=payload)

    @hookimpl
    def crm_customer_data(customer):
        data = {}
        for collect in each("customer_data"):
            data.update(collect(customer))
        return data

    @hookimpl
    def crm_customer_erase(customer):
        for erase in each("erase_customer"):
            erase(customer)

    hooks = {"crm_models": crm_models, "crm_views": crm_views, "crm_permissions": crm_permissions,
             "crm_periodic_jobs": crm_periodic_jobs, "crm_dashboard_widgets": crm_dashboard_widgets,
             "crm_customer_panels": crm_customer_panels, "crm_domain_event": crm_domain_event,
             "crm_customer_data": crm_customer_data, "crm_customer_erase": crm_customer_erase}
    if migrations is not None:
        hooks["crm_migration_dirs"] = crm_migration_dirs
    return hooks
