"""Throughput of the tracking push endpoints under load (issue 4): Kuaidi100 pushes against a bare INSERT endpoint.

    .venv/bin/python -m bench.ingest_pushes [--quick] [--duration 15] [--rounds 2] [--threads 2] [--connections 16]
                                            [--no-redis] [--profile] [--database-url URL] [--skip-bulk]

Needs PostgreSQL (`crm_bench_ingest` on 127.0.0.1 by default: --database-url or CRM_BENCH_INGEST_DATABASE_URL
overrides; created if missing, schema by `init_database`, the bench rows emptied and refilled on every run),
Redis (REDIS_URL, default redis://127.0.0.1:6379/0; --no-redis runs the jobs in the worker after commit), wrk
(`apt-get install -y wrk`) and gunicorn (a dependency of the project).

What it does:

1. One franchise (BENCHIN) with the integrations plugin enabled, its Kuaidi100 salt and generic secret saved
   with `save_settings`; N shipments each with 9 tracking events already stored (provider kuaidi100), by COPY.
2. One request body per shipment, written to files bench/wrk/bodies.lua reads (one file per wrk thread and
   round, so every request is a different shipment): a Kuaidi100 push (`param=<JSON>&sign=<md5>`, resultv2
   with statusCode) carrying the shipment's whole 10-event trace, newest first, of which the 9 older events
   are the stored ones; the newest is new (out for delivery, or delivered for --delivered-share of them, which
   raises a `shipment.delivered` domain event through the job outbox).
3. Two gunicorn servers, each `-w 2` sync workers, run side by side (the idle one uses no CPU): the CRM
   (`core.app:create_app()`, env pointing at the bench database, REDIS_URL set as in production, so domain
   events go to the outbox and are relayed to RQ after commit; no RQ worker runs, the queues are emptied
   afterwards) and bench/bare_insert_app.py (plain Flask, one INSERT + COMMIT per request, same body).
4. wrk (-t2 -c16 by default) against each, alternating bare, push, bare, push... after an untimed warm-up of
   each. wrk, both gunicorn workers, PostgreSQL and Redis share the machine's CPUs (2 on the reference
   machine), so the figures are for everything on one box; the CPU seconds each used are printed.
5. Checks in the database that each push that got through stored exactly its one new event (and nothing for
   the 9 known ones), and that no request failed (any non-200 response or unexpected body fails the run).
6. In-process, through the Flask test client (no HTTP server, no load): SQL statements per push and CPU ms
   per push; with --profile also a cProfile of 200 pushes.
7. The bulk path: --bulk-batches requests of 10,000 new events over 1,000 shipments to the generic signed
   JSON endpoint, one at a time from this process (http.client), events/s per batch and the median; then the
   first batch again (all duplicates).

Prints figures (requests/s, latency p50/p90/p99, CPU ms per request of the workers, PostgreSQL, Redis, wrk and
everything else, read from /proc; a WARNING when other processes took CPU during a run, as the figures are then
low) and ratios against the goals of issue 4 (>= 1,000 pushes/s; push/bare >= 0.50; bulk >= 20,000 events/s);
CPU ms per request is the steadiest figure on a shared machine: 2 CPUs / (total CPU ms per push) bounds the
rate. Exits non-zero only when a request failed or
the database check finds wrong rows, never because a goal is missed. The figures depend on the machine.

Other options: --bare-only (only the bare endpoint: tests the harness), --skip-bulk, --keep-files (keeps the
work folder: bodies, gunicorn and wrk logs, profiles), --max-rate (pushes/s the bodies are sized for; a run
that runs out says so), --delivered-share. --quick is a smoke run (3 s runs, 1 round, 2 bulk batches).

--profile adds an untimed push round under `py-spy record` (pip install py-spy into the venv) and prints
where the workers spend their time (own time and inclusive time of the top functions).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import collections
import datetime as dt
import hashlib
import http.client
import json
import logging
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.list_latency import ensure_database, libpq_url, machine_info

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "bodies.lua"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_ingest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
QUEUE_PREFIX = "crmbench-ingest"
SECRET_KEY = "crm-bench-ingest-secret-key"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"crm-bench-ingest-encryption-key!").decode()
FRANCHISE_CODE = "BENCHIN"
SALT = "bench-kuaidi100-salt"
GENERIC_SECRET = "bench-generic-secret-0123456789"
PUSH_WAYBILL = "YD43"     # + 10 digits: the shipments of the Kuaidi100 pushes
BULK_WAYBILL = "BK77"     # + 10 digits: the shipments of the bulk path
BEIJING = dt.timedelta(hours=8)
BASE = dt.datetime(2024, 9, 10, 8, 0, 0)  # Beijing time of the first scan of shipment 0
FORM = "application/x-www-form-urlencoded"
PUSH_OK = '"result":%s*true'
GOAL_RATE, GOAL_RATIO, GOAL_BULK = 1000.0, 0.50, 20000.0

# The trace of every shipment, oldest first: (statusCode, item status text, context, areaCode, areaName).
# The first 9 are stored before the run; the 10th is the new one (out for delivery, or delivered).
TRACE = [
    ("1", "揽收", "【苏州市】江苏常熟公司-虞山服务部(0512-52888888) 已揽收", "CN320581000000", "江苏,苏州市,常熟市"),
    ("1002", "在途", "【苏州市】已离开 江苏常熟公司；发往 江苏苏州分拨交付中心", "CN320581000000", "江苏,苏州市,常熟市"),
    ("1002", "在途", "【苏州市】已到达 江苏苏州分拨交付中心", "CN320500000000", "江苏,苏州市"),
    ("1002", "在途", "【苏州市】已离开 江苏苏州分拨交付中心；发往 上海分拨交付中心", "CN320500000000", "江苏,苏州市"),
    ("1002", "在途", "【上海市】已到达 上海分拨交付中心", "CN310000000000", "上海"),
    ("1002", "在途", "【上海市】已离开 上海分拨交付中心；发往 浙江杭州分拨交付中心", "CN310000000000", "上海"),
    ("1001", "在途", "【杭州市】已到达 浙江杭州分拨交付中心", "CN330100000000", "浙江,杭州市"),
    ("1002", "在途", "【杭州市】已离开 浙江杭州分拨交付中心；发往 浙江杭州西湖区公司", "CN330100000000", "浙江,杭州市"),
    ("1003", "在途", "【杭州市】已到达 浙江杭州西湖区公司", "CN330106000000", "浙江,杭州市,西湖区"),
]
OUT_FOR_DELIVERY = ("5", "派件", "【杭州市】浙江杭州西湖区公司-文三路服务部 派件员：王师傅 电话：13800001234 "
                    "当前正在为您派件，请保持电话畅通", "CN330106000000", "浙江,杭州市,西湖区")
DELIVERED = ("301", "签收", "【杭州市】您的快件已签收，签收人：本人签收。如有疑问请联系派件员：王师傅 13800001234",
             "CN330106000000", "浙江,杭州市,西湖区")
BULK_STATUSES = [("PICKED_UP", "PU"), ("IN_TRANSIT", "DEP"), ("IN_TRANSIT", "ARR"), ("IN_TRANSIT", "DEP"),
                 ("IN_TRANSIT", "ARR"), ("IN_TRANSIT", "DEP"), ("ARRIVED_DEST", "ARR"), ("IN_TRANSIT", "DEP"),
                 ("IN_TRANSIT", "ARR"), ("OUT_FOR_DELIVERY", "OFD")]

log = logging.getLogger("bench.ingest_pushes")
PROCESSES: list[subprocess.Popen] = []


# --- processes --------------------------------------------------------------------------------------------


def start(cmd, log_path: Path, env=None) -> subprocess.Popen:
    """A child in its own process group (so stopping it stops its workers), output to a log file."""
    out = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    PROCESSES.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the child's own group: gunicorn master and its workers
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if proc in PROCESSES:
        PROCESSES.remove(proc)


def stop_all() -> None:
    for proc in list(PROCESSES):
        stop(proc)


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def postgres_pids() -> list[int]:
    return pids_named("postgres")


def all_cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
                fields = tail.split()
                out[int(entry.name)] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / CLK_TCK)
            except (OSError, IndexError, ValueError):
                pass
    return out


def top_consumers(before: dict, after: dict, limit: int = 6) -> list[tuple[str, float]]:
    """CPU seconds by process name between two snapshots (processes that ended meanwhile are not seen)."""
    by_name = collections.Counter()
    for pid, (name, cpu) in after.items():
        prev = before.get(pid)
        by_name[name] += cpu - (prev[1] if prev and prev[0] == name else 0.0)
    return [(n, c) for n, c in by_name.most_common(limit) if c > 0.005]


def pg_sessions(url: str) -> int:
    """Sessions (connections) opened to the bench database since statistics were reset."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Server:
    def __init__(self, name: str, app: str, port: int, env: dict, workdir: Path, workers: int, ready_path: str,
                 database_url: str, threads: int = 1):
        self.name, self.port, self.ready_path, self.database_url = name, port, ready_path, database_url
        self.log_path = workdir / f"gunicorn-{name}.log"
        # threads let a worker use the CPU while another request of it waits for the database's commit
        worker_class = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
        cmd = [str(Path(sys.executable).with_name("gunicorn")), "-w", str(workers), *worker_class,
               "-b", f"127.0.0.1:{port}", "--timeout", "120", "--backlog", "2048", "--log-level", "warning",
               app]
        self.proc = start(cmd, self.log_path, env)
        self.workers = workers

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"gunicorn {self.name} exited ({self.proc.returncode}); its log:\n"
                         + self.log_path.read_text()[-4000:])
            if len(children(self.proc.pid)) >= self.workers:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request("GET", self.ready_path)
                    status = conn.getresponse().status
                    conn.close()
                    if status < 500:
                        return
                except OSError:
                    pass
            time.sleep(0.3)
        sys.exit(f"gunicorn {self.name} not ready after {timeout} s; its log:\n" + self.log_path.read_text()[-4000:])

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)


