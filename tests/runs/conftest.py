"""The run store's backends for tests: ``store_url`` is each test's own empty database, on
SQLite (None: ``<home>/runs.db``) and on PostgreSQL when ``$DEEPAD_TEST_POSTGRES`` names a
server (``make test`` starts one; without it the PostgreSQL cases are skipped)."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_ENV = "DEEPAD_TEST_POSTGRES"


def _server_url():
    sa = pytest.importorskip("sqlalchemy")
    text = os.environ.get(POSTGRES_ENV)
    if not text:
        pytest.skip(f"no PostgreSQL server: set {POSTGRES_ENV} (make test starts one)")
    return sa, sa.make_url(text)


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database on the test server, dropped afterwards."""
    sa, server = _server_url()
    name = f"deepad_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as con:
        con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, monkeypatch):
    """None for the default SQLite store, else a PostgreSQL URL; also set as
    ``$DEEPAD_STORE_URL`` so stores opened by the test or its subprocesses use it."""
    if request.param == "sqlite":
        monkeypatch.delenv("DEEPAD_STORE_URL", raising=False)
        return None
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DEEPAD_STORE_URL", url)
    return url
