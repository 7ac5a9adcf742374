"""Data of the tiering benchmark: 1,000,000 customers and 10,000,000 shipments of 20 franchises on PostgreSQL.

    .venv/bin/python -m bench.tiering_data [--customers 1000000] [--shipments 10000000] [--rebuild]

Fills `crm_bench_tiering` (CRM_BENCH_TIERING_DATABASE_URL overrides; created if missing; schema by
`init_database`). Another size goes to its own database, named after it (`--customers 100000 --shipments
1000000`: `crm_bench_tiering_c100000_s1000000`), so the full set and a small one live side by side (the
memory part of bench/tiering_speed.py compares the two).

- 3 regions, 20 franchises (BTR01..BTR20) of uneven size: franchise k (0-based) holds a share proportional to
  1 / (k + 4) of the customers and of the shipments (13% for BTR01, 2.3% for BTR20); the tiering plugin on
  everywhere; two custom fields of customers (`discount_requests`, integer; `complaint_sensitive`, yes/no).
- Customers in creation order over the last ~3 years, the franchises interleaved: about a quarter businesses
  (kind B, with an industry, 70% of them on monthly settlement), the rest persons (kind C, cash); 0.5% merged
  into another customer (no shipments), 5% dormant; some with manual tags and custom values.
- Shipments over the last 400 days with a Pareto-like skew: within a franchise the customer of rank r (of n)
  weighs ((r + 0.5) / n) ** (-1 / 1.1), the lowest 10% weigh nothing (registered, never shipped), and the
  franchise's shipments are dealt out by those weights (sequential binomial draws, so the total is exact):
  about 60% of the customers have 0-3 parcels, the top 20% carry about 80% of the volume, the top 1% half.
  Each customer ships between their start (creation, at most 400 days ago) and their end: now, or for a fifth
  of them (one in twenty of the big ones) a day 60 days or more ago, so they have been silent for months.
  A fee per parcel (businesses 3.5-7 yuan contract prices, persons 10-22; express x1.8, economy x0.8),
  about 2.5% RETURNED (most customers 1.2%, some 6%, a few 20%: what "high return rate" tags), about 3% in
  another exception status, parcels of the last 2 days still on their way, the rest DELIVERED.
- Shipments are stored in creation order (ids follow time, franchises interleaved on every page, as in
  production): generated customer by customer into time buckets in temporary files (at most ~250,000 rows
  each), then each bucket sorted and sent by COPY. Memory stays flat: nothing is kept per customer or per
  shipment beyond the bucket being sorted.

Only the columns that matter are filled (waybill, customer, product, fee, created_at, status). The load runs in
one transaction: TRUNCATE, secondary indexes dropped, COPY ... FREEZE with FK triggers off (the rows are
consistent by construction), indexes rebuilt, marker row; then VACUUM ANALYZE. A later run with the same sizes
and generator version reuses the data (the marker in `bench_tr_meta`); `--rebuild` redoes it.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import logging
import math
import os
import random
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from bench.list_latency import ensure_database, libpq_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_tiering"
DEFAULT_CUSTOMERS, DEFAULT_SHIPMENTS = 1_000_000, 10_000_000
GENERATOR_VERSION = 1  # bump when the generated rows change: a stored database of another version is rebuilt
SECRET_KEY = "crm-bench-tiering-secret-key"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"crm-bench-tiering-encryption-k!!").decode()
N_REGIONS, N_FRANCHISES = 3, 20
DAYS = 400                 # shipments over the last 400 days
ALPHA = 1.1                # Pareto exponent of the customers' weights
NEVER_SHIPPED = 0.10       # the lowest-ranked share of a franchise's customers: registered, never shipped
BUCKET_ROWS = 250_000      # rows per time bucket (what is sorted in memory at once)
SEED = 20261125
BULK_TABLES = ("crm_customer", "crm_shipment")
CUSTOM_FIELDS = (  # key, type, zh, en
    ("discount_requests", "integer", "折扣申请次数", "Discount requests"),
    ("complaint_sensitive", "yes_no", "投诉敏感", "Complaint sensitive"),
)
INDUSTRIES = (("ecommerce", 45), ("apparel", 12), ("electronics", 8), ("food", 8), ("manufacturing", 8),
              ("retail", 8), ("documents", 5), ("pharma", 3), ("other", 3))
EXCEPTIONS = (("DELAYED", 30), ("FAILED_ATTEMPT", 20), ("ADDRESS_PROBLEM", 12), ("REFUSED", 10), ("DAMAGED", 10),
              ("RETURNING", 10), ("LOST", 5), ("LOCKER_OVERDUE", 3))
IN_FLIGHT = ("PICKED_UP", "IN_TRANSIT", "IN_TRANSIT", "ARRIVED_DEST", "OUT_FOR_DELIVERY")
EXCEPTION_SHARE = 0.03

log = logging.getLogger("bench.tiering_data")


@dataclass
class Network:
    franchise_ids: list[int]      # by franchise index 0..19
    region_ids: list[int]


# --- database, app and schema -----------------------------------------------------------------------------


def database_url(customers: int = DEFAULT_CUSTOMERS, shipments: int = DEFAULT_SHIPMENTS) -> str:
    """The full set in the base database; any other size in its own, named after the size."""
    url = os.environ.get("CRM_BENCH_TIERING_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        sys.exit("CRM_BENCH_TIERING_DATABASE_URL: this benchmark needs PostgreSQL")
    if (customers, shipments) != (DEFAULT_CUSTOMERS, DEFAULT_SHIPMENTS):
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_c{customers}_s{shipments}").render_as_string(
            hide_password=False)
    return url


def app_config(url: str, instance: str) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_LOAD_ENTRYPOINTS": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": None, "INSTANCE_PATH": instance, "SESSION_COOKIE_SECURE": False,
    }


def make_app(url: str, instance: str, **overrides):
    from core.app import create_app

    return create_app({**app_config(url, instance), **overrides})


def ensure_schema(app) -> list[str]:
    """init_database; tiering tables made by create_all before the plugin had a migration, or whose columns
    differ from the models, are dropped and made again (they hold only what a recompute writes)."""
    from core.cli import init_database
    from core.extensions import db

    done = []
    try:
        init_database(app)
    except ProgrammingError as exc:
        if "already exists" not in str(exc):
            raise
        with app.app_context():
            drop_tiering_tables(db)
        done.append("tiering tables made before their migration: dropped")
        init_database(app)
    with app.app_context():
        inspector = inspect(db.engine)
        stale = [name for name, table in db.metadata.tables.items()
                 if name.startswith("tr_") and inspector.has_table(name) and _shape(inspector, name) != _shape(table)]
        if stale:
            drop_tiering_tables(db)
            done.append(f"columns changed in {', '.join(stale)}: dropped the tiering tables")
            init_database(app)
    return done


def _shape(source, name: str | None = None) -> set:
    """Column names with their text lengths, of a model's table or (with `name`) of the stored table."""
    columns = source.get_columns(name) if name else [{"name": c.name, "type": c.type} for c in source.columns]
    return {(c["name"], getattr(c["type"], "length", None)) for c in columns}


