"""Time as the database stores it (naive UTC), and the network's local time (what staff type and read)."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def local_now() -> datetime:
    """Now in `CRM_TIMEZONE` (Asia/Shanghai by default), naive."""
    name = current_app.config.get("CRM_TIMEZONE", "Asia/Shanghai") if has_app_context() else "Asia/Shanghai"
    return datetime.now(ZoneInfo(name)).replace(tzinfo=None)
