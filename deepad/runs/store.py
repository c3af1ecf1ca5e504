"""The run store: one database of runs plus one folder of artifacts per run.

The database is an embedded SQLite file in the deepad home (the default), or a PostgreSQL
server named by a SQLAlchemy URL (``$DEEPAD_STORE_URL`` or ``--store``), so that a team's
dashboard and its GPU machines share one store; the artifacts then live under a deepad
home on a path every machine shares. Statements are SQLAlchemy Core expressions; what
differs between the two databases is in :mod:`deepad.runs.database`.

Several processes use the store at once (the app, background workers, the CLI, other
machines), so every process opens its own connections, writes happen in short
transactions, and a writer waits for another (SQLite's busy timeout, PostgreSQL's lock
timeout) instead of failing.

The database records its schema version (``PRAGMA user_version`` in SQLite, the table
``deepad_schema`` in PostgreSQL). Opening one made by an older deepad applies the missing
steps of ``MIGRATIONS`` in order; one made by a newer deepad is refused with
:class:`SchemaVersionError` rather than misread.

Layout under ``home``::

    runs.db                  runs, per-epoch history, per-item scores, dataset summaries
                             (SQLite only)
    runs/<id>/               one folder per run (the artifact root, unless a shared one is
                             set): :class:`deepad.runs.layout.RunFolder` names its files

The home is owner-only: folders the store creates are ``0700`` and its files ``0600``.
A home that cannot be written (a read-only folder or file system) still serves every
command that only reads; a write there, a full disk, an unreachable server or a home that
is not a folder is a :class:`StoreError` that says so in one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deepad.errors import DeepadError
from deepad.runs.database import STORE_URL_ENV, Backend, backend_for, first_line
from deepad.runs.layout import Artifacts, RunFolder

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
ACTIVE = (QUEUED, RUNNING)
RESUMABLE = (INTERRUPTED, CANCELLED, FAILED)
STARTING = "starting"  # the phase of a queued run that a process has claimed to start

# Job kinds: every kind is a row of the runs table, queued, claimed, limited and cancelled
# alike; a job of a finished run names it as its ``parent``.
TRAIN = "train"  # a training run: fit, score, explain, metrics
SCORE = "score"  # new data scored by a finished run (params: dataset)
EXPLAIN = "explain"  # every explainer over a finished run's items, and their comparison
EXPORT = "export"  # a finished run's network as ONNX, checked against PyTorch
# the explainers of a run's top-scored items, stored for the Explain page; queued by the
# training run when it ends, so the run's slot is free once its model is saved and scored
PRECOMPUTE = "precompute"
JOB_KINDS = (TRAIN, SCORE, EXPLAIN, EXPORT, PRECOMPUTE)

# per-item score rows go to the database in chunks of this many (one executemany each), so
# a large set neither builds one huge parameter list nor sends one statement per row
SCORE_CHUNK = 4096

BEST_FILE = "best_runs.json"  # in the home: training-set id -> the run marked best

# The tables, written once: a new database gets them from these definitions (SQLAlchemy
# renders the CREATE statements in SQLite's and PostgreSQL's words: floats as DOUBLE /
# DOUBLE PRECISION, blobs as BLOB / BYTEA, ids as SQLite's rowid / a PostgreSQL identity),
# and a database made by an earlier version gets the columns added since by MIGRATIONS, each
# ALTER TABLE rendered from the same column definition.
_tables = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid must be INTEGER


def _text(name: str, default: str | None = None, **kw: Any) -> sa.Column:
    if default is None:
        return sa.Column(name, sa.Text, **kw)
    return sa.Column(name, sa.Text, nullable=False, server_default=default, **kw)


def _double(name: str, **kw: Any) -> sa.Column:
    return sa.Column(name, sa.Double, **kw)


RUNS = sa.Table(
    "runs",
    _tables,
    sa.Column("id", _ID, sa.Identity(), primary_key=True),
    *(_text(c, nullable=False) for c in ("method", "config", "train_dataset")),
    *(_text(c) for c in ("test_dataset", "labeled_dataset")),
    _text("status", nullable=False),
    _text("phase", ""),
    _double("progress", nullable=False, server_default="0"),
    sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("epochs", sa.Integer, nullable=False, server_default="0"),
    *(_double(c) for c in ("loss", "items_per_second", "eta")),
    _text("metrics", "{}"),
    _text("error"),
    sa.Column("pid", sa.BigInteger),
    *(_double(c) for c in ("heartbeat", "cancel_requested")),
    _double("created", nullable=False),
    *(_double(c) for c in ("started", "finished", "threshold")),
    _text("components", "[]"),
    # schema 2: which machine runs a run, now that several may share one store
    _text("host"),
    # schema 3: the SHA-256 of the run's saved model files, checked before they are used
    _text("model_checksum"),
    # schema 4: every kind of job is a row of this one queue (training runs, and jobs of a
    # finished run: scoring new data, explaining its items), with what it needs of a worker
    # and where the run's threshold came from
    _text("kind", "train"),
    sa.Column("parent", sa.BigInteger),  # the run a job works for (None: a training run)
    _text("params", "{}"),  # what the job is given, e.g. the dataset to score
    sa.Column("needs_gpu", sa.Integer, nullable=False, server_default="0"),
    sa.Column("memory_mb", sa.BigInteger),  # at least this much memory free on the worker
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # claims so far
    _text("threshold_source"),
    sqlite_autoincrement=True,
)
HISTORY = sa.Table(
    "history",
    _tables,
    sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    *(_double(c) for c in ("loss", "lr", "items_per_second", "seconds")),
)
SCORES = sa.Table(
    "scores",
    _tables,
    sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("idx", _ID, primary_key=True),
    _text("name", nullable=False),
    _double("score", nullable=False),
    sa.Column("label", sa.Integer, nullable=False),
    _text("class", nullable=False),
    sa.Column("components", sa.LargeBinary),
)
DATASETS = sa.Table(
    "datasets",
    _tables,
    _text("id", primary_key=True),
    _text("name", nullable=False),
    _text("kind", nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    _double("seen", nullable=False),
)
sa.Index("runs_by_status", RUNS.c.status)

# A step gets the migration's connection (SQLAlchemy Core, inside the step's transaction).
Migration = Callable[[Connection], None]

TABLES_VERSION = 4  # the schema version the tables above describe


def _create_tables(con: Connection) -> None:
    """Version 0 -> TABLES_VERSION: an empty database gets the tables as defined above."""
    _tables.create_all(con)


def _add_columns(*names: str) -> Migration:
    """A step adding columns of ``runs`` as defined above (ALTER TABLE ... ADD COLUMN)."""

    def step(con: Connection) -> None:
        for name in names:
            column = sa.schema.CreateColumn(RUNS.c[name]).compile(dialect=con.dialect)
            con.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {column}")

    step.__doc__ = f"Add the run columns {', '.join(names)}."
    return step


# MIGRATIONS[i] takes a database from schema version i to i + 1, except that step 0 (an empty
# database) creates the tables of TABLES_VERSION at once. Each step runs in its own
# transaction together with the version bump, so a step either applies completely or not at
# all (PostgreSQL's DDL is transactional, as SQLite's).
MIGRATIONS: tuple[Migration, ...] = (
    _create_tables,
    _add_columns("host"),
    _add_columns("model_checksum"),
    _add_columns(
        "kind", "parent", "params", "needs_gpu", "memory_mb", "attempts", "threshold_source"
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)  # the version this code creates and understands


def schema_ddl(dialect_name: str) -> str:
    """The CREATE statements of a new database on ``sqlite`` or ``postgresql`` (for reading;
    :func:`_create_tables` runs them)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}[dialect_name]
    parts = [
        str(sa.schema.CreateTable(t).compile(dialect=dialect)).strip()
        for t in _tables.sorted_tables
    ]
    parts += [
        str(sa.schema.CreateIndex(i).compile(dialect=dialect)).strip()
        for t in _tables.sorted_tables
        for i in t.indexes
    ]
    return ";\n\n".join(parts) + ";\n"


