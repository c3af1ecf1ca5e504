"""Schema versions of runs.db: older databases are migrated step by step, newer ones refused."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading

import numpy as np
import pytest

from deepad.runs import store as store_module
from deepad.runs.store import DONE, SCHEMA_VERSION, RunRecord, RunStore, SchemaVersionError

# The tables as the first release (schema version 1) created them, written out here on
# purpose rather than taken from the store, so that this stays the old layout when the
# store's schema moves on.
FIRST_RELEASE_RUNS = (
    "id INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT NOT NULL, config TEXT NOT NULL,"
    " train_dataset TEXT NOT NULL, test_dataset TEXT, labeled_dataset TEXT,"
    " status TEXT NOT NULL, phase TEXT NOT NULL DEFAULT '', progress REAL NOT NULL DEFAULT 0,"
    " epoch INTEGER NOT NULL DEFAULT 0, epochs INTEGER NOT NULL DEFAULT 0, loss REAL,"
    " items_per_second REAL, eta REAL, metrics TEXT NOT NULL DEFAULT '{}', error TEXT,"
    " pid INTEGER, heartbeat REAL, cancel_requested REAL, created REAL NOT NULL,"
    " started REAL, finished REAL, threshold REAL, components TEXT NOT NULL DEFAULT '[]'"
)
FIRST_RELEASE_OTHERS = (
    "CREATE TABLE history (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " epoch INTEGER NOT NULL, loss REAL, lr REAL, items_per_second REAL, seconds REAL,"
    " PRIMARY KEY (run_id, epoch))",
    "CREATE TABLE scores (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, name TEXT NOT NULL, score REAL NOT NULL, label INTEGER NOT NULL,"
    " class TEXT NOT NULL, components BLOB, PRIMARY KEY (run_id, idx))",
    "CREATE TABLE datasets (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
    " count INTEGER NOT NULL, seen REAL NOT NULL)",
    "CREATE INDEX runs_by_status ON runs(status)",
)


def first_release_database(home) -> None:
    """A runs.db at schema version 1 holding one finished run with a score and a dataset,
    its row written with only the columns that version required."""
    home.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(home / "runs.db")
    con.execute(f"CREATE TABLE runs ({FIRST_RELEASE_RUNS})")
    for statement in FIRST_RELEASE_OTHERS:
        con.execute(statement)
    con.execute(
        "INSERT INTO runs (method, config, train_dataset, status, created)"
        " VALUES ('kde', '{\"bandwidth\": 0.5}', 'train-id', 'done', 100.0)"
    )
    con.execute("INSERT INTO scores VALUES (1, 0, 'row_0', 2.5, 1, 'far', NULL)")
    con.execute("INSERT INTO datasets VALUES ('train-id', 'blobs', 'table', 48, 100.0)")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()


def user_version(store: RunStore) -> int:
    with store._read() as con:
        return con.exec_driver_sql("PRAGMA user_version").scalar()


def columns(store: RunStore, table: str) -> dict[str, str | None]:
    """Column name -> declared default."""
    with store._read() as con:
        rows = con.exec_driver_sql(f"PRAGMA table_info({table})").all()
    return {r[1]: r[4] for r in rows}


def add_dataset_source(con) -> None:
    """A step 1 -> 2 of the kind a later version adds: a new column with a default (the
    same statement on SQLite and PostgreSQL)."""
    con.exec_driver_sql("ALTER TABLE datasets ADD COLUMN source TEXT NOT NULL DEFAULT 'upload'")


def test_a_first_release_database_opens_and_reads_back(tmp_path):
    first_release_database(tmp_path)
    store = RunStore(tmp_path)
    assert user_version(store) == SCHEMA_VERSION
    record = store.get(1)
    assert (record.method, record.config, record.status) == ("kde", {"bandwidth": 0.5}, DONE)
    assert (record.phase, record.progress, record.epoch, record.metrics) == ("", 0.0, 0, {})
    assert record.components == [] and record.threshold is None and record.host is None
    # schema 4: an old run is a training run of the one queue, with nothing asked of a worker
    assert (record.kind, record.parent, record.params, record.needs_gpu) == ("train", None, {}, 0)
    assert record.attempts == 0 and record.threshold_source is None
    # every field the code reads exists as a column, added with its default where it is new
    assert set(columns(store, "runs")) == {f.name for f in dataclasses.fields(RunRecord)}
    table = store.scores(1)
    np.testing.assert_array_equal(table.score, [2.5])
    assert list(table["class"]) == ["far"]
    assert store.dataset_summary("train-id")["name"] == "blobs"
    assert store.create_run("ae", {}, "train-id") == 2


def test_steps_bring_an_older_database_up_to_date_in_order(tmp_path, monkeypatch):
    first_release_database(tmp_path)
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, add_dataset_source))
    store = RunStore(tmp_path)
    assert user_version(store) == SCHEMA_VERSION + 1
    assert columns(store, "datasets")["source"] == "'upload'"
    with store._read() as con:
        assert con.exec_driver_sql("SELECT source FROM datasets").all() == [("upload",)]
    assert store.get(1).method == "kde" and store.dataset_summary("train-id")["count"] == 48
    # a new database takes the same steps from version 0
    fresh = RunStore(tmp_path / "fresh")
    assert user_version(fresh) == SCHEMA_VERSION + 1 and "source" in columns(fresh, "datasets")
    # opening it again runs nothing twice (a second ADD COLUMN would fail)
    assert user_version(RunStore(tmp_path)) == SCHEMA_VERSION + 1


def test_a_failing_step_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    first_release_database(tmp_path)

    def half_done(con) -> None:
        con.exec_driver_sql("ALTER TABLE datasets ADD COLUMN note TEXT")
        con.exec_driver_sql("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    monkeypatch.setattr(
        store_module, "MIGRATIONS", (*store_module.MIGRATIONS, add_dataset_source, half_done)
    )
    step = SCHEMA_VERSION + 1
    with pytest.raises(SchemaVersionError, match=f"from schema version {step} to {step + 1}"):
        RunStore(tmp_path)
    con = sqlite3.connect(tmp_path / "runs.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    names = [r[1] for r in con.execute("PRAGMA table_info(datasets)")]
    assert "source" in names and "note" not in names  # step 2 kept, step 3 rolled back
    con.close()


def test_a_database_newer_than_the_code_is_refused(tmp_path):
    first_release_database(tmp_path)
    con = sqlite3.connect(tmp_path / "runs.db")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(SchemaVersionError, match="upgrade deepad"):
        RunStore(tmp_path)


# ------------------------------------------------------------------ PostgreSQL
def pg_version(store: RunStore) -> int:
    with store._read() as con:
        return con.exec_driver_sql("SELECT version FROM deepad_schema").scalar_one()


def pg_columns(store: RunStore, table: str) -> set[str]:
    with store._read() as con:
        rows = con.exec_driver_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %(t)s",
            {"t": table},
        ).all()
    return {r[0] for r in rows}


def test_postgresql_gets_the_same_tables_and_version(tmp_path, postgres_url):
    store = RunStore(tmp_path, url=postgres_url)
    assert pg_version(store) == SCHEMA_VERSION
    assert pg_columns(store, "runs") == {f.name for f in dataclasses.fields(RunRecord)}
    sqlite_store = RunStore(tmp_path / "sqlite")
    for table in ("history", "scores", "datasets"):
        assert pg_columns(store, table) == set(columns(sqlite_store, table))
    # floats keep double precision (PostgreSQL's REAL would round them to single)
    run_id = store.create_run("kde", {}, "t")
    store.write_scores(run_id, names=["a"], scores=np.array([0.1]))
    assert store.scores(run_id).score[0] == 0.1


def test_postgresql_steps_run_once_and_a_failing_step_rolls_back(
    tmp_path, postgres_url, monkeypatch
):
    RunStore(tmp_path, url=postgres_url).create_run("kde", {}, "t")
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, add_dataset_source))
    store = RunStore(tmp_path, url=postgres_url)
    assert pg_version(store) == SCHEMA_VERSION + 1 and "source" in pg_columns(store, "datasets")
    assert pg_version(RunStore(tmp_path, url=postgres_url)) == SCHEMA_VERSION + 1

    def half_done(con) -> None:
        con.exec_driver_sql("ALTER TABLE datasets ADD COLUMN note TEXT")
        con.exec_driver_sql("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, half_done))
    step = SCHEMA_VERSION + 1
    with pytest.raises(SchemaVersionError, match=f"from schema version {step} to {step + 1}"):
        RunStore(tmp_path, url=postgres_url)
    assert pg_version(store) == SCHEMA_VERSION + 1 and "note" not in pg_columns(store, "datasets")
    assert store.get(1).method == "kde"


def test_postgresql_newer_than_the_code_is_refused(tmp_path, postgres_url):
    store = RunStore(tmp_path, url=postgres_url)
    with store._write() as con:
        con.exec_driver_sql(f"UPDATE deepad_schema SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="upgrade deepad"):
        RunStore(tmp_path, url=postgres_url)


def test_postgresql_machines_opening_an_empty_database_at_once_migrate_it_once(
    tmp_path, postgres_url
):
    errors: list[BaseException] = []

    def open_store(k: int) -> None:
        try:
            RunStore(tmp_path / str(k), url=postgres_url).close()
        except BaseException as error:  # pragma: no cover - what the test looks for
            errors.append(error)

    threads = [threading.Thread(target=open_store, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = RunStore(tmp_path, url=postgres_url)
    with store._read() as con:
        assert con.exec_driver_sql("SELECT count(*) FROM deepad_schema").scalar() == 1
    assert pg_version(store) == SCHEMA_VERSION
