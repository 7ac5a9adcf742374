"""Custom field definitions, form layouts, and the mixin that gives a model its custom values column."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import declared_attr, relationship

FIELD_TYPES = {
    "text": _l("Text"),
    "long_text": _l("Long text"),
    "integer": _l("Integer"),
    "decimal": _l("Decimal"),
    "date": _l("Date"),
    "datetime": _l("Date and time"),
    "yes_no": _l("Yes/no"),
    "choice": _l("Choice"),
    "multi_choice": _l("Multiple choice"),
    "phone": _l("Phone"),
    "email": _l("Email"),
}

CUSTOM_PREFIX = "cf_"
JSONValue = JSON().with_variant(JSONB(), "postgresql")


class CustomFieldsMixin:
    """Adds `custom`, one JSON column (JSONB on PostgreSQL) holding every custom field value by key.

    `item.cf_<key>` reads a value, which is how list columns, the show page and CSV export reach them.
    """

    @declared_attr
    def custom(cls):
        return Column(JSONValue, nullable=False, default=dict)

    def __getattr__(self, name):
        if name.startswith(CUSTOM_PREFIX):
            values = self.__dict__.get("custom") or {}
            return values.get(name[len(CUSTOM_PREFIX):])
        raise AttributeError(name)


class CustomFieldDefinition(Model):
    __tablename__ = "crm_custom_field"
    __audited__ = True
    __audit_kind__ = "config"
    __shared_rows__ = True  # franchise_id NULL = a field of every franchise
    __table_args__ = (UniqueConstraint("entity", "key", "franchise_id", name="uq_custom_field_key"),)
    id = Column(Integer, primary_key=True)
    entity = Column(String(64), nullable=False, index=True)
    key = Column(String(64), nullable=False)
    label_zh = Column(String(128), nullable=False)
    label_en = Column(String(128), nullable=False)
    field_type = Column(String(16), nullable=False, default="text")
    required = Column(Boolean, nullable=False, default=False)
    # one choice per line, "value" or "value|中文|English"
    choices = Column(Text)
    default = Column(String(255))
    help = Column(String(255))
    order = Column(Integer, nullable=False, default=100)
    active = Column(Boolean, nullable=False, default=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), nullable=True, index=True)
    franchise = relationship("Franchise")

    @property
    def column(self) -> str:
        return CUSTOM_PREFIX + self.key

    def label(self, locale: str = "zh") -> str:
        return self.label_en if str(locale).startswith("en") else self.label_zh

    def choice_list(self, locale: str = "zh") -> list[tuple[str, str]]:
        result = []
        for line in (self.choices or "").splitlines():
            parts = [p.strip() for p in line.split("|")]
            if not parts[0]:
                continue
            zh = parts[1] if len(parts) > 1 and parts[1] else parts[0]
            en = parts[2] if len(parts) > 2 and parts[2] else zh
            result.append((parts[0], en if str(locale).startswith("en") else zh))
        return result

    def __repr__(self):
        return f"{self.entity}.{self.key}"


class FormLayout(Model):
    """Order, fieldsets and hidden fields of an entity's forms, for every franchise or for one."""

    __tablename__ = "crm_form_layout"
    __audited__ = True
    __audit_kind__ = "config"
    __shared_rows__ = True
    __table_args__ = (UniqueConstraint("entity", "franchise_id", name="uq_form_layout_scope"),)
    id = Column(Integer, primary_key=True)
    entity = Column(String(64), nullable=False, index=True)
    # one fieldset per line: "Title: field_a, field_b, cf_custom"
    fieldsets = Column(Text)
    # comma separated field names not shown in the forms
    hidden = Column(Text)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), nullable=True, index=True)
    franchise = relationship("Franchise")

    def parsed_fieldsets(self) -> list[tuple[str, list[str]]]:
        result = []
        for line in (self.fieldsets or "").splitlines():
            if not line.strip():
                continue
            title, sep, fields = line.partition(":")
            if not sep:
                title, fields = "", title
            names = [f.strip() for f in fields.split(",") if f.strip()]
            result.append((title.strip(), names))
        return result

    def hidden_fields(self) -> set[str]:
        return {f.strip() for f in (self.hidden or "").split(",") if f.strip()}

    def __repr__(self):
        return f"layout {self.entity}"