# --- data -------------------------------------------------------------------------------------------------


def make_app(url: str, instance: str):
    from core.app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://", "CRM_LOAD_ENTRYPOINTS": False,
        "INSTANCE_PATH": instance,
    })


def setup_franchise(app) -> int:
    from core.extensions import db
    from core.plugin_settings import save_settings
    from core.plugins import set_activation
    from core.tenancy import Franchise, Region

    with app.app_context():
        franchise = db.session.query(Franchise).filter_by(code=FRANCHISE_CODE).one_or_none()
        if franchise is None:
            region = db.session.query(Region).filter_by(code="BENCHR").one_or_none() \
                or Region(code="BENCHR", name="压测大区", active=True)
            franchise = Franchise(code=FRANCHISE_CODE, name="压测加盟商", region=region, active=True)
            db.session.add(franchise)
            db.session.commit()
        fid = franchise.id
        set_activation("integrations", enabled=True, franchise_id=fid, user="bench")
        db.session.commit()
        values, errors = save_settings(app.extensions["crm_plugins"], "integrations", fid,
                                       {"kuaidi100_salt": SALT, "generic_secret": GENERIC_SECRET})
        if errors:
            sys.exit(f"save_settings: {errors}")
        return fid


def reset_tables(conn) -> None:
    existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    tables = [t for t in ("crm_tracking_event", "crm_shipment", "integ_inbound_payload", "integ_unmatched_event",
                          "integ_shipment_exception", "crm_job", "bench_bare_push") if t in existing]
    conn.execute("TRUNCATE " + ", ".join(tables) + " CASCADE")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_bare_push (id serial PRIMARY KEY, received_at timestamp NOT NULL,"
                 " body_bytes integer NOT NULL)")


