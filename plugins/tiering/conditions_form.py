"""The condition builder's server side, shared by the tag rule and segment forms.

A form posts one row per condition as `cond-<n>-field`, `cond-<n>-op` and `cond-<n>-value` (a choice field
posts several values); `read_conditions` turns those rows into the conditions list and checks it with
`fields.check_conditions`, `rows_for_form` turns a stored list back into rows, and `field_options` is what
the page's script needs to offer the right operators and value input for each field.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from core.extensions import db
from core.tenancy import Franchise, may_write, model_scope
from plugins.tiering.fields import GROUPS, OP_LABELS, Field, catalogue, check_conditions

ROW_FIELD = re.compile(r"^cond-(\d+)-field$")
# how the value is typed in: a number, yes/no, a multi-select of labelled codes, one of a few codes, or text
INPUTS = {"number": "number", "days": "number", "bool": "bool", "choice": "multi", "text": "text", "prefix": "text"}


def input_of(field: Field) -> str:
    if field.kind == "tag":
        return "single" if field.options else "text"  # a multi-choice custom field offers its codes
    return INPUTS[field.kind]


def field_options(fields: dict[str, Field]) -> list[dict]:
    """The fields grouped as GROUPS orders them, each with its operators and value input (plain JSON)."""
    groups = []
    for group, label in GROUPS.items():
        members = [f for f in fields.values() if f.group == group]
        if members:
            groups.append({"group": group, "label": str(label), "fields": [{
                "key": f.key, "label": str(f.label), "input": input_of(f),
                "ops": [[op, str(OP_LABELS.get(op, op))] for op in f.ops],
                "options": [[str(code), str(text)] for code, text in f.options.items()]} for f in members]})
    return groups


def read_rows(form, fields: dict[str, Field]) -> list[dict]:
    """The posted rows in their order, blank rows (no field chosen) left out; values as typed."""
    indices = sorted({int(match.group(1)) for key in form.keys() if (match := ROW_FIELD.match(key))})
    rows = []
    for index in indices:
        key = (form.get(f"cond-{index}-field") or "").strip()
        if not key:
            continue
        field = fields.get(key)
        if field is not None and field.kind == "choice":
            value = [v for v in form.getlist(f"cond-{index}-value") if v]
        else:
            value = (form.get(f"cond-{index}-value") or "").strip()
        rows.append({"field": key, "op": form.get(f"cond-{index}-op") or "", "value": value})
    return rows


def read_conditions(form, franchise_id: int | None, for_segments: bool = False, required: bool = False):
    """(checked conditions, None, rows) or (None, message, rows as posted, to show them again)."""
    fields = catalogue(franchise_id, for_segments)
    rows = read_rows(form, fields)
    if required and not rows:
        return None, _("conditions: add at least one condition"), rows
    conditions, message = check_conditions(rows, franchise_id, for_segments)
    return conditions, message, rows


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def rows_for_form(conditions) -> list[dict]:
    """Stored (or posted) conditions as the builder shows them: choice values a list, the rest a string."""
    rows = []
    for condition in conditions or []:
        if not isinstance(condition, dict):
            continue
        value = condition.get("value")
        value = [str(v) for v in value] if isinstance(value, list) else _shown(value)
        rows.append({"field": str(condition.get("field") or ""), "op": str(condition.get("op") or ""),
                     "value": value})
    return rows


def builder_context(fields: dict[str, Field], rows: list[dict]) -> dict:
    """What the builder template needs: the grouped options (also given to the script), a lookup by key
    for rendering the rows server-side, and the rows."""
    groups = field_options(fields)
    return {"groups": groups, "by_key": {f["key"]: f for group in groups for f in group["fields"]}, "rows": rows}


def fields_for(franchise_id: int | None, for_segments: bool = False) -> list[dict]:
    """The grouped options of a franchise's (None: HQ's) catalogue: what the page fetches when the franchise
    of the rule or segment being edited changes."""
    return field_options(catalogue(franchise_id, for_segments))


# --- the franchise a rule or segment belongs to (its catalogue depends on it) ------------------------------


def franchise_choices(model) -> list[tuple[str, str]]:
    """Where the current user may put a row of `model`: "" (HQ, every franchise) for HQ, then the franchises
    of the user's scope where the plugin is active."""
    choices = [("", _("HQ (all franchises)"))] if may_write(model, None) else []
    query = select(Franchise.id, Franchise.name, Franchise.code).order_by(Franchise.code)
    rows = db.session.execute(model_scope(model).restrict(query, Franchise.id)).all()
    return choices + [(str(fid), f"{name} ({code})") for fid, name, code in rows]


class FranchiseChoiceError(ValueError):
    pass


def read_franchise(raw, model) -> int | None:
    """The franchise a posted row is for: None is HQ's (HQ only); an empty choice by someone working in one
    franchise means that franchise. Raises FranchiseChoiceError with the message for the form."""
    if raw in (None, ""):
        if may_write(model, None):
            return None
        scope = model_scope(model)
        if not scope.all and len(scope.franchise_ids) == 1:
            return next(iter(scope.franchise_ids))
        raise FranchiseChoiceError(_("franchise: choose a franchise"))
    try:
        franchise_id = int(raw)
    except (TypeError, ValueError):
        raise FranchiseChoiceError(_("franchise: no such franchise")) from None
    if isinstance(raw, bool) or not may_write(model, franchise_id):
        raise FranchiseChoiceError(_("franchise: no such franchise"))
    return franchise_id


def franchise_label(franchise) -> str:
    return f"{franchise.name} ({franchise.code})" if franchise is not None else _("HQ (all franchises)")
