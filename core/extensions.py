"""Extension objects shared by the app factory and the models."""

import os

from flask import current_app
from flask_appbuilder import Model
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate
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


def dialect_insert(table):
    """An INSERT with `on_conflict_do_nothing()` / `on_conflict_do_update()`, for the database in use (the app
    runs on PostgreSQL and SQLite, which both have them)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
