"""Form fields that point at a customer or a shipment by typing its ID or waybill number.

A dropdown of every customer (a million rows) or every shipment would load the whole table into each form,
so these fields take the key as text and look it up through the scoped interface: what the user cannot see
does not exist for them.
"""

from __future__ import annotations

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from wtforms import StringField, ValidationError
from wtforms import validators as wtv

from core.extensions import db
from core.tenancy import ScopedInterface


class ReferenceField(StringField):
    """The key of a row of `model` (its `key_column`, or its id); `data` becomes the row itself.

    On an add form the key may come from the query string (`?customer=42` on a link from the 360 page).
    """

    def __init__(self, label=None, validators=None, model=None, key_column="id", required=True, **kwargs):
        checks = [wtv.InputRequired()] if required else [wtv.Optional()]
        super().__init__(label, (validators or []) + checks, **kwargs)
        self.model, self.key_column, self.row = model, key_column, None

    def process_data(self, value):
        if value is None and has_request_context() and request.method == "GET":
            value = self._find(request.args.get(self.name))
        self.row = value
        self.data = "" if value is None else str(getattr(value, self.key_column))
        if value is not None:
            self.description = str(value)

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = (valuelist[0] or "").strip()

    def pre_validate(self, form):
        if not self.data:
            self.row = None
            return
        self.row = self._find(self.data)
        if self.row is None:
            raise ValidationError(_l("no such record in your franchises: %(key)s", key=self.data))

    def populate_obj(self, obj, name):
        setattr(obj, name, self.row)

    def _find(self, key):
        if not key:
            return None
        column = getattr(self.model, self.key_column)
        if self.key_column == "id":
            if not str(key).isdigit():
                return None
            key = int(key)
        else:
            key = str(key).strip().upper()
        interface = ScopedInterface(self.model)
        query = interface._scoped(db.session.query(self.model)).filter(column == key)
        return query.limit(1).one_or_none()


def customer_field(**kwargs) -> ReferenceField:
    from core.models import Customer

    return ReferenceField(model=Customer, description=_l("Customer ID (shown on the customer's page)"), **kwargs)


def shipment_field(**kwargs) -> ReferenceField:
    from core.models import Shipment

    return ReferenceField(model=Shipment, key_column="waybill_no", **kwargs)

