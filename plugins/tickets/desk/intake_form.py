"""The fast intake form: what the agent typed -> the values `create_ticket` takes, and intake's errors back onto
the form's fields. Custom fields of tickets are WTForms fields built from their definitions (typed and checked
as in every other form of the platform)."""

from __future__ import annotations

from sqlalchemy import select
from wtforms import Form

from core.extensions import db
from core.lowcode.fields import definitions_for, form_field, to_stored
from core.tenancy import Franchise, model_scope
from plugins.tickets.models import Ticket

TEXT_FIELDS = ("type", "category", "priority", "channel", "subject", "description", "waybill_no", "customer_id",
               "reporter_role", "reporter_name", "reporter_phone", "franchise_id")
# categories mean something for complaints and exception parcels only
CATEGORY_TYPES = ("complaint", "exception")


def custom_form_class():
    """A form of the ticket custom fields active for the user's franchises (None when there are none)."""
    definitions = definitions_for(Ticket)
    if not definitions:
        return None
    return type("TicketCustomForm", (Form,), {d.column: form_field(d) for d in definitions})


def ticket_franchises() -> list[tuple[int, str]]:
    """Franchises the user may open tickets in (the plugin active there)."""
    scope = model_scope(Ticket)
    query = select(Franchise.id, Franchise.name, Franchise.code).where(Franchise.active.is_(True))
    query = scope.restrict(query, Franchise.id)
    return [(fid, f"{name} ({code})") for fid, name, code in db.session.execute(query.order_by(Franchise.code))]


def read_form(form_data, custom_form) -> tuple[dict, dict]:
    """(values for create_ticket, errors of the custom fields by form field name)."""
    values = {name: form_data.get(name) for name in TEXT_FIELDS if form_data.get(name) not in (None, "")}
    if values.get("type") not in CATEGORY_TYPES:
        values.pop("category", None)
    errors: dict[str, str] = {}
    if custom_form is not None:
        custom = {}
        custom_form.validate()
        for field in custom_form:
            if field.errors:
                errors[field.name] = str(field.errors[0])
                continue
            stored = to_stored(field.data)
            if stored is not None:
                custom[field.definition.key] = stored
        values["custom"] = custom
    return values, errors


def field_errors(intake_errors: dict) -> dict[str, str]:
    """Intake names custom values `custom.<key>`: on the form they are the field `cf_<key>`."""
    result = {}
    for key, message in intake_errors.items():
        if key.startswith("custom."):
            key = "cf_" + key[len("custom."):]
        result[key] = str(message)
    return result
