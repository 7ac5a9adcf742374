"""What an import file holds: the columns of each entity, how a cell becomes a value, and the template.

A column is recognised by its Chinese or English label (with or without the " *" the template puts after
required ones) or by its attribute name, so a template downloaded in either language imports the same.
Custom fields active for the franchise follow the fixed columns, under their own labels.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from core.lowcode.fields import EMAIL_PATTERN, LONG_TEXT_MAX, PHONE_PATTERN, TEXT_MAX, definitions_for
from core.models import Contact, Customer, Shipment, choices
from core.models.statuses import STATUSES
from core.spreadsheets import sheet_title
from core.views.labels import LABELS

LOCALES = ("zh", "en")
REQUIRED_MARK = " *"
YES = {"1", "true", "yes", "y", "是", "对", "√", "x"}
NO = {"0", "false", "no", "n", "否", "不", ""}
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                     "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")


class CellError(ValueError):
    """A cell whose content cannot be the column's value; the message says why (translated)."""


def normalise_header(text) -> str:
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    if text.endswith("*"):
        text = text[:-1].strip()
    return text.casefold()


def cell_text(value) -> str:
    """What a cell says, as text: numbers typed into text columns lose Excel's ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.time() != dt.time() else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value).strip()


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an import: `key` is the model attribute it fills (or `customer`, a reference)."""

    key: str
    label: object
    kind: str = "text"  # text, choice, bool, decimal, datetime, phone, id_number, district, username, customer, custom
    required: bool = False  # the column must be in the file, and a new record needs a value in it
    choices: dict | None = None
    max_length: int | None = None
    mask: str | None = None  # how the report shows a value of this column: phone, id_number, name, text
    example: object = None
    help: object = None
    definition: object = None  # the CustomFieldDefinition of a custom column
    label_en: str | None = None  # custom columns carry both labels

    def label_in(self, locale: str) -> str:
        if self.definition is not None:
            return self.definition.label(locale)
        with force_locale(locale):
            return str(self.label)

    def header(self, locale: str) -> str:
        return self.label_in(locale) + (REQUIRED_MARK if self.required else "")

    def aliases(self) -> set[str]:
        names = {normalise_header(self.label_in(loc)) for loc in LOCALES}
        names.add(normalise_header(self.key))
        if self.definition is not None:
            names.add(normalise_header(self.definition.key))
        return names

    # --- cell -> value -------------------------------------------------------------------------------

    def parse(self, value):
        """The value a cell gives this column (None for an empty cell); raises CellError."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if self.definition is not None:
            return parse_custom(self.definition, value)
        kind = self.kind
        if kind == "choice":
            return match_choice(self.choices, value)
        if kind == "bool":
            return parse_bool(value)
        if kind == "decimal":
            return parse_decimal(value)
        if kind == "datetime":
            return parse_datetime(value)
        if kind == "id_number" and isinstance(value, float):
            raise CellError(_("Excel turned this ID number into a rounded number: format the column as text"))
        if kind == "district":
            text = cell_text(value)
            found = re.match(r"^(\d{6})\b", text)
            return found.group(1) if found else text
        text = cell_text(value)
        limit = self.max_length
        if limit and len(text) > limit:
            raise CellError(_("at most %(count)d characters", count=limit))
        return text

    def allowed_values(self, locale: str) -> str:
        with force_locale(locale):
            if self.definition is not None:
                return custom_allowed_values(self.definition, locale)
            if self.kind == "choice":
                return "; ".join(f"{code} = {label}" for code, label in self.choices.items())
            if self.kind == "bool":
                return _("yes / no (是 / 否)")
            if self.kind == "decimal":
                return _("a number")
            if self.kind == "datetime":
                return _("YYYY-MM-DD HH:MM, or an Excel date")
            if self.kind == "phone":
                return _("mobile (11 digits) or landline with area code")
            if self.kind == "id_number":
                return _("18 characters; format the column as text")
            if self.kind == "district":
                return _("6-digit GB/T 2260 district code, e.g. 310115")
            if self.kind == "username":
                return _("user name of an existing user")
            if self.kind == "customer":
                return _("the customer's credit code, phone or external ID")
            return _("text, at most %(count)d characters", count=self.max_length) if self.max_length else _("text")


_CHOICE_INDEXES: dict[int, dict[str, str]] = {}  # id of a fixed choice dict -> {code or label: code}


def _choice_index(options: dict) -> dict[str, str]:
    index = _CHOICE_INDEXES.get(id(options))
    if index is None:
        index = {}
        for loc in reversed(LOCALES):
            with force_locale(loc):
                index.update({str(label).casefold(): code for code, label in options.items()})
        index.update({str(code).casefold(): code for code in options})  # a code wins over a label
        _CHOICE_INDEXES[id(options)] = index
    return index


def match_choice(options: dict, value) -> str:
    """A choice by its code or its label in either language (case does not matter)."""
    code = _choice_index(options).get(cell_text(value).casefold())
    if code is None:
        raise CellError(str(_l("not one of: %(values)s", values=", ".join(options))))
    return code


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = cell_text(value).casefold()
    if text in YES or text == str(_("Yes")).casefold():
        return True
    if text in NO or text == str(_("No")).casefold():
        return False
    raise CellError(_("not yes or no"))


def parse_decimal(value) -> decimal.Decimal:
    if isinstance(value, bool):
        raise CellError(_("not a number"))
    try:
        number = decimal.Decimal(str(value).strip().replace(",", ""))
    except decimal.InvalidOperation:
        raise CellError(_("not a number")) from None
    if not number.is_finite():
        raise CellError(_("not a number"))
    return number


def parse_integer(value) -> int:
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise CellError(_("not a whole number"))
    return int(number)


def parse_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = cell_text(value)
    for pattern in _DATETIME_FORMATS + _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise CellError(_("not a date and time (YYYY-MM-DD HH:MM)"))


def parse_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = cell_text(value)
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise CellError(_("not a date (YYYY-MM-DD)"))


def _split_multi(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,，;；、\n]", text) if part.strip()]


def parse_custom(definition, value):
    """A cell -> the JSON value kept in `custom`, by the definition's type (the REST API's rules)."""
    kind = definition.field_type
    if kind == "integer":
        return parse_integer(value)
    if kind == "decimal":
        return str(parse_decimal(value))
    if kind == "date":
        return parse_date(value).isoformat()
    if kind == "datetime":
        return parse_datetime(value).isoformat()
    if kind == "yes_no":
        return parse_bool(value)
    if kind == "choice":
        return _custom_choice(definition, cell_text(value))
    if kind == "multi_choice":
        return [_custom_choice(definition, part) for part in _split_multi(cell_text(value))] or None
    text = cell_text(value)
    if kind == "phone":
        text = re.sub(r"\s", "", text)
        if not re.match(PHONE_PATTERN, text):
            raise CellError(str(_l("Not a valid phone number.")))
    elif kind == "email":
        if not re.match(EMAIL_PATTERN, text):
            raise CellError(str(_l("Not a valid email address.")))
    limit = LONG_TEXT_MAX if kind == "long_text" else TEXT_MAX
    if len(text) > limit:
        raise CellError(_("at most %(count)d characters", count=limit))
    return text


_CUSTOM_CHOICE_INDEXES: dict[tuple, dict[str, str]] = {}


def _custom_choice(definition, text: str) -> str:
    key = (definition.id, definition.choices)
    index = _CUSTOM_CHOICE_INDEXES.get(key)
    if index is None:
        index = {}
        for loc in reversed(LOCALES):
            index.update({label.casefold(): code for code, label in definition.choice_list(loc)})
        index.update({code.casefold(): code for code, _label in definition.choice_list()})
        if len(_CUSTOM_CHOICE_INDEXES) > 1000:
            _CUSTOM_CHOICE_INDEXES.clear()
        _CUSTOM_CHOICE_INDEXES[key] = index
    code = index.get(text.casefold())
    if code is None:
        values = ", ".join(c for c, _label in definition.choice_list())
        raise CellError(str(_l("not one of: %(values)s", values=values)))
    return code


def custom_allowed_values(definition, locale: str) -> str:
    kind = definition.field_type
    if kind in ("choice", "multi_choice"):
        listed = "; ".join(f"{code} = {label}" for code, label in definition.choice_list(locale))
        return listed + ("; " + _("several separated by commas") if kind == "multi_choice" else "")
    return {
        "integer": _("a whole number"), "decimal": _("a number"), "date": _("YYYY-MM-DD, or an Excel date"),
        "datetime": _("YYYY-MM-DD HH:MM, or an Excel date"), "yes_no": _("yes / no (是 / 否)"),
        "phone": _("mobile (11 digits) or landline with area code"), "email": _("an e-mail address"),
        "long_text": _("text, at most %(count)d characters", count=LONG_TEXT_MAX),
    }.get(kind, _("text, at most %(count)d characters", count=TEXT_MAX))


_CUSTOM_EXAMPLES = {"integer": 1, "decimal": "12.5", "date": "2024-01-31", "datetime": "2024-01-31 09:30",
                    "yes_no": "是", "phone": "13800138000", "email": "name@example.com"}


def custom_example(definition):
    if definition.field_type in ("choice", "multi_choice"):
        options = definition.choice_list()
        return options[0][0] if options else None
    return _CUSTOM_EXAMPLES.get(definition.field_type, "")


# --- entities ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySpec:
    key: str
    model: type
    label: object
    label_plural: object
    columns: tuple[ColumnSpec, ...]
    notes: tuple = field(default_factory=tuple)


def _c(key, kind="text", **kwargs) -> ColumnSpec:
    return ColumnSpec(key=key, label=kwargs.pop("label", LABELS.get(key, key)), kind=kind, **kwargs)


CUSTOMER_COLUMNS = (
    _c("kind", "choice", choices=choices.CUSTOMER_KINDS, example="B",
       help=_l("Empty: B when a credit code or company name is given, else C")),
    _c("name", required=True, max_length=128, mask="name", example="上海示例贸易有限公司"),
    _c("phone", "phone", mask="phone", example="13800138000"),
    _c("company_name", max_length=200, example="上海示例贸易有限公司"),
    _c("credit_code", max_length=18, example="91310115MA1H7G8E3W"),
    _c("license_no", max_length=32),
    _c("industry", "choice", choices=choices.INDUSTRIES, example="retail"),
    _c("billing_mode", "choice", choices=choices.BILLING_MODES, example="monthly"),
    _c("credit_rating", "choice", choices=choices.CREDIT_RATINGS),
    _c("account_manager", "username", max_length=64),
    _c("preferred_delivery_time", "choice", choices=choices.DELIVERY_TIMES),
    _c("id_number", "id_number", mask="id_number"),
    _c("district_code", "district", example="310115"),
    _c("tags", max_length=500, help=_l("Comma separated")),
    _c("status", "choice", choices=choices.CUSTOMER_STATUSES, help=_l("Empty: active")),
    _c("source", "choice", choices=choices.SOURCE_CHANNELS, help=_l("Empty: import")),
    _c("external_id", max_length=64, example="SHOP-0001"),
    _c("marketing_opt_out", "bool"),
)

CUSTOMER_REFERENCE = _l("Customer (credit code, phone or external ID)")

CONTACT_COLUMNS = (
    _c("customer", "customer", label=CUSTOMER_REFERENCE, required=True, max_length=64,
       example="91310115MA1H7G8E3W"),
    _c("name", required=True, max_length=64, mask="name", example="张三"),
    _c("title", max_length=64, example="采购经理"),
    _c("phone", "phone", mask="phone", example="13900139000"),
    _c("email", max_length=128, mask="text", example="zhangsan@example.com"),
    _c("is_primary", "bool", example="是"),
    _c("note", max_length=2000),
)

SHIPMENT_COLUMNS = (
    _c("waybill_no", required=True, max_length=32, example="YD1234567890"),
    _c("carrier", max_length=16, help=_l("Empty: CRM")),
    _c("customer", "customer", label=CUSTOMER_REFERENCE, max_length=64, example="91310115MA1H7G8E3W"),
    _c("service_product", "choice", choices=choices.SERVICE_PRODUCTS, example="standard",
       help=_l("Empty: standard")),
    _c("weight_kg", "decimal", example="1.25"),
    _c("fee", "decimal", example="12"),
    _c("declared_value", "decimal", example="300"),
    _c("receiver_name", max_length=64, mask="name", example="李四"),
    _c("receiver_phone", "phone", mask="phone", example="13700137000"),
    _c("receiver_district_code", "district", example="440106"),
    _c("receiver_address", max_length=500, mask="text", example="天河路 1 号"),
    _c("external_order_id", max_length=64, example="TB20240131001"),
    _c("status", "choice", choices={code: s.label for code, s in STATUSES.items()}, help=_l("Empty: CREATED")),
    _c("created_at", "datetime", label=_l("Shipped at"), example="2024-01-31 09:30",
       help=_l("Empty: now; cannot be in the future")),
    _c("promised_at", "datetime", example="2024-02-02 18:00"),
)

ENTITIES: dict[str, EntitySpec] = {
    "customers": EntitySpec("customers", Customer, _l("Customer"), _l("Customers"), CUSTOMER_COLUMNS,
                            notes=(_l("A row updates an existing customer of the franchise with the same credit "
                                      "code, else the same phone, else the same external ID; empty cells keep "
                                      "the stored value. Other rows create customers."),)),
    "contacts": EntitySpec("contacts", Contact, _l("Contact"), _l("Contacts"), CONTACT_COLUMNS,
                           notes=(_l("A row updates the customer's contact with the same phone, else it adds a "
                                     "contact."),)),
    "shipments": EntitySpec("shipments", Shipment, _l("Shipment"), _l("Shipments"), SHIPMENT_COLUMNS,
                            notes=(_l("Waybill numbers must be new: one already stored, or twice in the file, is "
                                      "an error."),)),
}


def entity_choices() -> list[tuple[str, str]]:
    return [(key, str(spec.label_plural)) for key, spec in ENTITIES.items()]


def custom_columns(spec: EntitySpec, franchise_id: int | None = None) -> list[ColumnSpec]:
    """The active custom fields of the entity: of one franchise, or (no franchise) of the user's scope."""
    definitions = definitions_for(spec.model, franchise_id=franchise_id) if franchise_id \
        else definitions_for(spec.model)
    return [ColumnSpec(key=f"custom:{d.key}", label=d.label_zh, kind="custom", required=bool(d.required),
                       mask="phone" if d.field_type == "phone" else ("text" if d.field_type == "email" else None),
                       example=custom_example(d), help=d.help, definition=d)
            for d in definitions]


