"""The placeholders a canned reply may use, and the check that refuses any other when the reply is saved."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

# name -> what it is filled with (shown to whoever writes a canned reply)
PLACEHOLDERS = {
    "customer_name": _l("the customer's name (a person's masked)"),
    "waybill_no": _l("the waybill number"),
    "due_date": _l("the ticket's resolution due time (local time)"),
    "ticket_no": _l("the ticket number"),
    "agent_name": _l("the agent's name"),
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def unknown_placeholders(text: str | None) -> list[str]:
    """The `{names}` in `text` that are not placeholders, in order of appearance, without repeats."""
    seen = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in PLACEHOLDERS and name not in seen:
            seen.append(name)
    return seen


def placeholder_problem(text: str | None) -> str | None:
    unknown = unknown_placeholders(text)
    if not unknown:
        return None
    return str(_l("unknown placeholder %(names)s; allowed: %(allowed)s",
                  names=", ".join(f"{{{name}}}" for name in unknown),
                  allowed=", ".join(f"{{{name}}}" for name in PLACEHOLDERS)))


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each known placeholder replaced; anything else (an old unknown one, a lone brace) stays."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")
