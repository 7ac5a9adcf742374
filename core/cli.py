"""The `crm` command: init, create-admin, demo, seed, worker, cron, plugins."""

from __future__ import annotations

import getpass
import logging
import sys
import time

import click
from sqlalchemy import inspect, select

log = logging.getLogger("crm")


def _app():
    from core.app import create_app

    return create_app()


@click.group()
def main():
    """courier-crm: admin platform for express-delivery franchise networks."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # FAB's own security API warns at every start about filters it cannot build on its own models
    logging.getLogger("flask_appbuilder.models.filters").setLevel(logging.ERROR)


# --- init ----------------------------------------------------------------------------------------------


def init_database(app) -> None:
    """Create or migrate the schema, then sync permissions and role templates."""
    from flask_migrate import upgrade

    from core.extensions import db
    from core.jobs import sync_schedules
    from core.roles import sync_role_templates

    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory, revision="heads")
        _create_unmigrated_tables(db)
        appbuilder = app.appbuilder
        appbuilder.sm._create_db()  # Admin and Public roles
        appbuilder.add_permissions(update_perms=True)
        sync_role_templates(appbuilder, app.extensions["crm_plugins"])
        sync_schedules()


def _create_unmigrated_tables(db) -> None:
    # Plugins under development may ship models before migrations: create those tables, and say so.
    existing = set(inspect(db.engine).get_table_names())
    missing = [t for name, t in db.metadata.tables.items() if name not in existing]
    if missing:
        log.warning("creating tables without a migration: %s", ", ".join(t.name for t in missing))
        db.metadata.create_all(db.engine, tables=missing)


@main.command()
def init():
    """Create or migrate the database, sync permissions and role templates."""
    app = _app()
    init_database(app)
    click.echo(f"database ready: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


@main.command("create-admin")
@click.option("--username", help="login name (asked when missing)")
@click.option("--password", help="password (asked when missing)")
@click.option("--email", default=None)
@click.option("--firstname", default="Admin")
@click.option("--lastname", default="HQ")
def create_admin(username, password, email, firstname, lastname):
    """Create an HQ administrator, interactively or with --username and --password."""
    if not username:
        username = click.prompt("Username")
    if not password:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise click.ClickException("the passwords differ")
    if len(password) < 8:
        raise click.ClickException("password: use at least 8 characters")
    app = _app()
    with app.app_context():
        sm = app.appbuilder.sm
        if sm.find_user(username=username):
            raise click.ClickException(f"username: {username} exists already")
        role = sm.find_role(app.config["AUTH_ROLE_ADMIN"])
        if role is None:
            raise click.ClickException("the database is not initialised: run `crm init` first")
        user = sm.add_user(username, firstname, lastname, email or f"{username}@example.invalid", role, password)
        if not user:
            raise click.ClickException("could not create the user (is the email already used?)")
    click.echo(f"admin {username} created")


# --- demo ----------------------------------------------------------------------------------------------


@main.command()
@click.option("--port", default=8080, show_default=True)
@click.option("--no-serve", is_flag=True, help="only prepare the database and demo data")
def demo(port, no_serve):
    """Initialise, fill demo data (kept when run again) and serve on 127.0.0.1."""
    from core.demo import DEMO_PASSWORD, seed_demo

    app = _app()
    init_database(app)
    with app.app_context():
        users = seed_demo(app, log=click.echo)
    click.echo("demo logins (password for all: %s):" % DEMO_PASSWORD)
    for username, role, where in users:
        click.echo(f"  {username:<14} {role:<16} {where}")
    if no_serve:
        return
    app.config["SESSION_COOKIE_SECURE"] = False  # plain HTTP on loopback
    app.config["REMEMBER_COOKIE_SECURE"] = False
    click.echo(f"serving on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False, threaded=True)


@main.command()
@click.option("--customers", type=click.IntRange(min=0), required=True, help="customers to add")
@click.option("--shipments", type=click.IntRange(min=0), required=True, help="shipments to add")
@click.option("--franchises", type=click.IntRange(min=1), default=12, show_default=True,
              help="spread over the first K active franchises; missing ones are opened in new districts")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="same seed, same data")
@click.option("--days", type=click.IntRange(min=1), default=180, show_default=True,
              help="shipments over the last N days")
@click.option("--event-days", type=click.IntRange(min=0), default=None,
              help="tracking histories for shipments of the last N days "
                   "[default: all up to 1,000,000 shipments, else 14]")
@click.option("--business-share", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="share of business (B) customers")
def seed(customers, shipments, franchises, seed_value, days, event_days, business_share):
    """Add generated customers, shipments and tracking histories (COPY on PostgreSQL).

    A large load locks the domain tables until it commits (their indexes are rebuilt): run it on a database
    nobody is using, e.g. for demos, tests and benchmarks.
    """
    from core import seeding

    if event_days is None and shipments > 1_000_000:
        event_days = 14
    app = _app()
    init_database(app)
    started = time.perf_counter()
    with app.app_context():
        sites = seeding.ensure_franchises(franchises)
        plan = seeding.Plan(customers=customers, shipments=shipments, seed=seed_value, days=days,
                            event_days=event_days, business_share=business_share)
        click.echo(f"seeding {customers:,} customers and {shipments:,} shipments into {len(sites)} franchises "
                   f"({', '.join(s.code for s in sites[:6])}{' ...' if len(sites) > 6 else ''})")
        report = seeding.seed(app, plan, sites, log=click.echo)
    for table, rows in report.rows.items():
        click.echo(f"  {table:<20} {rows:>12,} rows")
    for note in report.notes:
        click.echo(f"  note: {note}")
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


# --- jobs ----------------------------------------------------------------------------------------------


@main.command()
@click.option("--burst", is_flag=True, help="stop when the queues are empty (tests)")
@click.option("--queues", default="high,default,low", show_default=True)
def worker(burst, queues):
    """Run an RQ worker on the high, default and low queues."""
    from rq import Worker

    from core import jobs

    app = _app()
    if not app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker is needed")
    jobs.set_worker_app(app)
    with app.app_context():
        connection = jobs.redis_connection()
        names = [q.strip() for q in queues.split(",") if q.strip()]
        unknown = set(names) - set(jobs.QUEUES)
        if unknown:
            raise click.ClickException(f"queues: unknown {', '.join(sorted(unknown))}")
        worker = Worker([jobs.rq_queue(n, connection) for n in names], connection=connection)
    worker.work(burst=burst, with_scheduler=not burst)


@main.command()
@click.option("--once", is_flag=True, help="relay the outbox and run what is due once, then exit")
def cron(once):
    """The one scheduler: relays the outbox and enqueues due periodic jobs per active franchise."""
    from core import jobs

    app = _app()
    tick = app.config["CRM_CRON_TICK"]
    last_prune = 0.0
    while True:
        with app.app_context():
            try:
                relayed = jobs.relay_pending()
                enqueued = jobs.run_due()
                if time.monotonic() - last_prune > 3600:
                    jobs.prune_finished()
                    last_prune = time.monotonic()
                if once or relayed or enqueued:
                    click.echo(f"relayed {relayed} job(s), enqueued {enqueued} periodic job(s)")
            except Exception:
                log.exception("cron tick failed")
                if once:
                    sys.exit(1)
        if once:
            return
        time.sleep(tick)


# --- plugins -------------------------------------------------------------------------------------------


@main.group()
def plugins():
    """List plugins and switch them on or off per franchise, region or everywhere."""


@plugins.command("list")
def plugins_list():
    """Each plugin with its version and where it is active."""
    from core.extensions import db
    from core.tenancy import Franchise

    app = _app()
    with app.app_context():
        registry = app.extensions["crm_plugins"]
        codes = dict(db.session.execute(select(Franchise.id, Franchise.code)).all())
        if not registry.plugins:
            click.echo("no plugins installed")
        for name, info in sorted(registry.plugins.items()):
            active = sorted(codes[i] for i in registry.active_franchises(name) if i in codes)
            where = "all franchises" if active and len(active) == len(codes) else (", ".join(active) or "nowhere")
            depends = f" (needs {', '.join(info.depends)})" if info.depends else ""
            click.echo(f"{name:<16} {info.version:<10} {info.source:<12} active: {where}{depends}")


def _switch(name, enabled, franchise, region, everywhere):
    from core.extensions import db
    from core.plugins import set_activation
    from core.tenancy import Franchise, Region

    chosen = [bool(franchise), bool(region), everywhere]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one of --franchise CODE, --region CODE or --all")
    app = _app()
    with app.app_context():
        registry = app.extensions["crm_plugins"]
        if name not in registry.plugins:
            raise click.ClickException(f"unknown plugin: {name} (installed: {', '.join(sorted(registry.plugins))})")
        target = {}
        if franchise:
            row = db.session.scalar(select(Franchise).where(Franchise.code == franchise))
            if row is None:
                raise click.ClickException(f"--franchise: no franchise with code {franchise}")
            target = {"franchise_id": row.id}
        elif region:
            row = db.session.scalar(select(Region).where(Region.code == region))
            if row is None:
                raise click.ClickException(f"--region: no region with code {region}")
            target = {"region_id": row.id}
        names = [name] + (list(_dependencies(registry, name)) if enabled else [])
        for plugin in names:
            set_activation(plugin, enabled=enabled, user="cli", **target)
        db.session.commit()
        where = franchise or region or "all franchises"
        click.echo(f"{'enabled' if enabled else 'disabled'} {', '.join(names)} for {where}")


def _dependencies(registry, name, seen=None):
    seen = set() if seen is None else seen
    for dep in registry.plugins[name].depends:
        if dep not in seen:
            seen.add(dep)
            yield dep
            yield from _dependencies(registry, dep, seen)


def _switch_options(command):
    command = click.option("--all", "everywhere", is_flag=True, help="every franchise")(command)
    command = click.option("--region", help="region code")(command)
    command = click.option("--franchise", help="franchise code")(command)
    return click.argument("name")(command)


@plugins.command("enable")
@_switch_options
def plugins_enable(name, franchise, region, everywhere):
    """Enable a plugin (and what it depends on) for one franchise, one region or all."""
    _switch(name, True, franchise, region, everywhere)


@plugins.command("disable")
@_switch_options
def plugins_disable(name, franchise, region, everywhere):
    """Disable a plugin for one franchise, one region or all."""
    _switch(name, False, franchise, region, everywhere)


if __name__ == "__main__":
    main()
