"""Why a customer is in its tier, in words: the figure the policy looked at and the cut it passed or missed.

The policy is the snapshot the run applied (TierRun.policy: measure, method, window_days, a_cut, b_cut), so
the reason stays true after the policy is edited; figures come from the customer's value row, or from a tier
history line (the figures seen when the tier changed)."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from core.extensions import db
from plugins.tiering.models import TierRun


def money(amount) -> str:
    """¥12,345 or ¥12,345.60: whole yuan without the cents."""
    amount = Decimal(str(amount or 0))
    return f"¥{amount:,.0f}" if amount == amount.to_integral_value() else f"¥{amount:,.2f}"


def _number(value) -> str:
    value = Decimal(str(value or 0))
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _percent(value) -> str:
    return f"{float(value):.1f}%"


def _policy_dict(policy) -> dict | None:
    if policy is None or isinstance(policy, dict):
        return policy
    return {name: getattr(policy, name, None) for name in ("measure", "method", "window_days", "a_cut", "b_cut")}


def run_policy(run_id) -> dict | None:
    if run_id is None:
        return None
    return db.session.scalar(select(TierRun.policy).where(TierRun.id == run_id))


def latest_policy(franchise_id) -> dict | None:
    """The policy of the franchise's last finished run: every customer's figures are as that run left them (a
    run rewrites only the rows it changes)."""
    return db.session.scalar(select(TierRun.policy).where(TierRun.franchise_id == franchise_id,
                                                          TierRun.status == "done")
                             .order_by(TierRun.id.desc()).limit(1))


def _figure_text(measure: str, figure, window_days) -> str:
    if measure == "volume":
        return _("Monthly volume %(figure)s parcels (last %(days)s days)", figure=_number(figure), days=window_days)
    return _("Monthly revenue %(figure)s (last %(days)s days)", figure=money(figure), days=window_days)


def _cut_text(measure: str, cut) -> str:
    return _number(cut) if measure == "volume" else money(cut)


def _threshold_reason(tier, measure, figure, window_days, a_cut, b_cut) -> str:
    figure_text = _figure_text(measure, figure, window_days)
    a_text, b_text = _cut_text(measure, a_cut), _cut_text(measure, b_cut)
    if tier == "A":
        return _("%(figure)s is at least the A threshold %(a)s", figure=figure_text, a=a_text)
    if tier == "B":
        return _("%(figure)s is at least the B threshold %(b)s but below the A threshold %(a)s",
                 figure=figure_text, a=a_text, b=b_text)
    return _("%(figure)s is below the B threshold %(b)s", figure=figure_text, b=b_text)


def _pareto_reason(tier, measure, share, window_days, a_cut, b_cut) -> str:
    what = _("volume") if measure == "volume" else _("revenue")
    if share is None:
        return _("No %(what)s in the last %(days)s days", what=what, days=window_days)
    a_text, b_text, share_text = _percent(a_cut), _percent(b_cut), _percent(share)
    if tier == "A":
        return _("Within the top %(a)s of %(what)s (cumulative %(share)s)", a=a_text, what=what, share=share_text)
    if tier == "B":
        return _("Within the top %(b)s of %(what)s but beyond the top %(a)s (cumulative %(share)s)",
                 a=a_text, b=b_text, what=what, share=share_text)
    return _("Beyond the top %(b)s of %(what)s (cumulative %(share)s)", b=b_text, what=what, share=share_text)


def tier_reason(value, history=None, policy=None) -> str:
    """Human text of why a customer is in its tier.

    `value` is the customer's CustomerValue (may be None when `history` is given); `history` a TierHistory line
    whose figures are used instead (the reason of that change); `policy` the policy snapshot (dict, or a
    TierPolicy), else the one of the run that computed the figures."""
    source = history if history is not None else value
    if source is None:
        return _("Not computed yet")
    tier = history.to_tier if history is not None else value.tier
    policy = _policy_dict(policy) or (run_policy(history.run_id) if history is not None
                                      else latest_policy(value.franchise_id)) or {}
    measure = policy.get("measure") or (history.measure if history is not None else None) or "revenue"
    method = policy.get("method") or (history.method if history is not None else None) or "pareto"
    window_days = policy.get("window_days") or "?"
    if tier is None:
        return _("No tier: no shipments in the last %(days)s days", days=window_days)
    a_cut, b_cut = policy.get("a_cut"), policy.get("b_cut")
    if a_cut is None or b_cut is None:
        return _("Tier %(tier)s", tier=tier)
    if history is not None:
        figure, share = history.value, history.share
    else:
        figure = value.monthly_volume if measure == "volume" else value.monthly_revenue
        share = value.tier_share
    if method == "threshold":
        return _threshold_reason(tier, measure, figure, window_days, a_cut, b_cut)
    return _pareto_reason(tier, measure, share, window_days, a_cut, b_cut)
