"""How the desk screens show tickets: local times, choice labels, the due time a queue sorts by and its badges.

The database keeps naive UTC; agents read and type the network's local time (`CRM_TIMEZONE`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from core.clock import to_local, utcnow
from core.models.choices import label as choice_label
from plugins.tickets import choices
from plugins.tickets.models import Ticket

# the plugin's templates (tickets/...): FAB gives each view a blueprint, whose template folder this is
STATIC_FOLDER = str(Path(__file__).resolve().parent / "static")


def local_time(value: datetime | None, seconds: bool = False) -> str:
    """A stored (naive UTC) time as the agent reads it."""
    if value is None:
        return ""
    return to_local(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def label(kind: str, code) -> str:
    """The translated label of a ticket choice: kind is one of type, category, priority, channel, status,
    resolution, reporter_role, event."""
    options = {"type": choices.TYPES, "category": choices.CATEGORIES, "priority": choices.PRIORITIES,
               "channel": choices.CHANNELS, "status": choices.STATUSES, "resolution": choices.RESOLUTION_CODES,
               "reporter_role": choices.REPORTER_ROLES, "event": choices.EVENT_KINDS}[kind]
    return choice_label(options, code)


def overdue_condition(now: datetime):
    """Open, running clock, and the next due time passed (first response not given in time, or resolution late)."""
    return Ticket.next_due_at < now


def is_overdue(due: datetime | None, paused: bool, is_open: bool = True, now: datetime | None = None) -> bool:
    return bool(is_open and not paused and due is not None and due < (now or utcnow()))