def columns_for(entity: str, franchise_id: int | None = None) -> list[ColumnSpec]:
    spec = ENTITIES[entity]
    return list(spec.columns) + custom_columns(spec, franchise_id)


def example_row(columns) -> list:
    return [column.example for column in columns]


# --- the template workbook -----------------------------------------------------------------------------

_TEXT_KINDS = ("phone", "id_number", "district", "customer")


def template_workbook(entity: str, locale: str, franchise_id: int | None = None, handle=None):
    """The template for `entity` as a workbook written into `handle` (a binary file), which is returned.

    Sheet 1: the header row (required columns marked " *") and an example row; sheet 2: every column with
    whether it is required, what it takes (allowed values) and its example.
    """
    import tempfile

    spec = ENTITIES[entity]
    columns = columns_for(entity, franchise_id)
    bold = Font(bold=True)
    grey = Font(italic=True, color="808080")
    workbook = Workbook(write_only=True)
    with force_locale(locale):
        data = workbook.create_sheet(sheet_title(str(spec.label_plural)))
        for index, column in enumerate(columns, start=1):
            letter = get_column_letter(index)
            data.column_dimensions[letter].width = max(12, min(40, len(column.header(locale)) * 2 + 4))
            if column.kind in _TEXT_KINDS or (column.definition is not None
                                              and column.definition.field_type == "phone"):
                data.column_dimensions[letter].number_format = "@"  # keep leading zeros and long digits
        data.append([_styled(data, column.header(locale), bold) for column in columns])
        data.append([_styled(data, value, grey, text=True) for value in example_row(columns)])

        guide = workbook.create_sheet(sheet_title(_("Instructions")))
        for letter, width in zip("ABCDE", (28, 10, 60, 24, 40)):
            guide.column_dimensions[letter].width = width
        guide.append([_styled(guide, text, bold) for text in (
            _("Column"), _("Required"), _("Allowed values"), _("Example"), _("Notes"))])
        for column in columns:
            guide.append([column.label_in(locale), _("Yes") if column.required else "",
                          column.allowed_values(locale), "" if column.example is None else str(column.example),
                          str(column.help or "")])
        guide.append([])
        for note in (_("Fill in the first sheet below its header row; keep the header row as it is (Chinese or "
                       "English headers both work, the order does not matter)."),
                     _("Row 2 is an example: overwrite or delete it. Left unchanged, it is skipped."),
                     _("Required columns are marked with *; other columns may be left out."),
                     *[str(note) for note in spec.notes]):
            guide.append([_styled(guide, note, None)])
    handle = handle or tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(handle)
    handle.seek(0)
    return handle


def _styled(sheet, value, font, text: bool = False):
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    if text and isinstance(value, str):
        cell.number_format = "@"
    return cell