# Columns a worker may update while it runs; guards update() against typos and injection.
_UPDATABLE = frozenset(
    {
        "status",
        "phase",
        "progress",
        "epoch",
        "epochs",
        "loss",
        "items_per_second",
        "eta",
        "metrics",
        "error",
        "pid",
        "heartbeat",
        "cancel_requested",
        "started",
        "finished",
        "threshold",
        "components",
        "host",
        "model_checksum",
        "attempts",
        "threshold_source",
        "params",
    }
)


class RunNotFound(KeyError):
    """No run with this id."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else "run not found"


class RunStateError(ValueError):
    """The run is in a state that does not allow this action (e.g. deleting a running run)."""


class StoreError(DeepadError, ValueError):
    """The run store cannot be opened or written (full disk, read-only or wrong home)."""


class IndexMissingError(StoreError):
    """The run index holds no runs while run folders exist: it was deleted, emptied or
    replaced. Opening it anyway would hand out ids of existing runs and overwrite them."""


REBUILD_HINT = "rebuild it from the run folders with: deepad runs rebuild-index"
MAX_RUN_FILE_BYTES = 4 * 2**20


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each readable by its owner only."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty, readable by its owner only, unless it exists already."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return path


class SchemaVersionError(ValueError):
    """``runs.db`` has a schema newer than this code knows, or could not be migrated."""


def this_host() -> str:
    """This machine's name as runs record it (``$DEEPAD_HOST`` overrides the host name, e.g.
    for containers that share one)."""
    return os.environ.get("DEEPAD_HOST") or socket.gethostname()


def default_home() -> Path:
    """The deepad home folder shared with the dataset registry."""
    from deepad.data.registry import home_dir

    return Path(home_dir())


@dataclass(frozen=True)
class RunRecord:
    """One run as stored; timestamps are seconds since the epoch (``time.time()``)."""

    id: int
    method: str
    config: dict[str, Any]
    train_dataset: str
    test_dataset: str | None
    labeled_dataset: str | None
    status: str
    phase: str
    progress: float
    epoch: int
    epochs: int
    loss: float | None
    items_per_second: float | None
    eta: float | None
    metrics: dict[str, Any]
    error: str | None
    pid: int | None
    heartbeat: float | None
    cancel_requested: float | None
    created: float
    started: float | None
    finished: float | None
    threshold: float | None
    components: list[str] = field(default_factory=list)
    host: str | None = None  # the machine whose process runs it (None: before schema 2)
    model_checksum: str | None = None  # of its saved model files (None: before schema 3)
    kind: str = TRAIN  # what the job does: TRAIN, or a job of a finished run (JOB_KINDS)
    parent: int | None = None  # the finished run a job works for (None for a training run)
    params: dict[str, Any] = field(default_factory=dict)  # what the job is given
    needs_gpu: int = 0  # 1: only a worker with a GPU may claim it
    memory_mb: int | None = None  # the memory it needs free on the worker, when known
    attempts: int = 0  # how many times a worker has claimed it
    threshold_source: str | None = None  # where ``threshold`` came from, in words

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE

    @property
    def elapsed(self) -> float | None:
        """Seconds since the (last) start, up to now or to the finish."""
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else time.time()
        return max(0.0, end - self.started)


@dataclass
class ScoreTable:
    """Per-item scores of a run, as numpy columns in item order.

    ``index`` is the item's position in the scored dataset (the test set, or the training set
    when the run had none); ``label`` is 0 normal, 1 anomalous, -1 unknown; ``classes`` is ""
    where an item has no class. ``table["class"]`` also works.
    """

    index: np.ndarray
    name: np.ndarray
    score: np.ndarray
    label: np.ndarray
    classes: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, column: str) -> np.ndarray:
        if column == "class":
            return self.classes
        if column in ("index", "name", "score", "label", "classes"):
            return getattr(self, column)
        return self.components[column]

    @property
    def has_labels(self) -> bool:
        return bool(np.any(self.label >= 0))


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_ready(value: Any) -> Any:
    """NaN and infinities become null, numpy scalars become numbers, for strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunStore:
    """Runs, their history and scores in one database; artifacts in one folder per run.

    ``url`` names the database (a SQLAlchemy URL: ``postgresql+psycopg://...`` or
    ``sqlite:////path/runs.db``); without it ``$DEEPAD_STORE_URL`` does, and without that it
    is ``<home>/runs.db``. ``artifacts`` is a shared folder for the run folders (a network
    mount every machine reaches); without it ``$DEEPAD_ARTIFACTS`` is, and without that
    ``<home>/runs`` (see :class:`deepad.runs.layout.Artifacts`).
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        connect: Callable[..., Any] | None = None,
        artifacts: str | os.PathLike[str] | None = None,
        _adopt_folders: bool = False,
    ) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.artifacts = Artifacts.for_home(self.home, artifacts)
        self.url = url if url is not None else (os.environ.get(STORE_URL_ENV) or None)
        self._adopt_folders = _adopt_folders
        try:
            self._backend: Backend = backend_for(self.home, self.url, connect=connect)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        self.path = getattr(self._backend, "path", None)  # the SQLite file, if it is one
        self._engine_lock = threading.Lock()
        self._engine_value: Engine | None = None
        self._engine_pid = 0
        self._prepare_home()
        self._migrate()

    @property
    def location(self) -> str:
        """Where the runs are recorded (a file, or a URL without its password)."""
        return self._backend.describe()

    @property
    def read_only(self) -> bool:
        return self._backend.read_only

    def _prepare_home(self) -> None:
        """Create the home (owner-only), and the SQLite file when the store is one; a file
        that exists but cannot be written makes the store read-only."""
        if self.home.exists() and not self.home.is_dir():
            raise StoreError(
                f"{self.home}: deepad's home is a file, not a folder; point DEEPAD_HOME "
                "(or --home) at a folder"
            )
        path = self.path
        try:
            self.artifacts.check()
        except FileNotFoundError as exc:
            raise StoreError(str(exc)) from None
        try:
            private_dir(self.artifacts.root)
            if path is not None:
                private_dir(path.parent)
                private_file(path)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"{self.home}: a part of this path is a file, not a folder") from None
        except OSError as exc:
            if path is None or not path.is_file():
                raise StoreError(
                    f"{self.home}: cannot create deepad's home here ({exc.strerror or exc})"
                ) from None
            self._backend.read_only = True
            return
        if path is not None:
            self._backend.read_only = not os.access(path.parent, os.W_OK) or not os.access(
                path, os.W_OK
            )

    # ------------------------------------------------------------------ connections
    def _engine(self) -> Engine:
        """This process's engine; a forked child makes its own pool instead of sharing the
        parent's connections."""
        with self._engine_lock:
            if self._engine_value is None:
                self._engine_value = self._backend.create_engine()
            elif self._engine_pid != os.getpid():
                self._engine_value.dispose(close=False)
            self._engine_pid = os.getpid()
            return self._engine_value

    def _error(self, error: BaseException) -> StoreError:
        orig = getattr(error, "orig", None)
        return StoreError(self._backend.error_message(orig if orig is not None else error))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading (on SQLite each statement reads on its own)."""
        try:
            with self._engine().connect() as con:
                yield con
        except sa.exc.IntegrityError:
            raise
        except (sa.exc.DatabaseError, sqlite3.DatabaseError) as exc:
            # OperationalError, and "file is not a database" / "malformed" of a damaged file
            raise self._error(exc) from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A short write transaction, committed at the end, rolled back on any error. On
        SQLite it begins IMMEDIATE, taking the lock up front, so a busy database makes us
        wait (busy timeout) rather than fail half-way."""
        try:
            with self._engine().connect() as con:
                if self.read_only:  # known once the first connection is open
                    raise self._error(OSError("readonly"))
                con = con.execution_options(deepad_write=True)
                with con.begin():
                    yield con
        except sa.exc.IntegrityError:
            raise
        except (sa.exc.DatabaseError, sqlite3.DatabaseError) as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Close this process's connections (a later call opens new ones)."""
        with self._engine_lock:
            engine, self._engine_value = self._engine_value, None
        if engine is not None:
            engine.dispose(close=self._engine_pid == os.getpid())

    def _migrate(self) -> None:
        """Bring the database to the newest schema, one step per transaction.

        Several processes may open an old database at once: each step re-reads the version
        under the write lock (SQLite's, or an advisory lock on PostgreSQL), so a step another
        process has just applied is not run twice.
        """
        target = len(MIGRATIONS)
        with self._read() as con:
            version = self._schema_version(con, target)
        if version == 0 and not self._adopt_folders:
            orphans = self.run_folders()
            if orphans:
                shown = ", ".join(str(i) for i in orphans[:5]) + (
                    ", ..." if len(orphans) > 5 else ""
                )
                raise IndexMissingError(
                    f"{self.location} holds no runs, but {len(orphans)} run folder(s) exist in "
                    f"{self.artifacts.root} (runs {shown}): the run index is missing or was "
                    f"emptied, and new runs would overwrite those; {REBUILD_HINT}"
                )
        while version < target:
            with self._write() as con:
                self._backend.lock_for_migration(con)
                version = self._schema_version(con, target)
                if version == target:
                    break
                # an empty database gets the tables as they are now in one step
                reached = min(TABLES_VERSION, target) if version == 0 else version + 1
                try:
                    MIGRATIONS[version](con)
                except sa.exc.DBAPIError as exc:
                    raise SchemaVersionError(
                        f"could not migrate {self.location} from schema version {version} to "
                        f"{reached}: {first_line(exc.orig or exc)}"
                    ) from exc
                self._backend.set_schema_version(con, reached)
            version = reached

    def _schema_version(self, con: Connection, target: int) -> int:
        version = self._backend.schema_version(con)
        if version > target:
            raise SchemaVersionError(
                f"{self.location} has schema version {version}, but this version of deepad "
                f"only knows versions up to {target}; upgrade deepad to open it"
            )
        return version

    # ------------------------------------------------------------------ run folders
    def run_folders(self, *, with_empty: bool = False) -> list[int]:
        """Ids of the run folders under ``<home>/runs`` (those with something in them unless
        ``with_empty``), ascending."""
        found = []
        try:
            entries = list(os.scandir(self.artifacts.root))
        except OSError:
            return []
        for entry in entries:
            if not (entry.name.isascii() and entry.name.isdigit()):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if not with_empty and not any(os.scandir(entry.path)):
                    continue
            except OSError:
                continue
            found.append(int(entry.name))
        return sorted(found)

    def rebuild_index(self) -> list[int]:
        """Add a record for every run folder the index lacks (from the folder's ``run.json``,
        else its saved model); returns the ids added. A run with a saved model comes back as
        done (its per-item scores are not in the folder: ``deepad score`` scores again), one
        without as interrupted when its data is known, else as failed."""
        with self._read() as con:
            known = set(con.execute(sa.select(RUNS.c.id)).scalars())
        added = []
        for run_id in self.run_folders():
            if run_id in known:
                continue
            values = _recovered_run(self.folder(run_id), run_id)
            with self._write() as con:
                con.execute(sa.insert(RUNS).values(**values))
                self._backend.after_explicit_id(con)
            added.append(run_id)
        return added

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        method: str,
        config: Mapping[str, Any],
        train: str,
        test: str | None = None,
        labeled: str | None = None,
        *,
        memory_mb: int | None = None,
    ) -> int:
        """Record a new queued run and make its folder; returns the run id. It needs a GPU
        when its config names a CUDA device (``device``), and ``memory_mb`` free on the
        worker that takes it when given.

        The id is above every run folder on disk, and the folder must not exist yet: a new
        run never writes into an old run's folder, even when the index lost that run."""
        values = dict(
            method=method,
            config=json.dumps(_json_ready(dict(config))),
            train_dataset=str(train),
            test_dataset=None if test is None else str(test),
            labeled_dataset=None if labeled is None else str(labeled),
            status=QUEUED,
            created=time.time(),
            needs_gpu=int(str(config.get("device") or "").startswith("cuda")),
            memory_mb=None if memory_mb is None else int(memory_mb),
        )
        private_dir(self.artifacts.root)
        with self._write() as con:
            floor = max(self.run_folders(with_empty=True), default=0)
            top = con.execute(sa.select(sa.func.max(RUNS.c.id))).scalar() or 0
            explicit = floor > top
            if explicit:
                values["id"] = floor + 1
            result = con.execute(sa.insert(RUNS).values(**values))
            run_id = int(values["id"]) if explicit else int(result.inserted_primary_key[0])
            if explicit:
                self._backend.after_explicit_id(con)
            run_folder = self.folder(run_id)
            folder = run_folder.path
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                raise StoreError(
                    f"{folder} exists already; a new run never writes into another run's "
                    f"folder ({REBUILD_HINT})"
                ) from None
            except OSError as exc:
                raise StoreError(
                    f"{folder}: cannot create the run's folder ({exc.strerror})"
                ) from None
            try:
                _write_run_file(run_folder, {**values, "id": run_id})
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return run_id

    def create_job(
        self,
        kind: str,
        parent: int,
        params: Mapping[str, Any] | None = None,
        *,
        needs_gpu: bool | None = None,
        memory_mb: int | None = None,
    ) -> int:
        """Queue a job of ``kind`` (:data:`SCORE`, :data:`EXPLAIN`) for the finished run
        ``parent``; returns its id. It is a row of the same queue as training runs (method,
        config and data are the parent's), without a folder of its own: what it writes goes
        into the parent's. It needs a GPU when the parent did, unless ``needs_gpu`` says."""
        if kind not in JOB_KINDS or kind == TRAIN:
            raise ValueError(f"no job kind {kind!r}; jobs are {', '.join(JOB_KINDS[1:])}")
        run = self.get(parent)
        values = dict(
            method=run.method,
            config=json.dumps(_json_ready(run.config)),
            train_dataset=run.train_dataset,
            test_dataset=run.test_dataset,
            labeled_dataset=run.labeled_dataset,
            status=QUEUED,
            created=time.time(),
            kind=kind,
            parent=int(parent),
            params=json.dumps(_json_ready(dict(params or {}))),
            needs_gpu=int(run.needs_gpu if needs_gpu is None else bool(needs_gpu)),
            memory_mb=memory_mb if memory_mb is None else int(memory_mb),
        )
        with self._write() as con:
            # ids stay above every run folder, so a later run never gets a used folder's id
            floor = max(self.run_folders(with_empty=True), default=0)
            top = con.execute(sa.select(sa.func.max(RUNS.c.id))).scalar() or 0
            if floor > top:
                values["id"] = floor + 1
            result = con.execute(sa.insert(RUNS).values(**values))
            if "id" in values:
                self._backend.after_explicit_id(con)
                return int(values["id"])
            return int(result.inserted_primary_key[0])

    def claim(self, run_id: int, *, host: str, pid: int, stale_before: float) -> bool:
        """Take the queued row ``run_id`` for a worker (``host``, ``pid``); True when this
        call got it. One conditional UPDATE: of two workers (on any machines) claiming one
        row, the second finds it taken, on SQLite (the write lock orders them) and on
        PostgreSQL (it waits for the first's row lock, then re-checks the row)."""
        now = time.time()
        with self._write() as con:
            result = con.execute(
                sa.update(RUNS)
                .where(
                    RUNS.c.id == int(run_id),
                    RUNS.c.status == QUEUED,
                    RUNS.c.pid.is_(None),
                    sa.or_(
                        RUNS.c.phase != STARTING,
                        RUNS.c.heartbeat.is_(None),
                        RUNS.c.heartbeat < float(stale_before),
                    ),
                )
                .values(phase=STARTING, host=host, pid=int(pid), heartbeat=now, error=None)
            )
            return result.rowcount == 1

    def release_stale(self, stale_before: float) -> list[int]:
        """Put back in the queue the rows whose worker stopped stamping its heartbeat before
        ``stale_before`` (a killed process, a lost machine): running ones, and queued ones a
        worker claimed and never started. A training run comes back marked to resume from
        its checkpoint. Returns their ids; each release is one conditional UPDATE, so a
        worker that stamps its heartbeat meanwhile keeps its row."""
        released = []
        for record in self.list_runs(status=(QUEUED, RUNNING), kind=None):
            if record.heartbeat is None or record.heartbeat >= stale_before:
                continue
            if record.status == QUEUED and record.pid is None:
                continue  # waiting, never claimed
            params = dict(record.params)
            if record.kind == TRAIN and record.status == RUNNING:
                params["resume"] = True
            with self._write() as con:
                result = con.execute(
                    sa.update(RUNS)
                    .where(
                        RUNS.c.id == record.id,
                        RUNS.c.status.in_((QUEUED, RUNNING)),
                        RUNS.c.heartbeat < float(stale_before),
                    )
                    .values(
                        status=QUEUED,
                        phase="",
                        pid=None,
                        host=None,
                        params=json.dumps(_json_ready(params)),
                        error=f"its worker on {record.host} stopped; queued again",
                    )
                )
            if result.rowcount == 1:
                released.append(record.id)
        return released

    def get(self, run_id: int) -> RunRecord:
        with self._read() as con:
            row = con.execute(_select_runs().where(RUNS.c.id == int(run_id))).first()
        if row is None:
            raise RunNotFound(f"no run {run_id}")
        try:
            return _record(row)
        except DamagedRow as exc:
            raise StoreError(
                f"{self.location}: the record of run {run_id} is damaged ({exc})"
            ) from None

    def list_runs(
        self,
        status: str | Sequence[str] | None = None,
        *,
        kind: str | Sequence[str] | None = TRAIN,
        parent: int | None = None,
        damaged: list[tuple[int, str]] | None = None,
    ) -> list[RunRecord]:
        """Training runs, newest first (optionally only those with one of ``status``); with
        ``kind`` the jobs of those kinds instead (None: every row of the queue), with
        ``parent`` only the jobs of that run. A damaged record (e.g. its stored config is
        not JSON) is left out; ``damaged``, when given, collects its id and what is wrong
        with it."""
        query = _select_runs().order_by(RUNS.c.id.desc())
        if status is not None:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            query = query.where(RUNS.c.status.in_(wanted))
        if kind is not None:
            kinds = (kind,) if isinstance(kind, str) else tuple(kind)
            query = query.where(RUNS.c.kind.in_(kinds))
        if parent is not None:
            query = query.where(RUNS.c.parent == int(parent))
        with self._read() as con:
            rows = con.execute(query).all()
        records = []
        for row in rows:
            try:
                records.append(_record(row))
            except DamagedRow as exc:
                if damaged is not None:
                    damaged.append((int(row[0]), str(exc)))
        return records

    def update(self, run_id: int, **fields: Any) -> None:
        """Set some run columns (what a worker reports); dicts/lists are stored as JSON."""
        values = _run_values(fields)
        if not values:
            return
        with self._write() as con:
            result = con.execute(sa.update(RUNS).where(RUNS.c.id == int(run_id)).values(values))
            if result.rowcount == 0:
                raise RunNotFound(f"no run {run_id}")

    def set_threshold(self, run_id: int, value: float, source: str | None = None) -> None:
        """Save the decision threshold (``deepad score`` and the app flag items above it) and
        where it came from, in words (``best F1``, ``manual``...; None: the detector's
        default), in one write."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("the threshold must be a finite number")
        self.update(run_id, threshold=value, threshold_source=source)

    def request_cancel(self, run_id: int) -> None:
        """Ask the run's worker to stop at its next check (see ``cancel_requested``)."""
        with self._write() as con:
            con.execute(
                sa.update(RUNS)
                .where(RUNS.c.id == int(run_id))
                .values(cancel_requested=sa.func.coalesce(RUNS.c.cancel_requested, time.time()))
            )

    def cancel_requested(self, run_id: int) -> bool:
        """True once a cancel was asked for, or when the run was deleted meanwhile."""
        with self._read() as con:
            row = con.execute(
                sa.select(RUNS.c.cancel_requested).where(RUNS.c.id == int(run_id))
            ).first()
        return row is None or row[0] is not None

    def transition(
        self,
        run_id: int,
        allowed: Sequence[str],
        *,
        unclaimed_since: float | None = None,
        **fields: Any,
    ) -> bool:
        """Update ``fields`` only if the run's status is one of ``allowed``; True if it was.

        Check and write are one ``UPDATE ... WHERE status IN (...)``, so two processes (or
        machines) cannot both, e.g., mark a run interrupted and done: on PostgreSQL the
        second waits for the first's row lock and then finds the status changed.
        ``unclaimed_since`` also requires that no process has claimed the run to start it
        (phase ``starting``) with a heartbeat at or after that time, so that of two
        processes starting one queued run only one does.
        """
        values = _run_values(fields)
        conditions = [RUNS.c.id == int(run_id), RUNS.c.status.in_(tuple(allowed))]
        if unclaimed_since is not None:
            conditions.append(
                sa.or_(
                    RUNS.c.phase != STARTING,
                    RUNS.c.heartbeat.is_(None),
                    RUNS.c.heartbeat < float(unclaimed_since),
                )
            )
        with self._write() as con:
            result = con.execute(
                sa.update(RUNS).where(*conditions).values(values or {"status": RUNS.c.status})
            )
            return result.rowcount == 1

    def delete(self, run_id: int) -> None:
        """Remove the run, its history, scores and folder; a running run must be cancelled
        first (``jobs.cancel_run``)."""
        record = self.get(run_id)
        if record.status == RUNNING and record.cancel_requested is None:
            raise RunStateError(f"run {run_id} is running; cancel it before deleting it")
        # a run that is being cancelled may go at once: its worker stops when the row is gone
        with self._write() as con:
            for table in (SCORES, HISTORY):
                con.execute(sa.delete(table).where(table.c.run_id == int(run_id)))
            con.execute(sa.delete(RUNS).where(RUNS.c.parent == int(run_id)))  # its jobs
            con.execute(sa.delete(RUNS).where(RUNS.c.id == int(run_id)))
        shutil.rmtree(self.artifacts_dir(run_id), ignore_errors=True)
        best = self.best_runs()
        if best.get(record.train_dataset) == int(run_id):
            del best[record.train_dataset]
            self._write_best(best)

    # ------------------------------------------------------------------ trash and best runs
    # A deleted run first goes to the trash: a marker file in its folder, so a click on
    # Delete can be undone until the trash is emptied or the run is older than the days given to purge_trash
    # there. Which run is the best one per training set is one small JSON file in the home.
    def trash(self, run_id: int) -> None:
        """Mark the run deleted (restorable with :meth:`restore`); a running run must be
        cancelled first, as for :meth:`delete`."""
        record = self.get(run_id)
        if record.status == RUNNING and record.cancel_requested is None:
            raise RunStateError(f"run {run_id} is running; cancel it before deleting it")
        folder = self.folder(run_id)
        private_dir(folder.path)
        folder.trash_marker.write_text(json.dumps({"deleted": time.time()}))

    def restore(self, run_id: int) -> None:
        """Take a run out of the trash."""
        self.get(run_id)  # a purged run is gone for good: RunNotFound
        self.folder(run_id).trash_marker.unlink(missing_ok=True)

    def trashed_at(self, run_id: int) -> float | None:
        """When the run was put in the trash (seconds since the epoch), or None."""
        try:
            marker = self.folder(run_id).trash_marker
            return float(json.loads(marker.read_text())["deleted"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def purge_trash(self, older_than_days: float | None = None) -> list[int]:
        """Delete for good the runs in the trash (only those put there more than
        ``older_than_days`` ago, when given); returns their ids."""
        now = time.time()
        purged = []
        for record in self.list_runs():
            when = self.trashed_at(record.id)
            if when is None:
                continue
            if older_than_days is not None and now - when < older_than_days * 86400.0:
                continue
            self.delete(record.id)
            purged.append(record.id)
        return purged

    def best_runs(self) -> dict[str, int]:
        """Training-set id -> the run marked best for it."""
        try:
            found = json.loads((self.home / BEST_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def set_best(self, run_id: int, best: bool = True) -> None:
        """Mark ``run_id`` the best run of its training set (replacing the one marked
        before), or with ``best=False`` take the mark off."""
        record = self.get(run_id)
        found = self.best_runs()
        if best:
            found[record.train_dataset] = int(run_id)
        elif found.get(record.train_dataset) == int(run_id):
            del found[record.train_dataset]
        self._write_best(found)

    def _write_best(self, found: dict[str, int]) -> None:
        path = self.home / BEST_FILE
        temporary = private_file(path.with_suffix(".tmp"))
        temporary.write_text(json.dumps(found))
        os.replace(temporary, path)

    def folder(self, run_id: int) -> RunFolder:
        """The run's folder, whose paths :class:`RunFolder` names."""
        return self.artifacts.run(run_id)

    def artifacts_dir(self, run_id: int) -> Path:
        """The run's folder as a path (``folder(run_id).path``)."""
        return self.folder(run_id).path

    # ------------------------------------------------------------------ history
    def add_history(self, run_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append per-epoch rows (``epoch, loss, lr, items_per_second, seconds``); an epoch
        trained again after a resume replaces its old row."""
        if not rows:
            return
        keys = ("loss", "lr", "items_per_second", "seconds")
        insert = self._backend.insert(HISTORY)
        upsert = insert.on_conflict_do_update(
            index_elements=[HISTORY.c.run_id, HISTORY.c.epoch],
            set_={k: insert.excluded[k] for k in keys},
        )
        params = [
            {
                "run_id": int(run_id),
                "epoch": int(r["epoch"]),
                **{k: _finite_or_none(r.get(k)) for k in keys},
            }
            for r in rows
        ]
        with self._write() as con:
            con.execute(upsert, params)

    def truncate_history(self, run_id: int, after_epoch: int = 0) -> None:
        """Forget epochs after ``after_epoch`` (all of them by default)."""
        with self._write() as con:
            con.execute(
                sa.delete(HISTORY).where(
                    HISTORY.c.run_id == int(run_id), HISTORY.c.epoch > int(after_epoch)
                )
            )

    def history(self, run_id: int) -> list[dict[str, Any]]:
        """Per-epoch ``epoch, loss, lr, items_per_second, seconds``, in epoch order."""
        keys = ("epoch", "loss", "lr", "items_per_second", "seconds")
        query = (
            sa.select(*(HISTORY.c[k] for k in keys))
            .where(HISTORY.c.run_id == int(run_id))
            .order_by(HISTORY.c.epoch)
        )
        with self._read() as con:
            rows = con.execute(query).all()
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # ------------------------------------------------------------------ scores
    def write_scores(
        self,
        run_id: int,
        *,
        names: Sequence[str],
        scores: np.ndarray,
        labels: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
        components: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Replace the run's per-item scores (one row per item, components as float64
        bytes), in one transaction of :data:`SCORE_CHUNK`-row batches."""
        scores = np.asarray(scores, dtype=np.float64)
        n = len(scores)
        if len(names) != n:
            raise ValueError(f"{len(names)} names for {n} scores")
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            raise ValueError(
                f"{bad.size} of {n} items got a non-finite score (NaN or infinite, e.g. "
                f"{names[int(bad[0])]}); an input value is out of range for this model, or "
                "training diverged"
            )
        label_col = (
            np.full(n, -1, dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        )
        if len(label_col) != n:
            raise ValueError(f"{len(label_col)} labels for {n} scores")
        class_col = [""] * n if classes is None else ["" if c is None else str(c) for c in classes]
        if len(class_col) != n:
            raise ValueError(f"{len(class_col)} classes for {n} scores")
        components = dict(components or {})
        comp_names = list(components)
        matrix = (
            np.stack(
                [np.asarray(components[c], dtype=np.float64).reshape(n) for c in comp_names],
                axis=1,
            )
            if comp_names
            else None
        )
        run_id = int(run_id)
        with self._write() as con:
            con.execute(sa.delete(SCORES).where(SCORES.c.run_id == run_id))
            for start in range(0, n, SCORE_CHUNK):
                stop = min(n, start + SCORE_CHUNK)
                blobs = (
                    [row.tobytes() for row in matrix[start:stop]]
                    if matrix is not None
                    else [None] * (stop - start)
                )
                rows = list(
                    zip(
                        [run_id] * (stop - start),
                        range(start, stop),
                        [str(x) for x in names[start:stop]],
                        scores[start:stop].tolist(),
                        label_col[start:stop].tolist(),
                        class_col[start:stop],
                        blobs,
                        strict=True,
                    )
                )
                self._backend.insert_rows(con, SCORES, _SCORE_COLUMNS, rows)
            con.execute(
                sa.update(RUNS).where(RUNS.c.id == run_id).values(components=json.dumps(comp_names))
            )

    def scores(self, run_id: int) -> ScoreTable:
        """The run's per-item scores in item order (empty until the run is scored)."""
        columns = ("idx", "name", "score", "label", "class", "components")
        with self._read() as con:
            # one transaction on PostgreSQL, so the names and the rows belong together
            row = con.execute(sa.select(RUNS.c.components).where(RUNS.c.id == int(run_id))).first()
            if row is None:
                raise RunNotFound(f"no run {run_id}")
            rows = con.execute(
                sa.select(*(SCORES.c[k] for k in columns))
                .where(SCORES.c.run_id == int(run_id))
                .order_by(SCORES.c.idx)
            ).all()
        comp_names = json.loads(row[0] or "[]")
        n = len(rows)
        if n == 0:
            empty = np.empty(0)
            return ScoreTable(
                index=empty.astype(np.int64),
                name=empty.astype(object),
                score=empty.astype(np.float64),
                label=empty.astype(np.int8),
                classes=empty.astype(object),
                components={c: empty.astype(np.float64) for c in comp_names},
            )
        idx, names, score, label, klass, blobs = zip(*rows, strict=True)
        components: dict[str, np.ndarray] = {}
        if comp_names:
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(n, len(comp_names))
            components = {c: matrix[:, i].copy() for i, c in enumerate(comp_names)}
        return ScoreTable(
            index=np.asarray(idx, dtype=np.int64),
            name=np.asarray(names, dtype=object),
            score=np.asarray(score, dtype=np.float64),
            label=np.asarray(label, dtype=np.int8),
            classes=np.asarray(klass, dtype=object),
            components=components,
        )

    # ------------------------------------------------------------------ datasets
    def note_dataset(self, dataset_id: str, *, name: str, kind: str, count: int) -> None:
        """Remember a dataset's name, kind and size so run lists can show them cheaply."""
        insert = self._backend.insert(DATASETS).values(
            id=str(dataset_id), name=name, kind=str(kind), count=int(count), seen=time.time()
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[DATASETS.c.id],
            set_={k: insert.excluded[k] for k in ("name", "kind", "count", "seen")},
        )
        with self._write() as con:
            con.execute(upsert)

    def dataset_summary(self, dataset_id: str) -> dict[str, Any] | None:
        keys = ("id", "name", "kind", "count")
        with self._read() as con:
            row = con.execute(
                sa.select(*(DATASETS.c[k] for k in keys)).where(DATASETS.c.id == str(dataset_id))
            ).first()
        if row is None:
            return None
        return dict(zip(keys, row, strict=True))


def rebuild_index(
    home: str | os.PathLike[str] | None = None, *, url: str | None = None
) -> tuple[list[int], Path | None]:
    """Rebuild a missing, emptied or damaged run index from the run folders (under
    ``<home>/runs``, or the shared artifact root): a damaged SQLite file is first moved aside (``runs.db.damaged-<time>``).
    Returns the ids recovered and where the damaged file went (None when nothing moved)."""
    moved = None
    try:
        store = RunStore(home, url=url)
    except IndexMissingError:
        store = RunStore(home, url=url, _adopt_folders=True)
    except StoreError:
        backend = backend_for(
            Path(home).expanduser() if home is not None else default_home(),
            url or os.environ.get(STORE_URL_ENV),
        )
        path = getattr(backend, "path", None)
        if path is None or not path.is_file():
            raise
        moved = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, moved)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, moved.with_name(moved.name + suffix))
        store = RunStore(home, url=url, _adopt_folders=True)
    try:
        return store.rebuild_index(), moved
    finally:
        store.close()


_SCORE_COLUMNS = ("run_id", "idx", "name", "score", "label", "class", "components")
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))


def _select_runs() -> sa.Select:
    return sa.select(*(RUNS.c[k] for k in _RECORD_FIELDS))


class DamagedRow(ValueError):
    """A run's row whose JSON columns cannot be read."""


def _record(row: sa.Row) -> RunRecord:
    values = dict(zip(_RECORD_FIELDS, row, strict=True))
    for key, empty, kind in (
        ("config", "{}", dict),
        ("metrics", "{}", dict),
        ("params", "{}", dict),
        ("components", "[]", list),
    ):
        try:
            value = json.loads(values[key] or empty)
        except (TypeError, ValueError, RecursionError):
            raise DamagedRow(f"its stored {key} is not valid JSON") from None
        if not isinstance(value, kind):
            raise DamagedRow(f"its stored {key} is not a JSON {kind.__name__}")
        values[key] = value
    return RunRecord(**values)


def _write_run_file(folder: RunFolder, values: Mapping[str, Any]) -> None:
    """``run.json``: what the index records of a new run, so the index can be rebuilt."""
    data = {
        k: values.get(k)
        for k in ("id", "method", "train_dataset", "test_dataset", "labeled_dataset", "created")
    }
    data["config"] = json.loads(values["config"])
    path = folder.record
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data))
    os.replace(tmp, path)