def drop_tiering_tables(db) -> None:
    inspector = inspect(db.engine)
    tables = [t for t in db.metadata.tables if t.startswith("tr_") and inspector.has_table(t)]
    if tables:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


def create_index_sql(index) -> str:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    return str(CreateIndex(index).compile(dialect=postgresql.dialect()))


# --- the network --------------------------------------------------------------------------------------------


def ensure_network(app) -> Network:
    """Regions, franchises, the tiering plugin on everywhere, the custom fields. Idempotent."""
    from core.extensions import db
    from core.lowcode.models import CustomFieldDefinition
    from core.plugins import set_activation
    from core.tenancy import EVERYTHING, Franchise, Region, scope_as

    with app.app_context(), scope_as(EVERYTHING):
        regions = []
        for r in range(1, N_REGIONS + 1):
            region = db.session.scalar(select(Region).where(Region.code == f"BTRR{r}"))
            if region is None:
                region = Region(code=f"BTRR{r}", name=f"分层压测大区 {r}")
                db.session.add(region)
            regions.append(region)
        franchises = []
        for f in range(1, N_FRANCHISES + 1):
            franchise = db.session.scalar(select(Franchise).where(Franchise.code == f"BTR{f:02d}"))
            if franchise is None:
                franchise = Franchise(code=f"BTR{f:02d}", name=f"分层压测加盟商 {f}",
                                      region=regions[(f - 1) % N_REGIONS])
                db.session.add(franchise)
            franchises.append(franchise)
        for order, (key, kind, zh, en) in enumerate(CUSTOM_FIELDS):
            exists = db.session.scalar(select(CustomFieldDefinition).where(
                CustomFieldDefinition.entity == "crm_customer", CustomFieldDefinition.key == key,
                CustomFieldDefinition.franchise_id.is_(None)))
            if exists is None:
                db.session.add(CustomFieldDefinition(entity="crm_customer", key=key, field_type=kind, label_zh=zh,
                                                     label_en=en, order=200 + order))
        db.session.commit()
        set_activation("tiering", enabled=True, user="bench")
        db.session.commit()
        return Network([f.id for f in franchises], [r.id for r in regions])


