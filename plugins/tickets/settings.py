"""The tickets plugin's settings per franchise."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from core.plugin_settings import settings_for
from core.plugins import registry

PLUGIN = "tickets"


class TicketSettings(Schema):
    auto_close_days = fields.Integer(load_default=3, validate=validate.Range(min=0, max=90), metadata={
        "label": _l("Close resolved tickets after N days without a customer reply (0 = never)")})
    reopen_window_days = fields.Integer(load_default=7, validate=validate.Range(min=0, max=90), metadata={
        "label": _l("A customer reply within N days of resolving reopens the ticket (0 = never)")})
    attach_to_open_ticket = fields.Boolean(load_default=True, metadata={
        "label": _l("A new report on a parcel with an open ticket attaches to that ticket")})
    max_evidence_mb = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50), metadata={
        "label": _l("Largest claim evidence file (MB)")})


def current(franchise_id: int) -> dict:
    return settings_for(registry(), PLUGIN, franchise_id)
