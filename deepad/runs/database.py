"""The run store's two databases behind one SQLAlchemy Core engine: an embedded SQLite file
(the default, one machine) or a PostgreSQL server that several machines share.

What differs between them lives here: how a connection is opened, how a write transaction
takes its lock, where the schema version is kept and how migrating processes take turns,
the upsert statement, and the one-line message an error becomes. The store itself
(:mod:`deepad.runs.store`) writes its statements once, as SQLAlchemy Core expressions.

SQLite: the file is in WAL mode, the driver is in autocommit mode so a read is one
statement with no transaction (and works on a full disk), and a write transaction starts
with ``BEGIN IMMEDIATE`` so a busy database makes the writer wait (busy timeout) up front
rather than fail half-way. The schema version is ``PRAGMA user_version``.

PostgreSQL: ordinary READ COMMITTED transactions; a guarded update (``UPDATE ... WHERE
status IN (...)``) is atomic, so two machines claiming one run cannot both win. Lock waits
end after the same timeout as SQLite's busy timeout. The schema version is one row in the
table ``deepad_schema``; migrating processes take turns on a transaction-scoped advisory
lock.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

BUSY_TIMEOUT_MS = 30_000
STORE_URL_ENV = "DEEPAD_STORE_URL"
# pg_advisory_xact_lock key of schema migrations ("deepad" in ASCII, as a number)
_MIGRATION_LOCK = 0x646565706164


class Backend:
    """One database kind: opens the engine and says how to do what SQL does not fix."""

    name = ""

    def __init__(self) -> None:
        self.read_only = False

    def create_engine(self) -> Engine:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the store is, for messages (never with a password)."""
        raise NotImplementedError

    def schema_version(self, con: Connection) -> int:
        raise NotImplementedError

    def set_schema_version(self, con: Connection, version: int) -> None:
        raise NotImplementedError

    def lock_for_migration(self, con: Connection) -> None:
        """Inside a write transaction: wait until no other process migrates."""

    def insert(self, table: sa.Table) -> Any:
        """An INSERT that supports ``on_conflict_do_update`` on this database."""
        raise NotImplementedError

    def after_explicit_id(self, con: Connection) -> None:
        """After inserting a run with an explicit id: make later ids follow it."""

    def insert_rows(
        self, con: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        """Insert many rows (tuples in ``columns`` order) in one batch, inside ``con``'s
        transaction."""
        raise NotImplementedError

    def error_message(self, error: BaseException) -> str:
        """One line saying what stops the store, from a driver or OS error."""
        return f"{self.describe()}: {first_line(error)}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class SqliteBackend(Backend):
    """``runs.db`` in the deepad home; read-only when the home cannot be written."""

    name = "sqlite"

    def __init__(self, path: Path, connect: Any = None) -> None:
        super().__init__()
        self.path = path
        self.folder = path.parent
        # sqlite3.connect, or a stand-in (tests and the reliability bench inject faults here)
        self.connect = connect or sqlite3.connect

    def describe(self) -> str:
        return str(self.path)

    def create_engine(self) -> Engine:
        engine = sa.create_engine(
            "sqlite://", creator=self._open, poolclass=sa.pool.QueuePool, pool_size=4,
            max_overflow=28, pool_timeout=BUSY_TIMEOUT_MS / 1000,
        )  # fmt: skip

        @sa.event.listens_for(engine, "begin")
        def _begin(con: Connection) -> None:
            # reads run without a transaction (the driver autocommits each statement);
            # writes take the write lock at once
            if con.get_execution_options().get("deepad_write"):
                con.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _open(self) -> sqlite3.Connection:
        """A connection in WAL mode; read-only when the home cannot be written. The journal
        mode is only switched when it is not WAL yet, since switching writes (and fails on a
        full disk or a read-only home, even for a command that only reads)."""
        if not self.read_only:
            try:
                con = self._connect(self.path)
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA synchronous = NORMAL")
                con.execute("PRAGMA foreign_keys = ON")
                return con
            except sqlite3.OperationalError as exc:
                writable = os.access(self.folder, os.W_OK) and os.access(self.path, os.W_OK)
                if writable and not _disk_trouble(exc, self.folder):
                    raise
                # a read-only home stays so; on a full disk (WAL's shared-memory file cannot
                # grow) this connection reads only, and a write through it says the disk is full
                if not writable:
                    self.read_only = True
        # a WAL database in a folder we cannot write has no -shm file to share; reading it
        # immutable is safe because nobody can write there either
        uri = "file:" + urllib.parse.quote(str(self.path))
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            con = self._connect(uri + query, uri=True)
            try:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                con.close()
                continue
            return con
        raise sqlite3.OperationalError("unable to open database file (read-only)")

    def _connect(self, target: Any, uri: bool = False) -> sqlite3.Connection:
        # the pool hands a connection to one thread at a time, so it may change threads
        con = self.connect(
            target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=uri,
            check_same_thread=False,
        )  # fmt: skip
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return con

    def schema_version(self, con: Connection) -> int:
        return int(con.exec_driver_sql("PRAGMA user_version").scalar_one())

    def set_schema_version(self, con: Connection, version: int) -> None:
        con.exec_driver_sql(f"PRAGMA user_version = {int(version)}")

    def insert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    def insert_rows(
        self, con: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        # one executemany of the driver: its loop runs in C, binding tuples as they are
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        con.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)

    def error_message(self, error: BaseException) -> str:
        text = first_line(error)
        low = text.lower()
        path = self.path
        if "full" in low or getattr(error, "errno", None) == 28 or _disk_full(self.folder):
            return f"{path}: the disk is full ({text}); free some space and retry"
        if "not a database" in low or "malformed" in low:
            return (
                f"{path}: the run store is damaged ({text}); move it aside and rebuild it from "
                "the run folders with: deepad runs rebuild-index"
            )
        if "readonly" in low or "read-only" in low:
            return f"{path}: the run store is read-only here; this needs to write to it"
        if "unable to open" in low:
            return f"{path}: cannot open the run store ({text}); is its folder writable?"
        return f"{path}: {text}"


class PostgresBackend(Backend):
    """A PostgreSQL database named by a SQLAlchemy URL (``postgresql+psycopg://...``)."""

    name = "postgresql"

    def __init__(self, url: sa.URL) -> None:
        super().__init__()
        self.url = url

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def create_engine(self) -> Engine:
        return sa.create_engine(
            self.url,
            pool_pre_ping=True,  # a server restart must not fail the next write
            pool_size=4,
            max_overflow=12,
            connect_args={
                "connect_timeout": 10,
                "options": f"-c lock_timeout={BUSY_TIMEOUT_MS}",
                "application_name": "deepad",
            },
        )

    def schema_version(self, con: Connection) -> int:
        if con.execute(sa.text("SELECT to_regclass('deepad_schema')")).scalar() is None:
            return 0
        return int(con.execute(sa.text("SELECT max(version) FROM deepad_schema")).scalar() or 0)

    def set_schema_version(self, con: Connection, version: int) -> None:
        con.execute(sa.text("CREATE TABLE IF NOT EXISTS deepad_schema (version INTEGER NOT NULL)"))
        con.execute(sa.text("DELETE FROM deepad_schema"))
        con.execute(sa.text("INSERT INTO deepad_schema (version) VALUES (:v)"), {"v": version})

    def lock_for_migration(self, con: Connection) -> None:
        con.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})

    def insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    def after_explicit_id(self, con: Connection) -> None:
        con.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))"
            )
        )

    def insert_rows(
        self, con: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        # COPY streams the rows in one statement; an executemany would still be one INSERT
        # per row on the server (pipelined, yet several times slower)
        names = ", ".join(f'"{c}"' for c in columns)
        cursor = con.connection.dbapi_connection.cursor()
        try:
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def error_message(self, error: BaseException) -> str:
        text = first_line(error)
        low = text.lower()
        where = self.describe()
        if "connection" in low and ("failed" in low or "refused" in low or "timeout" in low):
            return f"cannot reach the run store at {where} ({text})"
        if "permission denied" in low or "read-only" in low:
            return f"{where}: this database user may not write to the run store ({text})"
        return f"{where}: {text}"


def parse_store_url(text: str) -> sa.URL:
    """A SQLAlchemy URL for the run store; only SQLite and PostgreSQL are supported."""
    try:
        url = sa.make_url(text.strip())
    except sa.exc.ArgumentError:
        raise ValueError(
            f"{STORE_URL_ENV}/--store is not a database URL; use e.g. "
            "postgresql+psycopg://user:password@host/deepad or sqlite:////path/runs.db"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"the run store runs on SQLite or PostgreSQL, not {url.get_backend_name()}"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        # psycopg (version 3) is the driver deepad installs; psycopg2 is not a dependency
        url = url.set(drivername="postgresql+psycopg")
    return url


def _disk_full(folder: Path, margin: int = 2**20) -> bool:
    """Whether the file system holding ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _disk_trouble(error: BaseException, folder: Path) -> bool:
    low = str(error).lower()
    return "disk i/o error" in low or "full" in low or _disk_full(folder)


def backend_for(home: Path, url: str | None, *, connect: Any = None) -> Backend:
    """The backend for a store URL, or the SQLite file in ``home`` when there is none;
    ``connect`` replaces ``sqlite3.connect`` for a SQLite store."""
    if not url:
        return SqliteBackend(home / "runs.db", connect)
    parsed = parse_store_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("a SQLite run store needs a file: sqlite:////path/to/runs.db")
        return SqliteBackend(Path(parsed.database).expanduser(), connect)
    return PostgresBackend(parsed)