# --- generation ---------------------------------------------------------------------------------------------


def franchise_sizes(total: int) -> list[int]:
    """Franchise k's share is proportional to 1 / (k + 4); the rounding rest goes to the first."""
    shares = [1 / (k + 4) for k in range(N_FRANCHISES)]
    whole = sum(shares)
    sizes = [int(total * s / whole) for s in shares]
    sizes[0] += total - sum(sizes)
    return sizes


def weight(rank: int, n: int) -> float:
    q = (rank + 0.5) / n
    return 0.0 if q > 1 - NEVER_SHIPPED else q ** (-1 / ALPHA)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw: inversion for small means, a clamped normal otherwise (fine for a data set)."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    mean = n * p
    if mean < 25:
        u = rng.random()
        prob = math.exp(n * math.log1p(-p))
        k, cumulative, ratio = 0, prob, p / (1 - p)
        while u > cumulative and k < n:
            prob *= (n - k) / (k + 1) * ratio
            k += 1
            cumulative += prob
            if prob < 1e-300:
                break
        return k
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def pick(rng: random.Random, table) -> str:
    total = sum(w for _v, w in table)
    x = rng.random() * total
    for value, w in table:
        x -= w
        if x < 0:
            return value
    return table[-1][0]


def _rank_step(n: int) -> int:
    """A step coprime to n: customer k of a franchise gets rank (k * step) % n, so big and small shippers are
    spread over the creation order."""
    step = int(n * 0.6180339887) | 1
    while math.gcd(step, n) != 1:
        step += 2
    return step


def _districts() -> list[str]:
    from core import divisions

    codes = [d.code for d in divisions.districts() if d.code[:4] in ("3301", "3101", "4403", "3205", "4401")]
    return codes or ["330106"]


class Buckets:
    """Shipment lines by creation time, in temporary files: bucket 0 holds the oldest days."""

    def __init__(self, folder: Path, shipments: int):
        self.count = max(1, math.ceil(shipments / BUCKET_ROWS))
        self.width = DAYS / self.count
        self.paths = [folder / f"bucket-{i:04d}.tsv" for i in range(self.count)]
        self.files = [open(p, "w", encoding="utf-8", buffering=1 << 20) for p in self.paths]

    def add(self, ago_days: float, line: str) -> None:
        index = self.count - 1 - min(self.count - 1, int(ago_days / self.width))
        self.files[index].write(line)

    def close(self) -> None:
        for f in self.files:
            f.close()


