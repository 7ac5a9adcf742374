"""Speed and memory of the tier recompute at 1,000,000 customers and 10,000,000 shipments on PostgreSQL (issue 6).

    .venv/bin/python -m bench.tiering_speed [--only baseline,recompute,orm,memory] [--customers 1000000]
        [--shipments 10000000] [--rebuild] [--orm-slice 10000] [--policy pareto|threshold] [--explain]
        [--redis-url redis://127.0.0.1:6379/0] [--small-customers 100000] [--small-shipments 1000000]

Data: bench/tiering_data.py (`crm_bench_tiering`; made on the first run in a few minutes and reused). HQ gets
five tag rules in the condition language of plugins/tiering/fields.py (high value, monthly settlement, price
sensitive, high return rate, complaint sensitive) and, with --policy threshold, a threshold policy (default: no
HQ row, so the built-in Pareto policy on revenue over 90 days, RFM over 365 days). Every figure is taken in the
same run, in this order, one thing at a time:

1. **baseline**: the bare SQL job: per franchise one aggregate over the franchise's shipments in the
   recompute's widest window (count, sum(fee), max(created_at) per customer; the same filters: franchise,
   a customer, not cancelled) and one UPDATE writing them into a table with one row per counted customer
   (`bench_tr_baseline`, keyed by customer, filled beforehand with zeros), skipping rows whose figures did
   not change (`IS DISTINCT FROM`, as the recompute does), one commit per franchise. Pass 1 ("cold") writes
   every customer with shipments: the work of a first recompute; pass 2 ("steady") finds nothing changed: the
   nightly case. Plain psycopg, no ORM.
2. **recompute**: `plugins.tiering.recompute.recompute(franchise_id, trigger="schedule")` for every franchise
   in an app context of `core.app.create_app` on the bench database (REDIS_URL set, so its `tier.changed`
   events wait in the outbox as in production; they are deleted afterwards): run 1 on empty tiering tables,
   run 2 right after (steady state). Seconds, rows, where the time goes by statement, CPU of this process and
   of PostgreSQL; ratios run 1 / baseline cold and run 2 / baseline steady (goal <= 2).
3. **orm**: a naive per-customer ORM loop on the first --orm-slice customers (by id) of the largest franchise,
   the way one first writes it: the customers in one query, then per customer its shipments of the RFM window
   as ORM objects, volume / revenue / last shipment / returned / exceptions in Python, a tier by thresholds on
   the monthly revenue, its CustomerValue read (`session.get`) and written, a TierHistory row when the tier
   changed, its rule tags read in one query and each rule evaluated in Python (tags added or deleted). Autoflush
   writes as it goes; the loop ends with a flush and is then rolled back, so the stored tiers stay the
   recompute's. Scaled by (all counted customers / slice); ratio scaled ORM / recompute (goal >= 50).
4. **memory**: the recompute job through the real job system: `request_recompute(franchise_id,
   trigger="schedule")` + commit (an outbox row relayed to RQ on Redis after commit), then a real RQ `Worker`
   (fork per job, as `crm worker`) in a subprocess in burst mode, built like `crm worker` (`create_app`,
   `jobs.set_worker_app`). Its `wait_for_horse` keeps `os.wait4`'s rusage of the work horse: `ru_maxrss` is
   the peak RSS of the process that ran the job (the app it inherited included); the horse also notes its RSS
   when the job starts. The largest franchise of the full set and the largest of a small set
   (--small-customers / --small-shipments, its own database, built if missing), each on empty tiering rows
   (first run) and again (steady). Goal < 200 MB whatever the number of customers.

Prints figures, not pass/fail; exits non-zero only when a recompute or job fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import event, or_, select, text
from sqlalchemy.engine import make_url

from bench import tiering_data as data
from bench.ingest_pushes import cpu_seconds, in_workdir, machine_busy, postgres_pids
from bench.list_latency import libpq_url, machine_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
QUEUE_PREFIX = "crmbench-tiering"
GOAL_BASELINE_RATIO, GOAL_ORM_RATIO, GOAL_MEMORY_MB = 2.0, 50.0, 200.0
TIERING_TABLES = ("tr_customer_tag", "tr_customer_metric", "tr_tier_history", "tr_customer_value", "tr_run")
# HQ's tag rules: (tag, description, conditions in plugins/tiering/fields.py's language)
TAG_RULES = (
    ("高价值", "3,000 yuan of freight a month or more",
     [{"field": "monthly_revenue", "op": ">=", "value": 3000}]),
    ("月结客户", "monthly settlement", [{"field": "billing_mode", "op": "in", "value": ["monthly"]}]),
    ("价格敏感", "asked for a discount 5 times or more", [{"field": "cf.discount_requests", "op": ">=", "value": 5}]),
    ("高退货率", "10% or more returned, at least 10 parcels",
     [{"field": "return_rate", "op": ">=", "value": 10}, {"field": "frequency", "op": ">=", "value": 10}]),
    ("投诉敏感", "marked complaint sensitive", [{"field": "cf.complaint_sensitive", "op": "is", "value": True}]),
)
THRESHOLD_POLICY = {"measure": "revenue", "method": "threshold", "window_days": 90, "a_cut": 2000, "b_cut": 300,
                    "rfm_window_days": 365}
# the naive loop cannot rank (Pareto, quintiles): under the Pareto policy it uses these monthly revenue cuts
ORM_THRESHOLDS = (2000, 300)


def load() -> str:
    b0, t0 = machine_busy()
    time.sleep(1)
    b1, t1 = machine_busy()
    avg = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {' '.join(avg)}, CPUs busy {100 * (b1 - b0) / max(1, t1 - t0):.0f}% (last second)"


class StatementTimer:
    """Count and seconds per SQL statement (by its first words) while active."""

    def __init__(self, engine):
        self.active = False
        self.times = collections.defaultdict(lambda: [0, 0.0])
        self.statements = []  # (statement, parameters) while `keep` is set, for EXPLAIN
        self.keep = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()
        if self.keep:
            self.statements.append((statement, parameters))

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info.get("bench_started")  # other timers on the same engine read it too
        if self.active and started is not None:
            entry = self.times[" ".join(statement.split())[:110]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    def top(self, limit: int = 8) -> list[str]:
        rows = sorted(self.times.items(), key=lambda kv: -kv[1][1])[:limit]
        return [f"{k:>6} {s:7.2f} s  {statement}" for statement, (k, s) in rows]


# --- set-up: rules, policy, resets ------------------------------------------------------------------------


def ensure_rules_and_policy(app, policy_kind: str) -> dict:
    """HQ's tag rules (checked by fields.py) and policy. Returns the policy in force as the recompute sees it."""
    from core.extensions import db
    from core.tenancy import EVERYTHING, scope_as
    from plugins.tiering.fields import check_conditions
    from plugins.tiering.models import TagRule, TierPolicy
    from plugins.tiering.policy import policy_in_force, snapshot

    with app.app_context(), scope_as(EVERYTHING):
        for tag, description, conditions in TAG_RULES:
            cleaned, problem = check_conditions(conditions, None)
            if problem:
                sys.exit(f"tag rule {tag}: {problem}")
            rule = db.session.scalar(select(TagRule).where(TagRule.franchise_id.is_(None), TagRule.tag == tag))
            if rule is None:
                rule = TagRule(franchise_id=None, tag=tag)
                db.session.add(rule)
            rule.description, rule.conditions, rule.active = description, cleaned, True
        stray = db.session.scalars(select(TagRule).where(TagRule.tag.not_in([r[0] for r in TAG_RULES]))).all()
        for rule in stray:
            db.session.delete(rule)
        hq = db.session.scalar(select(TierPolicy).where(TierPolicy.franchise_id.is_(None)))
        own = db.session.scalars(select(TierPolicy).where(TierPolicy.franchise_id.is_not(None))).all()
        for row in own:
            db.session.delete(row)
        if policy_kind == "threshold":
            hq = hq or TierPolicy(franchise_id=None)
            for name, value in THRESHOLD_POLICY.items():
                setattr(hq, name, value)
            db.session.add(hq)
        elif hq is not None:
            db.session.delete(hq)
        db.session.commit()
        any_franchise = db.session.execute(text("SELECT min(id) FROM crm_franchise")).scalar()
        return snapshot(policy_in_force(any_franchise))


