"""Time as the database stores it (naive UTC), and the network's local time (what staff type and read)."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def network_zone() -> ZoneInfo:
    """`CRM_TIMEZONE` (Asia/Shanghai by default): the zone staff work in."""
    return ZoneInfo(current_app.config.get("CRM_TIMEZONE", "Asia/Shanghai") if has_app_context() else "Asia/Shanghai")


def local_now() -> datetime:
    """Now in the network's zone, naive."""
    return datetime.now(network_zone()).replace(tzinfo=None)


def to_local(value: datetime | None) -> datetime | None:
    """A stored (naive UTC) time in the network's zone, naive."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(network_zone()).replace(tzinfo=None)
