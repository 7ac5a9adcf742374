"""Extension objects shared by the app factory and the models."""

import os

from flask import current_app
from flask_appbuilder import Model
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate
from sqlalchemy import func, literal
from sqlalchemy.dialects import postgresql, sqlite

# model_class=Model makes db.metadata FAB's metadata, so Alembic sees the ab_* tables and ours alike.
db = get_sqla_class()(model_class=Model)
migrate = Migrate()


@migrate.configure
def _version_locations(alembic_config):
    dirs = current_app.extensions.get("crm_migration_dirs")
    if dirs:
        # alembic.ini says `path_separator = os`: the directories are joined the way PATH is
        alembic_config.set_main_option("version_locations", os.pathsep.join(dirs))
    return alembic_config


def sql_json_object(**pairs):
    """A JSON object built in SQL from column expressions: json_build_object on PostgreSQL, json_object on
    SQLite (set-based jobs write JSON columns with INSERT ... SELECT)."""
    builder = func.json_build_object if db.engine.dialect.name == "postgresql" else func.json_object
    args = []
    for key, value in pairs.items():
        args += [literal(key), value]
    return builder(*args)


def sql_json_array(*values):
    """A JSON array built in SQL: json_build_array on PostgreSQL, json_array on SQLite."""
    builder = func.json_build_array if db.engine.dialect.name == "postgresql" else func.json_array
    return builder(*values)


def sql_json(value):
    """A JSON value read back from a subquery, to nest in another: SQLite hands it over as text, which
    json_array would quote as a string."""
    return value if db.engine.dialect.name == "postgresql" else func.json(value)


def dialect_insert(table):
    """An INSERT with `on_conflict_do_nothing()` / `on_conflict_do_update()`, for the database in use (the app
    runs on PostgreSQL and SQLite, which both have them)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
