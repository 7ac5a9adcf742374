"""Stock Flask-AppBuilder screens and APIs on the shared domain tables, for bench/domain_latency.py.

The same models, columns, order and page size as core/views/customers.py and core/views/shipments.py, built
the way a plain FAB application would: `ModelView` / `ModelRestApi` on `SQLAInterface` (no scope, a full
COUNT per list, FAB's own filters). The stock "360 page" is FAB's show page of the customer with related lists
of its shipments, contacts, addresses, contracts and communication records (FAB's way to show a record with
what hangs off it).

Only loaded by the benchmark (CRM_EXTRA_PLUGINS = ["bench.domain_plugin"]); never installed with the app.
"""

from flask_appbuilder import ModelRestApi, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface

from core.hookspecs import hookimpl
from core.models import Address, CommunicationRecord, Contact, Contract, Customer, Shipment
from core.views.customers import CustomerApi, CustomerView
from core.views.shipments import ShipmentApi, ShipmentView

def _declared(view, name):
    """What a view class declares (our views turn some attributes into per-request descriptors)."""
    return getattr(view, f"_declared_{name}", None) or getattr(view, name)


NAME = "benchdomain"
VERSION = "1.0.0"
LABEL = "Bench domain (stock FAB)"


class _Related(ModelView):
    page_size = 20  # the 360 page shows the 20 most recent of each


class StockShipmentsOfCustomer(_Related):
    route_base = "/stock_customer_shipments"
    datamodel = SQLAInterface(Shipment)
    list_columns = ["waybill_no", "status", "service_product", "receiver_district_code", "fee", "created_at"]
    base_order = ("created_at", "desc")


class StockContactsOfCustomer(_Related):
    route_base = "/stock_customer_contacts"
    datamodel = SQLAInterface(Contact)
    list_columns = ["name", "title", "email", "is_primary"]


class StockAddressesOfCustomer(_Related):
    route_base = "/stock_customer_addresses"
    datamodel = SQLAInterface(Address)
    list_columns = ["kind", "district_code", "contact_name", "is_default"]


class StockContractsOfCustomer(_Related):
    route_base = "/stock_customer_contracts"
    datamodel = SQLAInterface(Contract)
    list_columns = ["number", "status", "discount_percent", "start_date", "end_date"]


class StockCommunicationsOfCustomer(_Related):
    route_base = "/stock_customer_communications"
    datamodel = SQLAInterface(CommunicationRecord)
    list_columns = ["occurred_at", "channel", "topic", "next_action_due"]
    base_order = ("occurred_at", "desc")


class StockCustomerView(ModelView):
    route_base = "/stock_customers"
    datamodel = SQLAInterface(Customer)
    page_size = 25
    list_columns = _declared(CustomerView, "list_columns")
    order_columns = CustomerView.order_columns
    base_order = CustomerView.base_order
    # the same search form as ours (FAB's default filters; phone_hash is then searched by its blind index)
    search_columns = _declared(CustomerView, "search_columns")
    show_columns = _declared(CustomerView, "show_columns")
    related_views = [StockShipmentsOfCustomer, StockContactsOfCustomer, StockAddressesOfCustomer,
                     StockContractsOfCustomer, StockCommunicationsOfCustomer]


class StockShipmentView(ModelView):
    route_base = "/stock_shipments"
    datamodel = SQLAInterface(Shipment)
    page_size = 25
    list_columns = _declared(ShipmentView, "list_columns")
    order_columns = ShipmentView.order_columns
    base_order = ShipmentView.base_order
    search_columns = _declared(ShipmentView, "search_columns")


class StockCustomerApi(ModelRestApi):
    resource_name = "stock_customer"
    datamodel = SQLAInterface(Customer)
    list_columns = CustomerApi.list_columns
    order_columns = CustomerApi.order_columns
    search_columns = _declared(CustomerApi, "search_columns")
    base_order = CustomerApi.base_order


class StockShipmentApi(ModelRestApi):
    resource_name = "stock_shipment"
    datamodel = SQLAInterface(Shipment)
    list_columns = ShipmentApi.list_columns
    order_columns = ShipmentApi.order_columns
    search_columns = _declared(ShipmentApi, "search_columns")
    base_order = ShipmentApi.base_order


VIEWS = (StockShipmentsOfCustomer, StockContactsOfCustomer, StockAddressesOfCustomer, StockContractsOfCustomer,
         StockCommunicationsOfCustomer, StockCustomerView, StockShipmentView)
