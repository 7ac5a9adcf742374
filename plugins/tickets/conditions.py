"""Rule conditions of the plugin's screens (dispatch rules, SLA policies, callback rules): each condition is a
JSON list of codes, empty meaning "any". One check for stored lists, and the form fields that edit them."""

from __future__ import annotations

import re

from flask_appbuilder.fieldwidgets import Select2ManyWidget
from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, StringField
from wtforms import validators as wtv

from core.models.choices import as_select, label

# commas (also Chinese ones), semicolons or spaces separate typed values
LIST_SEPARATORS = re.compile(r"[,，;；\s]+")


def list_problem(values, allowed) -> str | None:
    """What is wrong with a stored list of codes (None: nothing; an empty list or None means any)."""
    if values is None:
        return None
    if not isinstance(values, list):
        return str(_l("a list of codes"))
    unknown = [str(v) for v in values if v not in allowed]
    if unknown:
        return str(_l("unknown: %(values)s", values=", ".join(unknown)))
    return None


def list_errors(item, lists) -> dict[str, str]:
    """{field: problem} of an item's code lists, `lists` being ((field, allowed codes), ...)."""
    errors = {}
    for name, allowed in lists:
        problem = list_problem(getattr(item, name), allowed)
        if problem:
            errors[name] = problem
    return errors


class ChoiceListField(SelectMultipleField):
    """A JSON list of codes shown as a multi-select; nothing chosen is stored as None (= any)."""

    def process_data(self, value):
        self.data = list(value or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, list(self.data) or None)


class TextListField(StringField):
    """A JSON list typed as "A, B"; empty is stored as None (= any)."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return ", ".join(str(v) for v in self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [v for v in LIST_SEPARATORS.split(valuelist[0] or "") if v]

    def process_data(self, value):
        self.data = list(value or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, list(self.data or []) or None)


def choice_list(text, options) -> ChoiceListField:
    return ChoiceListField(text, choices=lambda: as_select(options), widget=Select2ManyWidget(),
                           validators=[wtv.Optional()])


def text_list(text) -> TextListField:
    return TextListField(text, validators=[wtv.Optional()])


def labels_of(options):
    """A list column as the screens show it: the labels of its codes, or "any"."""
    return lambda values: ", ".join(label(options, v) for v in values or []) or str(_l("any"))