def reset_tiering(url: str, franchise_id: int | None = None) -> None:
    """Empty the tables the recompute writes (one franchise's rows, or all) and the job outbox."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        if franchise_id is None:
            conn.execute("TRUNCATE " + ", ".join(TIERING_TABLES) + " CASCADE")
        else:
            for table in TIERING_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE franchise_id = %s", (franchise_id,))
        conn.execute("DELETE FROM crm_job")
        for table in TIERING_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")


def warm(url: str) -> float:
    """Read the shipments and customers once, so every part finds them in the page cache."""
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SELECT count(*), sum(fee), max(created_at) FROM crm_shipment")
        conn.execute("SELECT count(*) FROM crm_customer")
    return time.perf_counter() - started


def franchise_ids(url: str) -> list[tuple[int, str, int]]:
    """(id, code, counted customers) of every franchise with customers, largest first."""
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(
            "SELECT f.id, f.code, count(*) FROM crm_customer c JOIN crm_franchise f ON f.id = c.franchise_id "
            "WHERE c.merged_into_id IS NULL AND c.erased_at IS NULL GROUP BY f.id, f.code ORDER BY 3 DESC, 1"
        ).fetchall()


# --- 1. baseline ------------------------------------------------------------------------------------------

BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_tr_baseline (
    customer_id integer PRIMARY KEY, franchise_id integer NOT NULL, volume integer NOT NULL DEFAULT 0,
    revenue numeric(14, 2) NOT NULL DEFAULT 0, last_shipment_at timestamp)
"""
BASELINE_UPDATE = """
UPDATE bench_tr_baseline b
SET volume = a.volume, revenue = a.revenue, last_shipment_at = a.last_shipment_at
FROM (SELECT customer_id, count(*) AS volume, sum(coalesce(fee, 0)) AS revenue, max(created_at) AS last_shipment_at
      FROM crm_shipment
      WHERE franchise_id = %(franchise)s AND customer_id IS NOT NULL AND created_at >= %(since)s
        AND status <> 'CANCELLED'
      GROUP BY customer_id) a
WHERE b.customer_id = a.customer_id
  AND (b.volume, b.revenue, b.last_shipment_at) IS DISTINCT FROM (a.volume, a.revenue, a.last_shipment_at)
"""


