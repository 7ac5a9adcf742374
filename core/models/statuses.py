"""The canonical shipment status vocabulary (domain.md 1.7): every provider code maps onto one of these.

A status is an exception when it needs someone's attention, terminal when the parcel's journey is over.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Status:
    code: str
    label: object
    is_exception: bool = False
    is_terminal: bool = False


STATUSES: dict[str, Status] = {s.code: s for s in (
    Status("CREATED", _l("Awaiting pickup")),
    Status("PICKED_UP", _l("Picked up")),
    Status("IN_TRANSIT", _l("In transit")),
    Status("ARRIVED_DEST", _l("Arrived at destination")),
    Status("OUT_FOR_DELIVERY", _l("Out for delivery")),
    Status("HELD_AT_STATION", _l("Held at locker or station")),
    Status("DELIVERED", _l("Delivered"), is_terminal=True),
    Status("FAILED_ATTEMPT", _l("Failed delivery attempt"), is_exception=True),
    Status("REFUSED", _l("Refused"), is_exception=True),
    Status("RETURNING", _l("Returning to sender"), is_exception=True),
    Status("RETURNED", _l("Returned to sender"), is_exception=True, is_terminal=True),
    Status("DELAYED", _l("Delayed / no update"), is_exception=True),
    Status("DAMAGED", _l("Damaged"), is_exception=True),
    Status("LOST", _l("Lost"), is_exception=True, is_terminal=True),
    Status("ADDRESS_PROBLEM", _l("Address problem / out of area"), is_exception=True),
    Status("LOCKER_OVERDUE", _l("Not collected from locker"), is_exception=True),
    Status("CANCELLED", _l("Cancelled / intercepted"), is_terminal=True),
)}

EXCEPTION_STATUSES = frozenset(code for code, s in STATUSES.items() if s.is_exception)
TERMINAL_STATUSES = frozenset(code for code, s in STATUSES.items() if s.is_terminal)


def status_label(code: str | None) -> str:
    status = STATUSES.get(code or "")
    return str(status.label) if status is not None else (code or "")


def status_choices() -> list[tuple[str, str]]:
    return [(code, str(s.label)) for code, s in STATUSES.items()]
