"""Screens and API of the order pull: shops (credentials write-only, "Pull now") and the orders pulled (read-only,
receivers masked)."""

from __future__ import annotations

from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from wtforms import PasswordField, SelectField
from wtforms import validators as wtv

from core.extensions import db
from core.jobs import enqueue
from core.tenancy import ScopedInterface
from core.views.base import ScopedModelRestApi, ScopedModelView, timestamp
from core.views.labels import LABELS
from core.views.references import customer_field
from plugins.integrations.menu import add_view
from plugins.integrations.orders.models import OrderShop, PlatformOrderRow
from plugins.integrations.orders.platforms import PLATFORMS
from plugins.integrations.orders.pull import pull_orders

SHOP_LABELS = {
    **LABELS,
    "platform": _l("Platform"), "platform_label": _l("Platform"), "name": _l("Shop name"),
    "customer": _l("Business customer"), "app_key": _l("App key / client ID"), "app_secret": _l("App secret"),
    "access_token": _l("Access token / session"), "base_url": _l("API address"), "active": _l("Pull orders"),
    "pulled_until": _l("Pulled up to"), "window_end": _l("Window in progress ends"), "next_page": _l("Next page"),
    "last_pull_at": _l("Last pull"), "last_outcome": _l("Last outcome"), "outcome_label": _l("Last outcome"),
    "last_error": _l("Last error"), "orders_pulled": _l("Orders pulled"), "created_at": _l("Created"),
}
ORDER_LABELS = {
    **LABELS,
    "platform_order_id": _l("Platform order"), "shop": _l("Shop"), "status": _l("Platform status"),
    "receiver_masked": _l("Receiver"), "receiver_phone_display": _l("Receiver phone"),
    "receiver_place": _l("Receiver district"), "receiver_address_masked": _l("Receiver address"),
    "waybill_no": _l("Waybill number"), "shipment": _l("Shipment"), "problem": _l("Problem"),
    "created_at": _l("Ordered"), "paid_at": _l("Paid"), "consigned_at": _l("Sent"), "modified_at": _l("Modified"),
    "logistics_company": _l("Logistics company"), "first_pulled_at": _l("First pulled"),
    "updated_at": _l("Updated"),
}
SHOP_FORM = ["platform", "name", "customer", "app_key", "app_secret", "access_token", "base_url", "active", "franchise"]


class SecretField(PasswordField):
    """Never shows the stored secret; blank keeps it (the model's setter ignores blanks)."""

    def process_data(self, value):
        self.data = None
        if value:
            self.description = _l("Stored. Leave blank to keep it.")


def _platform_select():
    return SelectField(_l("Platform"), choices=[("", "—")] + list(PLATFORMS.items()), widget=Select2Widget(),
                       validators=[wtv.InputRequired()])


def _form_fields():
    return {"platform": _platform_select(), "customer": customer_field(required=True),
            "app_secret": SecretField(_l("App secret")), "access_token": SecretField(_l("Access token / session"))}


class OrderShopView(ScopedModelView):
    route_base = "/order-shops"
    datamodel = ScopedInterface(OrderShop)
    entity_label, entity_label_plural = _l("E-commerce shop"), _l("E-commerce shops")
    label_columns = SHOP_LABELS
    list_columns = ["name", "platform_label", "customer", "active", "last_pull_at", "outcome_label", "orders_pulled",
                    "franchise"]
    show_columns = ["name", "platform_label", "customer", "app_key", "base_url", "active", "pulled_until",
                    "window_end", "next_page", "last_pull_at", "outcome_label", "last_error", "orders_pulled",
                    "franchise", "created_at"]
    add_columns = edit_columns = SHOP_FORM
    search_columns = ["name", "platform", "active", "last_outcome", "franchise"]
    order_columns = ["name", "last_pull_at", "orders_pulled"]
    formatters_columns = {"pulled_until": timestamp, "window_end": timestamp}
    description_columns = {
        "base_url": _l("Empty: the platform's own address. The demo points it at the local simulator."),
        "customer": _l("ID of the business (B) customer this shop belongs to"),
    }

    def __init__(self, *args, **kwargs):
        self.add_form_extra_fields = _form_fields()
        self.edit_form_extra_fields = _form_fields()
        super().__init__(*args, **kwargs)

    @action("pull_now", _l("Pull now"), None, "fa-download")
    def pull_now(self, items):
        items = items if isinstance(items, list) else [items]
        for shop in items:
            enqueue(pull_orders, shop.franchise_id, franchise_id=shop.franchise_id, shop_id=shop.id)
        db.session.commit()  # in the embedded mode the pull runs here; with workers it is queued
        flash(_("Order pull started for %(count)d shop(s); the outcome shows on the shop.", count=len(items)),
              "info")
        return redirect(self.get_redirect())


