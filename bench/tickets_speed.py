"""Speed of the tickets plugin at 2,000,000 tickets on PostgreSQL (issue 5): the agents' queue pages, ticket
creation through the REST API under load, and the SLA scan over every open ticket.

    .venv/bin/python -m bench.tickets_speed [--tickets 2000000] [--refill] [--only queues,api,scan]
        [--requests 50] [--warmup 5] [--duration 15] [--rounds 2] [--explain] [--profile] [--quick]

Data: bench/tickets_data.py (`crm_bench_tickets`, CRM_BENCH_DATABASE_URL overrides; made on the first run, in a
few minutes, and reused while the row count and generator match; --refill forces). Rows earlier runs added
are deleted first and the open tickets put back as generated before the scan, so runs are comparable.

1. **Queue pages**, in-process (Flask test client, session cookie of `bench_tk_agent` from the login form, the
   app from `create_app` as in production): "my tickets" (200 open), page 3 of it, "my team's unassigned"
   (the team has 2,500 open, 500 unassigned) and "my alerts"; warm-ups, then --requests rounds with the cases
   shuffled per round. p50/p95/mean/max ms and SQL statements per request. Goal: p95 <= 100 ms.
   --explain adds EXPLAIN (ANALYZE, BUFFERS) of each page's statements on tk_ticket; --profile a cProfile of
   the slowest page.
2. **Ticket creation** `POST /api/v1/tickets/` through gunicorn (2 workers, gthread 4 threads as
   bench/ingest_pushes.py, `core.app:create_app()`, REDIS_URL set: domain events go to the outbox and RQ; no
   RQ worker runs, the queues are emptied afterwards) driven by wrk with bench/wrk/bodies.lua: each
   request a JSON body naming a different waybill of a shipment without a ticket (1 in 10 names none), of
   a franchise the API user (a Frontline Agent of all 20 franchises) serves, with type, category, priority,
   channel, reporter name and (half of them) phone; JWT from /api/v1/security/login. So every request runs
   intake, dispatch (rules, team lock, least-busy/round-robin choice among 10 members with 200 open tickets
   each) and the SLA computation. Printed: req/s, latency (wrk), CPU ms per request of the workers,
   PostgreSQL, Redis, wrk and the rest of the machine. Afterwards the database is checked: one ticket per
   answered 201, none attached, each with a team, an assignee, an SLA policy, both due times and one
   "created" line. Then in-process: SQL statements and CPU ms per creation (--profile: cProfile). Goal:
   >= 300 tickets/s.
3. **SLA scan**: `plugins.tickets.sla.scan.scan_sla(franchise_id)` for each of the 20 franchises, in-process,
   each under the franchise's scope and committed as the job runner does (core/jobs.py), over the 200,000
   open tickets: a first run (many warnings and breaches) and a second (nothing left to do). Seconds, rows
   touched, and the slowest statements. Goal: < 10 s for all open tickets.

Prints figures, not pass/fail; exits non-zero only when a request failed or the database check finds wrong rows.
The machine's load (other processes' CPU) is printed with each part: on a shared machine the rates are low.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench import tickets_data as data
from bench.ingest_pushes import (PROCESSES, Server, Slice, _shorten_path, check_errors, cpu_seconds, flush_queues,
                                 free_port, in_workdir, machine_busy, measured, postgres_pids, print_runs, stop,
                                 wait_quiet)
from bench.list_latency import SqlCounter, libpq_url, machine_info, run_cases, summarize

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "bodies.lua"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
QUEUE_PREFIX = "crmbench-tickets"
GOAL_QUEUE_P95, GOAL_RATE, GOAL_SCAN = 100.0, 300.0, 10.0
CREATED_OK = '"attached":%s*false'
QUEUE_PAGES = [  # name, path, what
    ("my tickets", "/tickets/queue/mine", "the agent's open tickets, earliest due first (200)"),
    ("my tickets, page 3", "/tickets/queue/mine?page=2", "rows 101-150 of the same"),
    ("my team's unassigned", "/tickets/queue/team", "open, unassigned tickets of the agent's team (500 of 2,500)"),
    ("my alerts", "/tickets/queue/alerts", "the agent's alerts"),
]
SUBJECTS = {"inquiry": "查询包裹到哪里了，三天没有更新", "complaint": "未经同意放驿站，要求送货上门",
            "claim": "外包装破损，物品碎裂，申请理赔", "address_change": "修改收件地址到公司",
            "exception": "包裹显示异常，请核实", "other": "申请开具发票"}


def load() -> str:
    """Load average and the CPU share other processes took in the last second."""
    b0, t0 = machine_busy()
    time.sleep(1)
    b1, t1 = machine_busy()
    avg = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {' '.join(avg)}, CPUs busy {100 * (b1 - b0) / max(1, t1 - t0):.0f}% (last second)"


# --- 1. queue pages ---------------------------------------------------------------------------------------


def login_form(client, username: str) -> None:
    response = client.post("/login/", data={"username": username, "password": data.PASSWORD})
    if response.status_code != 302:
        sys.exit(f"login of {username} failed: {response.status_code}")


def queue_cases(client, pages):
    cases = []
    for name, path, what in pages:
        def go(path=path, name=name):
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{name} ({path}): {response.status_code} {response.get_data(as_text=True)[:300]}")
            return response.get_data(as_text=True)
        cases.append({"name": name, "key": name, "call": go, "what": f"GET {path}: {what}"})
    return cases


def run_queues(app, args, url: str, network: data.Network) -> list[str]:
    from core.extensions import db

    print(f"== queue pages ({load()})", flush=True)
    client = app.test_client()
    client.get("/lang/en")
    login_form(client, data.BENCH_AGENT)
    missing = [path for _name, path, _what in QUEUE_PAGES if client.get(path).status_code == 404]
    if missing:
        print(f"  NOTE: no page at {', '.join(missing)} (not registered in this build): those are left out")
    cases = queue_cases(client, [page for page in QUEUE_PAGES if page[1] not in missing])
    cases += query_cases(app, network)
    with app.app_context():
        counter = SqlCounter(db.engine)
    statements, rows = {}, {}
    for case in cases:
        case["call"]()
        counter.statements.clear()
        counter.active = True
        try:
            page = case["call"]()
        finally:
            counter.active = False
        statements[case["key"]] = list(counter.statements)
        rows[case["key"]] = len(set(re.findall(r"\bT\d{8}\b", page)))
    times = run_cases(cases, args.requests, args.warmup)
    print(f"  in-process Flask test client, session of {data.BENCH_AGENT}; {args.warmup} warm-ups, then "
          f"{args.requests} rounds, cases shuffled per round")
    print(f"  {'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'max ms':>8} {'SQL/req':>8} {'tickets':>8}")
    problems = []
    for case in cases:
        s = summarize(times[case["name"]])
        print(f"  {case['name']:<24} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['mean']:>8.1f} {s['max']:>8.1f} "
              f"{len(statements[case['key']]):>8} {rows[case['key']]:>8}")
    for case in cases:
        print(f"    {case['name']:<22} {case['what']}")
    for name in ("my tickets", "my team's unassigned"):
        if name not in times:
            continue
        p95 = summarize(times[name])["p95"]
        print(f"  {name}: p95 {p95:.1f} ms   goal <= {GOAL_QUEUE_P95:.0f} ms: "
              f"{'met' if p95 <= GOAL_QUEUE_P95 else 'NOT met'}")
        if rows[name] == 0:
            problems.append(f"queue page {name} shows no ticket")
    shown = "my team's unassigned" if "my team's unassigned" in statements else "team queue query"
    print(f"  SQL statements of '{shown}' (one call):")
    for statement, _params in statements[shown]:
        print(f"    {' '.join(statement.split())[:150]}")
    if args.explain:
        explain(app, cases, statements)
    if args.profile:
        slowest = max(cases, key=lambda c: summarize(times[c["name"]])["p95"])
        profile_calls(f"page {slowest['name']}", slowest["call"], 30)
    print(flush=True)
    return problems


def query_cases(app, network: data.Network):
    """The queues' queries without HTTP, login or rendering: `queue_page` of plugins/tickets/desk/queues.py in a
    request context under the agent's franchise scope."""
    from core.extensions import db
    from core.tenancy import Scope, scope_as
    from plugins.tickets.desk import queues

    scope = Scope(False, frozenset({network.franchise_ids[0]}))
    user_id = network.bench_agent_id

    def call(make_condition):
        def go():
            with app.test_request_context(), scope_as(scope):
                page = queues.queue_page(make_condition(), 0)
                db.session.remove()
            return " ".join(row.number for row in page.rows)
        return go

    return [
        {"name": "my tickets query", "key": "my tickets query",
         "call": call(lambda: queues.my_tickets_condition(user_id)),
         "what": "queues.queue_page(my_tickets_condition(agent)): rows, capped counts, names; no HTTP or template"},
        {"name": "team queue query", "key": "team queue query",
         "call": call(lambda: queues.team_unassigned_condition(queues.my_team_ids(user_id))),
         "what": "queues.queue_page(team_unassigned_condition(the agent's teams)), the same way"},
    ]


