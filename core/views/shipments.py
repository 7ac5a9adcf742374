"""Shipment screens and APIs: waybills with their current status, and the tracking history of each."""

from __future__ import annotations

from flask_appbuilder.fields import QuerySelectField
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField
from wtforms import validators as wtv

from core.models import Shipment, TrackingEvent, choices
from core.models.statuses import status_choices, status_label
from core.extensions import db
from core.tenancy import Franchise, ScopedInterface
from core.tracking import apply_event
from core.views.customers import DomainApi, DomainModelView
from core.views.labels import LABELS
from core.views.personal import BlindIndexEquals


def all_franchises():
    return db.session.scalars(select(Franchise).where(Franchise.active.is_(True)).order_by(Franchise.code)).all()


def _destination_select():
    return QuerySelectField(query_func=all_franchises, get_pk_func=lambda f: f.id, allow_blank=True,
                            validators=[wtv.Optional()])


def _status_select():
    return SelectField(choices=status_choices, validators=[wtv.InputRequired()])


class TrackingEventView(DomainModelView):
    route_base = "/tracking-events"
    datamodel = ScopedInterface(TrackingEvent)
    entity_label, entity_label_plural = _l("Tracking event"), _l("Tracking events")
    list_columns = ["occurred_at", "shipment", "status", "location", "raw_text", "provider", "source"]
    show_columns = list_columns + ["raw_code", "received_at", "franchise"]
    add_columns = ["shipment", "occurred_at", "status", "location", "raw_text", "franchise"]
    edit_columns = []
    can_edit = False  # history: wrong scans are corrected by a newer event, not rewritten
    search_columns = ["shipment_id", "status", "occurred_at", "provider", "source", "franchise"]
    base_order = ("occurred_at", "desc")
    add_form_extra_fields = {"status": _status_select()}
    formatters_columns = {"status": status_label, "source": lambda v: choices.label(choices.TRACKING_SOURCES, v)}

    def pre_add(self, item):
        item.source, item.provider = "manual", "manual"
        super().pre_add(item)
        if item.shipment is not None:
            apply_event(item.shipment, item)


class ShipmentView(DomainModelView):
    route_base = "/shipments"
    datamodel = ScopedInterface(Shipment)
    entity_label, entity_label_plural = _l("Shipment"), _l("Shipments")
    list_columns = ["waybill_no", "customer", "status", "service_product", "receiver_area", "weight_kg", "fee",
                    "franchise", "created_at"]
    order_columns = ["created_at", "waybill_no", "status", "fee", "weight_kg"]
    base_order = ("created_at", "desc")
    show_columns = ["carrier", "waybill_no", "customer", "status", "status_at", "service_product", "weight_kg", "fee",
                    "declared_value", "receiver_masked", "receiver_phone_masked", "receiver_area",
                    "receiver_address_masked", "external_order_id", "franchise", "dest_franchise", "created_at",
                    "promised_at", "delivered_at"]
    add_columns = ["waybill_no", "customer", "service_product", "weight_kg", "fee", "declared_value", "receiver_name",
                   "receiver_phone", "receiver_district_code", "receiver_address", "external_order_id",
                   "dest_franchise", "created_at", "promised_at", "franchise"]
    edit_columns = ["customer", "service_product", "weight_kg", "fee", "declared_value", "receiver_name",
                    "receiver_phone", "receiver_district_code", "receiver_address", "external_order_id",
                    "dest_franchise", "promised_at"]
    search_columns = ["waybill_no", "status", "service_product", "customer_id", "franchise", "receiver_phone_hash",
                      "created_at", "promised_at", "external_order_id"]
    search_filter_overrides = {"receiver_phone_hash": [BlindIndexEquals]}
    choice_fields = {"service_product": choices.SERVICE_PRODUCTS}
    formatters_columns = {"status": status_label}
    customer_required = False
    related_views = [TrackingEventView]
    add_form_extra_fields = edit_form_extra_fields = {"dest_franchise": _destination_select()}
    label_columns = {**LABELS, "receiver_address_masked": _l("Receiver address")}


class ShipmentApi(DomainApi):
    resource_name = "shipment"
    datamodel = ScopedInterface(Shipment)
    masked_names = {"receiver_name": lambda item: item.receiver_masked}
    list_columns = ["id", "carrier", "waybill_no", "customer.id", "status", "status_at", "service_product", "weight_kg",
                    "fee", "declared_value", "receiver_name", "receiver_phone_enc", "receiver_district_code",
                    "external_order_id", "franchise.id", "dest_franchise.id", "created_at", "promised_at",
                    "delivered_at", "custom"]
    show_columns = list_columns + ["receiver_address_enc"]
    add_columns = ["carrier", "waybill_no", "customer", "service_product", "weight_kg", "fee", "declared_value",
                   "receiver_name", "receiver_phone_enc", "receiver_district_code", "receiver_address_enc",
                   "external_order_id", "dest_franchise", "created_at", "promised_at", "franchise", "custom"]
    edit_columns = ["customer", "service_product", "weight_kg", "fee", "declared_value", "receiver_name",
                    "receiver_phone_enc", "receiver_district_code", "receiver_address_enc", "external_order_id",
                    "dest_franchise", "promised_at", "custom"]
    order_columns = ["created_at", "waybill_no", "id"]
    search_columns = ["waybill_no", "status", "service_product", "customer_id", "franchise", "receiver_phone_hash",
                      "created_at", "external_order_id"]
    search_filter_overrides = {"receiver_phone_hash": [BlindIndexEquals]}
    base_order = ("created_at", "desc")


class TrackingEventApi(DomainApi):
    resource_name = "tracking_event"
    datamodel = ScopedInterface(TrackingEvent)
    list_columns = show_columns = ["id", "shipment.id", "occurred_at", "status", "provider", "raw_code", "raw_text",
                                   "location", "source", "received_at", "franchise.id"]
    search_columns = ["shipment_id", "status", "occurred_at", "provider", "franchise"]
    base_order = ("occurred_at", "desc")
    include_route_methods = {"get", "get_list", "info"}  # events come from providers or the tracking screen


def register(appbuilder) -> None:
    category = "Shipments"
    appbuilder.add_view(ShipmentView, "Shipments", label=_l("Shipments"), icon="fa-truck", category=category,
                        category_label=_l("Shipments"), category_icon="fa-cubes")
    appbuilder.add_view(TrackingEventView, "Tracking events", label=_l("Tracking events"), icon="fa-map-signs",
                        category=category)
    for api in (ShipmentApi, TrackingEventApi):
        appbuilder.add_api(api)
