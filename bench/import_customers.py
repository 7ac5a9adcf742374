"""Excel import of customers on PostgreSQL: dry run plus write of a generated workbook, time and peak memory.

    .venv/bin/python -m bench.import_customers [--rows 100000] [--existing 10000] [--small 20000] [--keep]

Writes a workbook of --rows customer rows (openpyxl write-only, in a temporary folder: 30% businesses with
credit codes, 70% persons, unique phones, a custom choice field; the first --existing rows match customers
already stored, by credit code or phone, so they are updates) and imports it into the database
`crm_bench_import` (CRM_BENCH_IMPORT_DATABASE_URL overrides the URL; its schema is dropped and rebuilt each
run) the way the screens do: `create_import` + commit (stores the upload, runs the dry run in-process as
without Redis), then `request_write` + commit (runs the write). Every measured part runs in a fresh child
process, so each peak RSS (ru_maxrss) is that part's own:

- baseline: the bare reading of the same file by openpyxl (read_only=True, values_only) and by our reader;
- the import of --rows rows, and of --small rows (the memory of the import must not grow with the file).

The duplicate scan that a customer import queues (core.dedupe) is left out of the import figures and timed
on its own afterwards. Figures, not pass/fail; the goal is dry run + write < 60 s and peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_import"
HEADER = ["类型", "名称", "电话", "公司名称", "统一社会信用代码", "行业", "结算方式", "区县", "标签", "外部编号",
          "会员等级"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉"
INDUSTRIES = ["ecommerce", "manufacturing", "retail", "food", "electronics", "apparel", "other"]


def _proc_status(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """The process's peak resident memory since start, or since the last reset_peak()."""
    peak = _proc_status("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return _proc_status("VmRSS") or peak_rss_mb()


def cpu_seconds() -> float:
    """CPU time of this process (user + system): unlike the wall clock, not inflated by other load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> bool:
    """Start measuring the peak afresh (Linux: clear_refs 5 resets VmHWM to the current RSS)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def credit_code(index: int) -> str:
    from core.models.customer import _CREDIT_ALPHABET, _CREDIT_WEIGHTS

    body, n = [], index
    for _ in range(7):
        n, digit = divmod(n, len(_CREDIT_ALPHABET))
        body.append(_CREDIT_ALPHABET[digit])
    seventeen = "91440101MA" + "".join(body)
    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(seventeen, _CREDIT_WEIGHTS))
    return seventeen + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def phone(index: int) -> str:
    return f"13{index:09d}"


def customer_row(index: int, rng: random.Random, districts: list[str]) -> list:
    business = index % 10 < 3
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    company = f"{name}商贸有限公司" if business else None
    return ["B" if business else "C", company or name, phone(index), company, credit_code(index) if business else None,
            rng.choice(INDUSTRIES), "monthly" if business else "cash", rng.choice(districts), "导入,测试",
            f"EXT{index:08d}", rng.choice(["gold", "silver", None])]


# --- child processes -----------------------------------------------------------------------------------


def child_generate(path: str, rows: int) -> dict:
    from openpyxl import Workbook

    from core import divisions

    started = time.perf_counter()
    rng = random.Random(20240601)
    districts = [d.code for d in divisions.districts()]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(HEADER)
    for index in range(rows):
        sheet.append(customer_row(index, rng, districts))
    workbook.save(path)
    return {"seconds": time.perf_counter() - started, "bytes": os.path.getsize(path), "peak_rss_mb": peak_rss_mb()}


def child_read_openpyxl(path: str) -> dict:
    from openpyxl import load_workbook

    reset_peak()
    rss_before = rss_mb()
    started = time.perf_counter()
    workbook = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _row in workbook.worksheets[0].iter_rows(values_only=True))
    return {"seconds": time.perf_counter() - started, "rows": count, "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": rss_before}


def child_read_ours(path: str) -> dict:
    from core.importing.reader import Workbook

    reset_peak()
    rss_before = rss_mb()
    started = time.perf_counter()
    with open(path, "rb") as handle:
        workbook = Workbook(handle, os.path.basename(path))
        count = sum(1 for _row in workbook.rows(workbook.sheets[0]))
    return {"seconds": time.perf_counter() - started, "rows": count, "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": rss_before}


