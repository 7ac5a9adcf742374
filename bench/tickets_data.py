"""Data of the tickets benchmark: a franchise network with teams, SLA policies and 2,000,000 tickets on PostgreSQL.

    .venv/bin/python -m bench.tickets_data [--tickets 2000000] [--refill]

Fills `crm_bench_tickets` (CRM_BENCH_DATABASE_URL overrides; created if missing; schema by `init_database`):

- 20 franchises (BTK01..BTK20) in 3 regions, the tickets plugin on everywhere;
- per franchise the set-up `plugins/tickets/demo.py` makes (a 9-18 business calendar with holidays and a
  make-up working day, a 双11 peak season, 4 SLA policies, the 4 teams 查件组/投诉组/理赔组/异常件组 with one
  dispatch rule each), but each team with its own 10 agents (800 users, inserted set-based) whose first is
  the team lead, and an open-ticket cap of 250 per agent;
- 10,000 customers per franchise, 50,000 shipments per franchise, plus a pool of shipments without tickets
  for the API benchmark (`API_SHIPMENTS`);
- `--tickets` tickets (default 2,000,000) with their "created" timeline lines (and a reply line for the
  answered open ones, a status line for the waiting ones), set-based in PostgreSQL (INSERT ... SELECT FROM
  generate_series, secondary indexes dropped during the load and built afterwards, FK triggers off for the
  load's session: the rows are consistent by construction), then VACUUM ANALYZE.

Ids follow creation time, as in production: the first 80% of the tickets were created 20 to 365 days ago
and are all done; the last 20% in the last 20 days, and every other one of those is open (200,000 of 2M, so
open tickets sit in the newest fifth of the table). Open ticket k (0-based) belongs to franchise k % 20 and team
(k / 20) % 4; in each team, of its 2,500 open tickets 2,000 are assigned, 200 to each agent, and 500 wait
unassigned in the team's queue. So the benchmark agent (`BENCH_AGENT`, agent 0 of team 查件组 of BTK01) has
200 open tickets and their team 2,500 (500 unassigned). Open tickets' resolution due times lie between 24 h ago
and 126 h ahead (about 16% overdue), those not answered yet
(new and assigned, about half) race a first-response due 2 h after creation (nearly all passed), none is
warned or breached yet: the first SLA scan has much to do. Closed and resolved tickets spread over a year.

A later run with the same --tickets reuses the data (the generator's version is stored in `bench_tk_meta`);
`reset_run_rows` deletes what benchmark runs added (tickets, events, alerts beyond the generated ids) and
`restore_open_tickets` puts the open tickets back as generated (the SLA scan changes them).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

import psycopg
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.engine import make_url

from bench.list_latency import ensure_database, libpq_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_tickets"
GENERATOR_VERSION = 5  # bump when the generated rows change: a stored database of another version is refilled
SECRET_KEY = "crm-bench-tickets-secret-key"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"crm-bench-tickets-encryption-k!!").decode()
PASSWORD = "bench-pass-1"
N_REGIONS, N_FRANCHISES, AGENTS_PER_TEAM = 3, 20, 10
CUSTOMERS_PER_FRANCHISE = 10_000
SHIPMENTS = 1_000_000          # referenced by tickets; shipment s belongs to franchise (s - 1) % 20
API_SHIPMENTS = 100_000        # after those: no ticket yet, each API request names a different one
OPEN_EVERY = 10                # every 10th ticket is open
ASSIGNED_SHARE = 0.8           # of a team's open tickets: 2,000 of 2,500 at 2M tickets (200 per agent)
AGENT_CAP = 250                # max_open_per_agent of every team: agents still take new tickets
BENCH_AGENT = "bench_tk_agent"  # agent 0 (the lead) of team 0 (查件组) of BTK01
API_USER = "bench_tk_api"      # a Frontline Agent of every bench franchise: the channel gateway's account
TICKET_TABLES = ("tk_ticket", "tk_ticket_event")
BULK_TABLES = ("crm_customer", "crm_shipment", "tk_ticket", "tk_ticket_event")

log = logging.getLogger("bench.tickets_data")


@dataclass
class Network:
    franchise_ids: list[int]      # by franchise index 0..19
    team_ids: list[int]           # by franchise index * 4 + team index
    policy_ids: list[int]         # by franchise index * 4 + policy index (urgent, complaint, claim, standard)
    agent_ids: list[int]          # by (franchise index * 4 + team index) * 10 + agent index
    bench_agent_id: int
    api_user_id: int

    def team_of(self, user_id: int) -> int:
        return self.team_ids[self.agent_ids.index(user_id) // AGENTS_PER_TEAM]


# --- app and schema ---------------------------------------------------------------------------------------


def database_url() -> str:
    url = os.environ.get("CRM_BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        sys.exit("CRM_BENCH_DATABASE_URL: this benchmark needs PostgreSQL")
    return url


def app_config(url: str, instance: str) -> dict:
    """The configuration the in-process app and the gunicorn servers share (the servers get it as CRM_ env)."""
    return {
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_LOAD_ENTRYPOINTS": False, "WTF_CSRF_ENABLED": False, "AUTH_RATE_LIMIT": "1000000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://", "REDIS_URL": None, "INSTANCE_PATH": instance,
        "SESSION_COOKIE_SECURE": False,
    }


def make_app(url: str, instance: str, **overrides):
    from core.app import create_app

    return create_app({**app_config(url, instance), **overrides})


def ensure_schema(app, url: str) -> list[str]:
    """init_database, then bring tables made earlier by create_all up to the models: a tickets table whose
    columns differ from its model is dropped with the other tickets tables (the data is then refilled), a
    missing index is created. Returns what was done."""
    from core.cli import init_database
    from core.extensions import db

    done = []
    try:
        init_database(app)
    except ProgrammingError as exc:
        # tables made by create_all before the plugin had a migration: the migration cannot create them again
        if "already exists" not in str(exc):
            raise
        with app.app_context():
            drop_tickets_tables(db)
        done.append("tickets tables made before their migration: dropped them, data refilled")
        init_database(app)
    with app.app_context():
        inspector = inspect(db.engine)
        stale = []
        for name, table in db.metadata.tables.items():
            if name.startswith("tk_") and inspector.has_table(name):
                have = {c["name"] for c in inspector.get_columns(name)}
                if have != {c.name for c in table.columns}:
                    stale.append(name)
        if stale:
            drop_tickets_tables(db)
            done.append(f"columns changed in {', '.join(stale)}: dropped the tickets tables, data refilled")
            init_database(app)
            inspector = inspect(db.engine)
        for name, table in db.metadata.tables.items():
            if not name.startswith(("tk_", "crm_customer", "crm_shipment")) or not inspector.has_table(name):
                continue
            existing = {ix["name"] for ix in inspector.get_indexes(name)}
            for index in table.indexes:
                if index.name not in existing:
                    started = time.perf_counter()
                    with db.engine.begin() as conn:
                        conn.execute(text(str(create_index_sql(index))))
                    done.append(f"created index {index.name} ({time.perf_counter() - started:.1f} s)")
    return done


def drop_tickets_tables(db) -> None:
    """The tickets plugin's tables (and the bench's copies): the next init_database makes them as the models say."""
    inspector = inspect(db.engine)
    tables = [t for t in db.metadata.tables if t.startswith("tk_") and inspector.has_table(t)]
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables)
                          + ", bench_tk_meta, bench_tk_open_snapshot CASCADE"))


def create_index_sql(index):
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    return CreateIndex(index).compile(dialect=postgresql.dialect())


# --- the network: franchises, users, teams, rules, policies, calendars ------------------------------------


def ensure_network(app) -> Network:
    """Idempotent: what exists is kept."""
    from core.extensions import db
    from core.plugins import set_activation
    from core.tenancy import EVERYTHING, Franchise, Region, scope_as

    with app.app_context(), scope_as(EVERYTHING):
        regions = []
        for r in range(1, N_REGIONS + 1):
            region = db.session.scalar(select(Region).where(Region.code == f"BTKR{r}"))
            if region is None:
                region = Region(code=f"BTKR{r}", name=f"工单压测大区 {r}")
                db.session.add(region)
            regions.append(region)
        franchises = []
        for f in range(1, N_FRANCHISES + 1):
            franchise = db.session.scalar(select(Franchise).where(Franchise.code == f"BTK{f:02d}"))
            if franchise is None:
                franchise = Franchise(code=f"BTK{f:02d}", name=f"工单压测加盟商 {f}", region=regions[(f - 1) % N_REGIONS])
                db.session.add(franchise)
            franchises.append(franchise)
        db.session.commit()
        set_activation("tickets", enabled=True, user="bench")
        db.session.commit()
        franchise_ids = [f.id for f in franchises]
        agent_ids = _ensure_users(app, franchise_ids)
        team_ids, policy_ids = [], []
        for fidx, franchise_id in enumerate(franchise_ids):
            teams, policies = _ensure_franchise_setup(franchise_id, agent_ids[fidx * 4 * AGENTS_PER_TEAM:
                                                                              (fidx + 1) * 4 * AGENTS_PER_TEAM])
            team_ids += teams
            policy_ids += policies
        db.session.commit()
        api_user_id = db.session.execute(text("SELECT id FROM ab_user WHERE username = :u"), {"u": API_USER}).scalar()
        return Network(franchise_ids, team_ids, policy_ids, agent_ids, agent_ids[0], api_user_id)


def _agent_name(fidx: int, tidx: int, aidx: int) -> str:
    return BENCH_AGENT if (fidx, tidx, aidx) == (0, 0, 0) else f"btk{fidx + 1:02d}_t{tidx}_a{aidx}"


def _ensure_users(app, franchise_ids: list[int]) -> list[int]:
    """800 agents (Frontline Agent of their franchise) and the API user (Frontline Agent of all), inserted
    set-based with one password hash. Returns the agents' ids in (franchise, team, agent) order."""
    from werkzeug.security import generate_password_hash

    from core.extensions import db

    names = [_agent_name(f, t, a) for f in range(N_FRANCHISES) for t in range(4) for a in range(AGENTS_PER_TEAM)]
    have = dict(db.session.execute(text("SELECT username, id FROM ab_user WHERE username = ANY(:names)"),
                                   {"names": names + [API_USER]}).all())
    role_id = db.session.execute(text("SELECT id FROM ab_role WHERE name = 'Frontline Agent'")).scalar()
    if role_id is None:
        sys.exit("role 'Frontline Agent' is missing: did init_database run?")
    missing = [n for n in names + [API_USER] if n not in have]
    if missing:
        password = generate_password_hash(PASSWORD)
        db.session.execute(text(
            "INSERT INTO ab_user (id, first_name, last_name, username, password, active, email, created_on, "
            "changed_on, login_count, fail_login_count) SELECT nextval('ab_user_id_seq'), n, '压测', n, :pw, true, "
            "n || '@bench.invalid', now(), now(), 0, 0 FROM unnest(CAST(:names AS text[])) AS n"),
            {"pw": password, "names": missing})
        have = dict(db.session.execute(text("SELECT username, id FROM ab_user WHERE username = ANY(:names)"),
                                       {"names": names + [API_USER]}).all())
        ids = [have[n] for n in missing]
        db.session.execute(text(
            "INSERT INTO ab_user_role (id, user_id, role_id) SELECT nextval('ab_user_role_id_seq'), u, :role "
            "FROM unnest(CAST(:ids AS int[])) AS u ON CONFLICT DO NOTHING"), {"role": role_id, "ids": ids})
    agent_ids = [have[n] for n in names]
    pairs = [(agent_ids[i], franchise_ids[i // (4 * AGENTS_PER_TEAM)]) for i in range(len(agent_ids))]
    pairs += [(have[API_USER], fid) for fid in franchise_ids]
    db.session.execute(text(
        "INSERT INTO crm_user_franchise (user_id, franchise_id) SELECT u, f FROM unnest(CAST(:u AS int[]), "
        "CAST(:f AS int[])) AS x(u, f) ON CONFLICT DO NOTHING"),
        {"u": [p[0] for p in pairs], "f": [p[1] for p in pairs]})
    db.session.commit()
    return agent_ids


def _ensure_franchise_setup(franchise_id: int, agents: list[int]) -> tuple[list[int], list[int]]:
    """demo.py's set-up of one franchise, with 10 agents per team. Returns (team ids, policy ids) in order."""
    from core.extensions import db
    from plugins.tickets.demo import setup_franchise
    from plugins.tickets.routing.models import Team
    from plugins.tickets.sla.models import SlaPolicy

    teams = db.session.scalars(select(Team).where(Team.franchise_id == franchise_id).order_by(Team.id)).all()
    if not teams:
        def members(index):
            return agents[index * AGENTS_PER_TEAM:(index + 1) * AGENTS_PER_TEAM]

        teams = setup_franchise(franchise_id, members, lambda index: members(index)[0], cap=AGENT_CAP)
    policies = db.session.scalars(select(SlaPolicy.id).where(SlaPolicy.franchise_id == franchise_id)
                                  .order_by(SlaPolicy.position, SlaPolicy.id)).all()
    return [t.id for t in teams], list(policies)


# --- bulk rows ----------------------------------------------------------------------------------------------

# Open ticket k: franchise k % 20, team (k / 20) % 4, slot j = k / 80 in the team (0..2499): slots below
# 2000 are assigned to agent j % 10, the rest wait unassigned. Team 0 takes inquiries (and address changes,
# other), 1 complaints, 2 claims, 3 exceptions: the types the demo's dispatch rules send there.
TICKETS_SQL = """
INSERT INTO tk_ticket (id, franchise_id, type, category, priority, channel, status, is_open, subject, description,
    customer_id, shipment_id, waybill_no, reporter_role, reporter_name, customer_tier, district_code, team_id,
    assignee_id, sla_policy_id, first_response_due, resolution_due, sla_paused, sla_state, escalation_level,
    first_responded_at, first_response_breached, resolution_breached, regulatory_due, resolution_code,
    created_at, updated_at, resolved_at, closed_at, reopened_count, last_agent_reply_at, created_by_id, custom
    {extra_columns})
SELECT g, fid, type, category, priority, channel, status, is_open,
    CASE type WHEN 'inquiry' THEN '查询包裹到哪里了' WHEN 'complaint' THEN '承诺次日达，三天未到'
         WHEN 'claim' THEN '外包装破损，物品碎裂' WHEN 'exception' THEN '异常件：' || coalesce(category, '')
         WHEN 'address_change' THEN '修改收件地址' ELSE '发票开具' END,
    NULL, cust, ship, CASE WHEN ship IS NULL THEN NULL ELSE 'BT' || lpad(ship::text, 11, '0') END,
    CASE WHEN r4 < 0.6 THEN 'sender' ELSE 'receiver' END, NULL, NULL, '330106', team, assignee,
    policy, created + interval '2 hours', resolution_due, status = 'waiting', 'ok', 0,
    responded, false, false,
    CASE WHEN type = 'complaint' THEN created + interval '7 days' END,
    CASE WHEN NOT is_open THEN (ARRAY['answered','redelivered','found','compensated','no_fault','other'])
        [1 + floor(r5 * 6)::int] END,
    coalesce(done_at, responded, created), coalesce(done_at, responded, created), done_at,
    CASE WHEN status = 'closed' THEN done_at END, 0, responded, NULL, '{{}}'::jsonb
    {extra_values}
FROM (
    SELECT g, fid, type, is_open, status, team, assignee, created, r4, r5, cust, ship,
        CASE WHEN type = 'complaint' THEN (ARRAY['delay','lost','damaged','delivery_service','charges','attitude',
                                                 'other'])[1 + floor(r2 * 7)::int]
             WHEN type = 'claim' THEN CASE WHEN r2 < 0.6 THEN 'damaged' ELSE 'lost' END
             WHEN type = 'exception' THEN (ARRAY['delay','lost','damaged','delivery_service'])[1 + floor(r2 * 4)::int]
        END AS category,
        priority,
        CASE WHEN type = 'exception' THEN 'system' WHEN r3 < 0.35 THEN 'phone' WHEN r3 < 0.55 THEN 'wechat'
             WHEN r3 < 0.70 THEN 'chat' WHEN r3 < 0.85 THEN 'app' WHEN r3 < 0.92 THEN 'email' ELSE 'api' END
            AS channel,
        (CAST(:policies AS int[]))[fidx * 4 + CASE WHEN priority = 'urgent' THEN 1 WHEN type = 'complaint' THEN 2
                                    WHEN type = 'claim' THEN 3 ELSE 4 END] AS policy,
        CASE WHEN is_open THEN GREATEST(created + interval '4 hours',
                                        now() AT TIME ZONE 'UTC' + interval '1 hour' * (r6 * 150 - 24))
             ELSE created + interval '1 hour' * (8 + r6 * 40) END AS resolution_due,
        CASE WHEN status IN ('in_progress', 'waiting') OR NOT is_open
             THEN created + interval '1 minute' * (5 + r6 * 150) END AS responded,
        CASE WHEN NOT is_open THEN LEAST(now() AT TIME ZONE 'UTC', created + interval '1 hour' * (2 + r5 * 70))
        END AS done_at
    FROM (
        SELECT g, fidx, (CAST(:franchises AS int[]))[fidx + 1] AS fid, type, is_open, team, assignee, created,
            r2, r3, r4, r5, r6,
            CASE WHEN r1 < 0.05 THEN 'urgent' WHEN r1 < 0.20 THEN 'high' WHEN r1 < 0.85 THEN 'normal' ELSE 'low' END
                AS priority,
            CASE WHEN NOT is_open THEN CASE WHEN r5 < 0.1 THEN 'resolved' ELSE 'closed' END
                 WHEN assignee IS NULL THEN 'new'
                 WHEN r5 < 0.35 THEN 'assigned' WHEN r5 < 0.80 THEN 'in_progress' ELSE 'waiting' END AS status,
            ship, CASE WHEN ship IS NULL THEN NULL
                       ELSE fidx + 1 + 20 * (((ship - 1) / 20) % :customers_per_franchise) END AS cust
        FROM (
            SELECT g, fidx, is_open, created, r1, r2, r3, r4, r5, r6, tidx,
                CASE tidx WHEN 0 THEN CASE WHEN r2 < 0.7 THEN 'inquiry' WHEN r2 < 0.9 THEN 'address_change'
                                           ELSE 'other' END
                          WHEN 1 THEN 'complaint' WHEN 2 THEN 'claim' ELSE 'exception' END AS type,
                (CAST(:teams AS int[]))[fidx * 4 + tidx + 1] AS team,
                CASE WHEN aidx IS NULL THEN NULL
                     ELSE (CAST(:agents AS int[]))[(fidx * 4 + tidx) * :per_team + aidx + 1] END AS assignee,
                CASE WHEN is_open THEN fidx + 1 + 20 * (((g - :tail_start) / 2 - 1) / 20)
                     WHEN r4 < 0.9 THEN fidx + 1 + 20 * (:open_per_franchise + floor(r3 * :closed_ships)::int)
                END AS ship
            FROM (
                SELECT g, o.is_open, o.fidx, o.r1, o.r2, o.r3, o.r4, o.r5, o.r6,
                    CASE WHEN o.is_open THEN (((g - :tail_start) / 2 - 1) / 20) % 4
                         WHEN o.r2 < 0.45 THEN 0 WHEN o.r2 < 0.72 THEN 1 WHEN o.r2 < 0.85 THEN 2 ELSE 3 END AS tidx,
                    CASE WHEN o.is_open AND (((g - :tail_start) / 2 - 1) / 80) < :assigned_per_team
                         THEN (((g - :tail_start) / 2 - 1) / 80) % :per_team
                         WHEN NOT o.is_open THEN floor(o.r6 * :per_team)::int END AS aidx,
                    CASE WHEN g > :tail_start
                         THEN now() AT TIME ZONE 'UTC'
                              - interval '20 days' * ((:last_id - g) / (:last_id - :tail_start)::float)
                         ELSE now() AT TIME ZONE 'UTC' - interval '20 days'
                              - interval '345 days' * ((:tail_start - g) / (:tail_start)::float)
                    END AS created
                FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g,
                LATERAL (SELECT g > :tail_start AND (g - :tail_start) % 2 = 0 AS is_open,
                                CASE WHEN g > :tail_start AND (g - :tail_start) % 2 = 0
                                     THEN ((g - :tail_start) / 2 - 1) % 20 ELSE (g / 2) % 20 END AS fidx,
                                random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                                random() AS r6) AS o
            ) a
        ) b
    ) c
) d
"""


# columns the model gained that the rows need (filled when the model has them)
OPTIONAL_COLUMNS = {
    # what the queues sort by and the scan reads: the due time raced now, none while paused or done
    "next_due_at": "CASE WHEN is_open AND status <> 'waiting' THEN CASE WHEN responded IS NULL "
                   "THEN created + interval '2 hours' ELSE resolution_due END END",
}


def tickets_sql(table) -> str:
    present = [name for name in OPTIONAL_COLUMNS if name in table.columns]
    return TICKETS_SQL.format(extra_columns="".join(f", {name}" for name in present),
                              extra_values="".join(f", {OPTIONAL_COLUMNS[name]}" for name in present))


def assigned_per_team(tickets: int) -> int:
    open_per_team = tickets // OPEN_EVERY // (N_FRANCHISES * 4)
    return int(open_per_team * ASSIGNED_SHARE) // AGENTS_PER_TEAM * AGENTS_PER_TEAM


def fill(url: str, network: Network, tickets: int, force: bool = False) -> tuple[bool, dict]:
    """Customers, shipments, tickets and their timeline lines, unless the stored data is of this generator
    and size. Returns (filled now, {step: seconds})."""
    timings: dict[str, float] = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_tk_meta (key text PRIMARY KEY, value text NOT NULL)")
        meta = dict(conn.execute("SELECT key, value FROM bench_tk_meta").fetchall())
        from core.extensions import db

        wanted = {"version": str(GENERATOR_VERSION), "tickets": str(tickets),
                  "columns": ",".join(sorted(c.name for c in db.metadata.tables["tk_ticket"].columns)),
                  "franchises": ",".join(map(str, network.franchise_ids)),
                  "teams": ",".join(map(str, network.team_ids))}
        if not force and all(meta.get(k) == v for k, v in wanted.items()):
            return False, timings
    from core.extensions import db

    indexes = {name: [(ix.name, str(create_index_sql(ix))) for ix in db.metadata.tables[name].indexes]
               for name in BULK_TABLES}
    open_tickets = tickets // OPEN_EVERY
    open_per_franchise = open_tickets // N_FRANCHISES
    if open_tickets % (N_FRANCHISES * 4) or tickets % OPEN_EVERY:
        sys.exit(f"--tickets {tickets}: need a multiple of {OPEN_EVERY * N_FRANCHISES * 4}")
    shipments_per_franchise = SHIPMENTS // N_FRANCHISES
    if shipments_per_franchise <= open_per_franchise:
        sys.exit("not enough shipments for one per open ticket")
    total_shipments = SHIPMENTS + API_SHIPMENTS
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers for the bulk rows
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("SET work_mem = '64MB'")

        def step(name, sql, params=None, quiet=False):
            started = time.perf_counter()
            conn.execute(sql, params)
            timings[name] = timings.get(name, 0) + time.perf_counter() - started
            if not quiet:
                print(f"  {name}: {timings[name]:.1f} s", flush=True)

        existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        referencing = [t for t in ("tk_ticket_event", "tk_ticket_participant", "tk_exception_link", "tk_agent_alert",
                                   "crm_tracking_event") if t in existing]
        step("truncate", "TRUNCATE " + ", ".join([*referencing, *BULK_TABLES]) + " CASCADE")
        for table in BULK_TABLES:
            for name, _ in indexes[table]:
                conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        step("customers", """
            INSERT INTO crm_customer (id, franchise_id, kind, name, status, source, district_code, marketing_opt_out,
                created_at, updated_at, custom)
            SELECT g, (CAST(%(f)s AS int[]))[1 + (g - 1) %% 20], CASE WHEN g %% 3 = 0 THEN 'B' ELSE 'C' END,
                CASE WHEN g %% 3 = 0 THEN '压测电商' || g ELSE '客户' || g END, 'active', 'counter', '330106', false,
                now() AT TIME ZONE 'UTC' - interval '1 day' * (g %% 700), now() AT TIME ZONE 'UTC', '{}'::jsonb
            FROM generate_series(1, %(n)s) AS g""",
             {"f": network.franchise_ids, "n": CUSTOMERS_PER_FRANCHISE * N_FRANCHISES})
        step("shipments", """
            INSERT INTO crm_shipment (id, franchise_id, carrier, waybill_no, customer_id, dest_franchise_id,
                service_product, receiver_district_code, created_at, status, status_at, custom)
            SELECT g, (CAST(%(f)s AS int[]))[1 + (g - 1) %% 20], 'CRM', 'BT' || lpad(g::text, 11, '0'),
                ((g - 1) %% 20) + 1 + 20 * (((g - 1) / 20) %% %(cpf)s),
                (CAST(%(f)s AS int[]))[1 + (g * 7) %% 20], 'standard', '330106',
                now() AT TIME ZONE 'UTC' - interval '1 minute' * (g %% 525600),
                CASE WHEN g > %(ships)s THEN 'IN_TRANSIT' ELSE 'DELIVERED' END, now() AT TIME ZONE 'UTC', '{}'::jsonb
            FROM generate_series(1, %(n)s) AS g""",
             {"f": network.franchise_ids, "cpf": CUSTOMERS_PER_FRANCHISE, "ships": SHIPMENTS, "n": total_shipments})
        conn.execute("SELECT setseed(0.20261125)")
        params = {"tail_start": tickets - 2 * open_tickets, "last_id": tickets,
                  "franchises": network.franchise_ids, "teams": network.team_ids, "agents": network.agent_ids,
                  "policies": network.policy_ids, "per_team": AGENTS_PER_TEAM, "open_every": OPEN_EVERY,
                  "assigned_per_team": assigned_per_team(tickets),
                  "customers_per_franchise": CUSTOMERS_PER_FRANCHISE, "open_per_franchise": open_per_franchise,
                  "closed_ships": shipments_per_franchise - open_per_franchise}
        sql = _psycopg_params(tickets_sql(db.metadata.tables["tk_ticket"]))
        chunk = 500_000
        for first in range(1, tickets + 1, chunk):
            step("tickets", sql, dict(params, first=first, last=min(tickets, first + chunk - 1)))
        step("timeline lines", """
            INSERT INTO tk_ticket_event (id, ticket_id, franchise_id, at, user_id, kind, internal, body, data)
            SELECT id, id, franchise_id, created_at, created_by_id, 'created', false, NULL,
                json_build_object('channel', channel, 'exception_kind', NULL)
            FROM tk_ticket""")
        step("timeline lines", """
            INSERT INTO tk_ticket_event (id, ticket_id, franchise_id, at, user_id, kind, internal, body, data)
            SELECT %(n)s + row_number() OVER (ORDER BY id), id, franchise_id, first_responded_at, assignee_id,
                'reply', false, '您好，已收到您的反馈，正在为您核实。', NULL
            FROM tk_ticket WHERE is_open AND first_responded_at IS NOT NULL""", {"n": tickets})
        step("timeline lines", """
            INSERT INTO tk_ticket_event (id, ticket_id, franchise_id, at, user_id, kind, internal, body, data)
            SELECT %(n)s + row_number() OVER (ORDER BY id), id, franchise_id,
                first_responded_at + interval '30 minutes', assignee_id, 'status', true, '等待客户提供照片',
                json_build_object('from', 'in_progress', 'to', 'waiting', 'resolution_code', NULL)
            FROM tk_ticket WHERE status = 'waiting'""", {"n": 2 * tickets})
        for table in BULK_TABLES:
            for name, create in indexes[table]:
                step(f"indexes of {table}", create, quiet=True)
            print(f"  indexes of {table}: {timings.get(f'indexes of {table}', 0):.1f} s", flush=True)
        for table in BULK_TABLES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("DROP TABLE IF EXISTS bench_tk_open_snapshot")
        conn.execute("CREATE TABLE bench_tk_open_snapshot AS SELECT * FROM tk_ticket WHERE is_open")
        conn.execute("ALTER TABLE bench_tk_open_snapshot ADD PRIMARY KEY (id)")
        event_base = conn.execute("SELECT max(id) FROM tk_ticket_event").fetchone()[0]
        conn.execute("DELETE FROM bench_tk_meta")
        for key, value in {**wanted, "event_base": str(event_base)}.items():
            conn.execute("INSERT INTO bench_tk_meta (key, value) VALUES (%s, %s)", (key, value))
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        started = time.perf_counter()
        for table in (*BULK_TABLES, "bench_tk_open_snapshot", "tk_team", "tk_team_member", "ab_user"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        timings["vacuum analyze"] = time.perf_counter() - started
        print(f"  vacuum analyze: {timings['vacuum analyze']:.1f} s", flush=True)
    return True, timings


def _psycopg_params(sql: str) -> str:
    """:name placeholders as psycopg's %(name)s (the SQL above reads better with the former)."""
    import re

    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql.replace("%", "%%"))


def meta(url: str) -> dict:
    with psycopg.connect(libpq_url(url)) as conn:
        return dict(conn.execute("SELECT key, value FROM bench_tk_meta").fetchall())


def reset_run_rows(url: str) -> dict[str, int]:
    """Delete what benchmark runs added after the fill: tickets beyond the generated ids (with every row that
    points at them), timeline lines beyond the generated ones, alerts. Returns the rows deleted per table."""
    from core.extensions import db

    info = meta(url)
    base, event_base = int(info["tickets"]), int(info["event_base"])
    deleted = {}
    referencing = [(table.name, fk.parent.name) for table in db.metadata.sorted_tables for fk in table.foreign_keys
                   if fk.column.table.name == "tk_ticket" and table.name != "tk_ticket"]
    with psycopg.connect(libpq_url(url)) as conn:
        for table, column in referencing:
            if table in ("tk_ticket_event", "tk_agent_alert"):
                continue
            n = conn.execute(f'DELETE FROM "{table}" WHERE "{column}" > %s', (base,)).rowcount
            if n:
                deleted[table] = n
        deleted["tk_ticket_event"] = conn.execute("DELETE FROM tk_ticket_event WHERE id > %s", (event_base,)).rowcount
        deleted["tk_agent_alert"] = conn.execute("DELETE FROM tk_agent_alert").rowcount
        deleted["tk_ticket"] = conn.execute("DELETE FROM tk_ticket WHERE id > %s", (base,)).rowcount
        existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        if "crm_job" in existing:
            deleted["crm_job"] = conn.execute("DELETE FROM crm_job").rowcount
        conn.execute("SELECT setval(pg_get_serial_sequence('tk_ticket', 'id'), %s)", (base,))
        conn.execute("SELECT setval(pg_get_serial_sequence('tk_ticket_event', 'id'), %s)", (event_base,))
        conn.commit()
    return {k: v for k, v in deleted.items() if v}


def restore_open_tickets(url: str) -> int:
    """Put the generated open tickets back as they were generated (an SLA scan warned and escalated them).
    Returns the rows changed."""
    with psycopg.connect(libpq_url(url)) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bench_tk_open_snapshot' "
            "AND column_name <> 'id' ORDER BY ordinal_position")]
        assignments = ", ".join(f'"{c}" = s."{c}"' for c in columns)
        changed = conn.execute(
            f"UPDATE tk_ticket t SET {assignments} FROM bench_tk_open_snapshot s "
            f"WHERE t.id = s.id AND ROW({', '.join(f't.{c}' for c in columns)}) IS DISTINCT FROM "
            f"ROW({', '.join(f's.{c}' for c in columns)})").rowcount
        conn.commit()
    return changed


def prepare(tickets: int, refill: bool, instance: str, **overrides):
    """Database, schema, network and data, ready for a run (rows of earlier runs removed). `overrides` go to
    the app's configuration. Returns (app, url, network, fill timings or None when the data was reused)."""
    url = database_url()
    ensure_database(url)
    app = make_app(url, instance, **overrides)
    for line in ensure_schema(app, url):
        print(f"schema: {line}", flush=True)
    network = ensure_network(app)
    with app.app_context():
        started = time.perf_counter()
        filled, timings = fill(url, network, tickets, refill)
        if filled:
            print(f"filled {tickets:,} tickets in {time.perf_counter() - started:.0f} s", flush=True)
        deleted = reset_run_rows(url)
        restored = restore_open_tickets(url)
    if deleted or restored:
        print("removed rows of earlier runs: " + (", ".join(f"{k} {v:,}" for k, v in deleted.items()) or "none")
              + f"; open tickets put back as generated: {restored:,}", flush=True)
        vacuum(url)
    return app, url, network, (timings if filled else None)


def vacuum(url: str) -> None:
    """VACUUM (ANALYZE) the tables runs change: rows deleted or updated leave pages that are not all-visible,
    which index-only scans then check in the heap; production's autovacuum would get there in its time."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for table in ("tk_ticket", "tk_ticket_event", "tk_agent_alert", "tk_team_member"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


def summary(url: str, network: Network) -> list[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        def one(sql, *args):
            return conn.execute(sql, args).fetchone()[0]

        total = one("SELECT count(*) FROM tk_ticket")
        opened = one("SELECT count(*) FROM tk_ticket WHERE is_open")
        mine = one("SELECT count(*) FROM tk_ticket WHERE assignee_id = %s AND is_open", network.bench_agent_id)
        team = network.team_ids[0]
        team_open = one("SELECT count(*) FROM tk_ticket WHERE team_id = %s AND is_open", team)
        unassigned = one("SELECT count(*) FROM tk_ticket WHERE team_id = %s AND is_open AND assignee_id IS NULL", team)
        overdue = one("SELECT count(*) FROM tk_ticket WHERE is_open AND NOT sla_paused AND "
                      "((first_responded_at IS NULL AND first_response_due < now() AT TIME ZONE 'UTC') OR "
                      "resolution_due < now() AT TIME ZONE 'UTC')")
        events = one("SELECT count(*) FROM tk_ticket_event")
        size = one("SELECT pg_size_pretty(pg_total_relation_size('tk_ticket'))")
        statuses = conn.execute("SELECT status, count(*) FROM tk_ticket GROUP BY status ORDER BY 2 DESC").fetchall()
    return [
        f"tickets {total:,} ({size} with indexes), open {opened:,} of which overdue {overdue:,}; timeline lines "
        f"{events:,}; by status: " + ", ".join(f"{s} {n:,}" for s, n in statuses),
        f"benchmark agent {BENCH_AGENT} (id {network.bench_agent_id}): {mine:,} open tickets; their team "
        f"(id {team}): {team_open:,} open, {unassigned:,} unassigned",
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2_000_000, help="tickets (default 2000000)")
    parser.add_argument("--refill", action="store_true", help="refill even if the stored data matches")
    args = parser.parse_args(argv)
    quiet_logs()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crm-bench-tickets-") as instance:
        app, url, network, timings = prepare(args.tickets, args.refill, instance)
        print(f"database: {make_url(url).render_as_string(hide_password=True)}")
        print("\n".join(summary(url, network)))
        print("reused the stored data" if timings is None else
              "fill: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("flask_appbuilder", "core", "alembic", "flask_migrate", "plugins"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The HMAC key is")


if __name__ == "__main__":
    sys.exit(main())
