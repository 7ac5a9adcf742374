"""Read-only lists: "Customer tiers" (each customer's tier, figures, RFM scores and segment, linked to its 360
page) and "Tier history" (from, to, when and why). Counts are capped by ScopedInterface for big tables."""

from __future__ import annotations

from decimal import Decimal

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import SelectField
from wtforms import validators as wtv

from core.tenancy import ScopedInterface
from core.views.base import ScopedModelView, timestamp
from plugins.tiering.menu import add_view
from plugins.tiering.models import TIERS, CustomerValue, TierHistory
from plugins.tiering.overview.permissions import HISTORY_MENU, TIERS_MENU
from plugins.tiering.overview.reasons import money, tier_reason
from plugins.tiering.rfm import SEGMENTS

CUSTOMER_URL = "/customers/show/{id}"  # the customer 360 page


def customer_link(customer) -> Markup:
    if customer is None:
        return Markup("")
    return Markup('<a href="%s">%s</a>') % (CUSTOMER_URL.format(id=customer.id), customer.display_name)


def segment_text(code) -> str:
    return str(SEGMENTS.get(code, code or ""))


def money_text(value) -> str:
    return "" if value is None else money(value)


def number_text(value) -> str:
    if value is None:
        return ""
    value = Decimal(str(value))
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _choice(options) -> SelectField:
    return SelectField(choices=lambda: [("", "—")] + [(code, str(text)) for code, text in options().items()],
                       widget=Select2Widget(), validators=[wtv.Optional()])


class ReasonInterface(ScopedInterface):
    """Adds the computed column "why" (the tier's reason in words) to the rows' values."""

    @staticmethod
    def _get_attr_value(item, col):
        if col == "why":
            return tier_reason(None, history=item) if isinstance(item, TierHistory) else tier_reason(item)
        return ScopedInterface._get_attr_value(item, col)


LABELS = {"customer": _l("Customer"), "tier": _l("Tier"), "monthly_volume": _l("Parcels per month"),
          "monthly_revenue": _l("Freight per month"), "volume": _l("Parcels (tier window)"),
          "revenue": _l("Freight (tier window)"), "frequency": _l("Parcels (RFM window)"),
          "monetary": _l("Freight (RFM window)"), "returned": _l("Returned parcels"),
          "exceptions": _l("Exception parcels"), "r_score": _l("R"), "f_score": _l("F"), "m_score": _l("M"),
          "rfm_segment": _l("Segment"), "last_shipment_at": _l("Last shipment"), "tier_share": _l("Cumulative share %"),
          "tier_since": _l("Tier since"), "previous_tier": _l("Previous tier"), "franchise": _l("Franchise"),
          "why": _l("Why"), "from_tier": _l("From"), "to_tier": _l("To"), "changed_at": _l("When"),
          "value": _l("Monthly figure"), "share": _l("Cumulative share %")}


class CustomerTierView(ScopedModelView):
    plugin = "tiering"
    route_base = "/tiering/customers"
    datamodel = ReasonInterface(CustomerValue)
    entity_label, entity_label_plural = _l("Customer tier"), _l("Customer tiers")
    base_permissions = ["can_list", "can_show"]
    list_columns = ["customer", "tier", "monthly_volume", "monthly_revenue", "r_score", "f_score", "m_score",
                    "rfm_segment", "last_shipment_at", "franchise"]
    show_columns = ["customer", "tier", "why", "tier_since", "previous_tier", "tier_share", "monthly_volume",
                    "monthly_revenue", "volume", "revenue", "frequency", "monetary", "returned", "exceptions",
                    "r_score", "f_score", "m_score", "rfm_segment", "last_shipment_at", "franchise"]
    search_columns = ["tier", "rfm_segment", "franchise"]
    order_columns = ["tier", "monthly_volume", "monthly_revenue", "r_score", "f_score", "m_score",
                     "last_shipment_at"]
    label_columns = LABELS
    search_form_extra_fields = {"tier": _choice(lambda: {t: t for t in TIERS}),
                                "rfm_segment": _choice(lambda: SEGMENTS)}
    formatters_columns = {"customer": customer_link, "rfm_segment": segment_text, "monthly_revenue": money_text,
                          "revenue": money_text, "monetary": money_text, "monthly_volume": number_text,
                          "last_shipment_at": timestamp, "tier_since": timestamp}


class TierHistoryView(ScopedModelView):
    plugin = "tiering"
    route_base = "/tiering/history"
    datamodel = ReasonInterface(TierHistory)
    entity_label, entity_label_plural = _l("Tier change"), _l("Tier history")
    base_permissions = ["can_list", "can_show"]
    list_columns = ["customer", "from_tier", "to_tier", "changed_at", "why", "franchise"]
    show_columns = ["customer", "from_tier", "to_tier", "changed_at", "why", "measure", "method", "value", "share",
                    "franchise"]
    search_columns = ["from_tier", "to_tier", "changed_at", "franchise"]
    order_columns = ["changed_at"]
    base_order = ("changed_at", "desc")
    label_columns = {**LABELS, "measure": _l("Measure"), "method": _l("Method")}
    search_form_extra_fields = {"from_tier": _choice(lambda: {t: t for t in TIERS}),
                                "to_tier": _choice(lambda: {t: t for t in TIERS})}
    formatters_columns = {"customer": customer_link, "changed_at": timestamp}


def add_views(appbuilder) -> None:
    add_view(appbuilder, CustomerTierView, TIERS_MENU, _l("Customer tiers"), "fa-users")
    add_view(appbuilder, TierHistoryView, HISTORY_MENU, _l("Tier history"), "fa-history")
