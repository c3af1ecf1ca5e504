"""The run store: one SQLite database (WAL) plus one folder of artifacts per run.

Several processes use the store at once (the app, background workers, the CLI), so every
process and thread opens its own connection, writes happen in short ``BEGIN IMMEDIATE``
transactions, and a busy timeout makes a writer wait for another instead of failing.

The database records its schema version (``PRAGMA user_version``). Opening one made by an
older deepad applies the missing steps of ``MIGRATIONS`` in order; one made by a newer deepad
is refused with :class:`SchemaVersionError` rather than misread.

Layout under ``home``::

    runs.db                  runs, per-epoch history, per-item scores, dataset summaries
    runs/<id>/model/         the fitted detector (Detector.save)
    runs/<id>/last.*         the resumable training checkpoint (deepad.train.checkpoint)
    runs/<id>/explain/       explanation arrays (see :mod:`deepad.runs.artifacts`)
    runs/<id>/run.log        the worker's log, including tracebacks of failures

The home is owner-only: folders the store creates are ``0700`` and its files ``0600``.
A home that cannot be written (a read-only folder or file system) still serves every
command that only reads; a write there, a full disk, or a home that is not a folder is a
:class:`StoreError` that says so in one line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepad.errors import DeepadError

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
ACTIVE = (QUEUED, RUNNING)
RESUMABLE = (INTERRUPTED, CANCELLED, FAILED)

BUSY_TIMEOUT_MS = 30_000

# Version 1 as it was first released. Never edit it: a later change to the tables is a new
# step in MIGRATIONS, so that databases made by earlier versions are brought up to date.
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    train_dataset TEXT NOT NULL,
    test_dataset TEXT,
    labeled_dataset TEXT,
    status TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0,
    loss REAL,
    items_per_second REAL,
    eta REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    pid INTEGER,
    heartbeat REAL,
    cancel_requested REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    threshold REAL,
    components TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS history (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    items_per_second REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS scores (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    score REAL NOT NULL,
    label INTEGER NOT NULL,
    class TEXT NOT NULL,
    components BLOB,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
"""

Migration = Callable[[sqlite3.Connection], None]


