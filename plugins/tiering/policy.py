"""Tier policies: which one is in force for a franchise (its own, else HQ's, else the built-in default), what is
wrong with a proposed one, and saving it without ever leaving a half-valid policy in force."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from plugins.tiering.models import TIERS, TierPolicy, TierServiceLevel

MEASURES = {"volume": _l("Parcels per month"), "revenue": _l("Freight revenue per month")}
METHODS = {"threshold": _l("Thresholds (monthly figure)"), "pareto": _l("Pareto (cumulative share, %)")}
TICKET_PRIORITIES = {"urgent": _l("Urgent"), "high": _l("High"), "normal": _l("Normal"), "low": _l("Low")}
TIER_LABELS = {"A": _l("A: core value"), "B": _l("B: steady growth"), "C": _l("C: general")}
MAX_WINDOW_DAYS = 730
# what a network gets before HQ saves a policy: domain.md 3's ABC cut-offs on revenue over a quarter
DEFAULT = {"measure": "revenue", "method": "pareto", "window_days": 90, "a_cut": 80.0, "b_cut": 95.0,
           "rfm_window_days": 365}
DEFAULT_LEVELS = {
    "A": {"callback_days": 14, "dedicated_manager": True, "ticket_priority": "high", "sla_policy_name": None},
    "B": {"callback_days": 30, "dedicated_manager": False, "ticket_priority": None, "sla_policy_name": None},
    "C": {"callback_days": None, "dedicated_manager": False, "ticket_priority": None, "sla_policy_name": None},
}


def stored_policy(franchise_id: int | None) -> TierPolicy | None:
    """The franchise's own row (None: HQ's row)."""
    column = TierPolicy.franchise_id
    where = column.is_(None) if franchise_id is None else column == franchise_id
    return db.session.scalar(select(TierPolicy).where(where))


def policy_in_force(franchise_id: int) -> TierPolicy | None:
    """The row that decides `franchise_id`'s tiers: its own, else HQ's; None means the built-in default."""
    return stored_policy(franchise_id) or stored_policy(None)


def snapshot(policy: TierPolicy | None) -> dict:
    """The policy as plain values: what a run applies and records (and a dry run compares against)."""
    if policy is None:
        return dict(DEFAULT)
    return {"measure": policy.measure, "method": policy.method, "window_days": policy.window_days,
            "a_cut": float(policy.a_cut), "b_cut": float(policy.b_cut), "rfm_window_days": policy.rfm_window_days,
            "source": "franchise" if policy.franchise_id is not None else "hq"}


def levels_of(policy: TierPolicy | None) -> dict[str, dict]:
    if policy is None:
        return {tier: dict(values) for tier, values in DEFAULT_LEVELS.items()}
    stored = {level.tier: level for level in policy.levels}
    return {tier: ({"callback_days": stored[tier].callback_days, "dedicated_manager": stored[tier].dedicated_manager,
                    "ticket_priority": stored[tier].ticket_priority, "sla_policy_name": stored[tier].sla_policy_name}
                   if tier in stored else dict(DEFAULT_LEVELS[tier])) for tier in TIERS}


# --- checking ------------------------------------------------------------------------------------------


def _whole_days(values: dict, name: str, errors: dict) -> int | None:
    raw = values.get(name)
    try:
        days = int(str(raw).strip())
        if str(raw).strip() != str(days):
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = _("a whole number of days is needed")
        return None
    if days < 1:
        errors[name] = _("the window must be at least 1 day")
    elif days > MAX_WINDOW_DAYS:
        errors[name] = _("the window can be at most %(days)d days", days=MAX_WINDOW_DAYS)
    return days


def _cut(values: dict, name: str, errors: dict) -> Decimal | None:
    try:
        number = Decimal(str(values.get(name)).strip())
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors[name] = _("a number is needed")
        return None
    if number <= 0:
        errors[name] = _("must be greater than 0")
    return number


def _check_cuts(method: str, a_cut, b_cut, errors: dict) -> None:
    if a_cut is None or b_cut is None or "a_cut" in errors or "b_cut" in errors:
        return
    if method == "threshold":
        if a_cut == b_cut:
            errors["b_cut"] = _("A and B thresholds overlap: B's must be lower than A's")
        elif b_cut > a_cut:
            errors["b_cut"] = _("thresholds are inverted: B's (%(b)s) must be lower than A's (%(a)s)", a=a_cut, b=b_cut)
    else:
        if a_cut > 100:
            errors["a_cut"] = _("a cumulative share cannot exceed 100%")
        if b_cut > 100:
            errors["b_cut"] = _("a cumulative share cannot exceed 100%")
        elif b_cut <= a_cut:
            errors["b_cut"] = _("cumulative shares must increase: B's (%(b)s%%) must be above A's (%(a)s%%)",
                                a=a_cut, b=b_cut)


def _check_levels(levels, errors: dict) -> dict[str, dict]:
    cleaned = {}
    if levels is None:
        return cleaned
    if not isinstance(levels, dict):
        errors["levels"] = _("service levels must be given per tier (A, B, C)")
        return cleaned
    for tier, level in levels.items():
        if tier not in TIERS or not isinstance(level, dict):
            errors["levels"] = _("unknown tier %(tier)s: tiers are A, B and C", tier=str(tier)[:8])
            continue
        days = level.get("callback_days")
        if days in ("", None):
            days = None
        else:
            try:
                days = int(str(days).strip())
                if days < 1:
                    raise ValueError
            except ValueError:
                errors[f"levels.{tier}.callback_days"] = _("a whole number of days, at least 1 (or empty)")
                continue
        priority = level.get("ticket_priority") or None
        if priority is not None and priority not in TICKET_PRIORITIES:
            errors[f"levels.{tier}.ticket_priority"] = _("not one of: %(values)s", values=", ".join(TICKET_PRIORITIES))
            continue
        name = (level.get("sla_policy_name") or "").strip() or None
        if name is not None and len(name) > 100:
            errors[f"levels.{tier}.sla_policy_name"] = _("at most 100 characters")
            continue
        cleaned[tier] = {"callback_days": days, "dedicated_manager": bool(level.get("dedicated_manager")),
                         "ticket_priority": priority, "sla_policy_name": name}
    return cleaned


def check_policy(values: dict) -> tuple[dict | None, dict[str, str]]:
    """(the policy's plain values, {}) or (None, {field: message}) for a proposed policy."""
    errors: dict[str, str] = {}
    measure, method = values.get("measure"), values.get("method")
    if measure not in MEASURES:
        errors["measure"] = _("not one of: %(values)s", values=", ".join(MEASURES))
    if method not in METHODS:
        errors["method"] = _("not one of: %(values)s", values=", ".join(METHODS))
    window = _whole_days(values, "window_days", errors)
    rfm_window = _whole_days({**DEFAULT, **values}, "rfm_window_days", errors)
    a_cut, b_cut = _cut(values, "a_cut", errors), _cut(values, "b_cut", errors)
    if method in METHODS:
        _check_cuts(method, a_cut, b_cut, errors)
    levels = _check_levels(values.get("levels"), errors)
    if errors:
        return None, errors
    return {"measure": measure, "method": method, "window_days": window, "a_cut": float(a_cut),
            "b_cut": float(b_cut), "rfm_window_days": rfm_window, "levels": levels}, {}


def save_policy(franchise_id: int | None, values: dict, user_id: int | None = None):
    """Store a checked policy (None: HQ's default) and queue the recompute of the franchises it decides.
    Returns (policy row, {}) or (None, errors) with nothing changed. The caller commits."""
    from plugins.tiering.recompute import request_recompute

    cleaned, errors = check_policy(values)
    if errors:
        return None, errors
    policy = stored_policy(franchise_id) or TierPolicy(franchise_id=franchise_id)
    for name in ("measure", "method", "window_days", "a_cut", "b_cut", "rfm_window_days"):
        setattr(policy, name, cleaned[name])
    policy.updated_by_id = user_id
    stored = {level.tier: level for level in policy.levels}
    for tier, level in cleaned["levels"].items():
        row = stored.get(tier) or TierServiceLevel(tier=tier)
        for name, value in level.items():
            setattr(row, name, value)
        if tier not in stored:
            policy.levels.append(row)
    db.session.add(policy)
    db.session.flush()
    for affected in franchises_decided_by(franchise_id):
        request_recompute(affected, user_id=user_id, trigger="policy")
    return policy, {}


def franchises_with_tiering() -> list[int]:
    """Every active franchise where the plugin is on: what an HQ row (policy, rule, segment) may change."""
    from core.plugins import registry
    from core.tenancy import Franchise

    on = registry().active_franchises("tiering")
    ids = db.session.scalars(select(Franchise.id).where(Franchise.active.is_(True)).order_by(Franchise.id))
    return [fid for fid in ids if fid in on]


def franchises_decided_by(franchise_id: int | None) -> list[int]:
    """The franchises whose tiers a policy row decides: itself, or (HQ's) every one without a policy of its own."""
    if franchise_id is not None:
        return [franchise_id]
    own = set(db.session.scalars(select(TierPolicy.franchise_id).where(TierPolicy.franchise_id.is_not(None))))
    return [fid for fid in franchises_with_tiering() if fid not in own]
