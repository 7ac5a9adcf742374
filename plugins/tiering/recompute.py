"""The recompute of one franchise, inside the database: a handful of set-based statements whatever the number of
customers, the same on PostgreSQL and SQLite.

1. Figures per customer: one aggregate over the franchise's shipments of the longer window.
2. Tier (thresholds on the monthly figure, or cumulative share by a window sum), R/F/M quintile scores (by rank
   within the franchise, ties share a score) and the RFM segment: window functions in the same SELECT, written
   with one INSERT ... ON CONFLICT DO UPDATE that leaves unchanged rows alone.
3. History and `tier.changed` events for the rows whose tier this run changed (INSERT ... SELECT each).
4. Figures other plugins contribute, then each tag rule's tags (one DELETE and one INSERT per rule).

A dry run evaluates step 2's tier for a proposed policy and counts the moves, writing nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import Numeric, String, and_, case, cast, delete, func, insert, literal, not_, or_, select, text, update

from core import jobs
from core.clock import utcnow
from core.events import emit_from_select
from core.extensions import db, dialect_insert, sql_json_object
from core.models import Customer, Shipment
from core.tenancy import Scope, scope_as
from plugins.tiering.fields import catalogue, check_conditions, conditions_clause, customers_base, declared_metrics
from plugins.tiering.models import CustomerMetric, CustomerTag, CustomerValue, TagRule, TierHistory, TierRun
from plugins.tiering.policy import policy_in_force, snapshot
from plugins.tiering.rfm import segment_case

log = logging.getLogger(__name__)

RETURN_STATUSES = ("RETURNING", "RETURNED")
# a cancelled waybill was never carried: it is neither volume nor revenue
NOT_CARRIED = ("CANCELLED",)
NONE = "none"  # how a first tier's "from" is named in a run's movement counts


def _exception_statuses():
    from core.models.statuses import EXCEPTION_STATUSES

    return tuple(sorted(EXCEPTION_STATUSES))


def _shipment_figures(franchise_id: int, policy: dict, now):
    """Per customer: the tier window's volume and revenue, the RFM window's figures, the last shipment."""
    tier_since = now - timedelta(days=policy["window_days"])
    rfm_since = now - timedelta(days=policy["rfm_window_days"])
    fee = func.coalesce(Shipment.fee, 0)
    in_tier = Shipment.created_at >= tier_since
    in_rfm = Shipment.created_at >= rfm_since

    def total(condition, value=1):
        return func.sum(case((condition, value), else_=0))

    return (select(Shipment.customer_id.label("customer_id"),
                   total(in_tier).label("volume"), total(in_tier, fee).label("revenue"),
                   total(in_rfm).label("frequency"), total(in_rfm, fee).label("monetary"),
                   total(and_(in_rfm, Shipment.status.in_(RETURN_STATUSES))).label("returned"),
                   total(and_(in_rfm, Shipment.status.in_(_exception_statuses()))).label("exceptions"),
                   func.max(Shipment.created_at).label("last_shipment_at"))
            .where(Shipment.franchise_id == franchise_id, Shipment.customer_id.is_not(None),
                   Shipment.created_at >= min(tier_since, rfm_since), Shipment.status.not_in(NOT_CARRIED))
            .group_by(Shipment.customer_id)
            .cte("shipment_figures"))


def _quintile(order_by, scored):
    """1-5 by rank among the scored customers (ties share the lower score): 1 + floor(5 * (rank - 1) / n),
    in integers so both databases agree."""
    ranked = func.rank().over(partition_by=scored, order_by=order_by)
    count = func.count().over(partition_by=scored)
    return case((scored, 1 + (5 * (ranked - 1)) // count), else_=None)


def _tier(policy: dict, measure, monthly):
    """The tier column and the cumulative share column (Pareto; NULL for thresholds) of `measure`."""
    a_cut, b_cut = policy["a_cut"], policy["b_cut"]
    if policy["method"] == "threshold":
        tier = case((monthly >= a_cut, "A"), (monthly >= b_cut, "B"), else_="C")
        return tier, literal(None, Numeric)
    running = func.sum(measure).over(order_by=(measure.desc(), Customer.id), rows=(None, 0))
    whole = func.sum(measure).over()
    share = case((measure > 0, running * 100.0 / whole), else_=None)
    tier = case((measure <= 0, "C"), (share <= a_cut + 1e-9, "A"), (share <= b_cut + 1e-9, "B"), else_="C")
    return tier, share


def _values_select(franchise_id: int, policy: dict, now):
    """Every counted customer of the franchise with the columns of its CustomerValue row as this run sees it."""
    figures = _shipment_figures(franchise_id, policy, now)
    volume = func.coalesce(figures.c.volume, 0)
    revenue = func.coalesce(figures.c.revenue, 0)
    monthly_volume = volume * 30.0 / policy["window_days"]
    monthly_revenue = revenue * 30.0 / policy["window_days"]
    frequency = func.coalesce(figures.c.frequency, 0)
    monetary = func.coalesce(figures.c.monetary, 0)
    # a customer quiet for longer than the window keeps the last shipment an earlier run saw
    last = func.coalesce(figures.c.last_shipment_at, CustomerValue.last_shipment_at)
    scored = last.is_not(None)
    measure = volume if policy["measure"] == "volume" else revenue
    tier, share = _tier(policy, measure, monthly_volume if policy["measure"] == "volume" else monthly_revenue)
    inner = (customers_base(
        Customer.id.label("customer_id"), literal(franchise_id).label("franchise_id"),
        volume.label("volume"), revenue.label("revenue"),
        cast(monthly_volume, Numeric(12, 2)).label("monthly_volume"),
        cast(monthly_revenue, Numeric(14, 2)).label("monthly_revenue"),
        frequency.label("frequency"), monetary.label("monetary"),
        func.coalesce(figures.c.returned, 0).label("returned"),
        func.coalesce(figures.c.exceptions, 0).label("exceptions"),
        last.label("last_shipment_at"),
        _quintile(last, scored).label("r_score"), _quintile(frequency, scored).label("f_score"),
        _quintile(monetary, scored).label("m_score"),
        tier.label("tier"), cast(share, Numeric(7, 3)).label("tier_share"),
        CustomerValue.tier.label("old_tier"), franchise_id=franchise_id)
        .outerjoin(figures, figures.c.customer_id == Customer.id)
        .subquery("computed"))
    segment = segment_case(inner.c.r_score, inner.c.f_score, inner.c.m_score)
    return inner, segment


VALUE_COLUMNS = ("volume", "revenue", "monthly_volume", "monthly_revenue", "frequency", "monetary", "returned",
                 "exceptions", "last_shipment_at", "r_score", "f_score", "m_score", "rfm_segment", "tier",
                 "tier_share")


def _write_values(franchise_id: int, policy: dict, now, run_id: int) -> None:
    inner, segment = _values_select(franchise_id, policy, now)
    rows = select(inner.c.customer_id, inner.c.franchise_id,
                  *(segment.label(name) if name == "rfm_segment" else inner.c[name] for name in VALUE_COLUMNS),
                  literal(now).label("tier_since"), literal(run_id).label("changed_run_id")
                  ).where(inner.c.customer_id.is_not(None))  # SQLite needs a WHERE before ON CONFLICT
    names = ["customer_id", "franchise_id", *VALUE_COLUMNS, "tier_since", "changed_run_id"]
    statement = dialect_insert(CustomerValue.__table__).from_select(names, rows)
    table, new = CustomerValue.__table__, statement.excluded
    moved = table.c.tier.is_distinct_from(new.tier)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={**{name: new[name] for name in VALUE_COLUMNS},
              "tier_since": case((moved, new.tier_since), else_=table.c.tier_since),
              "previous_tier": case((moved, table.c.tier), else_=table.c.previous_tier),
              "changed_run_id": case((moved, new.changed_run_id), else_=table.c.changed_run_id)},
        # an unchanged customer is not rewritten: the nightly run touches only what moved
        where=or_(*(table.c[name].is_distinct_from(new[name]) for name in VALUE_COLUMNS)))
    db.session.execute(statement)


def _forget_gone_customers(franchise_id: int) -> None:
    gone = select(Customer.id).where(Customer.franchise_id == franchise_id,
                                     or_(Customer.merged_into_id.is_not(None), Customer.erased_at.is_not(None)))
    db.session.execute(delete(CustomerValue).where(CustomerValue.franchise_id == franchise_id,
                                                   CustomerValue.customer_id.in_(gone)))
    db.session.execute(delete(CustomerTag).where(CustomerTag.franchise_id == franchise_id,
                                                 CustomerTag.customer_id.in_(gone)))


def _write_history(franchise_id: int, policy: dict, run_id: int, now) -> None:
    """A history line and a `tier.changed` event per customer this run moved; a customer's first tier is
    neither (its row's `tier_since` says when; a first run over a million customers writes no million lines)."""
    value = CustomerValue
    measure = value.monthly_volume if policy["measure"] == "volume" else value.monthly_revenue
    moved = and_(value.franchise_id == franchise_id, value.changed_run_id == run_id, value.previous_tier.is_not(None))
    changed = select(value.customer_id, literal(franchise_id), literal(run_id), value.previous_tier, value.tier,
                     literal(now), literal(policy["measure"]), literal(policy["method"]), measure,
                     value.tier_share).where(moved)
    db.session.execute(insert(TierHistory).from_select(
        ["customer_id", "franchise_id", "run_id", "from_tier", "to_tier", "changed_at", "measure", "method", "value",
         "share"], changed))
    payload = select(sql_json_object(
        event_id=literal(f"tier-{run_id}-") + cast(value.customer_id, String),
        customer_id=value.customer_id, from_tier=value.previous_tier, to_tier=value.tier,
        run_id=literal(run_id), measure=literal(policy["measure"]), method=literal(policy["method"]))).where(moved)
    emit_from_select("tier.changed", franchise_id, payload)


def _refresh_metrics(franchise_id: int, now) -> None:
    metrics = declared_metrics(franchise_id)
    keys = [metric.key for metric in metrics]
    db.session.execute(delete(CustomerMetric).where(CustomerMetric.franchise_id == franchise_id,
                                                    CustomerMetric.key.not_in(keys)))
    for metric in metrics:
        db.session.execute(delete(CustomerMetric).where(CustomerMetric.franchise_id == franchise_id,
                                                        CustomerMetric.key == metric.key))
        source = metric.query(franchise_id, now - timedelta(days=metric.window_days)).subquery()
        customer_id, value = list(source.c)[:2]
        rows = select(customer_id, literal(metric.key), value, literal(franchise_id)).where(value != 0)
        db.session.execute(insert(CustomerMetric).from_select(["customer_id", "key", "value", "franchise_id"],
                                                              rows))


def rules_in_force(franchise_id: int) -> list[TagRule]:
    """The franchise's active rules, and HQ's active rules for tags the franchise does not define itself."""
    rules = db.session.scalars(select(TagRule).where(
        or_(TagRule.franchise_id == franchise_id, TagRule.franchise_id.is_(None)))
        .order_by(TagRule.franchise_id.is_(None), TagRule.id)).all()
    chosen, seen = [], set()
    for rule in rules:
        if rule.tag not in seen:
            seen.add(rule.tag)
            if rule.active:
                chosen.append(rule)
    return chosen


def _apply_tag_rules(franchise_id: int, now) -> list[str]:
    """Give and take each rule's tags; returns problems of rules that no longer check (their tags stay)."""
    problems = []
    rules = rules_in_force(franchise_id)
    fields = catalogue(franchise_id)
    kept_ids = [rule.id for rule in rules]
    db.session.execute(delete(CustomerTag).where(CustomerTag.franchise_id == franchise_id,
                                                 CustomerTag.rule_id.not_in(kept_ids)))
    for rule in rules:
        conditions, problem = check_conditions(rule.conditions, franchise_id)
        if problem:
            problems.append(f"{rule.tag}: {problem}")
            kept_ids.remove(rule.id)
            continue
        matches = conditions_clause(conditions, fields)
        still = customers_base(Customer.id, franchise_id=franchise_id).where(
            Customer.id == CustomerTag.customer_id, matches).exists()
        db.session.execute(delete(CustomerTag).where(CustomerTag.franchise_id == franchise_id,
                                                     CustomerTag.rule_id == rule.id, not_(still)))
        db.session.execute(update(CustomerTag).where(CustomerTag.rule_id == rule.id, CustomerTag.tag != rule.tag,
                                                     CustomerTag.franchise_id == franchise_id)
                           .values(tag=rule.tag))
        has = select(CustomerTag.id).where(CustomerTag.rule_id == rule.id,
                                           CustomerTag.customer_id == Customer.id).exists()
        new = customers_base(Customer.id, literal(rule.id), literal(rule.tag), literal(franchise_id), literal(now),
                             franchise_id=franchise_id).where(matches, not_(has))
        db.session.execute(insert(CustomerTag).from_select(
            ["customer_id", "rule_id", "tag", "franchise_id", "since"], new))
    return problems


def _summarise(run: TierRun) -> None:
    value = CustomerValue
    counts = dict(db.session.execute(select(value.tier, func.count()).where(value.franchise_id == run.franchise_id)
                                     .group_by(value.tier)).all())
    run.tier_counts = {tier: counts.get(tier, 0) for tier in ("A", "B", "C")}
    run.customers = sum(counts.values())
    moves = db.session.execute(select(TierHistory.from_tier, TierHistory.to_tier, func.count())
                               .where(TierHistory.run_id == run.id)
                               .group_by(TierHistory.from_tier, TierHistory.to_tier)).all()
    first = db.session.execute(select(value.tier, func.count()).where(
        value.franchise_id == run.franchise_id, value.changed_run_id == run.id, value.previous_tier.is_(None))
        .group_by(value.tier)).all()
    run.movement = {**{f"{NONE}>{tier}": count for tier, count in first},
                    **{f"{old}>{new}": count for old, new, count in moves}}
    run.changed = sum(count for _old, _new, count in moves)


def _tune_session() -> None:
    """PostgreSQL, this transaction only: room for the window sorts in memory rather than on disk, and no JIT
    compiling (it costs more than it saves on these one-off plans). Both measured in bench/tiering_speed.py."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
        db.session.execute(text("SET LOCAL jit = off"))


def recompute(franchise_id: int, trigger: str = "manual", user_id: int | None = None) -> TierRun:
    """Recompute every customer of the franchise and commit; the run row says how it went (failed runs too)."""
    policy = snapshot(policy_in_force(franchise_id))
    run = TierRun(franchise_id=franchise_id, trigger=trigger, policy=policy, user_id=user_id, status="running")
    db.session.add(run)
    db.session.commit()  # visible while it works, and kept when the work fails
    run_id, started, now = run.id, time.perf_counter(), utcnow()
    try:
        with scope_as(Scope(False, frozenset({franchise_id}))):
            _tune_session()
            _forget_gone_customers(franchise_id)
            _write_values(franchise_id, policy, now, run_id)
            _write_history(franchise_id, policy, run_id, now)
            _refresh_metrics(franchise_id, now)
            problems = _apply_tag_rules(franchise_id, now)
            run = db.session.get(TierRun, run_id)
            _summarise(run)
            run.error = "; ".join(problems)[:500] or None
            run.status, run.finished_at = "done", utcnow()
            run.seconds = round(time.perf_counter() - started, 3)
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("tier recompute of franchise %s failed", franchise_id)
        run = db.session.get(TierRun, run_id)
        run.status, run.finished_at, run.error = "failed", utcnow(), str(exc)[:500]
        run.seconds = round(time.perf_counter() - started, 3)
        db.session.commit()
        raise
    return run


def dry_run(franchise_id: int, policy: dict) -> dict[str, int]:
    """How many customers would move between tiers under `policy` (checked values): {"A>B": n, "none>C": n,
    "A>A": n, ...}, the stay-puts included so the screen can show the whole matrix. Writes nothing."""
    with scope_as(Scope(False, frozenset({franchise_id}))):
        inner, _segment = _values_select(franchise_id, policy, utcnow())
        rows = db.session.execute(select(inner.c.old_tier, inner.c.tier, func.count())
                                  .group_by(inner.c.old_tier, inner.c.tier)).all()
    return {f"{old or NONE}>{new}": count for old, new, count in rows}


def request_recompute(franchise_id: int, user_id: int | None = None, trigger: str = "manual"):
    """Queue a recompute of the franchise (runs after the caller's commit)."""
    from plugins.tiering.jobs import recompute_job

    return jobs.enqueue(recompute_job, franchise_id, trigger, user_id, queue="low", franchise_id=franchise_id,
                        user_id=user_id)