class OrderShopApi(ScopedModelRestApi):
    resource_name = "order_shop"
    datamodel = ScopedInterface(OrderShop)
    list_columns = ["id", "platform", "name", "customer.id", "app_key", "base_url", "active", "last_pull_at",
                    "last_outcome", "last_error", "orders_pulled", "franchise.id"]
    show_columns = list_columns + ["pulled_until", "window_end", "next_page", "created_at"]
    add_columns = edit_columns = ["platform", "name", "customer", "app_key", "app_secret_enc", "access_token_enc",
                                  "base_url", "active", "franchise"]
    search_columns = ["name", "platform", "active", "last_outcome", "franchise"]
    order_columns = ["id", "name", "last_pull_at"]
    _secrets = {"app_secret_enc": "app_secret", "access_token_enc": "access_token"}

    def _init_model_schemas(self):
        super()._init_model_schemas()
        # secrets go in as plain text under their own names and never come out
        for name in ("add_model_schema", "edit_model_schema"):
            base = self.__dict__.get(f"_base_{name}")
            if base is None:
                continue
            attrs = {column: fields.String(allow_none=True, load_only=True, data_key=plain, attribute=plain)
                     for column, plain in self._secrets.items()}
            derived = type(base.__class__.__name__, (base.__class__,), attrs)()
            for field_name, field in base.fields.items():
                if field_name in derived.fields and field_name not in attrs:
                    derived.fields[field_name].required = field.required
            self.__dict__[f"_base_{name}"] = derived

    def _merge_update_item(self, item, data):
        # a PUT that leaves a secret out keeps it (it is never dumped to merge from)
        dumped = self.edit_model_schema.dump(item, many=False)
        for column in self.edit_columns:
            if column not in self._secrets and column not in data and column in dumped:
                data[column] = dumped[column]
        return data


class PlatformOrderView(ScopedModelView):
    route_base = "/ecommerce-orders"
    datamodel = ScopedInterface(PlatformOrderRow)
    entity_label, entity_label_plural = _l("E-commerce order"), _l("E-commerce orders")
    label_columns = ORDER_LABELS
    can_add = can_edit = can_delete = False  # what the platform said: changed by the next pull only
    list_columns = ["platform_order_id", "shop", "status", "receiver_masked", "receiver_place", "waybill_no",
                    "shipment", "problem", "modified_at"]
    show_columns = ["platform_order_id", "shop", "status", "created_at", "paid_at", "consigned_at", "modified_at",
                    "receiver_masked", "receiver_phone_display", "receiver_place", "receiver_address_masked",
                    "logistics_company", "waybill_no", "shipment", "problem", "first_pulled_at", "updated_at",
                    "franchise"]
    search_columns = ["shop", "status", "waybill_no", "platform_order_id", "modified_at", "franchise"]
    order_columns = ["modified_at", "created_at", "platform_order_id", "waybill_no"]
    base_order = ("modified_at", "desc")


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, OrderShopView, "E-commerce shops", _l("E-commerce shops"), "fa-shopping-bag")
    add_view(appbuilder, PlatformOrderView, "E-commerce orders", _l("E-commerce orders"), "fa-list-alt")
    appbuilder.add_api(OrderShopApi)


_SHOP_READ = [(p, "OrderShopView") for p in ("can_list", "can_show")] + [
    (p, "OrderShopApi") for p in ("can_get", "can_info")]
_SHOP_WRITE = [(p, "OrderShopView") for p in ("can_add", "can_edit", "can_delete", "can_export", "pull_now")] + [
    (p, "OrderShopApi") for p in ("can_post", "can_put", "can_delete")]
_ORDER_READ = [(p, "PlatformOrderView") for p in ("can_list", "can_show")]
_SHOP_MENU, _ORDER_MENU = ("menu_access", "E-commerce shops"), ("menu_access", "E-commerce orders")

PERMISSIONS = {
    "Franchise IT": _SHOP_READ + _SHOP_WRITE + _ORDER_READ + [("can_export", "PlatformOrderView"), _SHOP_MENU,
                                                              _ORDER_MENU],
    "Outlet Manager": _SHOP_READ + [("pull_now", "OrderShopView")] + _ORDER_READ + [_SHOP_MENU, _ORDER_MENU],
    "Account Manager": _SHOP_READ + _ORDER_READ + [_SHOP_MENU, _ORDER_MENU],
    "Frontline Agent": _ORDER_READ + [_ORDER_MENU],
}
