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

CUSTOMER_MENUS = "Customers|Contacts|Addresses|Contracts|Communication records|Imports|Duplicates|Merges"
SHIPMENT_MENUS = "Shipments|Tracking events"
READ = "can_list|can_show|can_export"
READ_API = "can_get|can_info"
CUSTOMER_WORK = [
    ("CustomerView|ContactView|AddressView|ContractView|CommunicationRecordView", ".*"),
    ("CustomerApi|ContactApi|AddressApi|ContractApi|CommunicationRecordApi", ".*"),
    ("ImportRunView|ImportApi|DuplicateCandidateView|CustomerMergeView", ".*"),
    (CUSTOMER_MENUS, "menu_access"),
]
SHIPMENT_READ = [("ShipmentView|TrackingEventView", READ), ("ShipmentApi|TrackingEventApi", READ_API),
                 (SHIPMENT_MENUS, "menu_access")]
SHIPMENT_WORK = [("ShipmentView|TrackingEventView", ".*"), ("ShipmentApi|TrackingEventApi", ".*"),
                 (SHIPMENT_MENUS, "menu_access")]

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
        ("PersonalData", "can_unmask|can_export|can_erase"),
    ] + CUSTOMER_WORK + SHIPMENT_WORK,
    "Outlet Manager": SELF_SERVICE + [("FranchiseView", "can_list|can_show"), ("FranchiseApi", "can_get"),
                                      ("Tenancy|Franchises", "menu_access"), ("PersonalData", "can_unmask"),
                                      ("CustomerView|ContactView|AddressView", READ),
                                      ("CustomerApi|ContactApi|AddressApi", READ_API),
                                      ("Customers|Contacts|Addresses", "menu_access")] + SHIPMENT_WORK,
    "Account Manager": SELF_SERVICE + [("FranchiseView", "can_list|can_show"), ("FranchiseApi", "can_get"),
                                       ("Tenancy|Franchises", "menu_access"),
                                       ("PersonalData", "can_unmask")] + CUSTOMER_WORK + SHIPMENT_READ,
    # agents find customers and parcels (full phone search works), log calls, add scans; no unmask
    "Frontline Agent": SELF_SERVICE + [
        ("FranchiseApi", "can_get"),
        ("CustomerView", "can_list|can_show|can_add|can_edit"), ("ContactView|AddressView", "can_list|can_show"),
        ("CommunicationRecordView", "can_list|can_show|can_add"),
        ("CustomerApi|ContactApi|AddressApi", READ_API + "|can_post|can_put"), ("CommunicationRecordApi", ".*"),
        ("ShipmentView", "can_list|can_show"), ("TrackingEventView", "can_list|can_show|can_add"),
        ("ShipmentApi|TrackingEventApi", READ_API),
        ("Customers|Contacts|Addresses|Communication records|Shipments|Tracking events", "menu_access"),
    ],
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