def explain(app, cases, statements) -> None:
    from core.extensions import db

    print("  EXPLAIN (ANALYZE, BUFFERS) of the statements on tk_ticket:")
    with app.app_context(), db.engine.connect() as conn:
        for case in cases:
            for statement, parameters in statements[case["key"]]:
                if "tk_ticket" not in statement and "tk_agent_alert" not in statement:
                    continue
                print(f"  -- {case['name']}: {' '.join(statement.split())[:300]}")
                print(f"     params: {parameters}")
                for line in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars():
                    print(f"       {line}")


def profile_calls(label: str, call, n: int, top: int = 18) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = list(stats.stats.items())
    print(f"  cProfile of {n} x {label} (ms per call; own = tottime, incl = cumtime), by own time:")
    for (file, line, name), (cc, nc, tt, ct, callers) in sorted(rows, key=lambda kv: -kv[1][2])[:top]:
        print(f"    own {tt * 1000 / n:7.2f}  incl {ct * 1000 / n:7.2f}  {name} ({_shorten_path(file)}:{line})")
    print("  by inclusive time, our code and the main steps:")
    picked = [(k, v) for k, v in rows if any(key in k[0] for key in ("plugins/", "core/", "flask/app.py",
                                                                     "sqlalchemy/orm/session.py", "jinja2/"))]
    for (file, line, name), (cc, nc, tt, ct, callers) in sorted(picked, key=lambda kv: -kv[1][3])[:top + 7]:
        print(f"    incl {ct * 1000 / n:7.2f}  own {tt * 1000 / n:7.2f}  {name} ({_shorten_path(file)}:{line})")


