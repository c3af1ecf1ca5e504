"""A run index that is missing, emptied, damaged or holds a damaged row: one clear message,
no old run overwritten, and ``deepad runs rebuild-index`` brings the runs back."""

import json
import sqlite3

import numpy as np
import pytest

from deepad.cli import main
from deepad.runs.store import IndexMissingError, RunStore, StoreError


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("deepad: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def home_with_runs(tmp_path, count=2):
    home = tmp_path / "home"
    store = RunStore(home)
    for i in range(count):
        run_id = store.create_run("kde", {"seed": i}, f"{i:016d}")
        model = store.folder(run_id).model
        model.mkdir()
        (model / "detector.json").write_text(json.dumps({"method": "kde", "config": {}}))
        (model / "detector.safetensors").write_bytes(b"old model of run %d" % run_id)
    store.close()
    return home


@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_lost_index_is_an_error_and_no_run_folder_is_reused(tmp_path, capsys, damage):
    home = home_with_runs(tmp_path)
    db = home / "runs.db"
    if damage == "emptied":
        db.write_bytes(b"")
    else:
        db.unlink()
        for side in ("runs.db-wal", "runs.db-shm"):
            (home / side).unlink(missing_ok=True)
    with pytest.raises(IndexMissingError, match="rebuild-index"):
        RunStore(home)
    assert main(["--home", str(home), "runs", "list"]) == 2
    assert "2 run folder(s)" in one_line_error(capsys)
    before = (home / "runs" / "1" / "model" / "detector.safetensors").read_bytes()

    assert main(["--home", str(home), "runs", "rebuild-index"]) == 0
    assert "2 run(s) recovered" in capsys.readouterr().out
    store = RunStore(home)
    first = store.get(1)
    assert (first.method, first.status, first.config) == ("kde", "done", {"seed": 0})
    assert first.train_dataset == "0" * 16
    # the next run gets a new id and folder; the old model is untouched
    assert store.create_run("ae", {}, "f" * 16) == 3
    assert (home / "runs" / "1" / "model" / "detector.safetensors").read_bytes() == before


def test_new_run_id_is_above_every_run_folder(tmp_path):
    home = home_with_runs(tmp_path, count=1)
    stray = home / "runs" / "7"
    stray.mkdir()
    (stray / "run.log").write_text("a run the index does not know")
    store = RunStore(home)
    assert store.create_run("kde", {}, "0" * 16) == 8
    assert (stray / "run.log").read_text() == "a run the index does not know"


def test_existing_folder_is_refused_not_written_into(tmp_path, monkeypatch):
    home = home_with_runs(tmp_path, count=1)
    store = RunStore(home)
    # a folder that appears between the id and the mkdir (e.g. another machine's copy)
    monkeypatch.setattr(store, "run_folders", lambda **kw: [])
    (home / "runs" / "2").mkdir()
    with pytest.raises(StoreError, match="exists already"):
        store.create_run("kde", {}, "0" * 16)
    assert [r.id for r in store.list_runs()] == [1]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_index_is_one_message_and_rebuilds(tmp_path, capsys, damage):
    home = home_with_runs(tmp_path)
    db = home / "runs.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("VACUUM")
    con.close()
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        db.write_bytes(data[:100] + b"\0" * 60 + data[160 : len(data) // 2])
    for args in (["runs", "list"], ["runs", "show", "1"]):
        assert main(["--home", str(home), *args]) == 2
        err = one_line_error(capsys)
        assert "damaged" in err or "holds no runs" in err, err
    assert main(["--home", str(home), "runs", "rebuild-index"]) == 0
    out = capsys.readouterr().out
    assert "recovered" in out
    assert [r.id for r in RunStore(home).list_runs()] == [2, 1]


def test_row_with_bad_json_is_skipped_and_named(tmp_path, capsys):
    home = home_with_runs(tmp_path)
    con = sqlite3.connect(home / "runs.db")
    con.execute("UPDATE runs SET config = '{not json' WHERE id = 1")
    con.commit()
    con.close()
    damaged = []
    assert [r.id for r in RunStore(home).list_runs(damaged=damaged)] == [2]
    assert damaged == [(1, "its stored config is not valid JSON")]
    assert main(["--home", str(home), "runs", "list"]) == 0
    captured = capsys.readouterr()
    assert "run 1 skipped: its stored config is not valid JSON" in captured.err
    assert "kde" in captured.out
    with pytest.raises(StoreError, match="record of run 1 is damaged"):
        RunStore(home).get(1)


class _DiskFull:
    """sqlite3.connect on a full disk: a read-write open cannot map WAL's shared memory
    ("disk I/O error"), a read-only one works, and every write fails."""

    def __init__(self):
        self.real = sqlite3.connect

    def __call__(self, target, *args, uri=False, **kwargs):
        if not uri:
            raise sqlite3.OperationalError("disk I/O error")
        return self.real(target, *args, uri=uri, **kwargs)


def test_reads_work_on_a_full_disk(tmp_path):
    home = home_with_runs(tmp_path)
    store = RunStore(home, connect=_DiskFull())
    assert [r.id for r in store.list_runs()] == [2, 1]
    assert store.get(1).method == "kde"


def test_write_on_a_full_disk_says_the_disk_is_full(tmp_path, monkeypatch):
    home = home_with_runs(tmp_path)
    monkeypatch.setattr("deepad.runs.database._disk_full", lambda folder, margin=0: True)
    store = RunStore(home, connect=_DiskFull())
    with pytest.raises(StoreError, match="the disk is full"):
        store.create_run("kde", {}, "0" * 16)


def test_non_finite_score_is_refused_with_a_message(tmp_path):
    store = RunStore(tmp_path / "home")
    run_id = store.create_run("ae", {}, "0" * 16)
    with pytest.raises(ValueError, match="non-finite score .*e.g. b"):
        store.write_scores(run_id, names=["a", "b"], scores=np.array([0.5, np.nan]))
