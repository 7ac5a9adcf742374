"""Role templates for the people who use courier-crm, synced into ordinary FAB roles by `crm init`.

Each template is a list of (view regex, permission regex). `crm init` adds every matching permission to
the role (it never removes one, so what admins changed in the role screens stays). Plugins add to these
templates through the `crm_permissions` hook.
"""

from __future__ import annotations

import re

from sqlalchemy import select

SELF_SERVICE = [
    ("UserDBModelView", "can_userinfo|resetmypassword|userinfoedit"),
    ("ResetMyPasswordView|UserInfoEditView", "can_this_form_get|can_this_form_post"),
    ("DashboardIndexView", ".*"),
    ("MenuApi", "can_get"),
    ("OpenApi|SwaggerView", "can_get|can_show"),
    ("LocaleView", ".*"),
]

ROLE_TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "HQ Admin": [(".*", ".*")],
    "Franchise IT": SELF_SERVICE + [
        ("FranchiseView", "can_list|can_show|can_edit|can_export"),
        ("FranchiseUserView", "can_list|can_show|can_add|can_edit"),
        ("RegionView", "can_list|can_show"),
        ("PluginActivationView", ".*"),
        ("CustomFieldView|FormLayoutView", ".*"),
        ("AuditLogView|JobRunView", "can_list|can_show|can_export"),
        ("JobScheduleView", "can_list|can_show"),
        ("FranchiseApi|RegionApi", "can_get|can_info"),
        ("CustomFieldApi", ".*"),
        ("Tenancy|Franchises|Franchise users|Regions|Platform|Plugins|Custom fields|Form layouts|Audit log|Schedules|Job runs",
         "menu_access"),
    ],
    "Outlet Manager": SELF_SERVICE + [("FranchiseView", "can_list|can_show"), ("FranchiseApi", "can_get"),
                                      ("Tenancy|Franchises", "menu_access")],
    "Account Manager": SELF_SERVICE + [("FranchiseView", "can_list|can_show"), ("FranchiseApi", "can_get"),
                                       ("Tenancy|Franchises", "menu_access")],
    "Frontline Agent": SELF_SERVICE + [("FranchiseApi", "can_get")],
}


def templates_with_plugins(registry) -> dict[str, list[tuple[str, str]]]:
    templates = {name: list(rules) for name, rules in ROLE_TEMPLATES.items()}
    for additions in registry.hook.crm_permissions():
        for role, pairs in (additions or {}).items():
            templates.setdefault(role, [])
            for permission, view in pairs:
                templates[role].append((re.escape(view), re.escape(permission)))
    return templates


def sync_role_templates(appbuilder, registry) -> dict[str, int]:
    """Create the template roles and add the permissions they match; returns {role: permissions added}."""
    sm = appbuilder.sm
    session = sm.session
    pvs = session.scalars(select(sm.permissionview_model)).all()
    added = {}
    for role_name, rules in templates_with_plugins(registry).items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        have = {pv.id for pv in role.permissions}
        count = 0
        for pv in pvs:
            if pv.id in have or pv.view_menu is None or pv.permission is None:
                continue
            if any(re.fullmatch(view, pv.view_menu.name) and re.fullmatch(perm, pv.permission.name)
                   for view, perm in rules):
                role.permissions.append(pv)
                count += 1
        added[role_name] = count
    session.commit()
    return added
