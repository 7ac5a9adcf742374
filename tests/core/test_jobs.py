"""Jobs go through the outbox: nothing is lost while Redis is down, failures are retried and then shown.

These tests run a real redis-server of their own (so they can stop it) and real `crm worker --burst` processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core import jobs
from core.app import create_app
from core.cli import init_database
from core.extensions import db
from core.tenancy import Franchise, Region
from tests.conftest import ENCRYPTION_KEY, settings_for_tests
from tests.plugins.sample import SampleRecord

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def queue_app(db_url, redis_server, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    app = create_app(settings_for_tests(db_url, instance, REDIS_URL=redis_server.url))
    init_database(app)
    with app.app_context():
        region = Region(code="RQ", name="Queue region")
        franchise = Franchise(code="QA", name="Queue franchise", region=region)
        db.session.add_all([region, franchise])
        db.session.commit()
        app.config["QA"] = franchise.id
    app.config["WORKER_ENV"] = {
        **os.environ,
        "CRM_DATABASE_URL": db_url,
        "REDIS_URL": redis_server.url,
        "CRM_EXTRA_PLUGINS": "tests.plugins.sample",
        "CRM_LOAD_ENTRYPOINTS": "0",
        "CRM_SECRET_KEY": "test-secret",
        "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_INSTANCE_PATH": str(instance),
        "CRM_JOB_RETRIES": "2",
        "CRM_JOB_RETRY_INTERVALS": "0",
    }
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run_worker(app):
    result = subprocess.run([sys.executable, "-m", "core.cli", "worker", "--burst"], cwd=ROOT,
                            env=app.config["WORKER_ENV"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def job_row(app, job_id):
    with app.app_context():
        return db.session.get(jobs.JobOutbox, job_id)


def test_jobs_enqueued_while_redis_is_down_are_delivered_when_it_is_back(queue_app, redis_server):
    franchise = queue_app.config["QA"]
    redis_server.stop()
    try:
        with queue_app.app_context():
            job = jobs.enqueue("tests.plugins.sample:record_tick", franchise, franchise_id=franchise)
            db.session.commit()  # the relay fails quietly: the row stays in the outbox
            job_id = job.id
        assert job_row(queue_app, job_id).status == "pending"
    finally:
        redis_server.start()
    with queue_app.app_context():
        assert jobs.relay_pending() == 1
    assert job_row(queue_app, job_id).status == "relayed"
    run_worker(queue_app)
    row = job_row(queue_app, job_id)
    assert row.status == "finished" and row.attempts == 1
    with queue_app.app_context():
        ticks = db.session.scalars(select(SampleRecord).where(SampleRecord.kind == "tick")).all()
        assert [t.franchise_id for t in ticks] == [franchise]


def test_a_batched_job_waits_for_the_cron_relay_round_and_others_go_at_once(queue_app):
    franchise = queue_app.config["QA"]
    with queue_app.app_context():
        batched = jobs.enqueue("tests.plugins.sample:record_tick", franchise, franchise_id=franchise, batched=True)
        direct = jobs.enqueue("tests.plugins.sample:record_tick", franchise, franchise_id=franchise)
        db.session.commit()
        batched_id, direct_id = batched.id, direct.id
    assert job_row(queue_app, direct_id).status == "relayed"
    assert job_row(queue_app, batched_id).status == "pending"  # no relay of its own after the commit
    with queue_app.app_context():
        assert jobs.relay_pending() == 1  # what every `crm cron` tick does
    run_worker(queue_app)
    assert job_row(queue_app, batched_id).status == "finished"
    assert job_row(queue_app, direct_id).status == "finished"


def test_a_failing_job_is_retried_then_shown_failed_with_its_error(queue_app, client_for_queue):
    with queue_app.app_context():
        job = jobs.enqueue("tests.plugins.sample:fail_always", franchise_id=queue_app.config["QA"])
        db.session.commit()
        job_id = job.id
    assert job_row(queue_app, job_id).status == "relayed"
    run_worker(queue_app)
    row = job_row(queue_app, job_id)
    # the row is kept (not lost) and tells what happened: 1 try + 2 retries
    assert row.status == "failed" and row.attempts == 3
    assert "RuntimeError: sample job exploded" in row.last_error
    client_for_queue.get("/lang/en")
    page = client_for_queue.get(f"/jobrunview/show/{job_id}").get_data(as_text=True)
    assert "sample job exploded" in page and "failed" in page


@pytest.fixture
def client_for_queue(queue_app):
    from tests.conftest import PASSWORD, login

    with queue_app.app_context():
        sm = queue_app.appbuilder.sm
        if sm.find_user(username="qhq") is None:
            sm.add_user("qhq", "q", "hq", "qhq@test.invalid", sm.find_role("Admin"), PASSWORD)
    client = queue_app.test_client()
    return login(client, "qhq")


def test_inline_mode_records_a_failure_without_breaking_the_caller(app):
    with app.app_context():
        job = jobs.enqueue("tests.plugins.sample:fail_always", franchise_id=app.config["TEST_IDS"]["A"])
        db.session.commit()  # runs in-process; the failure must not reach the caller
        row = db.session.get(jobs.JobOutbox, job.id)
        assert row.status == "retrying" and row.attempts == 1
        jobs.relay_pending()
        jobs.relay_pending()
        db.session.expire_all()
        row = db.session.get(jobs.JobOutbox, job.id)
        assert row.status == "failed" and row.attempts == 3
        assert jobs.relay_pending() == 0  # no tries left


def test_schedule_screen_shows_periodic_jobs_and_pauses_them(app, client_for):
    from core.jobs import JobSchedule

    with app.app_context():
        jobs.sync_schedules()
        schedule = db.session.scalar(select(JobSchedule).where(JobSchedule.name == "sample.tick"))
        schedule_id = schedule.id
    hq = client_for("hq")
    page = hq.get("/jobscheduleview/list/").get_data(as_text=True)
    assert "sample.tick" in page
    hq.post("/jobscheduleview/action_post", data={"action": "pause", "rowid": [str(schedule_id)]})
    with app.app_context():
        assert db.session.get(JobSchedule, schedule_id).paused is True
        db.session.get(JobSchedule, schedule_id).next_run_at = jobs.utcnow()
        db.session.commit()
        assert jobs.run_due() == 0  # paused: nothing enqueued


def test_old_finished_jobs_are_pruned_and_failed_ones_kept(app):
    from datetime import timedelta

    with app.app_context():
        old = jobs.utcnow() - timedelta(days=30)
        done = jobs.JobOutbox(func="x:y", status="finished", finished_at=old)
        broken = jobs.JobOutbox(func="x:y", status="failed", finished_at=old, last_error="boom")
        fresh = jobs.JobOutbox(func="x:y", status="finished", finished_at=jobs.utcnow())
        db.session.add_all([done, broken, fresh])
        db.session.commit()
        ids = done.id, broken.id, fresh.id
        assert jobs.prune_finished(keep_days=14) >= 1
        assert [db.session.get(jobs.JobOutbox, i) is not None for i in ids] == [False, True, True]