def _prepare_database(url: str, existing: int):
    """A fresh schema, one franchise, an importing user, a custom field, and `existing` stored customers."""
    import psycopg
    from cryptography.fernet import Fernet
    from sqlalchemy import insert
    from sqlalchemy.engine import make_url

    from core.app import create_app
    from core.cli import init_database
    from core.extensions import db
    from core.lowcode.models import CustomFieldDefinition
    from core.models import Customer
    from core.privacy import vault
    from core.tenancy import Franchise, Region

    plain = make_url(url).set(drivername="postgresql")
    with psycopg.connect(plain.set(database="postgres").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (plain.database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{plain.database}"')
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "REDIS_URL": None,
                      "CRM_ENCRYPTION_KEY": Fernet.generate_key().decode(), "CRM_LOAD_ENTRYPOINTS": False,
                      "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-import-"), "WTF_CSRF_ENABLED": False,
                      "CRM_IMPORT_MAX_BYTES": 50 * 1024 * 1024})
    _register_views(app)
    init_database(app)
    with app.app_context():
        region = Region(code="BR1", name="Bench region")
        franchise = Franchise(code="BF01", name="Bench franchise", region=region)
        db.session.add_all([region, franchise])
        db.session.add(CustomFieldDefinition(entity="crm_customer", key="vip_level", label_zh="会员等级",
                                             label_en="VIP level", field_type="choice",
                                             choices="gold|金卡|Gold\nsilver|银卡|Silver", order=1))
        db.session.commit()
        sm = app.appbuilder.sm
        user = sm.add_user("bench_importer", "bench", "importer", "importer@bench.invalid",
                           sm.find_role("Account Manager"), "bench-pass-1")
        user.franchises = [franchise]
        db.session.commit()
        rows = []
        for index in range(existing):  # the first rows of the file match these: every other by credit code
            business = index % 10 < 3
            rows.append({"franchise_id": franchise.id, "kind": "B" if business else "C", "name": f"老客户{index}",
                         "credit_code": credit_code(index) if business else None,
                         "phone_enc": vault().encrypt(phone(index)),
                         "phone_hash": vault().blind_index("phone", phone(index)), "status": "active",
                         "source": "counter", "custom": {}, "marketing_opt_out": False})
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Customer), rows[start:start + 5000])
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        ids = (franchise.id, user.id)
    return app, ids


def _register_views(app):
    """The import views, in case core/app.py does not register them yet."""
    from core.views import imports

    with app.app_context():
        if not any(type(v).__name__ == "ImportRunView" for v in app.appbuilder.baseviews):
            imports.register(app.appbuilder)


def child_import(path: str, url: str, existing: int) -> dict:
    app, (franchise_id, user_id) = _prepare_database(url, existing)
    try:
        return _measure_import(app, path, franchise_id, user_id)
    finally:
        shutil.rmtree(app.instance_path, ignore_errors=True)


def _measure_import(app, path: str, franchise_id: int, user_id: int) -> dict:
    import core.importing.runner as runner
    from core.extensions import db
    from core.models import Customer
    from core.models.imports import ImportRun
    from sqlalchemy import func, select

    # the duplicate scan is another feature's cost: timed on its own below
    queued = []
    runner._queue_duplicate_scan = lambda franchise, ids: queued.append((franchise, list(ids)))
    reset_peak()
    figures = {"rss_after_start_mb": rss_mb()}
    with app.test_request_context("/"):
        from flask import g

        g.user = db.session.get(app.appbuilder.sm.user_model, user_id)
        started, cpu = time.perf_counter(), cpu_seconds()
        with open(path, "rb") as handle:
            run = runner.create_import("customers", franchise_id, os.path.basename(path), handle, g.user)
            run_id = run.id
            db.session.commit()  # stores the upload; the dry run runs in-process after the commit
        figures["dry_run_seconds"] = time.perf_counter() - started
        figures["dry_run_cpu"] = cpu_seconds() - cpu
        figures["rss_after_dry_run_mb"] = peak_rss_mb()
        run = db.session.get(ImportRun, run_id)
        figures["dry_run"] = {"status": run.status, "total": run.rows_total, "valid": run.rows_valid,
                              "invalid": run.rows_invalid, "new": run.rows_new, "matched": run.rows_matched,
                              "error": run.error}
        started, cpu = time.perf_counter(), cpu_seconds()
        runner.request_write(run, "all", g.user)
        db.session.commit()  # the write runs in-process after the commit
        figures["write_seconds"] = time.perf_counter() - started
        figures["write_cpu"] = cpu_seconds() - cpu
        figures["peak_rss_mb"] = peak_rss_mb()
        db.session.expire_all()
        run = db.session.get(ImportRun, run_id)
        figures["write"] = {"status": run.status, "created": run.rows_created, "updated": run.rows_updated,
                            "error": run.error}
        figures["customers_stored"] = db.session.scalar(select(func.count(Customer.id)))
    figures["total_seconds"] = figures["dry_run_seconds"] + figures["write_seconds"]
    try:
        from core.dedupe import scan_customers
        from core.tenancy import Scope, scope_as
    except ImportError:
        return figures
    if queued:
        with app.app_context(), scope_as(Scope(False, frozenset({franchise_id}))):
            started = time.perf_counter()
            scan_customers(*queued[0])
            db.session.commit()
            figures["dedupe_scan_seconds"] = time.perf_counter() - started
    return figures