def generate(conn, customers: int, shipments: int, network: Network, folder: Path, now: dt.datetime) -> dict:
    """COPY the customers (creation order, franchises interleaved) while their shipments go to time buckets;
    then each bucket sorted by time and COPYed with ids in that order. Returns counts."""
    rng = random.Random(SEED)
    customer_sizes = franchise_sizes(customers)
    shipment_sizes = franchise_sizes(shipments)
    steps = [_rank_step(n) for n in customer_sizes]
    weight_left = [math.fsum(weight(r, n) for r in range(n)) for n in customer_sizes]
    shipments_left = list(shipment_sizes)
    customers_left = list(customer_sizes)
    seen = [0] * N_FRANCHISES
    first_id = [0] * N_FRANCHISES  # a franchise's first customer: what merged customers point at
    districts = _districts()
    buckets = Buckets(folder, shipments)
    day_text = [(now - dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS + 2)]
    now_seconds = now.hour * 3600 + now.minute * 60 + now.second
    created_span = 1100.0
    stats = {"B": 0, "C": 0, "merged": 0, "silent": 0, "never": 0}
    columns = ("id, franchise_id, kind, name, company_name, industry, billing_mode, status, source, district_code, "
               "marketing_opt_out, tags, created_at, updated_at, merged_into_id, custom")
    now_text = now.strftime("%Y-%m-%d %H:%M:%S")
    with conn.cursor().copy(f"COPY crm_customer ({columns}) FROM STDIN WITH (FREEZE)") as copy:
        out = []
        remaining = customers
        for g in range(1, customers + 1):
            # the franchise: drawn by the customers it still has to get (exact sizes, interleaved)
            x = rng.random() * remaining
            f = 0
            while x >= customers_left[f]:
                x -= customers_left[f]
                f += 1
            customers_left[f] -= 1
            remaining -= 1
            n_f = customer_sizes[f]
            rank = (seen[f] * steps[f]) % n_f
            seen[f] += 1
            if first_id[f] == 0:
                first_id[f] = g
            w = weight(rank, n_f)
            big = rank < n_f * 0.2
            kind = "B" if rng.random() < (0.75 if big else 0.08) else "C"
            stats[kind] += 1
            created_ago = created_span * (customers - g) / customers + rng.random() * 2
            status, merged_into = "active", "\\N"
            if first_id[f] != g and seen[f] < n_f and rng.random() < 0.005:
                status, merged_into = "merged", str(first_id[f])
                stats["merged"] += 1
                weight_left[f] -= w
                w = 0.0
            elif rng.random() < 0.05:
                status = "dormant"
            if kind == "B":
                industry = pick(rng, INDUSTRIES)
                billing = "monthly" if rng.random() < 0.7 else "cash"
                name = f"压测商户{g}"
                company = f"压测商户{g}有限公司"
                source = "ecommerce" if rng.random() < 0.6 else "api"
                price = 3.5 + 3.5 * rng.random()
                custom = "{}"
                if rng.random() < 0.4:
                    requests = rng.randint(0, 3) if rng.random() < 0.75 else rng.randint(5, 12)
                    custom = '{"discount_requests": %d}' % requests
            else:
                industry, billing, company = "\\N", "cash" if rng.random() < 0.5 else "\\N", "\\N"
                name = f"客户{g}"
                source = ("counter", "app", "mini_program", "phone")[rng.randrange(4)]
                price = 10 + 12 * rng.random()
                custom = '{"complaint_sensitive": true}' if rng.random() < 0.02 else "{}"
            tags = ("老客户", "重点关注", "需上门取件")[rng.randrange(3)] if rng.random() < 0.03 else "\\N"
            created = now - dt.timedelta(days=created_ago)
            out.append(f"{g}\t{network.franchise_ids[f]}\t{kind}\t{name}\t{company}\t{industry}\t{billing}\t{status}\t"
                       f"{source}\t{districts[g % len(districts)]}\tf\t{tags}\t"
                       f"{created.strftime('%Y-%m-%d %H:%M:%S')}\t{now_text}\t{merged_into}\t{custom}\n")
            if len(out) >= 5000:
                copy.write("".join(out))
                out.clear()
            # this customer's shipments: a binomial share of what the franchise has left
            count = binomial(rng, shipments_left[f], w / weight_left[f]) if weight_left[f] > 0 else 0
            if seen[f] == n_f:
                count = shipments_left[f]  # the franchise's last customer takes the rounding rest
            weight_left[f] -= w
            shipments_left[f] -= count
            if count == 0:
                stats["never"] += 1
                continue
            start = min(DAYS, created_ago)
            end = 0.0
            if start > 120 and rng.random() < (0.05 if rank < n_f * 0.01 else 0.2):
                end = 60 + (start - 90) * rng.random()
                stats["silent"] += 1
            span = start - end
            returned = 0.012 if (u := rng.random()) < 0.85 else (0.06 if u < 0.97 else 0.20)
            _shipments_of(rng, buckets, count, network.franchise_ids[f], g, price, end, span, returned,
                          day_text, now_seconds)
        if out:
            copy.write("".join(out))
    buckets.close()
    stats["shipments"] = _copy_buckets(conn, buckets)
    return stats


def _shipments_of(rng, buckets: Buckets, count: int, fid: int, customer: int, price: float, end: float,
                  span: float, returned: float, day_text: list[str], now_seconds: int) -> None:
    random_ = rng.random
    for _ in range(count):
        ago = end + span * random_()
        seconds = now_seconds - int(ago * 86400)  # seconds after midnight of today, negative = earlier days
        day, second = divmod(seconds, 86400)
        u = random_()
        if ago < 2:
            status = IN_FLIGHT[int(u * len(IN_FLIGHT))]
        elif u < returned:
            status = "RETURNED"
        elif u < returned + EXCEPTION_SHARE:
            status = pick(rng, EXCEPTIONS)
        else:
            status = "DELIVERED"
        v = random_()
        product, factor = ("standard", 1.0) if v < 0.85 else (("express", 1.8) if v < 0.95 else ("economy", 0.8))
        fee = price * factor * (0.85 + 0.3 * random_())
        buckets.add(ago, f"{day_text[-day]} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}\t"
                         f"{fid}\t{customer}\t{product}\t{fee:.2f}\t{status}\n")


