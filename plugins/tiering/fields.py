"""The condition language of tag rules and segments: a list of {"field", "op", "value"} that must all hold.

Fields come from one catalogue: the figures the recompute keeps (CustomerValue), the customer's own columns,
the franchise's custom fields, figures other plugins contribute (`crm_customer_metrics`) and, for segments,
tags, region and franchise. `check_conditions` says what is wrong in words an admin understands;
`conditions_clause` turns checked conditions into one SQL condition over `Customer` outer-joined with
`CustomerValue`, so rules and segments run set-based in the database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field as dataclass_field
from decimal import Decimal, InvalidOperation
from typing import Callable

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, case, exists, false, func, literal, not_, or_, select, true

from core.clock import utcnow
from core.extensions import db
from core.lowcode.fields import definitions_for, locale
from core.models import Customer, choices
from core.tenancy import Franchise, Region
from plugins.tiering.models import TIERS, CustomerMetric, CustomerTag, CustomerValue
from plugins.tiering.rfm import SEGMENTS

MAX_CONDITIONS = 12
OPS = {
    "number": (">", ">=", "<", "<=", "=", "!="),
    "days": (">", ">=", "<", "<="),
    "choice": ("in", "not_in"),
    "text": ("=", "contains", "starts_with"),
    "bool": ("is",),
    "tag": ("has", "has_not"),
    "prefix": ("starts_with",),
}
OP_LABELS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "=": "=", "!=": "≠", "in": _l("is one of"),
             "not_in": _l("is none of"), "contains": _l("contains"), "starts_with": _l("starts with"),
             "is": _l("is"), "has": _l("has tag"), "has_not": _l("has not tag")}
GROUPS = {"shipments": _l("Shipments"), "value": _l("Tier and RFM"), "customer": _l("Customer"),
          "custom": _l("Custom fields"), "metrics": _l("Other plugins"), "network": _l("Network")}


class ConditionError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    key: str
    label: object
    kind: str  # a key of OPS
    group: str
    expression: Callable[[], object] | None = None  # the SQL value compared (number, choice, text, bool)
    options: dict = dataclass_field(default_factory=dict)  # choice codes -> labels
    compile: Callable[[str, object], object] | None = None  # the whole condition, for fields that need it
    segments_only: bool = False  # order-dependent in rules (tags) or meaningless there (network)

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS[self.kind]


def _rate(part):
    return lambda: case((CustomerValue.frequency > 0, part * 100.0 / CustomerValue.frequency), else_=None)


def _zero(column):
    return lambda: func.coalesce(column, 0)


def _days_since(column):
    """'days since' compared as a moment: an index-friendly condition, and NULL (never) is longest ago."""

    def compile_(op, days):
        moment = utcnow() - dt.timedelta(days=float(days))
        if op in (">", ">="):
            older = column < moment if op == ">" else column <= moment
            return or_(column.is_(None), older)
        return column > moment if op == "<" else column >= moment

    return compile_


def _manual_tag_match(tag: str):
    # manual tags are one comma separated column (full-width commas and spaces allowed)
    normalised = func.replace(func.replace(func.coalesce(Customer.tags, ""), "，", ","), " ", "")
    return (literal(",") + normalised + literal(",")).like(f"%,{tag.replace(' ', '')},%")


def _compile_tag(op, tag):
    ruled = exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag == tag)
    matched = or_(ruled, _manual_tag_match(tag))
    return matched if op == "has" else not_(matched)


BUILT_IN = (
    Field("monthly_volume", _l("Parcels per month (tier window)"), "number", "shipments",
          _zero(CustomerValue.monthly_volume)),
    Field("monthly_revenue", _l("Freight per month, yuan (tier window)"), "number", "shipments",
          _zero(CustomerValue.monthly_revenue)),
    Field("frequency", _l("Parcels (RFM window)"), "number", "shipments", _zero(CustomerValue.frequency)),
    Field("monetary", _l("Freight, yuan (RFM window)"), "number", "shipments", _zero(CustomerValue.monetary)),
    Field("days_since_last", _l("Days since the last shipment"), "days", "shipments",
          compile=_days_since(CustomerValue.last_shipment_at)),
    Field("return_rate", _l("Returned parcels, % (RFM window)"), "number", "shipments",
          _rate(CustomerValue.returned)),
    Field("exception_rate", _l("Exception parcels, % (RFM window)"), "number", "shipments",
          _rate(CustomerValue.exceptions)),
    Field("tier", _l("Tier"), "choice", "value", lambda: CustomerValue.tier, {t: t for t in TIERS}),
    Field("rfm_segment", _l("RFM segment"), "choice", "value", lambda: CustomerValue.rfm_segment, SEGMENTS),
    Field("r_score", _l("R score (1-5)"), "number", "value", lambda: CustomerValue.r_score),
    Field("f_score", _l("F score (1-5)"), "number", "value", lambda: CustomerValue.f_score),
    Field("m_score", _l("M score (1-5)"), "number", "value", lambda: CustomerValue.m_score),
    Field("kind", _l("Customer kind"), "choice", "customer", lambda: Customer.kind, choices.CUSTOMER_KINDS),
    Field("industry", _l("Industry"), "choice", "customer", lambda: Customer.industry, choices.INDUSTRIES),
    Field("billing_mode", _l("Billing"), "choice", "customer", lambda: Customer.billing_mode,
          choices.BILLING_MODES),
    Field("credit_rating", _l("Credit rating"), "choice", "customer", lambda: Customer.credit_rating,
          choices.CREDIT_RATINGS),
    Field("status", _l("Customer status"), "choice", "customer", lambda: Customer.status,
          choices.CUSTOMER_STATUSES),
    Field("source", _l("Source"), "choice", "customer", lambda: Customer.source, choices.SOURCE_CHANNELS),
    Field("district", _l("Area (district code prefix: 2, 4 or 6 digits)"), "prefix", "customer",
          lambda: Customer.district_code),
    Field("has_account_manager", _l("Has an account manager"), "bool", "customer",
          lambda: Customer.account_manager_id.is_not(None)),
    Field("marketing_opt_out", _l("Opted out of marketing"), "bool", "customer",
          lambda: Customer.marketing_opt_out),
    Field("tag", _l("Tag (rule or manual)"), "tag", "customer", compile=_compile_tag, segments_only=True),
)

_CUSTOM_KINDS = {"integer": "number", "decimal": "number", "yes_no": "bool", "choice": "choice",
                 "multi_choice": "tag", "date": "text", "datetime": "text"}


def _custom_field(definition) -> Field:
    kind = _CUSTOM_KINDS.get(definition.field_type, "text")
    element = Customer.custom[definition.key]

    def expression():
        if kind == "number":
            return element.as_float()
        if kind == "bool":
            return element.as_boolean()
        return element.as_string()

    def compile_multi(op, value):  # a JSON array of codes: match the quoted element
        matched = func.coalesce(element.as_string(), "").like(f'%"{value}"%')
        return matched if op == "has" else not_(matched)

    return Field(f"cf.{definition.key}", definition.label(locale()), kind, "custom",
                 expression if kind != "tag" else None, dict(definition.choice_list(locale())),
                 compile_multi if kind == "tag" else None)


def _metric_field(metric) -> Field:
    def expression():
        return func.coalesce(select(CustomerMetric.value).where(
            CustomerMetric.customer_id == Customer.id, CustomerMetric.key == metric.key).scalar_subquery(), 0)

    return Field(f"metric.{metric.key}", metric.label, "number", "metrics", expression)


def declared_metrics(franchise_id: int | None = None) -> list:
    """Metrics of the plugins active in the franchise (None: of every plugin, for HQ's rows)."""
    plugins = current_app.extensions["crm_plugins"]
    caller = plugins.hook.crm_customer_metrics if franchise_id is None else \
        plugins.hook_for_franchise("crm_customer_metrics", franchise_id)
    return [metric for metrics in caller() for metric in metrics or []]


def _network_fields() -> list[Field]:
    regions = {r.code: r.name for r in db.session.scalars(select(Region).order_by(Region.code))}
    franchises = {f.code: f.name for f in db.session.scalars(select(Franchise).order_by(Franchise.code))}
    region_of = select(Region.code).join(Franchise, Franchise.region_id == Region.id).where(
        Franchise.id == Customer.franchise_id).scalar_subquery()
    franchise_of = select(Franchise.code).where(Franchise.id == Customer.franchise_id).scalar_subquery()
    return [Field("region", _l("Region"), "choice", "network", lambda: region_of, regions, segments_only=True),
            Field("franchise", _l("Franchise"), "choice", "network", lambda: franchise_of, franchises,
                  segments_only=True)]


def catalogue(franchise_id: int | None, for_segments: bool = False) -> dict[str, Field]:
    """The fields conditions may use in `franchise_id` (None: HQ's rows, shared custom fields only)."""
    fields = [f for f in BUILT_IN if for_segments or not f.segments_only]
    # HQ's rows apply everywhere: only the custom fields every franchise has (no franchise has id -1)
    definitions = definitions_for(Customer, franchise_id=franchise_id if franchise_id is not None else -1)
    fields += [_custom_field(d) for d in definitions]
    fields += [_metric_field(m) for m in declared_metrics(franchise_id)]
    if for_segments:
        fields += _network_fields()
    return {f.key: f for f in fields}


# --- checking ------------------------------------------------------------------------------------------


def _number(value):
    if isinstance(value, bool):
        raise ConditionError(_("a number is needed"))
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConditionError(_("a number is needed, not %(value)s", value=repr(value)[:40]))
    if not number.is_finite():
        raise ConditionError(_("a number is needed"))
    return float(number)


def _checked_value(field: Field, op: str, value):
    if field.kind in ("number", "days"):
        number = _number(value)
        if field.kind == "days" and number < 0:
            raise ConditionError(_("days cannot be negative"))
        return number
    if field.kind == "choice":
        codes = value if isinstance(value, list) else [value] if isinstance(value, str) and value else None
        if not codes:
            raise ConditionError(_("choose at least one value"))
        unknown = [str(c) for c in codes if c not in field.options]
        if unknown:
            raise ConditionError(_("%(values)s is not one of: %(choices)s", values=", ".join(unknown)[:60],
                                   choices=", ".join(map(str, field.options))[:200]))
        return list(dict.fromkeys(codes))
    if field.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "是"):
            return True
        if text in ("false", "no", "0", "否"):
            return False
        raise ConditionError(_("yes or no is needed"))
    if field.kind == "prefix":
        text = str(value or "").strip()
        if not re.fullmatch(r"\d{2}|\d{4}|\d{6}", text):
            raise ConditionError(_("a district code prefix has 2, 4 or 6 digits"))
        return text
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise ConditionError(_("a text is needed"))
    text = str(value).strip()
    if len(text) > 100:
        raise ConditionError(_("at most 100 characters"))
    if field.kind == "tag" and field.options and text not in field.options:
        raise ConditionError(_("%(values)s is not one of: %(choices)s", values=text[:40],
                               choices=", ".join(map(str, field.options))[:200]))
    return text