# --- 2. ticket creation through the API -------------------------------------------------------------------


def shipment_of(i: int) -> int:
    """The i-th shipment of the API pool (no ticket on it yet)."""
    return data.SHIPMENTS + 1 + i


def create_body(i: int, network: data.Network) -> dict:
    rng = random.Random(i)
    ship = shipment_of(i)
    kind = rng.choices(list(SUBJECTS), weights=[45, 20, 10, 10, 10, 5])[0]
    body = {"franchise_id": network.franchise_ids[(ship - 1) % data.N_FRANCHISES], "type": kind,
            "priority": rng.choices(["urgent", "high", "normal", "low"], weights=[5, 15, 65, 15])[0],
            "channel": rng.choice(["wechat", "app", "chat", "email", "api"]), "subject": SUBJECTS[kind],
            "description": f"客户来电反映：{SUBJECTS[kind]}。请尽快处理并回复客户。",
            "reporter_role": rng.choice(["sender", "receiver"]), "reporter_name": rng.choice(["王女士", "李先生", "张"])}
    if kind == "complaint":
        body["category"] = rng.choice(["delay", "delivery_service", "attitude", "charges", "damaged"])
    elif kind == "claim":
        body["category"] = rng.choice(["damaged", "lost"])
    if i % 10 != 9:  # 1 in 10 names no parcel
        body["waybill_no"] = f"BT{ship:011d}"
    if i % 2 == 0:
        body["reporter_phone"] = f"139{(i * 7919) % 100_000_000:08d}"
    return body


class BodySlice(Slice):
    """The API bodies (by pool index) of one wrk run, split over the wrk threads, in files per thread."""

    def write_bodies(self, network: data.Network) -> int:
        size = 0
        for t, indexes in enumerate(self.indexes):
            with open(f"{self.prefix}{t}.txt", "w", encoding="utf-8") as f:
                for i in indexes:
                    line = json.dumps(create_body(i, network), ensure_ascii=False, separators=(",", ":"))
                    size += len(line.encode())
                    f.write(line + "\n")
        return size


