"""Background jobs: a transactional outbox relayed to RQ, and periodic jobs per franchise.

`enqueue()` adds an outbox row in the caller's transaction. When that transaction commits, the rows are
relayed to RQ (or, with no REDIS_URL, run in-process). If Redis is down, the rows stay pending and
`relay_pending()` (run by every `crm cron` tick) delivers them when it is back, so no job is lost.
The same row records the job's life: attempts, status, duration and the last error.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from croniter import croniter
from flask import current_app, has_app_context
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, Integer, String, Text, delete, event, insert, literal,
                        select, update)
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.extensions import db
from core.plugins import registry
from core.tenancy import EVERYTHING, Franchise, Scope, current_user_obj, scope_as

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")
JOB_STATUSES = {
    "pending": _l("pending"), "relayed": _l("queued"), "running": _l("running"), "finished": _l("finished"),
    "retrying": _l("retrying"), "failed": _l("failed"),
}


class JobOutbox(Model):
    """One job: written with the business change, relayed after commit, updated as it runs."""

    __tablename__ = "crm_job"
    id = Column(Integer, primary_key=True)
    func = Column(String(255), nullable=False)
    args = Column(JSON, nullable=False, default=list)
    kwargs = Column(JSON, nullable=False, default=dict)
    queue = Column(String(16), nullable=False, default="default")
    franchise_id = Column(Integer, nullable=True, index=True)
    user_id = Column(Integer, nullable=True)
    schedule_id = Column(Integer, nullable=True)
    # pending -> relayed -> running -> finished | retrying | failed
    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    relayed_at = Column(DateTime)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    duration = Column(Float)
    last_error = Column(Text)

    def __repr__(self):
        return f"{self.func}#{self.id}"


class JobSchedule(Model):
    """A periodic job of core or a plugin: when it runs next, how the last run went, and a pause switch."""

    __tablename__ = "crm_job_schedule"
    __audited__ = True
    __audit_kind__ = "config"
    id = Column(Integer, primary_key=True)
    name = Column(String(128), unique=True, nullable=False)
    plugin = Column(String(64), nullable=False)
    cron = Column(String(64))
    interval = Column(Integer)
    paused = Column(Boolean, nullable=False, default=False)
    next_run_at = Column(DateTime)
    last_run_at = Column(DateTime)
    last_duration = Column(Float)
    # errors stay on the job runs, which are scoped per franchise; a schedule is shared by all of them
    failures = Column(Integer, nullable=False, default=0)

    def __repr__(self):
        return self.name


@dataclass(frozen=True)
class PeriodicJob:
    """Declared by plugins through `crm_periodic_jobs`: `func(franchise_id)` runs per active franchise."""

    name: str
    func: Callable | str
    cron: str | None = None
    interval: int | None = None
    queue: str = "low"

    def __post_init__(self):
        if (self.cron is None) == (self.interval is None):
            raise ValueError(f"periodic job {self.name}: give exactly one of cron or interval")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"periodic job {self.name}: invalid cron expression {self.cron!r}")

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + timedelta(seconds=self.interval)
        return croniter(self.cron, moment).get_next(datetime)


def dotted(func) -> str:
    if isinstance(func, str):
        return func
    return f"{func.__module__}:{func.__qualname__}"


def resolve(path: str) -> Callable:
    module, _, attr = path.partition(":")
    target = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


# --- enqueue and relay ---------------------------------------------------------------------------------


def enqueue(func, *args, queue: str = "default", franchise_id: int | None = None, user_id: int | None = None,
            schedule_id: int | None = None, batched: bool = False, **kwargs) -> JobOutbox:
    """Add a job to the current transaction; it is relayed (or run in-process) once the transaction commits.

    `func` is a module-level function (or "module:function"); arguments must be JSON-serialisable. The job
    runs with the scope of `franchise_id` (every franchise when None). `batched=True` (high-volume emitters,
    e.g. tracking pushes): with Redis, the row waits for `crm cron`'s next relay round, at most
    `CRM_CRON_TICK` seconds, instead of a relay of its own after this commit; without Redis it runs after
    commit as any other.
    """
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {QUEUES}")
    if user_id is None:
        user_id = getattr(current_user_obj(), "id", None)
    row = JobOutbox(func=dotted(func), args=list(args), kwargs=kwargs, queue=queue, franchise_id=franchise_id,
                    user_id=user_id, schedule_id=schedule_id)
    row.batched = batched  # not a column: only this transaction's relay needs it
    db.session.add(row)
    return row


def enqueue_from_select(func, args_select, queue: str = "default", franchise_id: int | None = None) -> int:
    """One job per row of `args_select` (a SELECT of one column: the job's arguments as a JSON array, e.g.
    `core.extensions.sql_json_array(...)`), in one INSERT ... SELECT: the rows never pass through Python.
    Relayed as `batched=True` jobs are. Returns the count."""
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {QUEUES}")
    source = args_select.subquery()
    rows = select(literal(dotted(func)), list(source.c)[0], literal({}, JSON), literal(queue),
                  literal(franchise_id, Integer), literal("pending"), literal(0), literal(utcnow()))
    statement = insert(JobOutbox).from_select(
        ["func", "args", "kwargs", "queue", "franchise_id", "status", "attempts", "created_at"], rows)
    if current_app.config.get("REDIS_URL"):
        return db.session.execute(statement).rowcount  # cron's relay finds pending rows by itself
    ids = list(db.session.scalars(statement.returning(JobOutbox.id)))
    db.session.info.setdefault("crm_batched_jobs", []).extend(ids)
    return len(ids)


@event.listens_for(Session, "after_flush")
def _collect_new_jobs(session, flush_context):
    for obj in session.new:
        if isinstance(obj, JobOutbox):
            key = "crm_batched_jobs" if getattr(obj, "batched", False) else "crm_new_jobs"
            session.info.setdefault(key, []).append(obj.id)


@event.listens_for(Session, "after_soft_rollback")
def _forget_jobs(session, previous_transaction):
    # a rolled-back savepoint keeps the outer transaction's jobs; ids of its own rows are skipped at relay
    if not previous_transaction.nested:
        session.info.pop("crm_new_jobs", None)
        session.info.pop("crm_batched_jobs", None)


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session):
    ids = session.info.pop("crm_new_jobs", None) or []
    batched = session.info.pop("crm_batched_jobs", None) or []
    if not (ids or batched) or not has_app_context():
        return
    app = current_app._get_current_object()
    redis = bool(app.config.get("REDIS_URL"))
    if redis and not ids:
        return  # `crm cron` relays the batched ones
    # A fresh app context gives a fresh session: the committing one can run no more SQL in this event.
    with app.app_context():
        if redis:
            relay(ids)
        else:
            run_inline(sorted(ids + batched))


def run_inline(ids) -> None:
    """Embedded mode: run jobs in this process. A failure is recorded on the job, never raised to the caller."""
    ids = db.session.scalars(select(JobOutbox.id).where(
        JobOutbox.id.in_(ids), JobOutbox.status.in_(("pending", "retrying"))).order_by(JobOutbox.id)).all()
    for job_id in ids:
        try:
            execute(job_id)
        except Exception:  # recorded on the row by execute(); retried by the next `crm cron` tick
            pass


def redis_connection():
    """The app's Redis client: one per app and URL, so its connection pool outlives a request (redis-py
    resets the pool in a forked child by itself)."""
    from redis import Redis

    url = current_app.config["REDIS_URL"]
    clients = current_app.extensions.setdefault("crm_redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    return clients[url]


def rq_queue(name: str, connection=None):
    from rq import Queue

    prefix = current_app.config.get("CRM_QUEUE_PREFIX", "crm")
    return Queue(f"{prefix}-{name}", connection=connection or redis_connection())


def relay(ids) -> int:
    """Push these pending outbox rows to RQ. Rows that cannot be pushed stay pending for the next try."""
    from redis.exceptions import RedisError
    from rq import Retry

    config = current_app.config
    rows = db.session.scalars(select(JobOutbox).where(JobOutbox.id.in_(ids), JobOutbox.status == "pending")).all()
    if not rows:
        return 0
    sent = 0
    try:
        connection = redis_connection()
        queues = {}
        for row in rows:
            if row.queue not in queues:
                queues[row.queue] = rq_queue(row.queue, connection)
            queue = queues[row.queue]
            queue.enqueue(
                execute,
                row.id,
                job_id=f"crm-job-{row.id}-{row.attempts}",
                retry=Retry(max=config["CRM_JOB_RETRIES"], interval=config["CRM_JOB_RETRY_INTERVALS"])
                if config["CRM_JOB_RETRIES"] else None,
                job_timeout=config["CRM_JOB_TIMEOUT"],
                failure_ttl=7 * 86400,
            )
            row.status, row.relayed_at = "relayed", utcnow()
            sent += 1
    except RedisError as exc:
        log.warning("Redis unavailable, %d job(s) stay in the outbox: %s", len(rows) - sent, exc)
    db.session.commit()
    return sent


def relay_pending(limit: int = 1000) -> int:
    """Deliver outbox rows left pending (Redis was down, or the process died between commit and relay).

    In the embedded mode (no Redis) this runs them, along with jobs that failed and have tries left.
    """
    config = current_app.config
    if config.get("REDIS_URL"):
        ids = db.session.scalars(
            select(JobOutbox.id).where(JobOutbox.status == "pending").order_by(JobOutbox.id).limit(limit)
        ).all()
        return relay(ids) if ids else 0
    ids = db.session.scalars(
        select(JobOutbox.id)
        .where(
            (JobOutbox.status == "pending")
            | ((JobOutbox.status == "retrying") & (JobOutbox.attempts <= config["CRM_JOB_RETRIES"]))
        )
        .order_by(JobOutbox.id)
        .limit(limit)
    ).all()
    run_inline(ids)
    return len(ids)


def prune_finished(keep_days: float | None = None) -> int:
    """Delete finished jobs older than CRM_JOB_KEEP_DAYS; failed ones stay until someone looks at them."""
    keep_days = current_app.config["CRM_JOB_KEEP_DAYS"] if keep_days is None else keep_days
    cutoff = utcnow() - timedelta(days=keep_days)
    removed = db.session.execute(
        delete(JobOutbox).where(JobOutbox.status == "finished", JobOutbox.finished_at < cutoff)
    ).rowcount
    db.session.commit()
    return removed


# --- running a job ----------------------------------------------------------------------------------

_worker_app = None
_worker_pid = None


def set_worker_app(app) -> None:
    """`crm worker` builds the app once; forked work-horses reuse it."""
    global _worker_app
    _worker_app = app


def _app_for_job():
    global _worker_app, _worker_pid
    if has_app_context():
        return current_app._get_current_object()
    if _worker_app is None:
        from core.app import create_app  # here, not at the top: core.app imports this module

        _worker_app = create_app()
    if _worker_pid != os.getpid():
        # pooled connections must not cross a fork
        with _worker_app.app_context():
            db.engine.dispose(close=False)
        _worker_pid = os.getpid()
    return _worker_app


def execute(job_id: int):
    """Run one outbox job (called by RQ in a worker, or in-process in the embedded mode)."""
    app = _app_for_job()
    with app.app_context():
        return _execute(app, job_id)


def _execute(app, job_id: int):
    # claim the row: a job relayed twice (cron and after-commit, two crons) runs once
    stale = utcnow() - timedelta(seconds=2 * app.config["CRM_JOB_TIMEOUT"])
    claimed = db.session.execute(
        update(JobOutbox)
        .where(JobOutbox.id == job_id,
               JobOutbox.status.in_(("pending", "relayed", "retrying"))
               | ((JobOutbox.status == "running") & (JobOutbox.started_at < stale)))
        .values(status="running", started_at=utcnow(), attempts=JobOutbox.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        log.info("job %s is finished, running elsewhere or gone: not run again", job_id)
        return None
    row = db.session.get(JobOutbox, job_id)
    scope = EVERYTHING if row.franchise_id is None else Scope(False, frozenset({row.franchise_id}))
    started = time.perf_counter()
    try:
        with scope_as(scope):
            result = resolve(row.func)(*row.args, **row.kwargs)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        row = db.session.get(JobOutbox, job_id)
        retries_left = row.attempts <= app.config["CRM_JOB_RETRIES"]
        row.status = "retrying" if retries_left else "failed"
        row.last_error = "".join(traceback.format_exception(exc))[-8000:]
        _finish(row, started, failed=True)
        db.session.commit()
        log.exception("job %s (%s) failed", job_id, row.func)
        raise
    row.status, row.last_error = "finished", None
    _finish(row, started, failed=False)
    db.session.commit()
    return result


def _finish(row: JobOutbox, started: float, failed: bool):
    row.finished_at = utcnow()
    row.duration = time.perf_counter() - started
    if row.schedule_id is None:
        return
    schedule = db.session.get(JobSchedule, row.schedule_id)
    if schedule is not None:
        schedule.last_duration = row.duration
        if failed:
            schedule.failures = (schedule.failures or 0) + 1


# --- periodic jobs -------------------------------------------------------------------------------------


# Core's own periodic jobs, run in every active franchise. Functions are named by path: the modules that
# implement them import this one.
CORE = "core"
CORE_PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("dedupe_scan", "core.dedupe:scan_customers", cron="30 2 * * *"),
    PeriodicJob("import_files_purge", "core.importing.runner:purge_files", cron="45 3 * * *"),
]


def declared_jobs() -> dict[str, tuple[str, PeriodicJob]]:
    """name -> (owner, job) for every periodic job core and the installed plugins declare."""
    return current_app.extensions["crm_periodic_jobs"]


def collect_periodic_jobs(registry) -> dict[str, tuple[str, PeriodicJob]]:
    jobs = {}
    for plugin in registry.plugins:
        for declared in registry.call_for("crm_periodic_jobs", plugin):
            for job in declared or []:
                jobs[f"{plugin}.{job.name}"] = (plugin, job)
    # last, so that a plugin that calls itself "core" cannot shadow them
    jobs.update({f"{CORE}.{job.name}": (CORE, job) for job in CORE_PERIODIC_JOBS})
    return jobs


def franchises_running(owner: str) -> list[int]:
    """The franchises a periodic job of `owner` runs for: core's in every active one, a plugin's where it is on."""
    if owner == CORE:
        return list(db.session.scalars(select(Franchise.id).where(Franchise.active.is_(True)).order_by(Franchise.id)))
    return sorted(registry().active_franchises(owner))


def sync_schedules(now: datetime | None = None) -> None:
    """Create schedule rows for newly declared jobs and update changed triggers (keeps pause and history)."""
    now = now or utcnow()
    existing = {s.name: s for s in db.session.scalars(select(JobSchedule))}
    for name, (plugin, job) in declared_jobs().items():
        row = existing.get(name)
        if row is None:
            db.session.add(JobSchedule(name=name, plugin=plugin, cron=job.cron, interval=job.interval,
                                       next_run_at=job.next_after(now) if job.cron else now, failures=0))
        elif (row.cron, row.interval) != (job.cron, job.interval):
            row.cron, row.interval, row.next_run_at = job.cron, job.interval, job.next_after(now)
    db.session.commit()


def run_due(now: datetime | None = None) -> int:
    """Enqueue every due, unpaused periodic job once per franchise it runs for (see `franchises_running`)."""
    now = now or utcnow()
    sync_schedules(now)
    jobs = declared_jobs()
    enqueued = 0
    due = db.session.scalars(
        select(JobSchedule).where(JobSchedule.paused.is_(False), JobSchedule.next_run_at <= now)
    ).all()
    for schedule in due:
        if schedule.name not in jobs:
            continue  # the plugin is no longer installed
        plugin, job = jobs[schedule.name]
        claimed = db.session.execute(
            update(JobSchedule)
            .where(JobSchedule.id == schedule.id, JobSchedule.next_run_at == schedule.next_run_at)
            .values(next_run_at=job.next_after(now), last_run_at=now)
            .execution_options(crm_audit=False)  # the scheduler's bookkeeping, not a change anybody made
        ).rowcount
        if not claimed:
            continue  # another `crm cron` took this run
        for franchise_id in franchises_running(plugin):
            enqueue(job.func, franchise_id, queue=job.queue, franchise_id=franchise_id, schedule_id=schedule.id)
            enqueued += 1
    db.session.commit()
    return enqueued
