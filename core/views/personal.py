"""Personal data in screens and APIs: write-only form fields, masked REST fields, the audited unmask call,
and search by a full phone number through its blind index."""

from __future__ import annotations

from flask import request
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import false
from wtforms import StringField, ValidationError

from core.extensions import db
from core.privacy import MASKS, NORMALISERS, PersonalDataError, masked, may_unmask, personal_fields, search_hash, unmask


class PersonalDataField(StringField):
    """A form field that never shows the stored value: blank keeps it, anything typed replaces it."""

    def __init__(self, label=None, validators=None, kind="phone", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.kind = kind
        self.stored_mask = ""

    def process_data(self, value):
        self.stored_mask = MASKS[self.kind](value) if value else ""
        if self.stored_mask:
            self.description = str(_l("Stored: %(value)s. Leave blank to keep it.", value=self.stored_mask))
        self.data = None

    def pre_validate(self, form):
        try:
            NORMALISERS[self.kind](self.data, self.name)
        except PersonalDataError as exc:
            raise ValidationError(str(exc.problem)) from exc

    def populate_obj(self, obj, name):
        if self.data in (None, "") and getattr(obj, "id", None) is not None:
            return
        setattr(obj, name, self.data)


def personal_form_fields(model) -> dict[str, PersonalDataField]:
    """Form fields for the personal values of `model`, labelled as the view labels them."""
    return {name: PersonalDataField(kind=value.kind) for name, value in personal_fields(model).items()}


class BlindIndexEquals(BaseFilter):
    """Finds rows whose personal value equals the typed one, by its keyed hash: no table is decrypted."""

    name = _l("Is (full number)")
    arg_name = "eq_hash"
    kind = "phone"

    def apply(self, query, value):
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value in (None, ""):
            return query
        column = getattr(self.model, self.column_name)
        digest = search_hash(self.kind, value)
        return query.filter(column == digest) if digest else query.filter(false())  # not a number: no match


def masked_schema(schema, model, names_shown=None):
    """A dump schema that shows personal values masked: `phone_enc` in the API's columns comes out as
    `"phone": "138****5678"`, and person names as `names_shown` gives them."""
    attrs = {}
    for name in personal_fields(model):
        if f"{name}_enc" in schema.fields:
            attrs[f"{name}_enc"] = fields.Function(lambda item, n=name: masked(item, n), data_key=name,
                                                   dump_only=True)
    for name, getter in (names_shown or {}).items():
        if name in schema.fields:
            attrs[name] = fields.Function(getter, dump_only=True)
    return _derived(schema, attrs)


def writable_schema(schema, model):
    """A load schema taking personal values in plain text under their own names (`"phone": "138..."`);
    the model encrypts and hashes them."""
    attrs = {f"{name}_enc": fields.String(allow_none=True, load_only=True, data_key=name, attribute=name)
             for name in personal_fields(model) if f"{name}_enc" in schema.fields}
    return _derived(schema, attrs)


def _derived(schema, attrs):
    """An instance of a subclass of `schema`'s class with `attrs`, keeping what was adjusted on `schema`."""
    derived = type(schema.__class__.__name__, (schema.__class__,), attrs)()
    for name, field in schema.fields.items():
        if name in derived.fields and name not in attrs:
            derived.fields[name].required = field.required
    return derived


class UnmaskApiMixin:
    """POST /<pk>/unmask {"fields": [...], "reason": "..."}: the plaintext, written to the audit log."""

    @api_expose("/<int:pk>/unmask", methods=["POST"])
    @protect(allow_browser_login=True)
    @safe
    def unmask(self, pk):
        """Show personal fields of one record in full (needs the unmask permission; audited)
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    fields: {type: array, items: {type: string}}
                    reason: {type: string}
          responses:
            200:
              description: the fields in full
            403:
              description: no unmask permission
            404:
              description: no such record in your scope
            422:
              description: missing reason or unknown field
        """
        if not may_unmask():
            return self.response(403, message="You may not see personal data in full")
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message="Request body must be a JSON object")
        names = body.get("fields") or list(personal_fields(type(item))) + list(
            getattr(type(item), "__personal_names__", ()))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return self.response_422(message={"fields": ["a list of field names"]})
        try:
            values = unmask(item, names, str(body.get("reason") or ""))
        except PersonalDataError as exc:
            db.session.rollback()
            return self.response_422(message={exc.field: [str(exc.problem)]})
        db.session.commit()
        return self.response(200, result=values)
