"""Test fixtures: a fresh database per test module (SQLite, or PostgreSQL when CRM_TEST_DATABASE_URL names one),
an app with the sample plugin, a small network (regions R1, R2; franchises A in R1, B in R2) and its users."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from core.app import create_app
from core.cli import init_database
from core.extensions import db

PASSWORD = "secret-pass-1"
TEST_PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")
ENCRYPTION_KEY = Fernet.generate_key().decode()


def reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # a connection an earlier module left in a transaction would block the DROP forever
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    if TEST_PG_URL:
        reset_postgres(TEST_PG_URL)
        return TEST_PG_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/crm.db"


def settings_for_tests(db_url, instance_path, **extra) -> dict:
    settings = {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "INSTANCE_PATH": str(instance_path),
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "SECRET_KEY": "test-secret",
        "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_EXTRA_PLUGINS": ["tests.plugins.sample"],
        "CRM_LOAD_ENTRYPOINTS": False,
        "AUTH_RATE_LIMIT": "1000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": None,
        "CRM_JOB_RETRIES": 2,
        "CRM_JOB_RETRY_INTERVALS": [0],
    }
    settings.update(extra)
    return settings


def add_user(app, username, role_name, franchises=(), regions=()):
    sm = app.appbuilder.sm
    user = sm.add_user(username, username, "test", f"{username}@test.invalid", sm.find_role(role_name), PASSWORD)
    user.franchises = list(franchises)
    user.managed_regions = list(regions)
    db.session.commit()
    return user


@pytest.fixture(scope="module")
def app(request, db_url, tmp_path_factory):
    """The module's app; a test module may set `APP_SETTINGS = {...}` for settings of its own."""
    from core.tenancy import Franchise, Region

    extra = getattr(request.module, "APP_SETTINGS", {})
    app = create_app(settings_for_tests(db_url, tmp_path_factory.mktemp("instance"), **extra))
    init_database(app)
    with app.app_context():
        r1, r2 = Region(code="R1", name="Region one"), Region(code="R2", name="Region two")
        a = Franchise(code="A", name="Franchise A", region=r1)
        b = Franchise(code="B", name="Franchise B", region=r2)
        db.session.add_all([r1, r2, a, b])
        db.session.commit()
        add_user(app, "hq", "Admin")
        add_user(app, "alice", "Frontline Agent", franchises=[a])
        add_user(app, "bob", "Frontline Agent", franchises=[b])
        add_user(app, "nobody", "Frontline Agent")
        add_user(app, "r1boss", "Frontline Agent", regions=[r1])
        add_user(app, "ait", "Franchise IT", franchises=[a])
        app.config["TEST_IDS"] = {"A": a.id, "B": b.id, "R1": r1.id, "R2": r2.id}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ids(app):
    return app.config["TEST_IDS"]


def login(client, username, password=PASSWORD):
    response = client.post("/login/", data={"username": username, "password": password})
    assert response.status_code == 302, response.data[:500]
    return client


def token(client, username, password=PASSWORD) -> dict:
    response = client.post("/api/v1/security/login",
                           json={"username": username, "password": password, "provider": "db"})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.fixture
def client_for(app):
    clients = []

    def make(username):
        client = app.test_client()
        clients.append(client)
        return login(client, username)

    return make


@pytest.fixture
def api_headers(app):
    def make(username):
        return token(app.test_client(), username)

    return make
