"""A full disk, a read-only home and a home that is a file give one-line errors; reading
commands keep working where they can; the home is owner-only."""

import os
import sqlite3
import stat
import time

import numpy as np
import pytest

from deepad.bench.reliability import Tally, _FullDiskConnection, full_disk, no_space
from deepad.cli import main
from deepad.data.registry import DatasetRegistry, RegistryError
from deepad.data.types import DataKind, Dataset
from deepad.runs.store import RunStore, StoreError

TABLE = Dataset(DataKind.TABLE, np.ones((2, 2), np.float32), ["a", "b"])


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("deepad: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_home_that_is_a_file(tmp_path, capsys):
    home = tmp_path / "home"
    home.write_text("oops")
    assert main(["--home", str(home), "runs", "list"]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)


def test_full_disk_reads_work_and_writes_say_so(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    RunStore(home).create_run("kde", {}, "0" * 16)
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _FullDiskConnection(real(*a, **k)))
    assert main(["--home", str(home), "runs", "list"]) == 0
    capsys.readouterr()
    with pytest.raises(StoreError, match="the disk is full"):
        RunStore(home).create_run("kde", {}, "0" * 16)

    with pytest.raises(RegistryError, match="could not store the dataset"):
        DatasetRegistry(home, save_array=no_space).add(TABLE)
    assert not (home / "datasets").exists() or not any((home / "datasets").iterdir())


def test_the_bench_injects_a_full_disk_through_parameters(tmp_path):
    """deepad bench reliability's full-disk checks pass, and replace nothing global."""
    before = (sqlite3.connect, np.save)
    tally = Tally()
    full_disk(tmp_path, tally)
    assert tally.full_disk_checks == 4 and tally.crashes == []
    assert (sqlite3.connect, np.save) == before


def test_read_only_home_serves_reads(tmp_path, monkeypatch):
    home = tmp_path / "home"
    RunStore(home).create_run("kde", {}, "0" * 16)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode)
    )
    store = RunStore(home)
    assert store.read_only and [r.id for r in store.list_runs()] == [1]
    with pytest.raises(StoreError, match="read-only"):
        store.create_run("kde", {}, "0" * 16)


def test_home_is_owner_only(tmp_path):
    home = tmp_path / "home"
    store = RunStore(home)
    run_id = store.create_run("kde", {}, "0" * 16)
    DatasetRegistry(home).add(TABLE)
    for path in (home, home / "runs", store.artifacts_dir(run_id), home / "datasets"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE((home / "runs.db").stat().st_mode) == 0o600


def test_staging_left_by_a_killed_ingest_is_swept_at_the_next_add(tmp_path):
    registry = DatasetRegistry(tmp_path)
    registry.add(TABLE)
    dead = 2**22 + 12345  # above the default pid_max, so no process has it
    leftover = registry.root / f".{'0' * 16}-{dead}-abcd"
    leftover.mkdir()
    alive = registry.root / f".{'1' * 16}-{os.getpid()}-abcd"
    alive.mkdir()
    registry.add(Dataset(DataKind.TABLE, np.zeros((2, 2), np.float32), ["a", "b"]))
    assert not leftover.exists() and alive.exists()
    os.utime(alive, (time.time(), time.time()))
