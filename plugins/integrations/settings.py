"""The integrations plugin's settings per franchise: provider credentials (secrets encrypted at rest by
core.plugin_settings), detection thresholds and the message gateway."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from core.plugin_settings import settings_for
from core.plugins import registry

PLUGIN = "integrations"


class IntegrationSettings(Schema):
    kuaidi100_salt = fields.String(load_default=None, validate=validate.Length(max=128), metadata={
        "secret": True, "label": _l("Kuaidi100 push salt"),
        "description": _l("The salt given in the subscription; pushes are signed md5(param + salt).")})
    kdniao_business_id = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "label": _l("Kdniao EBusinessID")})
    kdniao_app_key = fields.String(load_default=None, validate=validate.Length(max=128), metadata={
        "secret": True, "label": _l("Kdniao AppKey")})
    generic_secret = fields.String(load_default=None, validate=validate.Length(min=16, max=128), metadata={
        "secret": True, "label": _l("Signing secret of the generic JSON push (at least 16 characters)")})
    stall_hours = fields.Integer(load_default=48, validate=validate.Range(min=1, max=24 * 30), metadata={
        "label": _l("Hours without a tracking update before a parcel counts as stalled")})
    watch_days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=365), metadata={
        "label": _l("Watch parcels created in the last N days for stalls and delays")})
    message_backend = fields.String(load_default="log", validate=validate.OneOf(["log", "http"]), metadata={
        "label": _l("SMS / WeChat gateway (log or http)")})
    message_http_url = fields.Url(load_default=None, require_tld=False, metadata={
        "label": _l("Gateway URL (http backend)")})
    message_http_token = fields.String(load_default=None, validate=validate.Length(max=256), metadata={
        "secret": True, "label": _l("Gateway token (http backend)")})
    messages_per_customer_per_day = fields.Integer(load_default=3, validate=validate.Range(min=0, max=100), metadata={
        "label": _l("Messages per customer per day"),
        "description": _l("Counted over every purpose, service notices included; 0 = no limit.")})


def current(franchise_id: int) -> dict:
    """This franchise's settings, secrets in plaintext (for signing and verifying only; never display)."""
    return settings_for(registry(), PLUGIN, franchise_id)