def run_baseline(url: str, franchises, policy: dict, explain: bool) -> dict:
    from core.clock import utcnow

    window = max(policy["window_days"], policy["rfm_window_days"])
    print(f"== bare SQL baseline: aggregate over {window} days + UPDATE per franchise ({load()})", flush=True)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(BASELINE_TABLE)
        conn.execute("TRUNCATE bench_tr_baseline")
        conn.execute("INSERT INTO bench_tr_baseline (customer_id, franchise_id) SELECT id, franchise_id "
                     "FROM crm_customer WHERE merged_into_id IS NULL AND erased_at IS NULL")
        conn.execute("VACUUM (ANALYZE) bench_tr_baseline")
    results = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for name in ("cold", "steady"):
            since = utcnow() - timedelta(days=window)
            per, rows = [], 0
            pg0, cpu0 = cpu_seconds(postgres_pids()), time.process_time()
            started = time.perf_counter()
            for fid, _code, _n in franchises:
                t0 = time.perf_counter()
                rows += conn.execute(BASELINE_UPDATE, {"franchise": fid, "since": since}).rowcount
                conn.commit()
                per.append(time.perf_counter() - t0)
            wall = time.perf_counter() - started
            pg = cpu_seconds(postgres_pids()) - pg0
            results[name] = wall
            print(f"  {name}: {wall:.2f} s for {len(franchises)} franchises ({rows:,} rows written; largest franchise "
                  f"{per[0]:.2f} s); CPU: PostgreSQL {pg:.1f} s, this process {time.process_time() - cpu0:.1f} s",
                  flush=True)
        if explain:
            print("  EXPLAIN (ANALYZE, BUFFERS) of the steady UPDATE of the largest franchise:")
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + BASELINE_UPDATE,
                                {"franchise": franchises[0][0], "since": utcnow() - timedelta(days=window)})
            for (line,) in plan.fetchall():
                print(f"    {line}")
            conn.rollback()
    print(flush=True)
    return results


# --- 2. recompute -----------------------------------------------------------------------------------------


