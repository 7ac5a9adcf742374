"""The baseline of bench/ingest_pushes.py: a bare Flask endpoint doing one INSERT + COMMIT per request.

    BENCH_BARE_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_ingest \\
        .venv/bin/gunicorn -w 2 "bench.bare_insert_app:create_app()"

`POST /bare` reads the request body (the same pushes the real endpoint gets, not parsed) and inserts one row
(when, body size) into its own table `bench_bare_push` with SQLAlchemy Core in its own transaction: BEGIN,
INSERT, COMMIT on a pooled connection, nothing else. No app framework around it (no FAB, sessions, CSRF,
plugins or jobs): what any endpoint that stores one row per request costs on this machine and database.
`GET /health` answers "ok" without touching the database. gunicorn imports this module in each worker (no
--preload), so each worker has its own engine and connection.
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, request
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, create_engine, insert

metadata = MetaData()
bare_push = Table(
    "bench_bare_push", metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", DateTime, nullable=False),
    Column("body_bytes", Integer, nullable=False),
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_ingest"


def create_app(url: str | None = None) -> Flask:
    url = url or os.environ.get("BENCH_BARE_DATABASE_URL", DEFAULT_URL)
    # a sync worker serves one request at a time: one connection is all it uses
    engine = create_engine(url, pool_size=1, max_overflow=0)
    metadata.create_all(engine)  # both workers may race here: the table exists after the first run
    statement = insert(bare_push)
    app = Flask(__name__)

    @app.post("/bare")
    def bare():
        size = len(request.get_data())
        with engine.begin() as conn:
            conn.execute(statement, {"received_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                                     "body_bytes": size})
        return {"result": True, "returnCode": "200", "message": "ok"}

    @app.get("/health")
    def health():
        return "ok"

    return app