def _copy_buckets(conn, buckets: Buckets) -> int:
    """Each bucket, oldest first, sorted by time (the line starts with it), ids and waybills in that order."""
    next_id = 0
    columns = "id, carrier, waybill_no, created_at, franchise_id, customer_id, service_product, fee, status, custom"
    with conn.cursor().copy(f"COPY crm_shipment ({columns}) FROM STDIN WITH (FREEZE)") as copy:
        for path in buckets.paths:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            lines.sort()
            out = []
            for line in lines:
                next_id += 1
                out.append(f"{next_id}\tCRM\tTR{next_id:010d}\t{line[:-1]}\t{{}}\n")
                if len(out) >= 20000:
                    copy.write("".join(out))
                    out.clear()
            if out:
                copy.write("".join(out))
            del lines, out
            path.unlink()
    return next_id


# --- fill, reuse ----------------------------------------------------------------------------------------


def wanted_meta(customers: int, shipments: int, network: Network) -> dict:
    return {"version": str(GENERATOR_VERSION), "customers": str(customers), "shipments": str(shipments),
            "franchises": ",".join(map(str, network.franchise_ids))}


def stored_meta(url: str) -> dict:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_tr_meta (key text PRIMARY KEY, value text NOT NULL)")
        return dict(conn.execute("SELECT key, value FROM bench_tr_meta").fetchall())


def fill(app, url: str, network: Network, customers: int, shipments: int, force: bool = False) -> dict | None:
    """Customers and shipments, unless the stored data is of this generator and size. Returns the timings of
    the steps, or None when the data was reused."""
    from core.extensions import db

    wanted = wanted_meta(customers, shipments, network)
    meta = stored_meta(url)
    if not force and all(meta.get(k) == v for k, v in wanted.items()):
        return None
    with app.app_context():
        indexes = {name: [(ix.name, create_index_sql(ix)) for ix in db.metadata.tables[name].indexes]
                   for name in BULK_TABLES}
    timings: dict[str, float] = {}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with psycopg.connect(libpq_url(url)) as conn, tempfile.TemporaryDirectory(prefix="crm-bench-tiering-") as tmp:
        conn.execute("SET session_replication_role = replica")  # no FK triggers: consistent by construction
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")

        def step(name, run):
            started = time.perf_counter()
            result = run()
            timings[name] = time.perf_counter() - started
            print(f"  {name}: {timings[name]:.1f} s", flush=True)
            return result

        existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        referencing = sorted({r[0] for r in conn.execute(
            "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid::regclass::text IN ('crm_customer', 'crm_shipment')")} & existing)
        step("truncate", lambda: conn.execute("TRUNCATE " + ", ".join(dict.fromkeys([*referencing, *BULK_TABLES]))
                                              + " CASCADE"))
        for table in BULK_TABLES:
            for name, _ in indexes[table]:
                conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        stats = step("customers and shipments (generate + COPY)",
                     lambda: generate(conn, customers, shipments, network, Path(tmp), now))
        for table in BULK_TABLES:
            def build(table=table):
                for _name, create in indexes[table]:
                    conn.execute(create)
            step(f"indexes of {table} ({len(indexes[table])})", build)
        for table in BULK_TABLES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("DELETE FROM bench_tr_meta")
        for key, value in {**wanted, "generated_at": now.isoformat(), **{k: str(v) for k, v in stats.items()}}.items():
            conn.execute("INSERT INTO bench_tr_meta (key, value) VALUES (%s, %s)", (key, value))
        step("commit", conn.commit)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        step("vacuum analyze", lambda: [conn.execute(f"VACUUM (ANALYZE) {t}") for t in BULK_TABLES])
    return timings


def prepare(customers: int, shipments: int, rebuild: bool, instance: str, **overrides):
    """Database, schema, network and data, ready for a run. `overrides` go to the app's configuration.
    Returns (app, url, network, fill timings or None when the data was reused)."""
    url = database_url(customers, shipments)
    ensure_database(url)
    app = make_app(url, instance, **overrides)
    for line in ensure_schema(app):
        print(f"schema: {line}", flush=True)
    network = ensure_network(app)
    started = time.perf_counter()
    timings = fill(app, url, network, customers, shipments, rebuild)
    if timings is not None:
        print(f"filled {customers:,} customers and {shipments:,} shipments in {time.perf_counter() - started:.0f} s",
              flush=True)
    return app, url, network, timings