def check_conditions(conditions, franchise_id: int | None, for_segments: bool = False) -> tuple[list, str | None]:
    """(the conditions cleaned, None) or (None, a message naming the row, the field and the problem)."""
    if not isinstance(conditions, list):
        return None, _("conditions must be a list of {field, op, value}")
    if len(conditions) > MAX_CONDITIONS:
        return None, _("at most %(count)d conditions", count=MAX_CONDITIONS)
    fields = catalogue(franchise_id, for_segments)
    cleaned = []
    for number, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            return None, _("condition %(row)d: needs a field, an operator and a value", row=number)
        key, op = condition.get("field"), condition.get("op")
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            return None, _("condition %(row)d: unknown field %(field)s", row=number, field=repr(key)[:40])
        if op not in field.ops:
            return None, _("condition %(row)d (%(field)s): the operator must be one of %(ops)s", row=number,
                           field=field.label, ops=", ".join(field.ops))
        try:
            value = _checked_value(field, op, condition.get("value"))
        except ConditionError as exc:
            return None, _("condition %(row)d (%(field)s): %(problem)s", row=number, field=field.label,
                           problem=str(exc))
        cleaned.append({"field": key, "op": op, "value": value})
    return cleaned, None


# --- SQL -----------------------------------------------------------------------------------------------