def run_recompute(app, url: str, franchises, explain: bool) -> tuple[dict, list[str]]:
    from core.extensions import db
    from plugins.tiering.recompute import recompute

    reset_tiering(url)
    print(f"== recompute of every franchise ({load()})", flush=True)
    with app.app_context():
        timer = StatementTimer(db.engine)
    results, problems = {}, []
    for number, name in ((1, "first run"), (2, "steady")):
        timer.times.clear()
        timer.active = True
        per, totals = [], collections.Counter()
        pg0, cpu0 = cpu_seconds(postgres_pids()), time.process_time()
        started = time.perf_counter()
        for fid, code, _n in franchises:
            t0 = time.perf_counter()
            with app.app_context():
                run = recompute(fid, trigger="schedule")
                if run.status != "done" or run.error:
                    problems.append(f"recompute of {code} (run {number}): {run.status} {run.error}")
                totals.update({"customers": run.customers or 0, "changed": run.changed or 0})
                for move, count in (run.movement or {}).items():
                    if move.startswith("none>"):
                        totals["first tier"] += count
            per.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        timer.active = False
        pg, cpu = cpu_seconds(postgres_pids()) - pg0, time.process_time() - cpu0
        results[name] = wall
        print(f"  run {number} ({name}): {wall:.2f} s for {len(franchises)} franchises (largest franchise "
              f"{per[0]:.2f} s, median {statistics.median(per):.2f} s); customers {totals['customers']:,}, first "
              f"tiers {totals['first tier']:,}, tier changes {totals['changed']:,}; CPU: PostgreSQL {pg:.1f} s, "
              f"this process {cpu:.1f} s", flush=True)
        print("    slowest statements (count, seconds in all, statement):")
        for line in timer.top():
            print(f"      {line}")
    with psycopg.connect(libpq_url(url)) as conn:
        tiers = dict(conn.execute("SELECT tier, count(*) FROM tr_customer_value GROUP BY 1 ORDER BY 1").fetchall())
        segments = conn.execute("SELECT rfm_segment, count(*) FROM tr_customer_value GROUP BY 1 ORDER BY 2 DESC"
                                ).fetchall()
        tags = conn.execute("SELECT tag, count(*) FROM tr_customer_tag GROUP BY 1 ORDER BY 2 DESC").fetchall()
        history = conn.execute("SELECT count(*) FROM tr_tier_history").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM crm_job").fetchone()[0]
    print(f"  afterwards: tiers {tiers}; RFM segments {dict(segments)}; rule tags {dict(tags)}; history rows "
          f"{history:,}; outbox rows (tier.changed events) {events:,}")
    if explain:
        explain_recompute(app, franchises[0][0], timer)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DELETE FROM crm_job")
    print(flush=True)
    return results, problems


def explain_recompute(app, fid: int, timer: StatementTimer) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements of one more recompute of the largest franchise, each in a
    transaction rolled back (the recompute itself runs and commits first, to collect them)."""
    from core.extensions import db
    from plugins.tiering.recompute import recompute

    timer.statements.clear()
    timer.keep = True
    with app.app_context():
        recompute(fid, trigger="schedule")
    timer.keep = False
    print(f"  EXPLAIN (ANALYZE, BUFFERS) of a third recompute's statements (largest franchise, id {fid}):")
    with app.app_context(), db.engine.connect() as conn:
        for statement, parameters in timer.statements:
            flat = " ".join(statement.split())
            if not flat.upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")) or "tr_run" in flat[:40]:
                continue
            transaction = conn.begin()
            try:
                lines = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            finally:
                transaction.rollback()
            total = next((line for line in reversed(lines) if line.startswith("Execution Time")), "")
            print(f"    -- {flat[:300]}")
            print(f"       {total}")
            for line in lines:
                print(f"         {line}")


# --- 3. the naive ORM loop ----------------------------------------------------------------------------------


def _figure(key: str, customer, figures: dict, now):
    if key in figures:
        return figures[key]
    if key == "return_rate":
        return figures["returned"] * 100.0 / figures["frequency"] if figures["frequency"] else None
    if key == "exception_rate":
        return figures["exceptions"] * 100.0 / figures["frequency"] if figures["frequency"] else None
    if key == "days_since_last":
        last = figures["last_shipment_at"]
        return None if last is None else (now - last).total_seconds() / 86400
    if key.startswith("cf."):
        return (customer.custom or {}).get(key[3:])
    return getattr(customer, key)


def rule_matches(conditions: list, customer, figures: dict, now) -> bool:
    """A tag rule's conditions evaluated in Python, as a first version would."""
    for condition in conditions:
        value, op, wanted = _figure(condition["field"], customer, figures, now), condition["op"], condition["value"]
        if op == "in":
            ok = value in wanted
        elif op == "not_in":
            ok = value not in wanted
        elif op == "is":
            ok = bool(value) == bool(wanted)
        elif value is None:
            ok = condition["field"] == "days_since_last" and op in (">", ">=")
        else:
            value = float(value)
            ok = {">": value > wanted, ">=": value >= wanted, "<": value < wanted, "<=": value <= wanted,
                  "=": value == wanted, "!=": value != wanted}[op]
        if not ok:
            return False
    return True