def trace_times(i: int) -> list[dt.datetime]:
    """Beijing local times of shipment i's 10 events."""
    start_at = BASE + dt.timedelta(minutes=(i % 5000) * 3, seconds=i % 60)
    return [start_at + dt.timedelta(hours=3 * k, minutes=7 * k) for k in range(10)]


def fill(url: str, fid: int, pushes: int, bulk: int) -> tuple[list[int], list[int]]:
    """Shipments (push ones with their 9 known events; bulk ones without events) by COPY. Returns their ids."""
    from plugins.integrations.inbound.codes import KUAIDI100

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with psycopg.connect(libpq_url(url)) as conn:
        reset_tables(conn)
        with conn.cursor().copy("COPY crm_shipment (franchise_id, carrier, waybill_no, service_product, created_at,"
                                " status, status_at, custom) FROM STDIN") as copy:
            for i in range(pushes):
                times = trace_times(i)
                copy.write_row((fid, "YUNDA", f"{PUSH_WAYBILL}{i:010d}", "standard", times[0] - BEIJING
                                - dt.timedelta(hours=1), "IN_TRANSIT", times[8] - BEIJING, "{}"))
            for j in range(bulk):
                copy.write_row((fid, "CRM", f"{BULK_WAYBILL}{j:010d}", "standard", BASE - BEIJING, "CREATED",
                                None, "{}"))
        ids = dict(conn.execute("SELECT waybill_no, id FROM crm_shipment WHERE franchise_id = %s", (fid,)).fetchall())
        push_ids = [ids[f"{PUSH_WAYBILL}{i:010d}"] for i in range(pushes)]
        bulk_ids = [ids[f"{BULK_WAYBILL}{j:010d}"] for j in range(bulk)]
        with conn.cursor().copy("COPY crm_tracking_event (franchise_id, shipment_id, occurred_at, status, provider,"
                                " raw_code, raw_text, location, source, received_at) FROM STDIN") as copy:
            for i, sid in enumerate(push_ids):
                times = trace_times(i)
                for k, (code, _text, context, _area, area_name) in enumerate(TRACE):
                    copy.write_row((fid, sid, times[k] - BEIJING, KUAIDI100[code], "kuaidi100", code, context,
                                    area_name, "push", now))
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for table in ("crm_shipment", "crm_tracking_event"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return push_ids, bulk_ids


def push_body(i: int, delivered: bool) -> str:
    times = trace_times(i)
    items = []
    for k, (code, status_text, context, area_code, area_name) in enumerate([*TRACE, DELIVERED if delivered
                                                                            else OUT_FOR_DELIVERY]):
        when = times[k].strftime("%Y-%m-%d %H:%M:%S")
        items.append({"context": context, "time": when, "ftime": when, "status": status_text, "statusCode": code,
                      "areaCode": area_code, "areaName": area_name})
    items.reverse()  # newest first
    param = json.dumps({
        "status": "polling", "billstatus": "got", "message": "",
        "lastResult": {"message": "ok", "state": "3" if delivered else "5", "status": "200", "condition": "F00",
                       "ischeck": "1" if delivered else "0", "com": "yunda", "nu": f"{PUSH_WAYBILL}{i:010d}",
                       "data": items}},
        ensure_ascii=False, separators=(",", ":"))
    sign = hashlib.md5(param.encode() + SALT.encode()).hexdigest().upper()
    return urlencode({"param": param, "sign": sign})


class Slice:
    """The shipments (by index) of one wrk run, split over the wrk threads; the bodies in files per thread."""

    def __init__(self, name: str, start_at: int, count: int, threads: int, workdir: Path):
        self.name, self.threads = name, threads
        self.indexes = [list(range(start_at + t, start_at + count, threads)) for t in range(threads)]
        self.prefix = str(workdir / f"bodies-{name}-")

    def write(self, delivered_every: int) -> int:
        size = 0
        for t, indexes in enumerate(self.indexes):
            with open(f"{self.prefix}{t}.txt", "w", encoding="ascii") as f:
                for i in indexes:
                    line = push_body(i, delivered_every > 0 and i % delivered_every == 0)
                    size += len(line)
                    f.write(line + "\n")
        return size

    def sent(self, per_thread: list[dict]) -> set[int]:
        """Indexes of the shipments whose bodies wrk sent (at least once)."""
        out = set()
        for info in per_thread:
            indexes = self.indexes[info["tid"]]
            out.update(indexes[:min(info["sent"], len(indexes))])
        return out


# --- wrk --------------------------------------------------------------------------------------------------


def run_wrk(url: str, body_slice: Slice, seconds: float, threads: int, connections: int, workdir: Path,
            pattern: str, label: str) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(LUA), url, "--", body_slice.prefix, FORM, pattern]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    PROCESSES.append(proc)
    try:
        output, _ = proc.communicate(timeout=seconds + 120)
    finally:
        stop(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    wrk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    (workdir / f"wrk-{label}.txt").write_text(output)
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"wrk printed no figures ({' '.join(cmd)}):\n{output}")
    result = json.loads(line[len("WRKJSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_wrk"] = wrk_cpu
    return result


def measured(server: Server, run) -> dict:
    """Run `run()` and add the CPU seconds the server's workers, PostgreSQL, Redis and the whole machine used,
    and the number of connections opened to the database meanwhile (each is a new postgres process)."""
    workers, pg, redis = server.worker_pids(), postgres_pids(), pids_named("redis-server")
    s0 = pg_sessions(server.database_url)
    snapshot = all_cpu()
    w0, p0, r0, (b0, t0) = cpu_seconds(workers), cpu_seconds(pg), cpu_seconds(redis), machine_busy()
    result = run()
    result["top"] = top_consumers(snapshot, all_cpu())
    w1, p1, r1, (b1, t1) = cpu_seconds(workers), cpu_seconds(pg + [p for p in postgres_pids() if p not in pg]), \
        cpu_seconds(redis), machine_busy()
    result["pg_sessions"] = pg_sessions(server.database_url) - s0 - 1  # less the one pg_sessions itself opened
    result["cpu_workers"] = w1 - w0
    result["cpu_postgres"] = p1 - p0
    result["cpu_redis"] = r1 - r0
    result["machine_busy"] = (b1 - b0) / max(1, t1 - t0)
    result["cpu_machine"] = (b1 - b0) / CLK_TCK
    return result


def wait_quiet(limit: float = 60, busy: float = 0.15) -> float:
    """Wait until the machine is nearly idle (workers booted, autovacuum and checkpoints done); returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        b0, t0 = machine_busy()
        time.sleep(1)
        b1, t1 = machine_busy()
        if (b1 - b0) / max(1, t1 - t0) < busy:
            break
    return time.monotonic() - started


def print_runs(runs: list[dict]) -> None:
    print(f"  {'run':<10} {'req/s':>8} {'requests':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
          f" {'errors':>6} {'wraps':>5}  CPU ms/req: {'app':>5} {'pg':>5} {'redis':>5} {'wrk':>5} {'other':>5}"
          f"  busy  new pg conn/req")
    for r in runs:
        n = max(1, r["requests"])
        errors = r["connect"] + r["read"] + r["write"] + r["timeout"] + r["bad_status"] + r["bad_body"]
        wraps = sum(t["wraps"] for t in r["threads"])
        other = max(0.0, r["cpu_machine"] - r["cpu_workers"] - r["cpu_postgres"] - r["cpu_wrk"] - r["cpu_redis"])
        print(f"  {r['label']:<10} {r['rps']:>8.0f} {r['requests']:>9,} {r['p50'] / 1000:>7.1f} "
              f"{r['p90'] / 1000:>7.1f} {r['p99'] / 1000:>7.1f} {r['max'] / 1000:>7.1f} {errors:>6} {wraps:>5}   "
              f"            {r['cpu_workers'] * 1000 / n:>5.2f} {r['cpu_postgres'] * 1000 / n:>5.2f} "
              f"{r['cpu_redis'] * 1000 / n:>5.2f} {r['cpu_wrk'] * 1000 / n:>5.2f} {other * 1000 / n:>5.2f}"
              f"  {r['machine_busy'] * 100:>3.0f}%  {r['pg_sessions'] / n:>15.2f}")
    for r in runs:
        known = r["cpu_workers"] + r["cpu_postgres"] + r["cpu_redis"] + r["cpu_wrk"]
        other = r["cpu_machine"] - known
        seconds = r["duration_us"] / 1e6
        if other > 0.25 * seconds:
            print(f"  WARNING {r['label']}: {other:.1f} CPU-s ({other / seconds:.2f} CPUs) went to other processes"
                  f" during the run: the machine was not idle, the req/s figures are lower than they would be")
    print("  CPU seconds by process name (processes that ended during the run are not seen):")
    for r in runs:
        print(f"    {r['label']:<10} " + ", ".join(f"{name} {cpu:.2f}" for name, cpu in r["top"]))


def check_errors(runs: list[dict]) -> list[str]:
    problems = []
    for r in runs:
        socket_errors = {k: r[k] for k in ("connect", "read", "write", "timeout") if r[k]}
        if r["bad_status"] or r["bad_body"] or socket_errors:
            problems.append(f"{r['label']}: {r['bad_status']} non-200 responses, {r['bad_body']} unexpected bodies,"
                            f" socket errors {socket_errors or 0}; first bad answer: {r['first_bad'] or '-'}")
    return problems


# --- checks -----------------------------------------------------------------------------------------------


def verify_pushes(url: str, fid: int, push_ids: list[int], sent: set[int], answered_ok: int,
                  connections: int) -> list[str]:
    """Each sent push stored its one new event; no unsent shipment changed; no event stored twice."""
    with psycopg.connect(libpq_url(url)) as conn:
        counts = dict(conn.execute(
            "SELECT s.id, count(e.id) FROM crm_shipment s LEFT JOIN crm_tracking_event e ON e.shipment_id = s.id"
            " WHERE s.franchise_id = %s AND s.waybill_no LIKE %s GROUP BY s.id", (fid, PUSH_WAYBILL + "%")).fetchall())
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM integ_inbound_payload"
                                     " WHERE provider = 'kuaidi100' GROUP BY outcome").fetchall())
        jobs = dict(conn.execute("SELECT status, count(*) FROM crm_job GROUP BY status").fetchall())
    sent_ids = {push_ids[i] for i in sent}
    stored = sum(1 for sid in sent_ids if counts.get(sid) == 10)
    missing = sum(1 for sid in sent_ids if counts.get(sid) == 9)
    wrong = {sid: n for sid, n in counts.items() if n not in (9, 10) or (n == 10 and sid not in sent_ids)}
    print(f"  pushes sent (distinct shipments): {len(sent_ids):,}; answered 200 by wrk's count: {answered_ok:,}")
    print(f"  shipments with their new event stored: {stored:,}; sent but not stored: {missing:,}"
          f" (in flight when wrk stopped: at most {connections}); with a wrong event count: {len(wrong)}")
    print("  payload log (kuaidi100): " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))
    print("  job outbox: " + (", ".join(f"{k} {v:,}" for k, v in sorted(jobs.items())) or "empty"))
    problems = []
    if wrong:
        sample = list(wrong.items())[:5]
        problems.append(f"{len(wrong)} shipments have a wrong number of events (shipment id: events): {sample}")
    if stored < answered_ok:
        problems.append(f"wrk got {answered_ok:,} successful answers but only {stored:,} new events are stored")
    if missing > connections:
        problems.append(f"{missing:,} sent pushes stored nothing (more than the {connections} that can be in flight)")
    if outcomes.get("rejected"):
        problems.append(f"{outcomes['rejected']:,} pushes were rejected (see integ_inbound_payload.reason)")
    return problems


# --- bulk -------------------------------------------------------------------------------------------------


def bulk_body(batch: int, waybills: list[str]) -> bytes:
    events = []
    for j, waybill in enumerate(waybills):
        start_at = BASE + dt.timedelta(days=batch, minutes=j % 600)
        for k, (status, code) in enumerate(BULK_STATUSES):
            when = start_at + dt.timedelta(hours=2 * k)
            events.append({"waybill_no": waybill, "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                           "status": status, "code": code, "text": f"{status} {code} 浙江杭州分拨交付中心 第{k + 1}站",
                           "location": "浙江,杭州市"})
    return json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode()


def post_generic(port: int, body: bytes) -> tuple[float, int, dict]:
    from plugins.integrations.signing import signed_headers

    headers = {"Content-Type": "application/json", **signed_headers(GENERIC_SECRET, body)}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("POST", f"/integrations/push/generic/{FRANCHISE_CODE}", body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = {"raw": data[:300].decode(errors="replace")}
    return seconds, response.status, answer


def run_bulk(server: Server, url: str, fid: int, bulk_ids: list[int], batches: int, per_shipment: int) -> list[str]:
    waybills = [f"{BULK_WAYBILL}{j:010d}" for j in range(len(bulk_ids))]
    events_per_batch = len(waybills) * per_shipment
    print(f"bulk path: POST /integrations/push/generic/{FRANCHISE_CODE}, {batches} batches of "
          f"{events_per_batch:,} new events ({len(waybills):,} shipments x {per_shipment}), one request at a time")
    problems, rates = [], []
    bodies = [bulk_body(b, waybills) for b in range(batches)]
    print(f"  body: {len(bodies[0]) / 1e6:.2f} MB JSON")
    print(f"  {'batch':<12} {'seconds':>8} {'events/s':>9} {'app CPU s':>9} {'pg CPU s':>8}  answer")
    for b, body in enumerate([*bodies, bodies[0]]):
        label = f"{b + 1}" if b < batches else "1 again"
        result = measured(server, lambda: dict(zip(("seconds", "status", "answer"), post_generic(server.port, body))))
        rate = events_per_batch / result["seconds"]
        expect = ({"accepted": events_per_batch, "duplicates": 0, "unmatched": 0} if b < batches
                  else {"accepted": 0, "duplicates": events_per_batch, "unmatched": 0})
        if b < batches:
            rates.append(rate)
        print(f"  {label:<12} {result['seconds']:>8.2f} {rate:>9,.0f} {result['cpu_workers']:>9.2f} "
              f"{result['cpu_postgres']:>8.2f}  {result['status']} {json.dumps(result['answer'], ensure_ascii=False)}")
        if result["status"] != 200 or any(result["answer"].get(k) != v for k, v in expect.items()):
            problems.append(f"bulk batch {label}: HTTP {result['status']} {result['answer']} (expected {expect})")
    with psycopg.connect(libpq_url(url)) as conn:
        stored = conn.execute("SELECT count(*) FROM crm_tracking_event WHERE provider = 'generic' AND"
                              " shipment_id = ANY(%s)", (bulk_ids,)).fetchone()[0]
    print(f"  stored generic events: {stored:,} (expected {events_per_batch * batches:,})")
    if stored != events_per_batch * batches:
        problems.append(f"bulk: {stored:,} generic events stored, expected {events_per_batch * batches:,}")
    if rates:
        median = statistics.median(rates)
        print(f"  median: {median:,.0f} events/s   goal >= {GOAL_BULK:,.0f}: "
              f"{'met' if median >= GOAL_BULK else 'NOT met'} ({median / GOAL_BULK:.2f}x)")
    return problems


# --- profile ----------------------------------------------------------------------------------------------


def profile_round(server: Server, push_url: str, body_slice: Slice, seconds: float, args, workdir: Path) -> None:
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        print("profile: py-spy is not installed (.venv/bin/python -m pip install py-spy); skipped")
        return
    raw = workdir / "py-spy.txt"
    spy = start([str(py_spy), "record", "--subprocesses", "--format", "raw", "--rate", "250", "--nonblocking",
                 "-o", str(raw), "--duration", str(int(seconds) + 2), "-p", str(server.proc.pid)],
                workdir / "py-spy.log")
    time.sleep(1.5)
    result = run_wrk(push_url, body_slice, seconds, args.threads, args.connections, workdir, PUSH_OK, "profile")
    try:
        spy.wait(seconds + 60)
    except subprocess.TimeoutExpired:
        pass
    stop(spy)
    print(f"profile (py-spy, {result['rps']:.0f} pushes/s while sampled, untimed): {raw}")
    if not raw.exists():
        print("  no samples: " + (workdir / "py-spy.log").read_text()[-2000:])
        return
    summarize_profile(raw)


def summarize_profile(raw: Path, top: int = 25) -> None:
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        own[_short(frames[-1])] += n
        for frame in set(_short(f) for f in frames):
            inclusive[frame] += n
    idle = sum(n for f, n in own.items() if "select" in f and ("selectors" in f or "gunicorn" in f)
               or f.startswith("accept") or "wait (gunicorn" in f or "sleep (gunicorn" in f)
    print(f"  {total:,} samples over both workers (~{idle * 100 / max(1, total):.0f}% waiting for connections)")
    print("  own time (where the CPU is, or the worker waits: socket reads are PostgreSQL/Redis round trips):")
    for frame, n in own.most_common(top):
        print(f"    {n * 100 / total:5.1f}%  {frame}")
    print("  inclusive time of our code and the main libraries:")
    interesting = [(f, n) for f, n in inclusive.most_common() if any(
        key in f for key in ("plugins/", "core/", "sqlalchemy/orm", "sqlalchemy/engine", "psycopg", "werkzeug",
                             "flask/", "flask_appbuilder", "redis", "rq/", "cryptography", "json"))]
    for frame, n in interesting[:top + 15]:
        print(f"    {n * 100 / total:5.1f}%  {frame}")


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


# --- in-process look at one push -------------------------------------------------------------------------


def inprocess_look(url: str, workdir: Path, indexes: list[int], redis_url: str | None, delivered_every: int,
                   profile: bool) -> None:
    """Pushes through the Flask test client in this process: SQL statements per push, CPU ms per push without
    HTTP, gunicorn or contention, and (with --profile) the top functions by cProfile."""
    import cProfile
    import pstats

    from sqlalchemy import event

    from core.app import create_app
    from core.extensions import db

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "REDIS_URL": redis_url, "CRM_QUEUE_PREFIX": QUEUE_PREFIX, "RATELIMIT_STORAGE_URI": "memory://",
        "CRM_LOAD_ENTRYPOINTS": False, "INSTANCE_PATH": str(workdir / "instance"),
    })
    client = app.test_client()
    statements = collections.Counter()
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements[" ".join(statement.split())[:110]] += 1

    bodies = [push_body(i, delivered_every > 0 and i % delivered_every == 0) for i in indexes]
    path = f"/integrations/push/kuaidi100/{FRANCHISE_CODE}"
    warm, timed = bodies[:20], bodies[20:]
    half = len(timed) // 2 if profile else len(timed)
    for body in warm:
        client.post(path, data=body, content_type=FORM)
    event.listen(engine, "before_cursor_execute", count)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    bad = 0
    for body in timed[:half]:
        response = client.post(path, data=body, content_type=FORM)
        bad += response.status_code != 200 or not response.get_json().get("result")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    event.remove(engine, "before_cursor_execute", count)
    n = max(1, half)
    print(f"in-process (Flask test client, no HTTP server, this process alone; {n} pushes, 1 in "
          f"{delivered_every or '-'} a delivery, jobs {'to Redis' if redis_url else 'inline'}):")
    print(f"  {cpu * 1000 / n:.2f} CPU ms and {wall * 1000 / n:.2f} ms wall per push (the rest of wall time is"
          f" waiting for PostgreSQL and Redis); {bad} bad answers")
    # counted at SQLAlchemy's level: on PostgreSQL the push itself is one statement sent through the driver
    # (plugins/integrations/inbound/store_pg.py), plus its commit, which are not seen here
    print(f"  SQL statements per push through SQLAlchemy: {sum(statements.values()) / n:.2f} "
          "(+1 push statement through the driver, +1 commit)")
    for statement, k in statements.most_common(12):
        print(f"    {k / n:5.2f}  {statement}")
    if profile and timed[half:]:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in timed[half:]:
            client.post(path, data=body, content_type=FORM)
        profiler.disable()
        out = workdir / "cprofile.txt"
        with open(out, "w") as f:
            stats = pstats.Stats(profiler, stream=f)
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)
        m = len(timed) - half
        print(f"  cProfile of {m} more pushes (ms per push; own = tottime, incl = cumtime), by own time:")
        stats = pstats.Stats(profiler)
        rows = [(key, value) for key, value in stats.stats.items()]
        for (file, line, name), (cc, nc, tt, ct, callers) in sorted(rows, key=lambda kv: -kv[1][2])[:15]:
            print(f"    own {tt * 1000 / m:6.3f}  incl {ct * 1000 / m:6.3f}  {name} ({_shorten_path(file)}:{line})")
        print("  by inclusive time, our code and the main steps:")
        picked = [(k, v) for k, v in rows if any(key in k[0] for key in ("plugins/", "core/", "flask/app.py",
                                                                            "sqlalchemy/orm/session.py", "rq/"))]
        for (file, line, name), (cc, nc, tt, ct, callers) in sorted(picked, key=lambda kv: -kv[1][3])[:25]:
            print(f"    incl {ct * 1000 / m:6.3f}  own {tt * 1000 / m:6.3f}  {name} ({_shorten_path(file)}:{line})")
        print(f"  full cProfile listing: {out}")
    print()


def _shorten_path(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# --- main -------------------------------------------------------------------------------------------------


def flush_queues(redis_url: str) -> int:
    from redis import Redis

    conn = Redis.from_url(redis_url)
    dropped = 0
    for queue in ("high", "default", "low"):
        key = f"rq:queue:{QUEUE_PREFIX}-{queue}"
        ids = conn.lrange(key, 0, -1)
        dropped += len(ids)
        for job_id in ids:
            conn.delete(b"rq:job:" + job_id, b"rq:results:" + job_id)
        conn.delete(key)
    return dropped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("CRM_BENCH_INGEST_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="run the CRM without REDIS_URL (jobs run inline)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of each timed wrk run (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of the untimed warm-up of each server")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each server, alternating (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--gunicorn-threads", type=int, default=4,
                        help="threads per gunicorn worker, the same for both servers (default 4: gthread; "
                             "1: sync workers)")
    parser.add_argument("--max-rate", type=float, default=2500,
                        help="pushes/s the shipments are sized for (bodies per push run = rate x duration)")
    parser.add_argument("--delivered-share", type=float, default=0.1,
                        help="share of pushes whose new event is a delivery (a domain event); default 0.1")
    parser.add_argument("--bulk-batches", type=int, default=5, help="bulk requests of new events (default 5)")
    parser.add_argument("--bulk-shipments", type=int, default=1000, help="shipments per bulk batch (x10 events)")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--bare-only", action="store_true", help="only the bare endpoint (tests the harness)")
    parser.add_argument("--profile", action="store_true", help="an extra untimed push run under py-spy")
    parser.add_argument("--keep-files", action="store_true", help="keep the work folder (bodies, logs)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 s runs, 1 round, 1 s warm-up, 2 bulk batches")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds, args.bulk_batches = 3, 1, 1, 2
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("flask_appbuilder", "core", "alembic", "flask_migrate", "plugins"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The HMAC key is")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu), or build it from its sources")
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("--database-url: this benchmark needs PostgreSQL")

    return in_workdir("crm-bench-ingest-", args.keep_files, lambda workdir: _run(args, url, workdir))


def in_workdir(prefix: str, keep_files: bool, run) -> int:
    """`run(workdir)` in a fresh temporary folder, stopping every server started on the way however it ends."""
    signal.signal(signal.SIGTERM, _on_signal)
    atexit.register(stop_all)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(workdir)
    except KeyboardInterrupt:
        print("interrupted: stopping the servers")
        return 130
    finally:
        stop_all()
        if keep_files:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args, url: str, workdir: Path) -> int:
    overall = time.perf_counter()
    ensure_database(url)
    app = make_app(url, str(workdir / "instance"))
    from core.cli import init_database

    print("init_database ...", flush=True)
    init_database(app)
    fid = setup_franchise(app)
    print("\n".join(machine_info(app)))
    with app.app_context():
        from core.extensions import db

        pg_settings = dict(db.session.execute(text(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
            "('synchronous_commit', 'fsync', 'max_connections', 'wal_level')")).all())
    print("postgres: " + ", ".join(f"{k}={v}" for k, v in sorted(pg_settings.items())))
    print(f"wrk:      {subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"database: {make_url(url).render_as_string(hide_password=True)} | franchise {FRANCHISE_CODE} (id {fid})"
          f" | jobs: {'inline after commit (no REDIS_URL)' if args.no_redis else 'REDIS_URL ' + args.redis_url}")

    # sizing: every push run gets its own shipments (the warm-up too)
    per_run = int(args.max_rate * args.duration)
    warm = int(args.max_rate * args.warmup)
    push_runs = 0 if args.bare_only else args.rounds
    slices_plan = [("warm", warm)] + [(f"push{r + 1}", per_run) for r in range(max(1, push_runs))]
    if args.profile and not args.bare_only:
        slices_plan.append(("profile", per_run))
    if not args.bare_only:
        slices_plan.append(("inproc", 420 if args.profile else 220))
    pushes = sum(n for _, n in slices_plan)
    bulk = 0 if args.skip_bulk or args.bare_only else args.bulk_shipments
    started = time.perf_counter()
    push_ids, bulk_ids = fill(url, fid, pushes, bulk)
    print(f"filled {pushes:,} shipments with 9 kuaidi100 events each ({pushes * 9:,} events) and {bulk:,} bulk "
          f"shipments, COPY + VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
    slices, offset = {}, 0
    delivered_every = round(1 / args.delivered_share) if args.delivered_share > 0 else 0
    started, size = time.perf_counter(), 0
    for name, count in slices_plan:
        slices[name] = Slice(name, offset, count, args.threads, workdir)
        size += slices[name].write(delivered_every)
        offset += count
    print(f"wrote {pushes:,} signed Kuaidi100 bodies (mean {size / pushes / 1024:.1f} KiB, 10 events each, 1 new;"
          f" 1 in {delivered_every or 'none'} a delivery) in {time.perf_counter() - started:.1f} s", flush=True)

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "REDIS_URL"))}
    base_env["PYTHONPATH"] = str(ROOT)
    crm_env = dict(base_env, CRM_DATABASE_URL=url, CRM_SECRET_KEY=SECRET_KEY, CRM_ENCRYPTION_KEY=ENCRYPTION_KEY,
                   CRM_INSTANCE_PATH=str(workdir / "instance"), CRM_LOAD_ENTRYPOINTS="0",
                   CRM_QUEUE_PREFIX=QUEUE_PREFIX)
    if not args.no_redis:
        crm_env["REDIS_URL"] = args.redis_url
        flush_queues(args.redis_url)
    bare_env = dict(base_env, BENCH_BARE_DATABASE_URL=url)
    bare = Server("bare", "bench.bare_insert_app:create_app()", free_port(), bare_env, workdir, args.workers,
                  "/health", url, threads=args.gunicorn_threads)
    crm = None if args.bare_only else Server("crm", "core.app:create_app()", free_port(), crm_env, workdir,
                                             args.workers, "/favicon.ico", url, threads=args.gunicorn_threads)
    bare.wait_ready()
    if crm:
        crm.wait_ready()
    print(f"gunicorn: {args.workers} sync workers each (bare :{bare.port}" + (f", crm :{crm.port}" if crm else "")
          + f"); wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, warm-up {args.warmup:g} s each",
          flush=True)
    bare_url = f"http://127.0.0.1:{bare.port}/bare"
    push_url = f"http://127.0.0.1:{crm.port}/integrations/push/kuaidi100/{FRANCHISE_CODE}" if crm else None

    # bare runs send the bodies of the first push run (the bare endpoint ignores what they say)
    bare_slice = slices["push1"]
    warm_runs = [run_wrk(bare_url, bare_slice, args.warmup, args.threads, args.connections, workdir,
                         '"result":%s*true', "bare-warm")]
    warm_runs[0]["label"] = "bare warm"
    if crm:
        warm_runs.append(run_wrk(push_url, slices["warm"], args.warmup, args.threads, args.connections, workdir,
                                 PUSH_OK, "push-warm"))
        warm_runs[1]["label"] = "push warm"
    print(f"waited {wait_quiet():.0f} s for the machine to be idle", flush=True)
    runs = []
    for r in range(args.rounds):
        result = measured(bare, lambda: run_wrk(bare_url, bare_slice, args.duration, args.threads, args.connections,
                                                workdir, '"result":%s*true', f"bare{r + 1}"))
        result["label"] = f"bare {r + 1}"
        runs.append(result)
        print(f"  bare {r + 1}: {result['rps']:.0f} req/s", flush=True)
        if crm:
            result = measured(crm, lambda: run_wrk(push_url, slices[f"push{r + 1}"], args.duration, args.threads,
                                                   args.connections, workdir, PUSH_OK, f"push{r + 1}"))
            result["label"] = f"push {r + 1}"
            result["slice"] = f"push{r + 1}"
            runs.append(result)
            print(f"  push {r + 1}: {result['rps']:.0f} req/s", flush=True)

    print()
    print("throughput (wrk, each request a different shipment; latency from wrk, CPU from /proc):")
    print_runs(runs)
    problems = check_errors(warm_runs + runs)
    bare_rps = statistics.median(r["rps"] for r in runs if r["label"].startswith("bare"))
    print("  (CPU ms per request: app = the server's gunicorn workers, pg = every postgres process, wrk = the load"
          " generator, other = the rest of the machine: Redis, kernel, anything else running)")
    for r in runs:
        wraps = sum(t["wraps"] for t in r["threads"])
        if wraps and r["label"].startswith("push"):
            print(f"  NOTE {r['label']}: wrk ran out of bodies and resent known ones (raise --max-rate)")
    print()
    if crm:
        push_rps = statistics.median(r["rps"] for r in runs if r["label"].startswith("push"))
        print("against the goals of issue 4 (medians of the runs):")
        print(f"  bare INSERT endpoint        {bare_rps:>8.0f} req/s")
        print(f"  Kuaidi100 pushes            {push_rps:>8.0f} pushes/s   goal >= {GOAL_RATE:,.0f}: "
              f"{'met' if push_rps >= GOAL_RATE else 'NOT met'} ({push_rps / GOAL_RATE:.2f}x)")
        print(f"  push / bare                 {push_rps / bare_rps:>8.2f}           goal >= {GOAL_RATIO:.2f}: "
              f"{'met' if push_rps / bare_rps >= GOAL_RATIO else 'NOT met'}")
        pairs = [(runs[i]["rps"], runs[i + 1]["rps"]) for i in range(0, len(runs) - 1, 2)]
        print("  push / bare per round:      " + ", ".join(f"{p / b:.2f}" for b, p in pairs))
        print()
        print("database check of the pushes:")
        sent = slices["warm"].sent(warm_runs[1]["threads"])
        for r in runs:
            if "slice" in r:
                sent |= slices[r["slice"]].sent(r["threads"])
        answered = sum(r["requests"] for r in warm_runs + runs if r["label"].startswith("push"))
        problems += verify_pushes(url, fid, push_ids, sent, answered, args.connections)
        if not args.no_redis:
            print(f"  RQ jobs relayed to Redis and dropped (no RQ worker runs here): {flush_queues(args.redis_url):,}")
        print()
        if args.profile:
            profile_round(crm, push_url, slices["profile"], min(args.duration, 10), args, workdir)
            print()
        inproc = slices["inproc"]
        inprocess_look(url, workdir, sorted(i for part in inproc.indexes for i in part),
                       None if args.no_redis else args.redis_url, delivered_every, args.profile)
        if not args.no_redis:
            flush_queues(args.redis_url)
        if bulk:
            wait_quiet(30)
            problems += run_bulk(crm, url, fid, bulk_ids, args.bulk_batches, len(BULK_STATUSES))
            print()
    for server in (bare, crm):
        if server is not None:
            text_log = server.log_path.read_text(errors="replace")
            errors = [ln for ln in text_log.splitlines() if "Traceback" in ln or " ERROR " in ln or "[ERROR]" in ln]
            if errors:
                print(f"gunicorn {server.name} logged {len(errors)} error lines; last lines of {server.log_path}:")
                print("\n".join(text_log.splitlines()[-30:]))
    print(f"total {time.perf_counter() - overall:.0f} s")
    if problems:
        print("\nFAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