def summary(url: str) -> list[str]:
    """What the data looks like: sizes, the skew, the statuses."""
    with psycopg.connect(libpq_url(url)) as conn:
        def one(sql, *args):
            return conn.execute(sql, args).fetchone()

        meta = dict(conn.execute("SELECT key, value FROM bench_tr_meta").fetchall())
        customers, businesses = one("SELECT count(*), count(*) FILTER (WHERE kind = 'B') FROM crm_customer")
        shipments, first, last = one("SELECT count(*), min(created_at), max(created_at) FROM crm_shipment")
        size = one("SELECT pg_size_pretty(pg_total_relation_size('crm_shipment'))")[0]
        returned, exceptions = one(
            "SELECT count(*) FILTER (WHERE status = 'RETURNED'), count(*) FILTER (WHERE status NOT IN "
            "('DELIVERED', 'RETURNED', 'PICKED_UP', 'IN_TRANSIT', 'ARRIVED_DEST', 'OUT_FOR_DELIVERY')) "
            "FROM crm_shipment")
        biggest = conn.execute(
            "SELECT f.code, f.id, count(*) FROM crm_customer c JOIN crm_franchise f ON f.id = c.franchise_id "
            "GROUP BY f.code, f.id ORDER BY 3 DESC").fetchall()
        skew = one("""
            WITH per AS (SELECT c.id, count(s.id) AS n FROM crm_customer c
                         LEFT JOIN crm_shipment s ON s.customer_id = c.id GROUP BY c.id),
                 ranked AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS r, count(*) OVER () AS total,
                                   sum(n) OVER () AS volume FROM per)
            SELECT avg((n <= 3)::int), avg((n = 0)::int),
                   sum(n) FILTER (WHERE r <= total / 100)::float / max(volume),
                   sum(n) FILTER (WHERE r <= total / 5)::float / max(volume), max(n) FROM ranked""")
        silent = one("SELECT count(*) FROM (SELECT customer_id FROM crm_shipment GROUP BY customer_id "
                     "HAVING max(created_at) < now() AT TIME ZONE 'UTC' - interval '60 days') s")[0]
    by_size = ", ".join(f"{code} {n:,}" for code, _id, n in (biggest[0], biggest[len(biggest) // 2], biggest[-1]))
    return [
        f"customers {customers:,} ({businesses:,} businesses) in {len(biggest)} franchises (largest, median, "
        f"smallest: {by_size}); shipments {shipments:,} ({size} with indexes) from {first:%Y-%m-%d} to "
        f"{last:%Y-%m-%d}; generated {meta.get('generated_at', '?')[:16]} UTC",
        f"skew: {skew[0]:.0%} of customers have 0-3 parcels ({skew[1]:.0%} none), the top 1% ship {skew[2]:.0%} "
        f"and the top 20% {skew[3]:.0%} of the parcels, the biggest {skew[4]:,}; {silent:,} customers silent for "
        f"60+ days; RETURNED {returned / shipments:.1%}, other exceptions {exceptions / shipments:.1%}",
    ]


def franchise_of_size(url: str, which: str = "largest") -> tuple[int, str, int]:
    """(id, code, customers) of the largest or smallest franchise."""
    order = "DESC" if which == "largest" else "ASC"
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(
            "SELECT f.id, f.code, count(*) FROM crm_customer c JOIN crm_franchise f ON f.id = c.franchise_id "
            f"GROUP BY f.id, f.code ORDER BY 3 {order}, 1 LIMIT 1").fetchone()


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("flask_appbuilder", "core", "alembic", "flask_migrate", "plugins", "crm"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The HMAC key is")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="customers (default 1000000)")
    parser.add_argument("--shipments", type=int, default=DEFAULT_SHIPMENTS, help="shipments (default 10000000)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if the stored data matches")
    parser.add_argument("--summary", action="store_true", help="print the data's skew (a few full scans)")
    args = parser.parse_args(argv)
    if args.customers < 10 * N_FRANCHISES or args.shipments < 0:
        sys.exit(f"--customers: at least {10 * N_FRANCHISES}")
    quiet_logs()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crm-bench-tiering-") as instance:
        _app, url, _network, timings = prepare(args.customers, args.shipments, args.rebuild, instance)
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    print("reused the stored data (--rebuild redoes it)" if timings is None else
          "fill: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if args.summary or timings is not None:
        print("\n".join(summary(url)))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