def run_wrk_json(url: str, body_slice: BodySlice, token: str, seconds: float, threads: int, connections: int,
                 workdir: Path, label: str) -> dict:
    """bench.ingest_pushes.run_wrk for JSON bodies with a bearer token, 201 expected."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(LUA), url, "--", body_slice.prefix, "application/json", CREATED_OK, "201", token]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    PROCESSES.append(proc)
    try:
        output, _ = proc.communicate(timeout=seconds + 120)
    finally:
        stop(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (workdir / f"wrk-{label}.txt").write_text(output)
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"wrk printed no figures ({' '.join(cmd[:-3])} ...):\n{output}")
    result = json.loads(line[len("WRKJSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_wrk"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return result


def api_token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/v1/security/login", body=json.dumps(
        {"username": data.API_USER, "password": data.PASSWORD, "provider": "db"}),
        headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        sys.exit(f"API login of {data.API_USER}: {response.status} {body[:300]!r}")
    return json.loads(body)["access_token"]


def run_api(args, url: str, network: data.Network, workdir: Path) -> list[str]:
    print(f"== ticket creation through the API ({load()})", flush=True)
    per_run = int(args.max_rate * args.duration)
    plan = [("warm", int(args.max_rate * args.warmup))] + [(f"create{r + 1}", per_run) for r in range(args.rounds)]
    plan.append(("inproc", 260 if args.profile else 140))
    if sum(n for _, n in plan) > data.API_SHIPMENTS:
        sys.exit(f"--max-rate x durations needs more than the {data.API_SHIPMENTS:,} pool shipments")
    slices, offset = {}, 0
    for name, count in plan:
        slices[name] = BodySlice(name, offset, count, args.threads, workdir)
        if name != "inproc":
            slices[name].write_bodies(network)
        offset += count
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "REDIS_URL"))}
    base_env["PYTHONPATH"] = str(ROOT)
    env = dict(base_env, CRM_DATABASE_URL=url, CRM_SECRET_KEY=data.SECRET_KEY,
               CRM_ENCRYPTION_KEY=data.ENCRYPTION_KEY, CRM_INSTANCE_PATH=str(workdir / "instance"),
               CRM_LOAD_ENTRYPOINTS="0", CRM_QUEUE_PREFIX=QUEUE_PREFIX, CRM_LOGIN_RATE_LIMIT="100000 per minute")
    if not args.no_redis:
        env["REDIS_URL"] = args.redis_url
        flush_queues(args.redis_url)
    server = Server("crm", "core.app:create_app()", free_port(), env, workdir, args.workers, "/login/", url,
                    threads=args.gunicorn_threads)
    server.wait_ready()
    token = api_token(server.port)
    target = f"http://127.0.0.1:{server.port}/api/v1/tickets/"
    kind = f"gthread {args.gunicorn_threads} threads" if args.gunicorn_threads > 1 else "sync"
    print(f"  gunicorn -w {args.workers} ({kind}) :{server.port}; wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration:g}s x {args.rounds} after a {args.warmup:g} s warm-up; jobs: "
          f"{'inline after commit (no REDIS_URL)' if args.no_redis else 'REDIS_URL ' + args.redis_url}", flush=True)
    warm = run_wrk_json(target, slices["warm"], token, args.warmup, args.threads, args.connections, workdir, "warm")
    warm["label"], warm["slice"] = "warm", "warm"
    print(f"  warm-up: {warm['rps']:.0f} req/s; waited {wait_quiet(30):.0f} s for the machine to calm down",
          flush=True)
    runs = []
    for r in range(args.rounds):
        name = f"create{r + 1}"
        result = measured(server, lambda: run_wrk_json(target, slices[name], token, args.duration, args.threads,
                                                       args.connections, workdir, name))
        result["label"], result["slice"] = f"create {r + 1}", name
        runs.append(result)
        print(f"  create {r + 1}: {result['rps']:.0f} tickets/s", flush=True)
    print()
    print("  throughput (wrk; latency from wrk, CPU from /proc):")
    print_runs(runs)
    problems = check_errors([warm] + runs)
    rates = [r["rps"] for r in runs]
    median = sorted(rates)[len(rates) // 2] if len(rates) % 2 else sum(sorted(rates)[len(rates) // 2 - 1:
                                                                                 len(rates) // 2 + 1]) / 2
    print(f"  ticket creation: {median:.0f} tickets/s (median of {len(rates)})   goal >= {GOAL_RATE:.0f}: "
          f"{'met' if median >= GOAL_RATE else 'NOT met'} ({median / GOAL_RATE:.2f}x)")
    cpu = [(r["cpu_workers"] + r["cpu_postgres"]) * 1000 / max(1, r["requests"]) for r in runs]
    print(f"  app + PostgreSQL CPU per ticket: {', '.join(f'{c:.1f}' for c in cpu)} ms: 2 CPUs bound the rate at "
          f"{2000 / (sum(cpu) / len(cpu)):.0f} tickets/s with nothing else running")
    print()
    answered = sum(r["requests"] - r["bad_status"] - r["bad_body"] for r in [warm] + runs)
    sent = set()
    for r in [warm] + runs:
        sent |= slices[r["slice"]].sent(r["threads"])
    stop(server.proc)  # gracefully: the requests in flight when wrk stopped finish first
    problems += verify_created(url, network, sent, answered, args.connections * (1 + len(runs)))
    if not args.no_redis:
        print(f"  RQ jobs relayed to Redis and dropped (no RQ worker runs here): {flush_queues(args.redis_url):,}")
    text_log = server.log_path.read_text(errors="replace")
    errors = [ln for ln in text_log.splitlines() if "Traceback" in ln or "[ERROR]" in ln or " ERROR " in ln]
    if errors:
        print(f"  gunicorn logged {len(errors)} error lines; the last of {server.log_path}:")
        print("\n".join("    " + ln for ln in text_log.splitlines()[-25:]))
    print(flush=True)
    inprocess_create(args, url, network, workdir, [i for part in slices["inproc"].indexes for i in part])
    return problems


def verify_created(url: str, network: data.Network, sent: set[int], answered: int, in_flight: int) -> list[str]:
    """Each 201 made one ticket: routed to a team, assigned, with an SLA policy, due times and a created line."""
    base = int(data.meta(url)["tickets"])
    waybills = [f"BT{shipment_of(i):011d}" for i in sent if i % 10 != 9]
    with psycopg.connect(libpq_url(url)) as conn:
        def one(sql, *params):
            return conn.execute(sql, params).fetchone()[0]

        made = one("SELECT count(*) FROM tk_ticket WHERE id > %s", base)
        by_api = one("SELECT count(*) FROM tk_ticket WHERE id > %s AND created_by_id = %s", base, network.api_user_id)
        duplicated = one("SELECT count(*) FROM (SELECT waybill_no FROM tk_ticket WHERE id > %s AND waybill_no IS NOT"
                         " NULL GROUP BY waybill_no HAVING count(*) > 1) d", base)
        unsent = one("SELECT count(*) FROM tk_ticket WHERE id > %s AND waybill_no IS NOT NULL AND NOT "
                     "(waybill_no = ANY(%s))", base, waybills)
        no_team = one("SELECT count(*) FROM tk_ticket WHERE id > %s AND team_id IS NULL", base)
        no_assignee = one("SELECT count(*) FROM tk_ticket WHERE id > %s AND assignee_id IS NULL", base)
        no_due = one("SELECT count(*) FROM tk_ticket WHERE id > %s AND (first_response_due IS NULL OR "
                     "resolution_due IS NULL OR sla_policy_id IS NULL)", base)
        wrong_team = one("SELECT count(*) FROM tk_ticket t JOIN tk_team m ON m.id = t.team_id WHERE t.id > %s AND "
                         "m.franchise_id <> t.franchise_id", base)
        outsider = one("SELECT count(*) FROM tk_ticket t WHERE t.id > %s AND t.assignee_id IS NOT NULL AND NOT EXISTS"
                       " (SELECT 1 FROM tk_team_member m WHERE m.team_id = t.team_id AND m.user_id = t.assignee_id)",
                       base)
        created_lines = one("SELECT count(*) FROM tk_ticket t WHERE t.id > %s AND (SELECT count(*) FROM "
                            "tk_ticket_event e WHERE e.ticket_id = t.id AND e.kind = 'created') <> 1", base)
        statuses = conn.execute("SELECT status, count(*) FROM tk_ticket WHERE id > %s GROUP BY status",
                                (base,)).fetchall()
        teams = conn.execute("SELECT m.name, count(*) FROM tk_ticket t JOIN tk_team m ON m.id = t.team_id "
                             "WHERE t.id > %s GROUP BY m.name ORDER BY 2 DESC", (base,)).fetchall()
        per_agent = conn.execute("SELECT max(n), min(n) FROM (SELECT assignee_id, count(*) n FROM tk_ticket "
                                 "WHERE id > %s AND assignee_id IS NOT NULL GROUP BY assignee_id) a",
                                 (base,)).fetchone()
        reasons = conn.execute(
            "SELECT m.assignment, m.active, count(*) FROM tk_ticket t LEFT JOIN tk_team m ON m.id = t.team_id "
            "WHERE t.id > %s AND t.assignee_id IS NULL GROUP BY 1, 2", (base,)).fetchall()
    print("  database check of the created tickets:")
    print(f"    bodies sent (distinct): {len(sent):,}; answered 201 by wrk's count: {answered:,}; tickets made: "
          f"{made:,} (by the API user {by_api:,})")
    print(f"    by status: {', '.join(f'{s} {n:,}' for s, n in statuses)}; by team: "
          f"{', '.join(f'{s} {n:,}' for s, n in teams)}; per agent: {per_agent[1]}-{per_agent[0]}")
    print(f"    without team {no_team}, without assignee {no_assignee}"
          + (f" (team assignment, active: {reasons})" if reasons else "")
          + f", without SLA policy or due time {no_due}, team of another franchise {wrong_team}, assignee outside"
          f" the team {outsider}, not exactly one 'created' line {created_lines}, waybill twice {duplicated}, "
          f"waybill never sent {unsent}")
    problems = []
    if made < answered or made > answered + in_flight:
        problems.append(f"{made:,} tickets made for {answered:,} answers (at most {in_flight} in flight when wrk "
                        "stopped)")
    for count, what in ((no_team, "without a team"), (no_assignee, "without an assignee"),
                        (no_due, "without SLA policy or due times"), (wrong_team, "in a team of another franchise"),
                        (outsider, "assigned outside their team"), (created_lines, "without exactly one created line"),
                        (duplicated, "on a waybill that has another new ticket"), (unsent, "on an unsent waybill")):
        if count:
            problems.append(f"{count:,} new tickets {what}")
    return problems


def inprocess_create(args, url: str, network: data.Network, workdir: Path, indexes: list[int]) -> None:
    """Creations through the Flask test client in this process: SQL statements and CPU per ticket, no HTTP
    server, no concurrency; --profile: cProfile of the second half."""
    from core.extensions import db

    app = data.make_app(url, str(workdir / "instance-inproc"), REDIS_URL=None if args.no_redis else args.redis_url,
                        CRM_QUEUE_PREFIX=QUEUE_PREFIX)
    client = app.test_client()
    response = client.post("/api/v1/security/login", json={"username": data.API_USER, "password": data.PASSWORD,
                                                           "provider": "db"})
    headers = {"Authorization": f"Bearer {response.json['access_token']}"}
    bodies = [create_body(i, network) for i in indexes]
    warm, timed = bodies[:20], bodies[20:]
    half = len(timed) // 2 if args.profile else len(timed)
    bad = []

    def post(body):
        answer = client.post("/api/v1/tickets/", json=body, headers=headers)
        if answer.status_code != 201:
            bad.append(f"{answer.status_code} {answer.get_data(as_text=True)[:200]}")

    for body in warm:
        post(body)
    with app.app_context():
        timer = StatementTimer(db.engine)
    timer.active = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for body in timed[:half]:
        post(body)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    timer.active = False
    n = max(1, half)
    in_sql = sum(seconds for _k, seconds in timer.times.values())
    print(f"  in-process (Flask test client, one at a time, {n} tickets): {cpu * 1000 / n:.2f} CPU ms and "
          f"{wall * 1000 / n:.2f} ms wall per ticket, {in_sql * 1000 / n:.2f} ms of it in SQL statements (driver "
          f"and database); {len(bad)} not 201" + (f" (first: {bad[0]})" if bad else ""))
    print(f"  SQL statements per ticket: {sum(k for k, _s in timer.times.values()) / n:.1f} (per ticket: count, ms)")
    for statement, (k, seconds) in sorted(timer.times.items(), key=lambda kv: -kv[1][0])[:30]:
        print(f"    {k / n:5.2f} {seconds * 1000 / n:6.2f}  {statement[:130]}")
    if args.profile and timed[half:]:
        rest = iter(timed[half:])
        profile_calls("POST /api/v1/tickets/", lambda: post(next(rest)), len(timed) - half, top=22)
    if not args.no_redis:
        flush_queues(args.redis_url)
    print(flush=True)


# --- 3. SLA scan ------------------------------------------------------------------------------------------


class StatementTimer:
    """Time per SQL statement (by its first words) while active."""

    def __init__(self, engine):
        self.active = False
        self.times = collections.defaultdict(lambda: [0, 0.0])
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            entry = self.times[" ".join(statement.split())[:160]]
            entry[0] += 1
            entry[1] += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())


def run_scan(app, args, url: str, network: data.Network) -> list[str]:
    from core.extensions import db
    from core.tenancy import Scope, scope_as
    from plugins.tickets.sla.scan import scan_sla

    restored = data.restore_open_tickets(url)
    deleted = data.reset_run_rows(url)
    data.vacuum(url)
    print(f"== SLA scan ({load()})", flush=True)
    print(f"  open tickets put back as generated: {restored:,} rows; run rows removed: "
          + (", ".join(f"{k} {v:,}" for k, v in deleted.items()) or "none"))
    with psycopg.connect(libpq_url(url)) as conn:
        running = conn.execute("SELECT count(*) FROM tk_ticket WHERE is_open AND NOT sla_paused").fetchone()[0]
        opened = conn.execute("SELECT count(*) FROM tk_ticket WHERE is_open").fetchone()[0]
    print(f"  {opened:,} open tickets, {running:,} with a running clock, over {len(network.franchise_ids)} "
          "franchises; scan_sla(franchise_id) per franchise under its scope, then commit (as core/jobs.py)")
    with app.app_context():
        timer = StatementTimer(db.engine)
    problems = []
    from core.clock import utcnow

    now = utcnow()  # both runs at the same moment: the second must find nothing left to do
    for run in (1, 2):
        totals = collections.Counter()
        per_franchise = []
        timer.times.clear()
        timer.active = True
        cpu0, pg0 = time.process_time(), cpu_seconds(postgres_pids())
        started = time.perf_counter()
        for fid in network.franchise_ids:
            t0 = time.perf_counter()
            with app.app_context(), scope_as(Scope(False, frozenset({fid}))):
                result = scan_sla(fid, now=now)
                db.session.commit()
            per_franchise.append(time.perf_counter() - t0)
            totals.update(result)
        wall = time.perf_counter() - started
        timer.active = False
        cpu, pg = time.process_time() - cpu0, cpu_seconds(postgres_pids()) - pg0
        touched = ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items()))
        print(f"  run {run}: {wall:.2f} s for all franchises (slowest franchise {max(per_franchise):.2f} s, median "
              f"{sorted(per_franchise)[len(per_franchise) // 2]:.2f} s); tickets touched: {touched}; CPU: this "
              f"process {cpu:.1f} s, PostgreSQL {pg:.1f} s   goal < {GOAL_SCAN:.0f} s: "
              f"{'met' if wall < GOAL_SCAN else 'NOT met'}", flush=True)
        print("    slowest statements (count, seconds in all, statement):")
        for statement, (k, seconds) in sorted(timer.times.items(), key=lambda kv: -kv[1][1])[:8]:
            print(f"      {k:>5} {seconds:7.2f}  {statement}")
        if run == 2 and args.explain:
            explain_scan(app, network.franchise_ids[0], now)
        if run == 2 and sum(totals.values()):
            problems.append(f"the second SLA scan touched tickets again: {touched}")
    with psycopg.connect(libpq_url(url)) as conn:
        states = conn.execute("SELECT sla_state, count(*) FROM tk_ticket WHERE is_open GROUP BY 1 ORDER BY 1")\
            .fetchall()
        alerts = conn.execute("SELECT kind, count(*) FROM tk_agent_alert GROUP BY 1 ORDER BY 1").fetchall()
        jobs = conn.execute("SELECT count(*) FROM crm_job").fetchone()[0]
    print(f"  afterwards: open tickets by SLA state {dict(states)}; alerts {dict(alerts)}; outbox rows {jobs:,}")
    if args.profile:
        restored = data.restore_open_tickets(url)
        data.reset_run_rows(url)
        fid = network.franchise_ids[0]

        def one_franchise():
            with app.app_context(), scope_as(Scope(False, frozenset({fid}))):
                scan_sla(fid)
                db.session.commit()
        profile_calls(f"scan_sla of one franchise (first run, {restored:,} tickets restored)", one_franchise, 1)
    restored = data.restore_open_tickets(url)
    data.reset_run_rows(url)
    data.vacuum(url)
    print(f"  put the open tickets back as generated ({restored:,} rows)")
    print(flush=True)
    return problems


def explain_scan(app, fid: int, now) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the scan's statements for one franchise with nothing left to do."""
    from core.extensions import db
    from core.tenancy import Scope, scope_as
    from plugins.tickets.sla.scan import scan_sla

    with app.app_context():
        counter = SqlCounter(db.engine)
        counter.active = True
        with scope_as(Scope(False, frozenset({fid}))):
            scan_sla(fid, now=now)
            db.session.rollback()
        counter.active = False
        print(f"    EXPLAIN (ANALYZE, BUFFERS) of the scan's statements on tk_ticket (franchise {fid}, nothing to do):")
        with db.engine.connect() as conn:
            for statement, parameters in counter.statements:
                if "tk_ticket" not in statement or not statement.lstrip().upper().startswith("SELECT"):
                    continue
                print(f"    -- {' '.join(statement.split())[:400]}")
                for line in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars():
                    print(f"         {line}")


