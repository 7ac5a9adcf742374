"""Customer screens and APIs: the customer list, the 360 page, contacts, addresses, contracts and records."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField
from wtforms import validators as wtv

from core import divisions
from core.customer360 import panels_for
from core.extensions import db
from core.models import Address, CommunicationRecord, Contact, Contract, Customer, Shipment, choices
from core.models.statuses import status_label
from core.privacy import PersonalDataError, may_unmask, personal_fields, search_hash, unmask
from core.tenancy import ScopedInterface, current_scope, user_franchise
from core.views.base import ScopedModelRestApi, ScopedModelView
from core.views.labels import LABELS
from core.views.privacy import PersonalDataView, privacy_actions_allowed
from core.views.references import customer_field, shipment_field
from core.views.personal import (BlindIndexEquals, UnmaskApiMixin, masked_schema, personal_form_fields,
                                 writable_schema)

RECENT = 20


def district_options():
    return [("", "—")] + [(d.code, f"{d.code} {divisions.full_name(d.code)}") for d in divisions.districts()]


def choice_select(choice_map, blank=True):
    return SelectField(choices=choices.as_select(choice_map, blank=blank), validators=[wtv.Optional()])


def staff_in_scope():
    """Users who may be named account manager: those assigned to a franchise the current user sees."""
    scope = current_scope()
    query = select(User).where(User.active.is_(True)).order_by(User.username)
    if not scope.all:
        query = query.where(User.id.in_(select(user_franchise.c.user_id).where(
            scope.criterion(user_franchise.c.franchise_id))))
    return db.session.scalars(query).all()


def choice_formatter(choice_map):
    return lambda value: choices.label(choice_map, value)


def district_formatter(code):
    return divisions.full_name(code) if code else ""


class DomainModelView(ScopedModelView):
    """Common ground of the customer and shipment screens: labels, write-only personal fields."""

    label_columns = LABELS
    choice_fields: dict = {}
    customer_required = True

    def __init__(self, *args, **kwargs):
        self._seed_per_request_bases()  # the declared columns, read below before FAB's init
        model = self.datamodel.obj
        extra = {**personal_form_fields(model),
                 **{name: choice_select(options) for name, options in self.choice_fields.items()}}
        form_columns = set(self.add_columns or []) | set(self.edit_columns or [])
        for name in ("district_code", "receiver_district_code"):
            if name in form_columns:
                extra[name] = SelectField(choices=district_options, validators=[wtv.Optional()])
        # big tables are referenced by key, never by a dropdown of every row
        if "customer" in form_columns:
            extra["customer"] = customer_field(required=self.customer_required)
        if "shipment" in form_columns:
            extra["shipment"] = shipment_field()
        self.add_form_extra_fields = {**extra, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}
        super().__init__(*args, **kwargs)
        formatters = {name: choice_formatter(options) for name, options in self.choice_fields.items()}
        formatters.update({"district_code": district_formatter, "receiver_district_code": district_formatter})
        self.formatters_columns = {**self.formatters_columns,
                                   **{k: v for k, v in formatters.items() if v is not None}}


class DomainApi(UnmaskApiMixin, ScopedModelRestApi):
    """REST for a domain model: personal values masked in responses, accepted in plain text on writes."""

    masked_names: dict = {}

    def _init_model_schemas(self):
        super()._init_model_schemas()
        model = self.datamodel.obj
        for name in ("list_model_schema", "show_model_schema"):
            base = self.__dict__.get(f"_base_{name}")
            if base is not None:
                self.__dict__[f"_base_{name}"] = masked_schema(base, model, self.masked_names)
        for name in ("add_model_schema", "edit_model_schema"):
            base = self.__dict__.get(f"_base_{name}")
            if base is not None:
                self.__dict__[f"_base_{name}"] = writable_schema(base, model)


# --- customers -------------------------------------------------------------------------------------

CUSTOMER_CHOICES = {"kind": choices.CUSTOMER_KINDS, "status": choices.CUSTOMER_STATUSES,
                    "source": choices.SOURCE_CHANNELS, "billing_mode": choices.BILLING_MODES,
                    "industry": choices.INDUSTRIES, "credit_rating": choices.CREDIT_RATINGS,
                    "preferred_delivery_time": choices.DELIVERY_TIMES}
CUSTOMER_FORM = ["kind", "name", "phone", "company_name", "credit_code", "license_no", "industry", "billing_mode",
                 "credit_rating", "account_manager", "preferred_delivery_time", "id_number", "district_code", "tags",
                 "status", "source", "external_id", "marketing_opt_out", "franchise"]


class CustomerView(DomainModelView):
    route_base = "/customers"
    datamodel = ScopedInterface(Customer)
    entity_label, entity_label_plural = _l("Customer"), _l("Customers")
    list_columns = ["display_name", "kind", "phone_masked", "franchise", "status", "account_manager", "created_at"]
    order_columns = ["created_at", "name", "status"]
    base_order = ("created_at", "desc")
    search_columns = ["name", "phone_hash", "kind", "status", "source", "franchise", "credit_code", "external_id",
                      "industry", "billing_mode", "account_manager", "created_at"]
    search_filter_overrides = {"phone_hash": [BlindIndexEquals]}
    add_columns = CUSTOMER_FORM
    edit_columns = CUSTOMER_FORM
    show_columns = ["display_name", "kind", "phone_masked", "company_name", "credit_code", "license_no", "industry",
                    "billing_mode", "credit_rating", "account_manager", "preferred_delivery_time", "id_number_masked",
                    "district_code", "tags", "status", "source", "external_id", "marketing_opt_out", "franchise",
                    "created_at", "updated_at"]
    choice_fields = CUSTOMER_CHOICES
    # the stock dropdown would list every user of every franchise
    add_form_extra_fields = edit_form_extra_fields = {"account_manager": QuerySelectField(
        query_func=staff_in_scope, get_pk_func=lambda user: user.id, allow_blank=True,
        validators=[wtv.Optional()])}
    description_columns = {"tags": _l("Comma separated"),
                           "credit_code": _l("18 characters, printed on the business licence")}

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The customer 360 page."""
        customer = self.datamodel.get(pk, self._base_filters)
        if customer is None:
            abort(404)
        return self._render_360(customer, unmasked=None)

    @expose("/unmask/<pk>", methods=["POST"])
    @has_access
    def unmask_page(self, pk):
        """The 360 page with personal data in full, after the user said why (audited)."""
        customer = self.datamodel.get(pk, self._base_filters)
        if customer is None:
            abort(404)
        if not may_unmask():
            abort(403)
        names = list(personal_fields(Customer)) + ["name"]
        try:
            values = unmask(customer, names, request.form.get("reason", ""))
        except PersonalDataError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".show", pk=pk))
        db.session.commit()
        return self._render_360(customer, unmasked=values)

    def _render_360(self, customer, unmasked):
        shipments = db.session.scalars(
            select(Shipment).where(Shipment.customer_id == customer.id)
            .order_by(Shipment.created_at.desc()).limit(RECENT)).all()
        communications = db.session.scalars(
            select(CommunicationRecord).where(CommunicationRecord.customer_id == customer.id)
            .order_by(CommunicationRecord.occurred_at.desc()).limit(RECENT)).all()
        labels, formatters = self.label_columns, self.formatters_columns
        rows = [(labels.get(name, name), formatters.get(name, lambda v: v)(getattr(customer, name)))
                for name in self.show_columns if name != "display_name"]
        return self.render_template(
            "crm/customer360.html", customer=customer, profile=rows, unmasked=unmasked,
            contacts=customer.contacts, addresses=customer.addresses, contracts=customer.contracts,
            shipments=shipments, communications=communications, panels=panels_for(customer),
            may_unmask=may_unmask(), privacy=privacy_actions_allowed(), status_label=status_label,
            choices=choices, labels=LABELS, title=customer.display_name,
        )