def _clause(field: Field, op: str, value):
    if field.compile is not None:
        return field.compile(op, value)
    column = field.expression()
    if field.kind == "choice":
        matched = column.in_(value)
        return matched if op == "in" else or_(column.is_(None), not_(matched))
    if field.kind == "bool":
        truth = func.coalesce(column, false())
        return truth if value else not_(truth)
    if op == "contains":
        return column.like(f"%{value}%")
    if op == "starts_with":
        return column.like(f"{value}%")
    return {">": column > value, ">=": column >= value, "<": column < value, "<=": column <= value,
            "=": column == value, "!=": column != value}[op]


def conditions_clause(conditions: list, fields: dict[str, Field]):
    """One SQL condition over `Customer` (outer-joined with `CustomerValue`) for checked `conditions`."""
    return and_(true(), *(_clause(fields[c["field"]], c["op"], c["value"]) for c in conditions))


def customers_base(*columns, franchise_id: int | None = None):
    """SELECT `columns` FROM the customers who count (not merged away, not erased) with their figures; of one
    franchise when given (which also keeps PostgreSQL from reading every franchise's figures for the join)."""
    joined = CustomerValue.customer_id == Customer.id
    query = select(*columns).select_from(Customer)
    if franchise_id is not None:
        joined = and_(joined, CustomerValue.franchise_id == franchise_id)
        query = query.where(Customer.franchise_id == franchise_id)
    return query.outerjoin(CustomerValue, joined).where(Customer.merged_into_id.is_(None),
                                                        Customer.erased_at.is_(None))


def describe(condition: dict, fields: dict[str, Field]) -> str:
    """A condition in words, for lists and the 360 page: "Returned parcels, % ≥ 20"."""
    field = fields.get(condition.get("field"))
    if field is None:
        return str(condition.get("field"))
    value = condition.get("value")
    if isinstance(value, list):
        value = ", ".join(str(field.options.get(v, v)) for v in value)
    elif isinstance(value, bool):
        value = _("yes") if value else _("no")
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{field.label} {OP_LABELS.get(condition.get('op'), condition.get('op'))} {value}"
