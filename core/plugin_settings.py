"""Per-franchise plugin settings, validated by the plugin's marshmallow schema (`crm_settings_schema`).

A field declared with `metadata={"secret": True}` (API keys, signing salts, tokens) is stored encrypted with
the personal-data vault, read back in plaintext by `settings_for`, and never shown again in the form: a
blank secret on save keeps the stored one.
"""

from __future__ import annotations

from flask_appbuilder import Model
from marshmallow import ValidationError, missing
from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint, select

from core.extensions import db
from core.lowcode.models import JSONValue
from core.privacy import vault


class PluginSettings(Model):
    __tablename__ = "crm_plugin_settings"
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (UniqueConstraint("plugin", "franchise_id", name="uq_plugin_settings"),)
    id = Column(Integer, primary_key=True)
    plugin = Column(String(64), nullable=False)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), nullable=False, index=True)
    values = Column(JSONValue, nullable=False, default=dict)


def secret_fields(schema_class) -> set[str]:
    if schema_class is None:
        return set()
    return {name for name, field in schema_class().fields.items() if field.metadata.get("secret")}


def settings_for(registry, plugin: str, franchise_id: int) -> dict:
    """The franchise's settings of a plugin: stored values (secrets decrypted) over the schema's defaults."""
    schema_class = registry.settings_schema(plugin)
    row = db.session.scalars(select(PluginSettings).where(
        PluginSettings.plugin == plugin, PluginSettings.franchise_id == franchise_id)).first()
    stored = dict(row.values) if row else {}
    if schema_class is None:
        return stored
    for name in secret_fields(schema_class) & set(stored):
        stored[name] = vault().decrypt(stored[name])
    defaults = {}
    for name, field in schema_class().fields.items():
        default = field.load_default
        if default is not missing and default is not None:
            defaults[name] = default() if callable(default) else default
    return {**defaults, **stored}


def save_settings(registry, plugin: str, franchise_id: int, raw: dict) -> tuple[dict | None, dict]:
    """Validate `raw` (form strings or JSON) with the plugin's schema and store it: (values, errors)."""
    schema_class = registry.settings_schema(plugin)
    if schema_class is None:
        return None, {"_schema": ["This plugin has no settings."]}
    schema = schema_class()
    secrets = secret_fields(schema_class)
    row = db.session.scalars(select(PluginSettings).where(
        PluginSettings.plugin == plugin, PluginSettings.franchise_id == franchise_id)).first()
    stored = dict(row.values) if row else {}
    raw = dict(raw)
    for name in secrets:
        if raw.get(name) in (None, "") and stored.get(name):
            raw[name] = vault().decrypt(stored[name])  # a blank secret keeps the stored one
    try:
        loaded = schema.load(raw)
    except ValidationError as err:
        return None, err.messages
    values = schema.dump(loaded)
    for name in secrets:
        if values.get(name):
            values[name] = vault().encrypt(str(values[name]))
    if row is None:
        row = PluginSettings(plugin=plugin, franchise_id=franchise_id, values=values)
        db.session.add(row)
    else:
        row.values = values
    db.session.commit()
    return values, {}