def _execute_script(con: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one (``executescript`` would commit first)."""
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


def _create_v1(con: sqlite3.Connection) -> None:
    _execute_script(con, _SCHEMA_V1)


# MIGRATIONS[i] takes a database from schema version i to i + 1 (``PRAGMA user_version``);
# version 0 is an empty database. Each step runs in its own transaction together with the
# version bump, so a step either applies completely or not at all.
MIGRATIONS: tuple[Migration, ...] = (_create_v1,)
SCHEMA_VERSION = len(MIGRATIONS)  # the version this code creates and understands

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


def _store_error(path: Path, error: BaseException) -> StoreError:
    """One line saying what stops the store at ``path``, from an sqlite or OS error."""
    text = str(error)
    low = text.lower()
    if "full" in low or getattr(error, "errno", None) == 28:
        return StoreError(f"{path}: the disk is full ({text}); free some space and retry")
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{path}: the run store is read-only here; this needs to write to it")
    if "unable to open" in low:
        return StoreError(f"{path}: cannot open the run store ({text}); is its folder writable?")
    return StoreError(f"{path}: {text}")


class SchemaVersionError(ValueError):
    """``runs.db`` has a schema newer than this code knows, or could not be migrated."""


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
    def class_(self) -> np.ndarray:
        return self.classes

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
    """Runs, their history and scores in ``<home>/runs.db``; artifacts in ``<home>/runs/<id>``."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.path = self.home / "runs.db"
        self._local = threading.local()
        self.read_only = self._prepare_home()
        try:
            self._migrate()
            self._columns = _run_columns(self._connection())
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def _prepare_home(self) -> bool:
        """Create the home (owner-only); True when it exists but cannot be written."""
        if self.home.exists() and not self.home.is_dir():
            raise StoreError(
                f"{self.home}: deepad's home is a file, not a folder; point DEEPAD_HOME "
                "(or --home) at a folder"
            )
        try:
            private_dir(self.home / "runs")
            private_file(self.path)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"{self.home}: a part of this path is a file, not a folder") from None
        except OSError as exc:
            if not self.path.is_file():
                raise StoreError(
                    f"{self.home}: cannot create deepad's home here ({exc.strerror or exc})"
                ) from None
            return True
        return not os.access(self.home, os.W_OK) or not os.access(self.path, os.W_OK)

    # ------------------------------------------------------------------ connections
    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a forked child opens its own instead of sharing one."""
        con = getattr(self._local, "con", None)
        if con is not None and self._local.pid == os.getpid():
            return con
        try:
            con = self._open()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None
        self._local.con = con
        self._local.pid = os.getpid()
        return con

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
            except sqlite3.OperationalError:
                if os.access(self.home, os.W_OK) and os.access(self.path, os.W_OK):
                    raise
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

    @staticmethod
    def _connect(target: Any, uri: bool = False) -> sqlite3.Connection:
        con = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=uri)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return con

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        con = getattr(self._local, "con", None)
        if con is not None and self._local.pid == os.getpid():
            con.close()
        self._local.con = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction; BEGIN IMMEDIATE takes the lock up front so a busy
        database makes us wait (busy_timeout) rather than fail half-way."""
        con = self._connection()
        if self.read_only:
            raise _store_error(self.path, sqlite3.OperationalError("readonly"))
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _store_error(self.path, exc) from None
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise _store_error(self.path, exc) from None
            raise

    def _migrate(self) -> None:
        """Bring the database to the newest schema, one step per transaction.

        Several processes may open an old database at once: each step re-reads the version
        under the write lock, so a step another process has just applied is not run twice.
        """
        target = len(MIGRATIONS)
        version = self._schema_version(self._connection(), target)
        while version < target:
            with self._write() as con:
                version = self._schema_version(con, target)
                if version == target:
                    break
                try:
                    MIGRATIONS[version](con)
                except sqlite3.Error as exc:
                    raise SchemaVersionError(
                        f"could not migrate {self.path} from schema version {version} to "
                        f"{version + 1}: {exc}"
                    ) from exc
                con.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    def _schema_version(self, con: sqlite3.Connection, target: int) -> int:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        if version > target:
            raise SchemaVersionError(
                f"{self.path} has schema version {version}, but this version of deepad only "
                f"knows versions up to {target}; upgrade deepad to open it"
            )
        return version

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        method: str,
        config: Mapping[str, Any],
        train: str,
        test: str | None = None,
        labeled: str | None = None,
    ) -> int:
        """Record a new queued run and make its folder; returns the run id."""
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO runs (method, config, train_dataset, test_dataset, labeled_dataset,"
                " status, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    method,
                    json.dumps(_json_ready(dict(config))),
                    str(train),
                    None if test is None else str(test),
                    None if labeled is None else str(labeled),
                    QUEUED,
                    time.time(),
                ),
            )
            run_id = int(cur.lastrowid)
        private_dir(self.artifacts_dir(run_id))
        return run_id

    def get(self, run_id: int) -> RunRecord:
        row = self._connection().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id}")
        return self._record(row)

    def list_runs(self, status: str | Sequence[str] | None = None) -> list[RunRecord]:
        """All runs, newest first (optionally only those with one of ``status``)."""
        con = self._connection()
        if status is None:
            rows = con.execute("SELECT * FROM runs ORDER BY id DESC").fetchall()
        else:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            marks = ",".join("?" * len(wanted))
            rows = con.execute(
                f"SELECT * FROM runs WHERE status IN ({marks}) ORDER BY id DESC", wanted
            ).fetchall()
        return [self._record(r) for r in rows]

    def _record(self, row: sqlite3.Row | tuple) -> RunRecord:
        values = dict(zip(self._columns, row, strict=True))
        values["config"] = json.loads(values["config"])
        values["metrics"] = json.loads(values["metrics"] or "{}")
        values["components"] = json.loads(values["components"] or "[]")
        return RunRecord(**values)

    def update(self, run_id: int, **fields: Any) -> None:
        """Set some run columns (what a worker reports); dicts/lists are stored as JSON."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update run field(s) {', '.join(sorted(unknown))}")
        if not fields:
            return
        values = [
            json.dumps(_json_ready(v)) if isinstance(v, dict | list) else v for v in fields.values()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as con:
            cur = con.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))
            if cur.rowcount == 0:
                raise RunNotFound(f"no run {run_id}")

    def set_threshold(self, run_id: int, value: float) -> None:
        """Save the decision threshold (``deepad score`` and the app flag items above it)."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("the threshold must be a finite number")
        self.update(run_id, threshold=value)

    def request_cancel(self, run_id: int) -> None:
        """Ask the run's worker to stop at its next check (see ``cancel_requested``)."""
        with self._write() as con:
            con.execute(
                "UPDATE runs SET cancel_requested = COALESCE(cancel_requested, ?) WHERE id = ?",
                (time.time(), run_id),
            )

    def cancel_requested(self, run_id: int) -> bool:
        """True once a cancel was asked for, or when the run was deleted meanwhile."""
        row = (
            self._connection()
            .execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
            .fetchone()
        )
        return row is None or row[0] is not None

    def transition(self, run_id: int, allowed: Sequence[str], **fields: Any) -> bool:
        """Update ``fields`` only if the run's status is one of ``allowed``; True if it was.

        Check and write happen in one transaction, so two processes cannot both, e.g.,
        mark a run interrupted and done.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update run field(s) {', '.join(sorted(unknown))}")
        values = [
            json.dumps(_json_ready(v)) if isinstance(v, dict | list) else v for v in fields.values()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        marks = ",".join("?" * len(allowed))
        with self._write() as con:
            cur = con.execute(
                f"UPDATE runs SET {assignments} WHERE id = ? AND status IN ({marks})",
                (*values, run_id, *allowed),
            )
            return cur.rowcount == 1

    def delete(self, run_id: int) -> None:
        """Remove the run, its history, scores and folder; a running run must be cancelled
        first (``jobs.cancel_run``)."""
        record = self.get(run_id)
        if record.status == RUNNING and record.cancel_requested is None:
            raise RunStateError(f"run {run_id} is running; cancel it before deleting it")
        # a run that is being cancelled may go at once: its worker stops when the row is gone
        with self._write() as con:
            con.execute("DELETE FROM scores WHERE run_id = ?", (run_id,))
            con.execute("DELETE FROM history WHERE run_id = ?", (run_id,))
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.artifacts_dir(run_id), ignore_errors=True)

    def artifacts_dir(self, run_id: int) -> Path:
        return self.home / "runs" / str(int(run_id))

    def log_path(self, run_id: int) -> Path:
        return self.artifacts_dir(run_id) / "run.log"

    def model_dir(self, run_id: int) -> Path:
        return self.artifacts_dir(run_id) / "model"

    # ------------------------------------------------------------------ history
    def add_history(self, run_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append per-epoch rows (``epoch, loss, lr, items_per_second, seconds``); an epoch
        trained again after a resume replaces its old row."""
        if not rows:
            return
        with self._write() as con:
            con.executemany(
                "INSERT OR REPLACE INTO history (run_id, epoch, loss, lr, items_per_second,"
                " seconds) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        int(r["epoch"]),
                        _finite_or_none(r.get("loss")),
                        _finite_or_none(r.get("lr")),
                        _finite_or_none(r.get("items_per_second")),
                        _finite_or_none(r.get("seconds")),
                    )
                    for r in rows
                ],
            )

    def truncate_history(self, run_id: int, after_epoch: int = 0) -> None:
        """Forget epochs after ``after_epoch`` (all of them by default)."""
        with self._write() as con:
            con.execute(
                "DELETE FROM history WHERE run_id = ? AND epoch > ?", (run_id, int(after_epoch))
            )

    def history(self, run_id: int) -> list[dict[str, Any]]:
        """Per-epoch ``epoch, loss, lr, items_per_second, seconds``, in epoch order."""
        rows = (
            self._connection()
            .execute(
                "SELECT epoch, loss, lr, items_per_second, seconds FROM history"
                " WHERE run_id = ? ORDER BY epoch",
                (run_id,),
            )
            .fetchall()
        )
        keys = ("epoch", "loss", "lr", "items_per_second", "seconds")
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
        """Replace the run's per-item scores (one row per item, components as float64 bytes)."""
        scores = np.asarray(scores, dtype=np.float64)
        n = len(scores)
        if len(names) != n:
            raise ValueError(f"{len(names)} names for {n} scores")
        label_col = (
            np.full(n, -1, dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        )
        class_col = [""] * n if classes is None else ["" if c is None else str(c) for c in classes]
        components = dict(components or {})
        comp_names = list(components)
        if comp_names:
            matrix = np.stack(
                [np.asarray(components[c], dtype=np.float64).reshape(n) for c in comp_names],
                axis=1,
            )
            blobs: list[bytes | None] = [row.tobytes() for row in matrix]
        else:
            blobs = [None] * n
        rows = zip(
            [run_id] * n,
            range(n),
            [str(x) for x in names],
            scores.tolist(),
            label_col.tolist(),
            class_col,
            blobs,
            strict=True,
        )
        with self._write() as con:
            con.execute("DELETE FROM scores WHERE run_id = ?", (run_id,))
            con.executemany(
                "INSERT INTO scores (run_id, idx, name, score, label, class, components)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            con.execute(
                "UPDATE runs SET components = ? WHERE id = ?", (json.dumps(comp_names), run_id)
            )

    def scores(self, run_id: int) -> ScoreTable:
        """The run's per-item scores in item order (empty until the run is scored)."""
        con = self._connection()
        row = con.execute("SELECT components FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id}")
        comp_names = json.loads(row[0] or "[]")
        rows = con.execute(
            "SELECT idx, name, score, label, class, components FROM scores"
            " WHERE run_id = ? ORDER BY idx",
            (run_id,),
        ).fetchall()
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
        with self._write() as con:
            con.execute(
                "INSERT OR REPLACE INTO datasets (id, name, kind, count, seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (str(dataset_id), name, str(kind), int(count), time.time()),
            )

    def dataset_summary(self, dataset_id: str) -> dict[str, Any] | None:
        row = (
            self._connection()
            .execute("SELECT id, name, kind, count FROM datasets WHERE id = ?", (dataset_id,))
            .fetchone()
        )
        if row is None:
            return None
        return dict(zip(("id", "name", "kind", "count"), row, strict=True))


def _run_columns(con: sqlite3.Connection) -> list[str]:
    return [r[1] for r in con.execute("PRAGMA table_info(runs)").fetchall()]