class CustomerApi(DomainApi):
    resource_name = "customer"
    datamodel = ScopedInterface(Customer)
    masked_names = {"name": lambda item: item.display_name}
    list_columns = ["id", "kind", "name", "phone_enc", "company_name", "credit_code", "industry", "billing_mode",
                    "credit_rating", "account_manager.id", "status", "source", "external_id", "district_code", "tags",
                    "franchise.id", "created_at", "updated_at", "custom"]
    show_columns = list_columns + ["id_number_enc", "license_no", "preferred_delivery_time", "marketing_opt_out"]
    add_columns = ["kind", "name", "phone_enc", "id_number_enc", "company_name", "credit_code", "license_no", "industry",
                   "billing_mode", "credit_rating", "account_manager", "preferred_delivery_time", "district_code",
                   "tags", "status", "source", "external_id", "marketing_opt_out", "franchise", "custom"]
    edit_columns = add_columns
    order_columns = ["created_at", "name", "id"]
    search_columns = ["name", "phone_hash", "kind", "status", "source", "franchise", "credit_code", "external_id",
                      "industry", "created_at"]
    search_filter_overrides = {"phone_hash": [BlindIndexEquals]}
    base_order = ("created_at", "desc")

    @api_expose("/lookup", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def lookup(self):
        """Customers with this full phone number, found through the blind index (nothing is decrypted)
        ---
        get:
          parameters:
          - in: query
            name: phone
            schema:
              type: string
            required: true
          responses:
            200:
              description: up to 20 customers in your franchises, masked
            400:
              description: not a phone number
        """
        digest = search_hash("phone", request.args.get("phone", ""))
        if digest is None:
            return self.response_400(message={"phone": [str(_l("not a valid mobile or landline number"))]})
        query = select(Customer).where(Customer.phone_hash == digest).order_by(Customer.id).limit(20)
        condition = self.datamodel.criterion()
        if condition is not None:
            query = query.where(condition)
        found = db.session.scalars(query).all()
        return self.response(200, result=[
            {"id": c.id, "kind": c.kind, "name": c.display_name, "phone": c.phone_masked, "status": c.status,
             "franchise_id": c.franchise_id, "merged_into_id": c.merged_into_id} for c in found])


# --- contacts, addresses, contracts, communication records -----------------------------------------


class ContactView(DomainModelView):
    route_base = "/contacts"
    datamodel = ScopedInterface(Contact)
    entity_label, entity_label_plural = _l("Contact"), _l("Contacts")
    list_columns = ["customer", "contact_display", "title", "phone_masked", "is_primary", "franchise"]
    show_columns = ["customer", "contact_display", "title", "phone_masked", "email", "is_primary", "note",
                    "franchise", "created_at"]
    add_columns = edit_columns = ["customer", "name", "title", "phone", "email", "is_primary", "note", "franchise"]
    search_columns = ["customer_id", "name", "phone_hash", "email", "franchise"]
    search_filter_overrides = {"phone_hash": [BlindIndexEquals]}
    label_columns = {**LABELS, "contact_display": _l("Name")}
    base_order = ("id", "desc")


class ContactApi(DomainApi):
    resource_name = "contact"
    datamodel = ScopedInterface(Contact)
    masked_names = {"name": lambda item: str(item)}
    list_columns = show_columns = ["id", "customer.id", "name", "title", "phone_enc", "email", "is_primary", "note",
                                   "franchise.id", "custom"]
    add_columns = edit_columns = ["customer", "name", "title", "phone_enc", "email", "is_primary", "note", "franchise",
                                  "custom"]
    search_columns = ["customer_id", "name", "phone_hash", "franchise"]
    search_filter_overrides = {"phone_hash": [BlindIndexEquals]}


class AddressView(DomainModelView):
    route_base = "/addresses"
    datamodel = ScopedInterface(Address)
    entity_label, entity_label_plural = _l("Address"), _l("Addresses")
    list_columns = ["customer", "kind", "masked_address", "contact_display", "phone_masked", "is_default", "franchise"]
    show_columns = list_columns + ["created_at"]
    add_columns = edit_columns = ["customer", "kind", "district_code", "detail", "contact_name", "phone", "is_default",
                                  "franchise"]
    search_columns = ["customer_id", "kind", "district_code", "phone_hash", "franchise"]
    search_filter_overrides = {"phone_hash": [BlindIndexEquals]}
    label_columns = {**LABELS, "contact_display": _l("Contact name")}
    choice_fields = {"kind": choices.ADDRESS_KINDS}


class AddressApi(DomainApi):
    resource_name = "address"
    datamodel = ScopedInterface(Address)
    masked_names = {"contact_name": lambda item: item.contact_display}
    list_columns = show_columns = ["id", "customer.id", "kind", "province_code", "city_code", "district_code",
                                   "detail_enc", "contact_name", "phone_enc", "is_default", "franchise.id", "custom"]
    add_columns = edit_columns = ["customer", "kind", "district_code", "detail_enc", "contact_name", "phone_enc",
                                  "is_default", "franchise", "custom"]


class ContractView(DomainModelView):
    route_base = "/contracts"
    datamodel = ScopedInterface(Contract)
    entity_label, entity_label_plural = _l("Contract"), _l("Contracts")
    list_columns = ["number", "customer", "status", "discount_percent", "start_date", "end_date", "franchise"]
    show_columns = list_columns + ["price_table", "note", "created_at"]
    add_columns = edit_columns = ["customer", "number", "status", "discount_percent", "price_table", "start_date",
                                  "end_date", "note", "franchise"]
    search_columns = ["number", "customer_id", "status", "start_date", "end_date", "franchise"]
    choice_fields = {"status": choices.CONTRACT_STATUSES}
    description_columns = {"price_table": _l("One line per zone or weight band, e.g. \"江浙沪 首重1kg: 4.5\"")}
    base_order = ("start_date", "desc")


class ContractApi(DomainApi):
    resource_name = "contract"
    datamodel = ScopedInterface(Contract)
    list_columns = show_columns = ["id", "customer.id", "number", "status", "discount_percent", "price_table",
                                   "start_date", "end_date", "note", "franchise.id", "custom"]
    add_columns = edit_columns = ["customer", "number", "status", "discount_percent", "price_table", "start_date",
                                  "end_date", "note", "franchise", "custom"]


class CommunicationRecordView(DomainModelView):
    route_base = "/communications"
    datamodel = ScopedInterface(CommunicationRecord)
    entity_label, entity_label_plural = _l("Communication record"), _l("Communication records")
    list_columns = ["occurred_at", "customer", "channel", "topic", "next_action_due", "author", "franchise"]
    show_columns = ["occurred_at", "customer", "channel", "topic", "key_issues", "agreement", "next_action",
                    "next_action_due", "author", "franchise", "created_at"]
    add_columns = edit_columns = ["customer", "occurred_at", "channel", "topic", "key_issues", "agreement",
                                  "next_action", "next_action_due", "franchise"]
    search_columns = ["customer_id", "channel", "topic", "occurred_at", "next_action_due", "author", "franchise"]
    choice_fields = {"channel": choices.COMMUNICATION_CHANNELS}
    base_order = ("occurred_at", "desc")

    def pre_add(self, item):
        item.author = item.author or self.appbuilder.sm.current_user
        super().pre_add(item)


class CommunicationRecordApi(DomainApi):
    resource_name = "communication"
    datamodel = ScopedInterface(CommunicationRecord)
    list_columns = show_columns = ["id", "customer.id", "occurred_at", "channel", "topic", "key_issues", "agreement",
                                   "next_action", "next_action_due", "author.id", "franchise.id", "custom"]
    add_columns = edit_columns = ["customer", "occurred_at", "channel", "topic", "key_issues", "agreement",
                                  "next_action", "next_action_due", "franchise", "custom"]

    def pre_add(self, item):
        item.author = item.author or self.appbuilder.sm.current_user


def register(appbuilder) -> None:
    category = "Customers"
    appbuilder.add_view(CustomerView, "Customers", label=_l("Customers"), icon="fa-address-book",
                        category=category, category_label=_l("Customers"), category_icon="fa-users")
    appbuilder.add_view(ContactView, "Contacts", label=_l("Contacts"), icon="fa-user", category=category)
    appbuilder.add_view(AddressView, "Addresses", label=_l("Addresses"), icon="fa-map-marker", category=category)
    appbuilder.add_view(ContractView, "Contracts", label=_l("Contracts"), icon="fa-file-text-o", category=category)
    appbuilder.add_view(CommunicationRecordView, "Communication records", label=_l("Communication records"),
                        icon="fa-comments", category=category)
    for api in (CustomerApi, ContactApi, AddressApi, ContractApi, CommunicationRecordApi):
        appbuilder.add_api(api)
    appbuilder.add_view_no_menu(PersonalDataView)
