"""Turn custom field definitions into form fields, REST schema fields and stored JSON values."""

from __future__ import annotations

import datetime as dt
import decimal
import re

from flask import current_app, g, has_request_context
from flask_appbuilder.fieldwidgets import (
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    DatePickerWidget,
    DateTimePickerWidget,
    Select2ManyWidget,
    Select2Widget,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import or_, select
from wtforms import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import validators as wtv

from core.extensions import db
from core.lowcode.models import FIELD_TYPES, CustomFieldDefinition, CustomFieldsMixin
from core.tenancy import Scope, assigned_franchise, current_scope, eq_or_null, franchise_column

PHONE_PATTERN = r"^(\+?86[- ]?)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
TEXT_MAX = 500
LONG_TEXT_MAX = 10000


def entity_name(model) -> str:
    return model.__tablename__


def locale() -> str:
    try:
        return str(get_locale() or "zh")
    except Exception:  # outside a request
        return "zh"


def definitions_for(model, scope: Scope | None = None, franchise_id: int | None = None) -> list:
    """Active definitions of `model` for a record's franchise, or (no franchise given) for a user's scope."""
    if not issubclass(model, CustomFieldsMixin):
        return []
    if franchise_id is None:
        scope = scope or current_scope()
    key = (entity_name(model), scope, franchise_id)
    cache = g.setdefault("_crm_custom_fields", {}) if has_request_context() else {}
    if key in cache:
        return cache[key]
    query = select(CustomFieldDefinition).where(
        CustomFieldDefinition.entity == entity_name(model), CustomFieldDefinition.active.is_(True)
    )
    if franchise_id is not None:
        query = query.where(or_(CustomFieldDefinition.franchise_id.is_(None),
                                CustomFieldDefinition.franchise_id == franchise_id))
    elif not scope.all:
        narrowed = scope.criterion(CustomFieldDefinition.franchise_id)
        query = query.where(or_(CustomFieldDefinition.franchise_id.is_(None), narrowed))
    result = db.session.scalars(query.order_by(CustomFieldDefinition.order, CustomFieldDefinition.id)).all()
    # the same key defined globally and for a franchise: the franchise's definition wins
    by_key = {}
    for definition in result:
        if definition.key not in by_key or definition.franchise_id is not None:
            by_key[definition.key] = definition
    result = [d for d in result if by_key[d.key] is d]
    cache[key] = result
    return result


def invalidate_cache():
    if has_request_context():
        g.pop("_crm_custom_fields", None)


# --- stored values -------------------------------------------------------------------------------------


def to_stored(value):
    """A Python value from a form or schema -> the JSON value kept in `custom`."""
    if value in (None, "") or value == []:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def from_stored(definition, value):
    """A JSON value from `custom` -> the Python value a form field expects."""
    if value is None:
        return None
    try:
        if definition.field_type == "date":
            return dt.date.fromisoformat(value)
        if definition.field_type == "datetime":
            return dt.datetime.fromisoformat(value)
        if definition.field_type == "decimal":
            return decimal.Decimal(str(value))
    except (TypeError, ValueError, decimal.InvalidOperation):
        return None
    return value


def default_value(definition):
    if definition.default in (None, ""):
        return None
    raw = definition.default
    try:
        if definition.field_type == "integer":
            return int(raw)
        if definition.field_type == "decimal":
            return str(decimal.Decimal(raw))
        if definition.field_type == "yes_no":
            return raw.strip().lower() in ("1", "true", "yes", "y", "是")
        if definition.field_type == "multi_choice":
            return [v.strip() for v in raw.split(",") if v.strip()]
    except (ValueError, decimal.InvalidOperation):
        return None
    return raw


# --- WTForms -------------------------------------------------------------------------------------------


class CustomValueField:
    """Mixin for form fields of custom values: read from and write to the model's `custom` JSON."""

    definition = None

    def process(self, formdata, data=None, extra_filters=None):
        return super().process(formdata, from_stored(self.definition, data), extra_filters)

    def populate_obj(self, obj, name):
        values = dict(obj.custom or {})
        stored = to_stored(self.data)
        if stored is None:
            values.pop(self.definition.key, None)
        else:
            values[self.definition.key] = stored
        obj.custom = values


def form_field(definition, for_search: bool = False):
    """An unbound WTForms field for one definition (for the search form: never required).

    A field of one franchise is required only for rows of that franchise, which the form cannot know before
    the row's franchise is chosen: `check_record_values` enforces it when the row is saved.
    """
    loc = locale()
    required = (definition.required and definition.franchise_id is None and definition.field_type != "yes_no"
                and not for_search)
    checks = [wtv.InputRequired() if required else wtv.Optional()]
    kind = definition.field_type
    kwargs = {"label": definition.label(loc), "description": definition.help or "", "validators": checks}
    if kind == "long_text":
        base, widget = TextAreaField, BS3TextAreaFieldWidget()
        checks.append(wtv.Length(max=LONG_TEXT_MAX))
    elif kind == "integer":
        base, widget = IntegerField, BS3TextFieldWidget()
    elif kind == "decimal":
        base, widget = DecimalField, BS3TextFieldWidget()
    elif kind == "date":
        base, widget = DateField, DatePickerWidget()
    elif kind == "datetime":
        base, widget = DateTimeField, DateTimePickerWidget()
        kwargs["format"] = "%Y-%m-%d %H:%M:%S"
    elif kind == "yes_no":
        base, widget = BooleanField, None
        kwargs["validators"] = []
    elif kind == "choice":
        base, widget = SelectField, Select2Widget()
        kwargs["choices"] = [("", "")] + definition.choice_list(loc)
    elif kind == "multi_choice":
        base, widget = SelectMultipleField, Select2ManyWidget()
        kwargs["choices"] = definition.choice_list(loc)
    else:
        base, widget = StringField, BS3TextFieldWidget()
        checks.append(wtv.Length(max=TEXT_MAX))
        if kind == "phone":
            checks.append(wtv.Regexp(PHONE_PATTERN, message=_l("Not a valid phone number.")))
        elif kind == "email":
            checks.append(wtv.Regexp(EMAIL_PATTERN, message=_l("Not a valid email address.")))
    if widget is not None:
        kwargs["widget"] = widget
    # a class per definition carries the definition into every bound instance
    field_class = type(f"Custom{base.__name__}", (CustomValueField, base), {"definition": definition})
    return field_class(**kwargs)


# --- marshmallow ---------------------------------------------------------------------------------------


def schema_field(definition, required: bool):
    kind = definition.field_type
    common = {"required": required, "allow_none": not required,
              "metadata": {"description": f"{definition.label_en} / {definition.label_zh}"
                           + (f". {definition.help}" if definition.help else "")}}
    if kind == "integer":
        return fields.Integer(strict=True, **common)
    if kind == "decimal":
        return fields.Decimal(as_string=True, allow_nan=False, **common)
    if kind == "date":
        return fields.Date(**common)
    if kind == "datetime":
        return fields.DateTime(**common)
    if kind == "yes_no":
        return fields.Boolean(**common)
    if kind == "choice":
        values = [v for v, _ in definition.choice_list("en")]
        return fields.String(validate=validate.OneOf(values), **common)
    if kind == "multi_choice":
        values = [v for v, _ in definition.choice_list("en")]
        return fields.List(fields.String(validate=validate.OneOf(values)), **common)
    if kind == "phone":
        return fields.String(validate=validate.Regexp(PHONE_PATTERN, error="Not a valid phone number."), **common)
    if kind == "email":
        return fields.String(validate=validate.Regexp(EMAIL_PATTERN, error="Not a valid email address."), **common)
    limit = LONG_TEXT_MAX if kind == "long_text" else TEXT_MAX
    return fields.String(validate=validate.Length(max=limit), **common)


def values_schema(model, definitions, partial_required: bool) -> type[Schema]:
    """A schema class validating the `custom` object of `model` against these definitions."""
    attrs = {
        d.key: schema_field(d, required=d.required and d.franchise_id is None and not partial_required)
        for d in definitions
    }
    # distinct names: OpenAPI keeps one component per name (POST requires, PUT and responses do not)
    name = f"{model.__name__}CustomFields" + ("Partial" if partial_required else "")
    return Schema.from_dict(attrs, name=name)


class CustomValues(fields.Nested):
    """The `custom` object in REST payloads: typed on the way in, stored JSON on the way out."""

    def _serialize(self, value, attr, obj, **kwargs):
        keys = set(self.schema.fields)
        return {k: v for k, v in (value or {}).items() if k in keys}

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        loaded = super()._deserialize(value, attr, data, partial=partial, **kwargs)
        return {k: to_stored(v) for k, v in (loaded or {}).items()}


def check_record_values(item) -> dict:
    """Validate an item's custom values for its own franchise; returns {key: [message]} of problems.

    Keys that belong to no active definition of the item's franchise are refused, and required fields of
    that franchise must have a value.
    """
    model = type(item)
    franchise_id = assigned_franchise(item) if franchise_column(model) is not None else None
    definitions = definitions_for(model, franchise_id=franchise_id) if franchise_id else definitions_for(model)
    known = {d.key: d for d in definitions}
    errors = {}
    values = item.custom or {}
    for key in values:
        if key not in known:
            errors[key] = [str(_l("Unknown field for this franchise."))]
    for key, definition in known.items():
        if definition.required and values.get(key) in (None, "", []):
            errors[key] = [str(_l("Missing data for required field."))]
    return errors


def validate_definition(definition) -> dict:
    """Problems with a definition an admin entered, as {field: message}."""

    errors = {}
    if definition.entity not in custom_field_targets():
        errors["entity"] = _l("Unknown entity.")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", definition.key or ""):
        errors["key"] = _l("Use lower-case letters, digits and _; start with a letter.")
    elif _same_key_exists(definition):
        errors["key"] = _l("This key is already used for this entity and scope.")
    if definition.field_type not in FIELD_TYPES:
        errors["field_type"] = _l("Unknown field type.")
    if definition.field_type in ("choice", "multi_choice") and not definition.choice_list():
        errors["choices"] = _l("A choice field needs at least one choice.")
    if definition.default not in (None, ""):
        probe = schema_field(definition, required=False)
        value = default_value(definition)
        try:
            probe.deserialize(value)
        except ValidationError:
            errors["default"] = _l("The default value does not fit the field type.")
        if value is None:
            errors["default"] = _l("The default value does not fit the field type.")
    return errors


def _same_key_exists(definition) -> bool:
    # the unique constraint cannot see two definitions for every franchise: NULLs differ in SQL
    query = select(CustomFieldDefinition.id).where(
        CustomFieldDefinition.entity == definition.entity,
        CustomFieldDefinition.key == definition.key,
        eq_or_null(CustomFieldDefinition.franchise_id, assigned_franchise(definition)),
    )
    if definition.id is not None:
        query = query.where(CustomFieldDefinition.id != definition.id)
    with db.session.no_autoflush:
        return db.session.scalar(query.limit(1)) is not None


def custom_field_targets() -> dict[str, type]:
    return current_app.extensions["crm_custom_field_targets"]
