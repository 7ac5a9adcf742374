"""Migrations: a fresh database reaches the head of every branch (core's and each plugin's), and the schema
they build is the one the models describe, so `crm init` never needs to fall back to creating tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text

from core.app import create_app
from core.extensions import db
from tests.conftest import settings_for_tests

# models that only tests and benchmarks load have no migrations
UNMIGRATED_PREFIXES = ("test_", "bench_")


def test_upgrade_reaches_every_branch_and_matches_the_models(db_url, tmp_path):
    app = create_app(settings_for_tests(db_url, tmp_path, CRM_EXTRA_PLUGINS=[]))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory, revision="heads")
        applied = set(db.session.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert "0001_integrations" in applied  # the plugin's branch, which needs core's 0002_domain

        def ours(obj, name, type_, reflected, compare_to):
            return not (type_ == "table" and name.startswith(UNMIGRATED_PREFIXES))

        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": ours})
            differences = compare_metadata(context, db.metadata)
        if db.engine.dialect.name == "sqlite":
            # SQLite keeps the declared length of a VARCHAR it never enforces: 0002 widens it on PostgreSQL only
            differences = [d for d in differences if not (isinstance(d, list) and d[0][0] == "modify_type")]
        assert differences == []
        db.session.remove()
        db.engine.dispose()
