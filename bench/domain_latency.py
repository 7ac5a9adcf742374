"""Latency of the customer and shipment screens and APIs at scale, ours against stock Flask-AppBuilder.

    .venv/bin/python -m bench.domain_latency [--customers 1000000] [--shipments 10000000] [--franchises 200]
                                             [--requests 30] [--warmup 3] [--explain] [--vacuum]

Uses the database `crm_bench_domain` (CRM_BENCH_DOMAIN_DATABASE_URL overrides). When it does not hold the
requested numbers of customers and shipments, the domain tables are emptied and filled by the same generator
as `crm seed` (core/seeding.py, COPY); a later run with the same numbers reuses the rows. The encryption key is
fixed (CRM_BENCH_ENCRYPTION_KEY, default below) so that `crm seed` run by hand with the same key fills a
database this benchmark can search by phone number.

Times, for an HQ user (role "HQ Admin", every franchise), with the in-process Flask test client, each case
against its stock-FAB twin from bench/domain_plugin.py on the same tables in the same run:

- customer list and shipment list, HTML and REST: page 1 (25 rows), sorted by created_at desc, one filter
  (customers: status = active; shipments: status = --shipment-status, default DELIVERED);
- the customer 360 page of the busiest customer (most shipments) against FAB's show page with related lists;
- search by an exact phone number: REST `(col:phone_hash,opr:eq_hash,value:'138...')` and the HTML list
  search field (stock FAB cannot search an encrypted column by number: its twin filters phone_hash = the
  blind index, the same query).

It prints figures (p50/p95/mean in ms), SQL statements per request and ratios against the goals, not
pass/fail; they depend on the machine and its load. `--try-fixes` first patches this process with the changes
the benchmark suggests for core (bench/domain_plugin.py, `apply_proposed_fixes`), to measure them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import time
import warnings

import prison
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.list_latency import SqlCounter, ensure_database, machine_info, print_table, ratio_line, summarize

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_domain"
DEFAULT_KEY = "crm-bench-domain-key"
PASSWORD = "bench-pass-1"
HQ_USER = "bench_domain_hq"
DOMAIN_TABLES = ("crm_customer", "crm_contact", "crm_address", "crm_contract", "crm_communication", "crm_shipment",
                 "crm_tracking_event")


def make_app(url: str, instance_path: str, key: str):
    from core.app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "CRM_EXTRA_PLUGINS": ["bench.domain_plugin"],
        "CRM_LOAD_ENTRYPOINTS": False,
        "SECRET_KEY": "bench-domain",
        "CRM_ENCRYPTION_KEY": key,
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "AUTH_RATE_LIMIT": "100000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": None,
        "INSTANCE_PATH": instance_path,
    })


def ensure_data(app, customers: int, shipments: int, franchises: int) -> tuple[str, float | None]:
    """Fill the domain tables unless they hold exactly these numbers. Returns (what happened, seconds)."""
    from core import seeding
    from core.extensions import db
    from core.models import Customer, Shipment

    have_c = db.session.scalar(select(func.count()).select_from(Customer))
    have_s = db.session.scalar(select(func.count()).select_from(Shipment))
    if (have_c, have_s) == (customers, shipments):
        return f"reused {have_c:,} customers and {have_s:,} shipments", None
    if have_c or have_s:
        print(f"emptying the domain tables ({have_c:,} customers, {have_s:,} shipments)")
        db.session.execute(text("TRUNCATE " + ", ".join(DOMAIN_TABLES) + " CASCADE"))
        db.session.commit()
    started = time.perf_counter()
    sites = seeding.ensure_franchises(franchises)
    event_days = None if shipments <= 1_000_000 else 14
    report = seeding.seed(app, seeding.Plan(customers=customers, shipments=shipments, event_days=event_days),
                          sites, log=print)
    seconds = time.perf_counter() - started
    return ("seeded " + ", ".join(f"{n:,} {t.removeprefix('crm_')}" for t, n in report.rows.items())
            + f" in {seconds:.0f} s"), seconds


def ensure_hq_user(app):
    from core.extensions import db
    from core.plugins import set_activation

    sm = app.appbuilder.sm
    user = sm.find_user(username=HQ_USER)
    if user is None:
        sm.add_user(HQ_USER, HQ_USER, "bench", f"{HQ_USER}@bench.invalid", sm.find_role("HQ Admin"), PASSWORD)
    set_activation("benchdomain", enabled=True, user="bench")
    db.session.commit()


def subjects(app):
    """The busiest customer (for the 360 page) and a customer to find by phone number."""
    from core.extensions import db
    from core.models import Customer
    from core.privacy import vault

    busy_id, busy_count = db.session.execute(text(
        "SELECT customer_id, count(*) FROM crm_shipment GROUP BY customer_id ORDER BY 2 DESC LIMIT 1")).one()
    total = db.session.scalar(select(func.max(Customer.id)))
    someone = db.session.get(Customer, total // 2 + 1)
    phone = vault().decrypt(someone.phone_enc)
    return {"busy": db.session.get(Customer, busy_id), "busy_shipments": busy_count, "phone": phone,
            "phone_customer": someone.id, "phone_hash": someone.phone_hash}


def filter_index(app, view_class_name: str, column: str, filter_class_name: str) -> int:
    """Position of a filter among a view's filters of a column: the N of `_flt_N_<column>` in list URLs."""
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == view_class_name)
    with app.test_request_context():
        filters = view.__dict__.get("_base__filters") or view._filters
        for i, flt in enumerate(filters.get_search_filters()[column]):
            if type(flt).__name__ == filter_class_name:
                return i
    raise SystemExit(f"{view_class_name}: no {filter_class_name} on {column}")


