"""The nightly recompute goes through the real job system: `crm cron` enqueues it for every franchise where
tiering is on (and only there), Redis carries it, a real `crm worker` runs it."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import select

from core import jobs
from core.app import create_app
from core.cli import init_database
from core.clock import utcnow
from core.extensions import db
from core.plugins import set_activation
from core.tenancy import Franchise, Region
from plugins.tiering.models import CustomerValue, TierRun
from tests.conftest import ENCRYPTION_KEY, settings_for_tests
from tests.core.test_jobs import RedisServer, run_worker
from tests.plugins.tiering.conftest import make_customer, make_shipment


@pytest.fixture(scope="module", autouse=True)
def tiering_active():
    """This module switches tiering on for one franchise itself (the package's fixture would do it everywhere)."""
    yield


@pytest.fixture(scope="module")
def queue_app(db_url, tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    instance = tmp_path_factory.mktemp("instance")
    app = create_app(settings_for_tests(db_url, instance, REDIS_URL=server.url))
    init_database(app)
    with app.app_context():
        region = Region(code="TQ", name="Tier queue region")
        on = Franchise(code="TQ1", name="Tiering on", region=region)
        off = Franchise(code="TQ2", name="Tiering off", region=region)
        db.session.add_all([region, on, off])
        db.session.commit()
        set_activation("tiering", enabled=True, franchise_id=on.id)
        db.session.commit()
        for franchise in (on, off):
            customer = make_customer(franchise.id, name=f"{franchise.code} 客户")
            for _ in range(3):
                make_shipment(franchise.id, customer, fee=20)
        db.session.commit()
        app.config["FRANCHISES"] = {"on": on.id, "off": off.id}
    app.config["WORKER_ENV"] = {
        "PATH": os.environ["PATH"], "CRM_DATABASE_URL": db_url, "REDIS_URL": server.url,
        "CRM_LOAD_ENTRYPOINTS": "0", "CRM_SECRET_KEY": "test-secret", "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_INSTANCE_PATH": str(instance)}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    server.stop()


def test_the_nightly_recompute_runs_in_a_worker_for_franchises_where_tiering_is_on(queue_app):
    franchises = queue_app.config["FRANCHISES"]
    with queue_app.app_context():
        jobs.sync_schedules()
        tomorrow = utcnow() + dt.timedelta(days=1, hours=2)  # past 01:30, when the nightly run is due
        enqueued = jobs.run_due(tomorrow)
        queued = db.session.scalars(select(jobs.JobOutbox).where(
            jobs.JobOutbox.func == "plugins.tiering.jobs:recompute_job")).all()
        assert enqueued >= 1 and [job.franchise_id for job in queued] == [franchises["on"]]
    run_worker(queue_app)
    with queue_app.app_context():
        job = db.session.get(jobs.JobOutbox, queued[0].id)
        assert job.status == "finished", job.last_error
        runs = db.session.scalars(select(TierRun)).all()
        assert [(run.franchise_id, run.trigger, run.status, run.customers) for run in runs] == [
            (franchises["on"], "schedule", "done", 1)]
        values = db.session.scalars(select(CustomerValue.franchise_id)).all()
        assert values == [franchises["on"]]