CHILDREN = {"generate": child_generate, "read_openpyxl": child_read_openpyxl, "read_ours": child_read_ours,
            "import": child_import}


def in_child(name: str, *args) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.import_customers", "--child", name, *map(str, args)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- orchestration -------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=10_000, help="stored customers the file updates")
    parser.add_argument("--small", type=int, default=20_000, help="a smaller file, for the memory comparison (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the generated workbooks")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        print(json.dumps(CHILDREN[name](*[int(a) if a.isdigit() else a for a in rest])))
        return

    url = os.environ.get("CRM_BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)
    folder = tempfile.mkdtemp(prefix="crm-bench-import-")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
          f"database {url.rsplit('@', 1)[-1]}")
    sizes = [args.rows] + ([args.small] if args.small and args.small < args.rows else [])
    files = {}
    for rows in sizes:
        path = os.path.join(folder, f"customers-{rows}.xlsx")
        made = in_child("generate", path, rows)
        files[rows] = path
        print(f"generated {rows:,} rows: {made['bytes'] / 1024 / 1024:.1f} MB in {made['seconds']:.1f} s")

    big = files[args.rows]
    openpyxl_read = in_child("read_openpyxl", big)
    ours_read = in_child("read_ours", big)
    print(f"\nbaseline, reading {args.rows:,} rows only (no checks, no database):")
    for label, figures in (("openpyxl read_only", openpyxl_read), ("our reader", ours_read)):
        print(f"  {label:<19} {figures['seconds']:6.1f} s   peak RSS {figures['peak_rss_mb']:6.0f} MB "
              f"({figures['rss_before_mb']:.0f} MB before reading: interpreter and modules)")

    results = {}
    for rows in sizes:
        existing = min(args.existing, rows // 2)
        results[rows] = in_child("import", files[rows], url, existing)
        r = results[rows]
        print(f"\nimport of {rows:,} rows ({existing:,} update stored customers), PostgreSQL:")
        print(f"  dry run   {r['dry_run_seconds']:6.1f} s   (CPU of this process {r['dry_run_cpu']:5.1f} s)   "
              f"{r['dry_run']}")
        print(f"  write     {r['write_seconds']:6.1f} s   (CPU of this process {r['write_cpu']:5.1f} s)   {r['write']}")
        print(f"  total     {r['total_seconds']:6.1f} s   (goal < 60 s; load average now {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs: other load slows the wall clock)")
        print(f"  peak RSS  {r['peak_rss_mb']:6.0f} MB  (goal < 300 MB; the whole process: "
              f"{r['rss_after_start_mb']:.0f} MB before the import, peak {r['rss_after_dry_run_mb']:.0f} MB during "
              f"the dry run)")
        print(f"  rows per second (dry run + write): {rows / r['total_seconds']:,.0f}")
        if "dedupe_scan_seconds" in r:
            print(f"  duplicate scan queued by the import (not in the figures above): {r['dedupe_scan_seconds']:.1f} s")
    if len(sizes) == 2:
        small, large = results[sizes[1]], results[sizes[0]]
        growth = ((large["peak_rss_mb"] - large["rss_after_start_mb"])
                  - (small["peak_rss_mb"] - small["rss_after_start_mb"]))
        print(f"\nmemory against file size: {sizes[1]:,} rows peak {small['peak_rss_mb']:.0f} MB, {sizes[0]:,} rows "
              f"peak {large['peak_rss_mb']:.0f} MB (import's own growth differs by {growth:+.0f} MB for "
              f"{sizes[0] / sizes[1]:.0f}x the rows)")
        print(f"time against file size: {small['total_seconds'] / sizes[1] * 1000:.2f} ms/row vs "
              f"{large['total_seconds'] / sizes[0] * 1000:.2f} ms/row")
    if not args.keep:
        for path in files.values():
            os.remove(path)
        os.rmdir(folder)
    else:
        print(f"\nworkbooks kept in {folder}")


if __name__ == "__main__":
    main()