def login(client):
    response = client.post("/login/", data={"username": HQ_USER, "password": PASSWORD})
    if response.status_code != 302:
        sys.exit(f"login failed: {response.status_code}")
    response = client.post("/api/v1/security/login",
                           json={"username": HQ_USER, "password": PASSWORD, "provider": "db"})
    if response.status_code != 200:
        sys.exit(f"API login failed: {response.status_code}")
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def cases(app, client, headers, subject, shipment_status):
    page = dict(order_column="created_at", order_direction="desc", page=0, page_size=25)
    customer_q = prison.dumps(dict(filters=[dict(col="status", opr="eq", value="active")], **page))
    shipment_q = prison.dumps(dict(filters=[dict(col="status", opr="eq", value=shipment_status)], **page))
    phone_q = prison.dumps(dict(filters=[dict(col="phone_hash", opr="eq_hash", value=subject["phone"])]))
    stock_phone_q = prison.dumps(dict(filters=[dict(col="phone_hash", opr="eq", value=subject["phone_hash"])]))

    def html_list(path, view, column, flt, value):
        return (f"{path}?_flt_{filter_index(app, view, column, flt)}_{column}={value}"
                f"&_oc_{view}=created_at&_od_{view}=desc")

    def rest(path, q, check):
        def go():
            response = client.get(path, query_string={"q": q}, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
            check(response.json["result"])
        return go

    def rest_lookup(phone, customer_id):
        def go():
            response = client.get("/api/v1/customer/lookup", query_string={"phone": phone}, headers=headers)
            if response.status_code != 200 or [r["id"] for r in response.json["result"]] != [customer_id]:
                raise SystemExit(f"lookup: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return go

    def html(path, marker=None):
        def go():
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
            if marker is not None and marker not in response.get_data(as_text=True):
                raise SystemExit(f"{path}: the page lacks {marker!r}")
        return go

    def all_have(key, value, rows=25):
        def check(result):
            if len(result) != rows or any(r[key] != value for r in result):
                raise SystemExit(f"unexpected rows: {result[:2]}")
        return check

    def finds(customer_id):
        def check(result):
            if [r["id"] for r in result] != [customer_id]:
                raise SystemExit(f"phone search found {[r['id'] for r in result]}, expected [{customer_id}]")
        return check

    busy = subject["busy"]
    stock_phone_flt = filter_index(app, "StockCustomerView", "phone_hash", "FilterEqual")
    return [
        dict(name="customers HTML, ours", key="c_html", what="/customers/list/ (CustomerView)",
             call=html(html_list("/customers/list/", "CustomerView", "status", "FilterEqual", "active"))),
        dict(name="customers HTML, stock", key="c_html_stock", what="/stock_customers/list/ (ModelView)",
             call=html(html_list("/stock_customers/list/", "StockCustomerView", "status", "FilterEqual", "active"))),
        dict(name="customers REST, ours", key="c_rest", what="/api/v1/customer/ (CustomerApi)",
             call=rest("/api/v1/customer/", customer_q, all_have("status", "active"))),
        dict(name="customers REST, stock", key="c_rest_stock", what="/api/v1/stock_customer/ (ModelRestApi)",
             call=rest("/api/v1/stock_customer/", customer_q, all_have("status", "active"))),
        dict(name="shipments HTML, ours", key="s_html", what="/shipments/list/ (ShipmentView)",
             call=html(html_list("/shipments/list/", "ShipmentView", "status", "FilterEqual", shipment_status))),
        dict(name="shipments HTML, stock", key="s_html_stock", what="/stock_shipments/list/ (ModelView)",
             call=html(html_list("/stock_shipments/list/", "StockShipmentView", "status", "FilterEqual",
                                 shipment_status))),
        dict(name="shipments REST, ours", key="s_rest", what="/api/v1/shipment/ (ShipmentApi)",
             call=rest("/api/v1/shipment/", shipment_q, all_have("status", shipment_status))),
        dict(name="shipments REST, stock", key="s_rest_stock", what="/api/v1/stock_shipment/ (ModelRestApi)",
             call=rest("/api/v1/stock_shipment/", shipment_q, all_have("status", shipment_status))),
        dict(name="customer 360, ours", key="c360", what=f"/customers/show/{busy.id} (the busiest customer)",
             call=html(f"/customers/show/{busy.id}", busy.name)),
        dict(name="customer show + related lists, stock", key="c360_stock",
             what="/stock_customers/show/<id>: FAB show page, 5 related lists of 20",
             call=html(f"/stock_customers/show/{busy.id}")),
        dict(name="phone search REST, ours", key="p_rest", what="(col:phone_hash,opr:eq_hash,value:'<mobile>')",
             call=rest("/api/v1/customer/", phone_q, finds(subject["phone_customer"]))),
        dict(name="phone lookup REST, ours", key="p_lookup", what="/api/v1/customer/lookup?phone=<mobile>",
             call=rest_lookup(subject["phone"], subject["phone_customer"])),
        dict(name="phone search REST, stock (hash)", key="p_rest_stock",
             what="(col:phone_hash,opr:eq,value:'<blind index>')",
             call=rest("/api/v1/stock_customer/", stock_phone_q, finds(subject["phone_customer"]))),
        dict(name="phone search HTML, ours", key="p_html", what="/customers/list/?_flt_0_phone_hash=<mobile>",
             call=html(f"/customers/list/?_flt_0_phone_hash={subject['phone']}")),
        dict(name="phone search HTML, stock (hash)", key="p_html_stock",
             what=f"/stock_customers/list/?_flt_{stock_phone_flt}_phone_hash=<blind index>",
             call=html(f"/stock_customers/list/?_flt_{stock_phone_flt}_phone_hash={subject['phone_hash']}")),
    ]


SLOW_SECONDS = 5.0  # a case slower than this is timed SLOW_REQUESTS times only (the run must end)
SLOW_REQUESTS = 3


def run_cases(cases, repeats, warmups, counter):
    """Warm-ups per case (the SQL of the last one is kept in case["sql"]), then `repeats` rounds of every case
    in a shuffled order per round (drift and caching hit all cases alike). A case whose warm-up takes more
    than SLOW_SECONDS is timed SLOW_REQUESTS times only."""
    import random

    limits = {}
    for case in cases:
        for i in range(max(warmups, 2)):
            counter.statements.clear()
            counter.active = True
            started = time.perf_counter()
            try:
                case["call"]()
            finally:
                counter.active = False
            case["sql"] = list(counter.statements)
            if time.perf_counter() - started > SLOW_SECONDS:
                limits[case["name"]] = SLOW_REQUESTS
                case["what"] += f" [over {SLOW_SECONDS:g} s: timed {SLOW_REQUESTS} times only]"
                break
    times = {case["name"]: [] for case in cases}
    order = random.Random(7)
    for _ in range(repeats):
        for case in order.sample(cases, len(cases)):
            if len(times[case["name"]]) >= limits.get(case["name"], repeats):
                continue
            started = time.perf_counter()
            case["call"]()
            times[case["name"]].append((time.perf_counter() - started) * 1000)
    return times


def explain(app, statements):
    from core.extensions import db

    with db.engine.connect() as conn:
        for statement, parameters in statements:
            if not re.search(r"\bcrm_(customer|shipment|contact|address|contract|communication|tracking)", statement):
                continue
            print("  SQL:", " ".join(statement.split())[:600])
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            for line in plan:
                print("     ", line)
            print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--shipments", type=int, default=10_000_000)
    parser.add_argument("--franchises", type=int, default=200)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per case first (default 3)")
    parser.add_argument("--shipment-status", default="DELIVERED", help="the shipment list filter (default DELIVERED)")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) the domain tables first")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the SQL of our cases")
    parser.add_argument("--only", help="regular expression: run the cases whose name matches")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("flask_appbuilder", "core", "alembic", "flask_migrate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The HMAC key is")

    url = os.environ.get("CRM_BENCH_DOMAIN_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        sys.exit("CRM_BENCH_DOMAIN_DATABASE_URL: this benchmark needs PostgreSQL")
    key = os.environ.get("CRM_BENCH_ENCRYPTION_KEY", DEFAULT_KEY)
    overall = time.perf_counter()
    ensure_database(url)
    from core.cli import init_database
    from core.extensions import db

    with tempfile.TemporaryDirectory(prefix="crm-bench-domain-") as instance:
        app = make_app(url, instance, key)
        init_database(app)
        with app.app_context():
            data, _ = ensure_data(app, args.customers, args.shipments, args.franchises)
            if args.vacuum:
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    for table in DOMAIN_TABLES:
                        conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            ensure_hq_user(app)
            subject = subjects(app)
            franchises = db.session.scalar(text("SELECT count(DISTINCT franchise_id) FROM crm_customer"))
            status_rows = db.session.scalar(text("SELECT count(*) FROM crm_shipment WHERE status = :s"),
                                            {"s": args.shipment_status})
            active_rows = db.session.scalar(text("SELECT count(*) FROM crm_customer WHERE status = 'active'"))
            db.session.remove()
        setup = time.perf_counter() - overall

        client = app.test_client()
        headers = login(client)
        with app.app_context():
            all_cases = cases(app, client, headers, subject, args.shipment_status)
        if args.only:
            all_cases = [c for c in all_cases if re.search(args.only, c["name"])]
        with app.app_context():
            counter = SqlCounter(db.engine)
        times = run_cases(all_cases, args.requests, args.warmup, counter)
        sql = {case["key"]: case["sql"] for case in all_cases}

        print()
        print("=" * 100)
        print("courier-crm domain screens benchmark (bench/domain_latency.py)")
        for line in machine_info(app):
            print(line)
        print(f"database: {make_url(url).render_as_string(hide_password=True)}")
        print(f"data:     {data}; {franchises} franchises; customers status=active: {active_rows:,}; "
              f"shipments status={args.shipment_status}: {status_rows:,}")
        print(f"          busiest customer #{subject['busy'].id} ({subject['busy_shipments']:,} shipments); "
              f"phone search finds customer #{subject['phone_customer']}; setup {setup:.1f} s")
        print(f"method:   HQ user (HQ Admin), in-process Flask test client (session cookie for HTML, JWT for REST); "
              f"{args.warmup} warm-up then {args.requests} timed requests per case, interleaved, shuffled per round")
        print()
        print_table("Latency (whole request)", all_cases, times, {k: len(v) for k, v in sql.items()})

        def p(key, q="p95"):
            name = next((c["name"] for c in all_cases if c["key"] == key), None)
            return summarize(times[name])[q] if name else None

        print("Against the goals")
        for key, stock, label in (("c_html", "c_html_stock", "customer list HTML"),
                                  ("c_rest", "c_rest_stock", "customer list REST"),
                                  ("s_html", "s_html_stock", "shipment list HTML"),
                                  ("s_rest", "s_rest_stock", "shipment list REST")):
            if p(key) is None:
                continue
            print(f"  {label:<24} p95 {p(key):8.2f} ms   goal <= 100 ms   {'ok' if p(key) <= 100 else 'MISSED'}")
            if p(stock) is not None:
                for q in ("p50", "p95"):
                    ratio = ratio_line(f"  [{q}] ours / stock", p(key, q), p(stock, q), "<= 0.20 (>= 5x faster)")
                    if q == "p95":
                        print(f"  {'':<58} {'ok' if ratio <= 0.2 else 'MISSED'}")
        if p("c360") is not None:
            print(f"  {'customer 360 page':<24} p95 {p('c360'):8.2f} ms   goal <= 150 ms   "
                  f"{'ok' if p('c360') <= 150 else 'MISSED'}")
            if p("c360_stock") is not None:
                ratio_line("  [p95] ours / stock show page with related lists", p("c360"), p("c360_stock"))
        for key, stock, label in (("p_rest", "p_rest_stock", "phone search REST"),
                                  ("p_lookup", "p_rest_stock", "phone lookup REST"),
                                  ("p_html", "p_html_stock", "phone search HTML")):
            if p(key) is None:
                continue
            print(f"  {label:<24} p95 {p(key):8.2f} ms   goal <= 20 ms    {'ok' if p(key) <= 20 else 'MISSED'}")
            if p(stock) is not None:
                ratio_line("  [p95] ours / stock", p(key), p(stock))
        print()
        print("Notes")
        print("  - Ours counts at most CRM_LIST_COUNT_CAP+1 rows; stock FAB counts every match (COUNT(*)).")
        print("  - The stock twins pass the same plugin gate (cached activation) and the cached rison validator.")
        print("  - The HTML phone search renders a whole list page (menu, filters, 1 row); the REST one is the lookup.")
        print(f"(total run {time.perf_counter() - overall:.1f} s)")

        if args.explain:
            print()
            print("EXPLAIN (ANALYZE, BUFFERS) of the statements on the domain tables, our cases")
            with app.app_context():
                for case in all_cases:
                    if "stock" in case["key"]:
                        continue
                    print(f"== {case['name']}: {len(sql[case['key']])} statements per request")
                    explain(app, sql[case["key"]])

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
