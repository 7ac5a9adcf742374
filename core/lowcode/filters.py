"""Search filters on custom field values, for list screens and the REST API (`opr` cf_eq, cf_ct, cf_gt, cf_lt).

Values are read from the JSON column with SQLAlchemy's JSON index operators, which compile to `->>` on
PostgreSQL and `json_extract` on SQLite, so the same filter runs on both.
"""

from __future__ import annotations

from flask_appbuilder.models.filters import BaseFilter, Filters
from flask_babel import lazy_gettext as _l

from core.lowcode.models import CUSTOM_PREFIX

NUMERIC = {"integer", "decimal"}
ORDERED = NUMERIC | {"date", "datetime"}


def _single(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


class CustomFieldFilter(BaseFilter):
    field_type = "text"

    def _element(self):
        return self.model.custom[self.column_name[len(CUSTOM_PREFIX):]]

    def _typed(self):
        element = self._element()
        if self.field_type in NUMERIC:
            return element.as_float()
        if self.field_type == "yes_no":
            return element.as_boolean()
        return element.as_string()

    def _value(self, value):
        value = _single(value)
        if value in (None, ""):
            return None
        if self.field_type in NUMERIC:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
        if self.field_type == "yes_no":
            return str(value).strip().lower() in ("1", "true", "y", "yes", "on", "是")
        return str(value)


class CustomEqual(CustomFieldFilter):
    name = _l("Equal to")
    arg_name = "cf_eq"

    def apply(self, query, value):
        value = self._value(value)
        return query if value is None else query.filter(self._typed() == value)


class CustomContains(CustomFieldFilter):
    name = _l("Contains")
    arg_name = "cf_ct"

    def apply(self, query, value):
        value = self._value(value)
        if value is None:
            return query
        if self.field_type == "multi_choice":  # a JSON array: match the quoted element
            return query.filter(self._element().as_string().like(f'%"{value}"%'))
        return query.filter(self._typed().ilike(f"%{value}%"))


class CustomGreater(CustomFieldFilter):
    name = _l("Greater than")
    arg_name = "cf_gt"

    def apply(self, query, value):
        value = self._value(value)
        return query if value is None else query.filter(self._typed() > value)


class CustomSmaller(CustomFieldFilter):
    name = _l("Smaller than")
    arg_name = "cf_lt"

    def apply(self, query, value):
        value = self._value(value)
        return query if value is None else query.filter(self._typed() < value)


def filters_for(definition, datamodel) -> list[CustomFieldFilter]:
    kinds = [CustomEqual]
    if definition.field_type in ORDERED:
        kinds += [CustomGreater, CustomSmaller]
    elif definition.field_type != "yes_no":
        kinds.append(CustomContains)
    result = []
    for kind in kinds:
        typed = type(kind.__name__, (kind,), {"field_type": definition.field_type})
        result.append(typed(definition.column, datamodel))
    return result


def with_custom_filters(base_filters, datamodel, definitions):
    """A per-request copy of a view's Filters with filters for these custom fields added."""
    filters = Filters(base_filters.filter_converter, datamodel)
    filters.search_columns = list(base_filters.search_columns)
    filters._search_filters = dict(base_filters._search_filters)
    filters._all_filters = dict(base_filters._all_filters)
    for definition in definitions:
        custom = filters_for(definition, datamodel)
        filters.search_columns.append(definition.column)
        filters._search_filters[definition.column] = custom
        filters._all_filters[definition.column] = custom
    return filters