# --- main -------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2_000_000, help="tickets in the database (default 2000000)")
    parser.add_argument("--refill", action="store_true", help="refill the data even if it matches")
    parser.add_argument("--only", default="queues,api,scan", help="parts to run (default queues,api,scan)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per queue page (default 50)")
    parser.add_argument("--warmup", type=float, default=5,
                        help="warm-up requests per page, and seconds of the API warm-up (default 5)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of each timed wrk run (default 15)")
    parser.add_argument("--rounds", type=int, default=2, help="timed wrk runs (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--gunicorn-threads", type=int, default=4, help="threads per worker (default 4; 1: sync)")
    parser.add_argument("--max-rate", type=float, default=1000, help="tickets/s the API bodies are sized for")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="no REDIS_URL: jobs run in-process after commit")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE of the queue pages' statements")
    parser.add_argument("--profile", action="store_true", help="cProfile of the slowest page, creation and scan")
    parser.add_argument("--keep-files", action="store_true", help="keep the work folder (bodies, logs)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 requests, 3 s wrk runs, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.duration, args.rounds = 10, 2, 3, 1
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    data.quiet_logs()
    if "api" in parts and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    return in_workdir("crm-bench-tickets-", args.keep_files, lambda workdir: _run(args, parts, workdir))


def _run(args, parts: set[str], workdir: Path) -> int:
    overall = time.perf_counter()
    print(f"before: {load()}", flush=True)
    app, url, network, timings = data.prepare(
        args.tickets, args.refill, str(workdir / "instance"),
        REDIS_URL=None if args.no_redis else args.redis_url, CRM_QUEUE_PREFIX=QUEUE_PREFIX)
    print("=" * 100)
    print("courier-crm tickets benchmark (bench/tickets_speed.py)")
    print("\n".join(machine_info(app)))
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    print("\n".join(data.summary(url, network)))
    print("data: reused the stored rows" if timings is None else
          "data: filled now: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"setup {time.perf_counter() - overall:.0f} s", flush=True)
    print()
    problems = []
    if "queues" in parts:
        problems += run_queues(app, args, url, network)
    if "api" in parts:
        problems += run_api(args, url, network, workdir)
        data.reset_run_rows(url)
        data.vacuum(url)
    if "scan" in parts:
        problems += run_scan(app, args, url, network)
    print(f"after: {load()}; total {time.perf_counter() - overall:.0f} s")
    if problems:
        print("\nFAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