APIS = (StockCustomerApi, StockShipmentApi)


@hookimpl
def crm_views(appbuilder, category):
    for view in VIEWS:
        appbuilder.add_view_no_menu(view)
    for api in APIS:
        appbuilder.add_api(api)


# --- what the benchmark found, as experiments (bench/domain_latency.py --try-fixes) ---------------------------
#
# Patches applied in the benchmark's process only, to measure changes proposed for core before anyone makes
# them; each says where the real change belongs.


def apply_proposed_fixes(app) -> list[str]:
    """Patch this process with the proposed changes; returns what was patched."""
    import time as _time

    from sqlalchemy.orm import selectinload

    from core.tenancy import ScopedInterface

    sm = app.appbuilder.sm
    manager = type(sm)

    # 1. core/security.py (CrmSecurityManager): a list page checks ~35 permissions (one per menu item), each
    #    one SQL query. Keep each role set's (permission, view) pairs per process for a few seconds, read with
    #    one Core query (not ~400 ORM objects for an HQ role), as core caches plugin activation.
    from flask_appbuilder.security.sqla.models import assoc_permissionview_role
    from sqlalchemy import select as _select

    checked = manager._has_view_access
    granted: dict = {}

    def _pairs(self, role_ids):
        now = _time.monotonic()
        entry = granted.get(role_ids)
        if entry is None or entry[0] <= now:
            pv, perm, view = self.permissionview_model, self.permission_model, self.viewmenu_model
            link = assoc_permissionview_role
            rows = self.session.execute(
                _select(perm.name, view.name).select_from(pv).join(perm, pv.permission_id == perm.id)
                .join(view, pv.view_menu_id == view.id).join(link, link.c.permission_view_id == pv.id)
                .where(link.c.role_id.in_(role_ids))).all()
            entry = granted[role_ids] = (now + 5, frozenset((p, v) for p, v in rows))
        return entry[1]

    def _has_view_access(self, user, permission_name, view_name):
        roles = self.get_user_roles(user)
        if any(role.name in self.builtin_roles for role in roles):
            return checked(self, user, permission_name, view_name)
        return (permission_name, view_name) in _pairs(self, frozenset(role.id for role in roles))

    manager._has_view_access = _has_view_access

    # 2. FAB asks for the Public role's permissions on every protected request (is_item_public): cache them
    #    per process for a few seconds, as core caches plugin activation.
    public = {"until": 0.0, "value": None}
    fetch_public = manager.get_public_permissions

    def get_public_permissions(self):
        now = _time.monotonic()
        if now >= public["until"]:
            public["value"] = [(p.permission.name, p.view_menu.name) for p in fetch_public(self)]
            public["until"] = now + 5
        return [_Pvm(*pair) for pair in public["value"]]

    manager.get_public_permissions = get_public_permissions

    # 3. core/tenancy.py (ScopedInterface.query): page 1 shorter than a page needs no COUNT (a phone or
    #    waybill search finds one row: the count is the page); and the many-to-one relations a list shows
    #    (a shipment's customer) load in one query per relation instead of one per row.
    list_relations = {"crm_shipment": ("customer", "franchise"), "crm_customer": ()}

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False):
        rows_query = self.apply_all(self.session.query(self.obj), filters, order_column, order_direction, page,
                                    page_size, select_columns, outer_default_load)
        if select_columns is None:
            names = list_relations.get(self.obj.__tablename__, ())
            if names:
                rows_query = rows_query.options(*[selectinload(getattr(self.obj, n)) for n in names])
        rows = rows_query.all()
        if rows and hasattr(rows[0], self.obj.__name__):  # FAB's select_columns rows carry the object
            rows = [getattr(row, self.obj.__name__) for row in rows]
        if not page and page_size and len(rows) < page_size:
            return len(rows), rows
        return self.query_count(self.session.query(self.obj), filters, select_columns), rows

    ScopedInterface.query = query
    return ["CrmSecurityManager._has_view_access: (permission, view) pairs per role set, cached 5 s per process",
            "get_public_permissions: cached 5 s per process",
            "ScopedInterface.query: no COUNT when page 1 is short; selectinload of Shipment.customer/franchise"]


class _Pvm:
    """What FAB's is_item_public reads of a permission-view pair."""

    def __init__(self, permission, view):
        self.permission = type("P", (), {"name": permission})
        self.view_menu = type("V", (), {"name": view})