def orm_loop(app, fid: int, size: int, policy: dict) -> dict:
    """The naive loop over `size` customers of `fid`; its writes are flushed, then rolled back."""
    from core.clock import utcnow
    from core.extensions import db
    from core.models import Customer, Shipment
    from core.models.statuses import EXCEPTION_STATUSES
    from core.tenancy import Scope, scope_as
    from plugins.tiering.models import CustomerTag, CustomerValue, TagRule, TierHistory, TierRun

    a_cut, b_cut = ((policy["a_cut"], policy["b_cut"]) if policy["method"] == "threshold" else ORM_THRESHOLDS)
    counts = collections.Counter()
    with app.app_context(), scope_as(Scope(False, frozenset({fid}))):
        timer = StatementTimer(db.engine)
        timer.active = True
        cpu0, pg0 = time.process_time(), cpu_seconds(postgres_pids())
        started = time.perf_counter()
        now = utcnow()
        tier_since = now - timedelta(days=policy["window_days"])
        rfm_since = now - timedelta(days=policy["rfm_window_days"])
        run = TierRun(franchise_id=fid, trigger="manual", policy=policy, status="running")
        db.session.add(run)
        db.session.flush()
        rules = db.session.scalars(select(TagRule).where(
            or_(TagRule.franchise_id == fid, TagRule.franchise_id.is_(None)), TagRule.active.is_(True))).all()
        customers = db.session.scalars(select(Customer).where(
            Customer.franchise_id == fid, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
            .order_by(Customer.id).limit(size)).all()
        for customer in customers:
            shipments = db.session.scalars(select(Shipment).where(
                Shipment.customer_id == customer.id, Shipment.created_at >= rfm_since)).all()
            carried = [s for s in shipments if s.status != "CANCELLED"]
            in_window = [s for s in carried if s.created_at >= tier_since]
            counts["shipments"] += len(carried)
            figures = {
                "volume": len(in_window), "revenue": sum((s.fee or Decimal(0) for s in in_window), Decimal(0)),
                "frequency": len(carried), "monetary": sum((s.fee or Decimal(0) for s in carried), Decimal(0)),
                "returned": sum(1 for s in carried if s.status in ("RETURNING", "RETURNED")),
                "exceptions": sum(1 for s in carried if s.status in EXCEPTION_STATUSES),
                "last_shipment_at": max((s.created_at for s in carried), default=None),
            }
            figures["monthly_volume"] = figures["volume"] * 30 / policy["window_days"]
            figures["monthly_revenue"] = float(figures["revenue"]) * 30 / policy["window_days"]
            monthly = figures["monthly_revenue" if policy["measure"] == "revenue" else "monthly_volume"]
            tier = "A" if monthly >= a_cut else "B" if monthly >= b_cut else "C"
            figures["tier"] = tier
            value = db.session.get(CustomerValue, customer.id)
            if value is None:
                value = CustomerValue(customer_id=customer.id, franchise_id=fid)
                db.session.add(value)
            if value.tier != tier:
                db.session.add(TierHistory(customer_id=customer.id, franchise_id=fid, run_id=run.id,
                                           from_tier=value.tier, to_tier=tier, changed_at=now,
                                           measure=policy["measure"], method="threshold", value=monthly))
                value.previous_tier, value.tier_since, value.changed_run_id = value.tier, now, run.id
                counts["tier changes"] += 1
            for name in ("volume", "revenue", "frequency", "monetary", "returned", "exceptions", "last_shipment_at"):
                setattr(value, name, figures[name])
            value.monthly_volume = round(figures["monthly_volume"], 2)
            value.monthly_revenue = round(figures["monthly_revenue"], 2)
            value.tier = tier
            tags = {t.rule_id: t for t in db.session.scalars(select(CustomerTag).where(
                CustomerTag.customer_id == customer.id))}
            for rule in rules:
                matched = rule_matches(rule.conditions, customer, figures, now)
                if matched and rule.id not in tags:
                    db.session.add(CustomerTag(customer_id=customer.id, rule_id=rule.id, tag=rule.tag,
                                               franchise_id=fid, since=now))
                    counts["tags given"] += 1
                elif not matched and rule.id in tags:
                    db.session.delete(tags[rule.id])
                    counts["tags taken"] += 1
        db.session.flush()
        wall = time.perf_counter() - started
        cpu, pg = time.process_time() - cpu0, cpu_seconds(postgres_pids()) - pg0
        timer.active = False
        db.session.rollback()
    statements = sum(k for k, _s in timer.times.values())
    return {"seconds": wall, "customers": len(customers), "cpu": cpu, "pg": pg, "statements": statements,
            "sql_seconds": sum(s for _k, s in timer.times.values()), "counts": counts, "top": timer.top(5)}


def run_orm(app, url: str, franchises, policy: dict, size: int) -> dict:
    fid, code, n = franchises[0]
    total = sum(count for _f, _c, count in franchises)
    print(f"== naive per-customer ORM loop: the first {size:,} customers of {code} ({n:,} customers) ({load()})",
          flush=True)
    result = orm_loop(app, fid, size, policy)
    done = result["customers"]
    result["scaled"] = result["seconds"] * total / max(1, done)
    result["total_customers"] = total
    counts = result["counts"]
    print(f"  {done:,} customers, {counts['shipments']:,} shipments: {result['seconds']:.1f} s "
          f"({result['seconds'] * 1000 / max(1, done):.2f} ms a customer; {result['statements'] / max(1, done):.1f} "
          f"SQL statements a customer, {result['sql_seconds']:.1f} s in them); CPU: this process {result['cpu']:.1f} s,"
          f" PostgreSQL {result['pg']:.1f} s; tier changes {counts['tier changes']:,}, tags given "
          f"{counts['tags given']:,}, taken {counts['tags taken']:,} (rolled back)")
    print(f"  scaled to all {total:,} customers: {result['scaled']:.0f} s ({result['scaled'] / 60:.1f} min)")
    print("    slowest statements (count, seconds in all, statement):")
    for line in result["top"]:
        print(f"      {line}")
    print(flush=True)
    return result


# --- 4. worker memory ---------------------------------------------------------------------------------------


def worker_child(spec: dict) -> int:
    """The RQ worker subprocess (`crm worker --burst` with a note of each work horse's peak RSS)."""
    from rq import Worker

    from core import jobs

    data.quiet_logs()

    class MeasuredWorker(Worker):
        def perform_job(self, job, queue):
            # in the work horse: its RSS as the job starts (what it inherited from the worker)
            with open(spec["report"], "a") as out:
                out.write(json.dumps({"job": job.id, "start_kb": _status_kb("VmRSS")}) + "\n")
            return super().perform_job(job, queue)

        def wait_for_horse(self):
            pid, stat, rusage = super().wait_for_horse()
            if rusage is not None:
                with open(spec["report"], "a") as out:
                    out.write(json.dumps({"horse": pid, "maxrss_kb": rusage.ru_maxrss, "status": stat,
                                          "worker_kb": _status_kb("VmRSS")}) + "\n")
            return pid, stat, rusage

    app = data.make_app(spec["url"], spec["instance"], REDIS_URL=spec["redis"], CRM_QUEUE_PREFIX=spec["prefix"])
    jobs.set_worker_app(app)
    with app.app_context():
        connection = jobs.redis_connection()
        worker = MeasuredWorker([jobs.rq_queue(n, connection) for n in jobs.QUEUES], connection=connection)
    worker.work(burst=True, with_scheduler=False)
    return 0


def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def job_in_worker(url: str, app, fid: int, redis_url: str, workdir: Path, label: str) -> dict:
    """Queue the franchise's recompute through the outbox, run a burst worker on it; its measurements."""
    from core.extensions import db
    from core.jobs import JobOutbox
    from plugins.tiering.recompute import request_recompute

    prefix = f"{QUEUE_PREFIX}-{os.getpid()}"
    report = workdir / f"memory-{label}.jsonl"
    report.unlink(missing_ok=True)
    with app.app_context():
        app.config["CRM_QUEUE_PREFIX"] = prefix
        row = request_recompute(fid, trigger="schedule")
        db.session.commit()  # relayed to RQ after the commit
        job_id = row.id
        status = db.session.get(JobOutbox, job_id).status
    if status != "relayed":
        sys.exit(f"the job was not relayed to Redis (status {status}): is Redis at {redis_url}?")
    spec = {"url": url, "redis": redis_url, "prefix": prefix, "report": str(report),
            "instance": str(workdir / f"instance-worker-{label}")}
    started = time.perf_counter()
    log_path = workdir / f"worker-{label}.log"
    with open(log_path, "wb") as log_file:
        child = subprocess.run([sys.executable, "-m", "bench.tiering_speed", "--worker-child", json.dumps(spec)],
                               cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, timeout=3600)
    wall = time.perf_counter() - started
    lines = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    start = next((x["start_kb"] for x in lines if "start_kb" in x), None)
    horse = next((x for x in lines if "maxrss_kb" in x), None)
    with psycopg.connect(libpq_url(url)) as conn:
        job = conn.execute("SELECT status, duration, last_error FROM crm_job WHERE id = %s", (job_id,)).fetchone()
        run = conn.execute("SELECT status, customers, changed, seconds FROM tr_run WHERE franchise_id = %s "
                           "ORDER BY id DESC LIMIT 1", (fid,)).fetchone()
    flush_queues_prefixed(redis_url, prefix)
    if child.returncode != 0 or horse is None or job is None or job[0] != "finished":
        tail = log_path.read_text(errors="replace")[-2000:]
        sys.exit(f"the worker did not run the job ({label}): exit {child.returncode}, job {job}\n{tail}")
    return {"start_mb": (start or 0) / 1024, "peak_mb": horse["maxrss_kb"] / 1024,
            "worker_mb": horse["worker_kb"] / 1024, "job_seconds": job[1], "run": run, "wall": wall}


def flush_queues_prefixed(redis_url: str, prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(redis_url)
    keys = [k for pattern in (f"rq:queue:{prefix}-*", f"rq:*:{prefix}-*") for k in client.scan_iter(pattern)]
    if keys:
        client.delete(*keys)


def run_memory(args, app, url: str, franchises, workdir: Path) -> list[dict]:
    """The largest franchise of the full set and of the small set, each first run and steady."""
    print(f"== worker peak memory: the recompute job through the outbox, Redis and an RQ worker ({load()})",
          flush=True)
    results = []
    small_app, small_url, _network, timings = data.prepare(
        args.small_customers, args.small_shipments, False, str(workdir / "instance-small"),
        REDIS_URL=args.redis_url, CRM_QUEUE_PREFIX=QUEUE_PREFIX)
    if timings is not None:
        print(f"  built the small set ({args.small_customers:,} customers, {args.small_shipments:,} shipments)")
    ensure_rules_and_policy(small_app, args.policy)
    small_franchises = franchise_ids(small_url)
    main = "full" if (args.customers, args.shipments) == (data.DEFAULT_CUSTOMERS, data.DEFAULT_SHIPMENTS) else "main"
    for label, the_app, the_url, (fid, code, n) in ((main, app, url, franchises[0]),
                                                     ("small", small_app, small_url, small_franchises[0])):
        with psycopg.connect(libpq_url(the_url)) as conn:
            shipments = conn.execute("SELECT count(*) FROM crm_shipment WHERE franchise_id = %s", (fid,)).fetchone()[0]
        reset_tiering(the_url, fid)
        for state in ("first run", "steady"):
            result = job_in_worker(the_url, the_app, fid, args.redis_url, workdir, f"{label}-{state.split()[0]}")
            result.update(label=label, state=state, code=code, customers=n, shipments=shipments,
                          database=make_url(the_url).database)
            results.append(result)
            run = result["run"]
            print(f"  {make_url(the_url).database} {code} ({n:,} customers, {shipments:,} shipments), {state}: horse "
                  f"peak RSS {result['peak_mb']:.0f} MB (RSS when the job started {result['start_mb']:.0f} MB, "
                  f"the worker {result['worker_mb']:.0f} MB); job {result['job_seconds']:.1f} s, run {run[0]}, "
                  f"{run[1]:,} customers, {run[2]} changed", flush=True)
    print(flush=True)
    return results


# --- report -------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_summary(baseline: dict | None, recompute: dict | None, orm: dict | None, memory: list | None) -> None:
    print("=" * 100)
    print(f"{'figure':<58} {'value':>14}  goal")
    rows = []
    if baseline:
        rows.append(("bare SQL baseline, cold (every customer written)", f"{baseline['cold']:.2f} s", ""))
        rows.append(("bare SQL baseline, steady (nothing changed)", f"{baseline['steady']:.2f} s", ""))
    if recompute:
        rows.append(("recompute, first run (empty tiering tables)", f"{recompute['first run']:.2f} s", ""))
        rows.append(("recompute, steady (the nightly run)", f"{recompute['steady']:.2f} s", ""))
    if baseline and recompute:
        for run, base in (("first run", "cold"), ("steady", "steady")):
            ratio = recompute[run] / baseline[base]
            rows.append((f"ratio recompute {run} / baseline {base}", f"{ratio:.2f}x",
                         f"<= {GOAL_BASELINE_RATIO:.0f}x {verdict(ratio <= GOAL_BASELINE_RATIO)}"))
    if orm:
        rows.append((f"ORM loop, {orm['customers']:,} customers", f"{orm['seconds']:.1f} s", ""))
        rows.append((f"ORM loop scaled to {orm['total_customers']:,} customers", f"{orm['scaled']:.0f} s", ""))
    if orm and recompute:
        # the loop runs in the steady state (every customer has its row): the nightly run is its match
        ratio = orm["scaled"] / recompute["steady"]
        rows.append(("ratio ORM scaled / recompute steady", f"{ratio:.0f}x",
                     f">= {GOAL_ORM_RATIO:.0f}x {verdict(ratio >= GOAL_ORM_RATIO)}"))
        rows.append(("ratio ORM scaled / recompute first run", f"{orm['scaled'] / recompute['first run']:.0f}x",
                     "(for information)"))
    for m in memory or []:
        rows.append((f"worker peak RSS, {m['label']} set {m['code']} ({m['customers']:,} cust.), {m['state']}",
                     f"{m['peak_mb']:.0f} MB",
                     f"< {GOAL_MEMORY_MB:.0f} MB {verdict(m['peak_mb'] < GOAL_MEMORY_MB)}"))
    if memory and len({m["label"] for m in memory}) == 2:
        full = max(m["peak_mb"] for m in memory if m["label"] != "small")
        small = max(m["peak_mb"] for m in memory if m["label"] == "small")
        rows.append(("peak RSS of the larger set - small set", f"{full - small:+.1f} MB", "flat"))
    for name, value, goal in rows:
        print(f"{name:<58} {value:>14}  {goal}")


# --- main ---------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="baseline,recompute,orm,memory",
                        help="parts to run (default baseline,recompute,orm,memory)")
    parser.add_argument("--customers", type=int, default=data.DEFAULT_CUSTOMERS)
    parser.add_argument("--shipments", type=int, default=data.DEFAULT_SHIPMENTS)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data even if it matches")
    parser.add_argument("--orm-slice", type=int, default=10_000, help="customers of the ORM loop (default 10000)")
    parser.add_argument("--policy", choices=("pareto", "threshold"), default="pareto",
                        help="HQ's tier policy: the built-in Pareto default, or thresholds on monthly revenue")
    parser.add_argument("--small-customers", type=int, default=100_000, help="the memory part's small set")
    parser.add_argument("--small-shipments", type=int, default=1_000_000, help="the memory part's small set")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE of the baseline and recompute SQL")
    parser.add_argument("--keep-files", action="store_true", help="keep the work folder (worker logs)")
    parser.add_argument("--worker-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_child:
        return worker_child(json.loads(args.worker_child))
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - {"baseline", "recompute", "orm", "memory"}
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    data.quiet_logs()
    return in_workdir("crm-bench-tiering-", args.keep_files, lambda workdir: _run(args, parts, workdir))


def _run(args, parts: set[str], workdir: Path) -> int:
    overall = time.perf_counter()
    print(f"before: {load()}", flush=True)
    app, url, _network, timings = data.prepare(args.customers, args.shipments, args.rebuild,
                                               str(workdir / "instance"), REDIS_URL=args.redis_url,
                                               CRM_QUEUE_PREFIX=QUEUE_PREFIX)
    policy = ensure_rules_and_policy(app, args.policy)
    franchises = franchise_ids(url)
    print("=" * 100)
    print("courier-crm tiering benchmark (bench/tiering_speed.py)")
    print("\n".join(machine_info(app)))
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    print("\n".join(data.summary(url)))
    print("data: reused the stored rows" if timings is None else
          "data: built now: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"policy in force: {policy}; HQ tag rules: {', '.join(tag for tag, _d, _c in TAG_RULES)}")
    print(f"page cache warmed ({warm(url):.1f} s); setup {time.perf_counter() - overall:.0f} s", flush=True)
    print()
    problems = []
    baseline = recompute = orm = memory = None
    if "baseline" in parts:
        baseline = run_baseline(url, franchises, policy, args.explain)
    if "recompute" in parts:
        recompute, found = run_recompute(app, url, franchises, args.explain)
        problems += found
    if "orm" in parts:
        orm = run_orm(app, url, franchises, policy, args.orm_slice)
    if "memory" in parts:
        memory = run_memory(args, app, url, franchises, workdir)
    print_summary(baseline, recompute, orm, memory)
    print(f"after: {load()}; total {time.perf_counter() - overall:.0f} s; this process's peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if problems:
        print("\nFAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
