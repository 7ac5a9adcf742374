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