def _read_small_json(path: Path) -> Any:
    """A regular file's JSON (None when absent, not a plain file, too large or not JSON)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RUN_FILE_BYTES:
            return None
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            return json.loads(handle.read(MAX_RUN_FILE_BYTES + 1))
    except (OSError, ValueError, RecursionError):
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def _recovered_run(folder: RunFolder, run_id: int) -> dict[str, Any]:
    """A runs row for a run folder the index lost."""
    from deepad.models.checksum import MODEL_FILES, model_checksum

    info = _read_small_json(folder.record)
    info = info if isinstance(info, dict) else {}
    model = folder.model
    header = _read_small_json(model / MODEL_FILES[0])
    header = header if isinstance(header, dict) else {}
    method = info.get("method") if isinstance(info.get("method"), str) else header.get("method")
    config = info.get("config") if isinstance(info.get("config"), dict) else header.get("config")
    train = info.get("train_dataset")
    has_model = all((model / name).is_file() for name in MODEL_FILES)
    created = info.get("created")
    values: dict[str, Any] = dict(
        id=run_id,
        method=method if isinstance(method, str) else "unknown",
        config=json.dumps(_json_ready(config if isinstance(config, dict) else {})),
        train_dataset=train if isinstance(train, str) else "",
        test_dataset=info.get("test_dataset")
        if isinstance(info.get("test_dataset"), str)
        else None,
        labeled_dataset=(
            info.get("labeled_dataset") if isinstance(info.get("labeled_dataset"), str) else None
        ),
        created=float(created) if isinstance(created, int | float) else folder.path.stat().st_mtime,
        metrics="{}",
        components="[]",
    )
    if has_model:
        values.update(status=DONE, progress=1.0, model_checksum=model_checksum(model))
        values["error"] = None
    elif isinstance(train, str) and train:
        values.update(status=INTERRUPTED)
    else:
        values.update(
            status=FAILED,
            error="recovered from its folder without a saved model or a record of its data",
        )
    return values


def _run_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Checked column values for an update: dicts/lists as JSON, numpy scalars as numbers."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update run field(s) {', '.join(sorted(unknown))}")
    return {
        k: json.dumps(_json_ready(v))
        if isinstance(v, dict | list)
        else (v.item() if isinstance(v, np.generic) else v)
        for k, v in fields.items()
    }
