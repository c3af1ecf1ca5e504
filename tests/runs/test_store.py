import threading
import time

import numpy as np
import pytest

from deepad.runs.store import (
    CANCELLED,
    DONE,
    QUEUED,
    RUNNING,
    RunNotFound,
    RunStateError,
    RunStore,
)


@pytest.fixture
def store(tmp_path, store_url):
    """A store on each backend (see tests/runs/conftest.py)."""
    store = RunStore(tmp_path)
    yield store
    store.close()


def test_create_get_and_list_newest_first(store, tmp_path):
    first = store.create_run("ae", {"epochs": 3, "lr": 1e-3}, "train-id", "test-id")
    second = store.create_run("fcdd", {}, "other")
    record = store.get(first)
    assert record.method == "ae" and record.config == {"epochs": 3, "lr": 1e-3}
    assert (record.train_dataset, record.test_dataset, record.labeled_dataset) == (
        "train-id",
        "test-id",
        None,
    )
    assert record.status == QUEUED and record.progress == 0.0 and record.metrics == {}
    assert [r.id for r in store.list_runs()] == [second, first]
    assert [r.id for r in store.list_runs(status=QUEUED)] == [second, first]
    assert store.list_runs(status=DONE) == []
    assert store.artifacts_dir(first) == tmp_path / "runs" / str(first)
    assert store.artifacts_dir(first).is_dir()
    if store.url is None:
        assert (tmp_path / "runs.db").exists()
        with store._read() as con:
            assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    else:
        assert not (tmp_path / "runs.db").exists() and store.location.startswith("postgresql")


def test_reopening_the_store_keeps_runs(tmp_path, store_url):
    run_id = RunStore(tmp_path).create_run("ae", {}, "t")
    assert RunStore(tmp_path).get(run_id).method == "ae"


def test_update_and_guarded_transition(store):
    run_id = store.create_run("ae", {}, "t")
    store.update(run_id, status=RUNNING, progress=0.5, metrics={"auroc": float("nan")})
    record = store.get(run_id)
    assert record.status == RUNNING and record.progress == 0.5
    assert record.metrics == {"auroc": None}  # strict JSON, no NaN
    assert not store.transition(run_id, (QUEUED,), status=DONE)
    assert store.get(run_id).status == RUNNING
    assert store.transition(run_id, (RUNNING,), status=DONE)
    assert store.get(run_id).status == DONE
    with pytest.raises(ValueError, match="cannot update"):
        store.update(run_id, method="x")
    with pytest.raises(RunNotFound):
        store.get(999)


def test_threshold_must_be_finite(store):
    run_id = store.create_run("ae", {}, "t")
    store.set_threshold(run_id, 0.25)
    assert store.get(run_id).threshold == 0.25
    with pytest.raises(ValueError):
        store.set_threshold(run_id, float("nan"))


def test_history_rows_are_replaced_on_retraining_and_truncated(store):
    run_id = store.create_run("ae", {}, "t")
    rows = [{"epoch": e, "loss": 1.0 / e, "lr": 0.1, "items_per_second": 100.0} for e in (1, 2, 3)]
    store.add_history(run_id, rows)
    store.truncate_history(run_id, 2)
    store.add_history(run_id, [{"epoch": 3, "loss": 0.2, "lr": 0.1, "items_per_second": 90.0}])
    history = store.history(run_id)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[2]["loss"] == 0.2 and history[0]["loss"] == 1.0
    assert set(history[0]) == {"epoch", "loss", "lr", "items_per_second", "seconds"}


def test_scores_round_trip_with_components(store):
    run_id = store.create_run("dsebm", {}, "t")
    assert len(store.scores(run_id)) == 0
    scores = np.array([0.5, 2.0, -1.0])
    store.write_scores(
        run_id,
        names=["a.png", "b.png", "c.png"],
        scores=scores,
        labels=np.array([0, 1, -1]),
        classes=["good", "crack", None],
        components={"energy": scores * 2, "reconstruction": scores + 1},
    )
    table = store.scores(run_id)
    np.testing.assert_array_equal(table.index, [0, 1, 2])
    np.testing.assert_array_equal(table.score, scores)
    np.testing.assert_array_equal(table.label, [0, 1, -1])
    assert list(table["class"]) == ["good", "crack", ""] and list(table.name)[1] == "b.png"
    np.testing.assert_array_equal(table.components["energy"], scores * 2)
    np.testing.assert_array_equal(table["reconstruction"], scores + 1)
    assert table.has_labels


def test_ten_thousand_scores_round_trip(store):
    """Their speed is a benchmark figure (``deepad bench pages``: Inspect of a 10,000-item run),
    not a wall-clock limit here: a loaded CI machine would fail it with nothing wrong."""
    run_id = store.create_run("ae", {}, "t")
    n = 10_000
    rng = np.random.default_rng(0)
    scores = rng.normal(size=n)
    store.write_scores(
        run_id,
        names=[f"item_{i}" for i in range(n)],
        scores=scores,
        labels=rng.integers(0, 2, n),
        components={"a": scores, "b": -scores},
    )
    table = store.scores(run_id)
    np.testing.assert_array_equal(table.components["b"], -scores)
    np.testing.assert_array_equal(table.score, scores)
    assert len(table) == n and list(table.name[:2]) == ["item_0", "item_1"]


def test_delete_refuses_a_running_run_until_cancelled(store):
    run_id = store.create_run("ae", {}, "t")
    store.update(run_id, status=RUNNING)
    (store.artifacts_dir(run_id) / "model").mkdir()
    with pytest.raises(RunStateError, match="cancel"):
        store.delete(run_id)
    store.request_cancel(run_id)
    assert store.cancel_requested(run_id)
    store.delete(run_id)
    assert not store.artifacts_dir(run_id).exists()
    with pytest.raises(RunNotFound):
        store.get(run_id)
    assert store.cancel_requested(run_id)  # a worker of a deleted run stops


def test_concurrent_writers_from_threads_do_not_fail(store):
    run_id = store.create_run("ae", {}, "t")
    errors = []

    def writer(k):
        try:
            for e in range(40):
                store.update(run_id, progress=e / 40, heartbeat=time.time())
                store.add_history(run_id, [{"epoch": k * 100 + e, "loss": 1.0}])
        except Exception as error:  # pragma: no cover - what the test looks for
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.history(run_id)) == 160


def test_status_helpers(store):
    run_id = store.create_run("ae", {}, "t")
    assert store.get(run_id).active and not store.get(run_id).resumable
    store.update(run_id, status=CANCELLED, started=time.time() - 5, finished=time.time())
    record = store.get(run_id)
    assert record.resumable and not record.active and 4 < record.elapsed < 6


_WRITER = """
import sys, time
from deepad.runs.store import RunStore
store, run_id, k = RunStore(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for e in range(60):
    store.update(run_id, progress=e / 60, heartbeat=time.time())
    store.add_history(run_id, [{"epoch": k * 1000 + e, "loss": 1.0}])
"""


def test_concurrent_writers_from_processes_do_not_fail(store):
    import subprocess
    import sys

    run_id = store.create_run("ae", {}, "t")
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(store.home), str(run_id), str(k)])
        for k in range(3)
    ]
    reads = 0
    while any(w.poll() is None for w in writers):
        store.get(run_id)
        store.history(run_id)
        reads += 1
    assert [w.returncode for w in writers] == [0, 0, 0]
    assert len(store.history(run_id)) == 180 and reads > 0


def test_two_machines_on_one_postgresql_store_see_each_others_runs(tmp_path, postgres_url):
    """The dashboard and a GPU machine: two stores, each with its own engine (pool), on one
    database; each sees what the other writes, and a claim is won by exactly one."""
    dashboard = RunStore(tmp_path / "shared", url=postgres_url)
    gpu_machine = RunStore(tmp_path / "shared", url=postgres_url)
    assert dashboard._engine() is not gpu_machine._engine()
    run_id = dashboard.create_run("ae", {"epochs": 4}, "train-id")
    assert [r.id for r in gpu_machine.list_runs(status=QUEUED)] == [run_id]

    # both try to take the queued run at once: one UPDATE ... WHERE status IN wins
    wins = []
    barrier = threading.Barrier(2)

    def claim(store, pid):
        barrier.wait()
        wins.append((store.transition(run_id, (QUEUED,), status=RUNNING, pid=pid), pid))

    threads = [
        threading.Thread(target=claim, args=(s, pid))
        for s, pid in ((dashboard, 2**31 + 1), (gpu_machine, 2))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won for won, _ in wins) == [False, True]
    winner = next(pid for won, pid in wins if won)
    assert (dashboard.get(run_id).status, gpu_machine.get(run_id).pid) == (RUNNING, winner)

    gpu_machine.update(run_id, epoch=2, progress=0.5, loss=0.25, heartbeat=time.time())
    gpu_machine.add_history(run_id, [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    seen = dashboard.get(run_id)
    assert (seen.epoch, seen.progress, seen.loss) == (2, 0.5, 0.25)
    assert [h["loss"] for h in dashboard.history(run_id)] == [0.5, 0.25]

    dashboard.request_cancel(run_id)
    assert gpu_machine.cancel_requested(run_id)
    gpu_machine.write_scores(run_id, names=["a", "b"], scores=np.array([0.1, 3.0]))
    assert gpu_machine.transition(run_id, (RUNNING,), status=CANCELLED)
    np.testing.assert_array_equal(dashboard.scores(run_id).score, [0.1, 3.0])
    assert dashboard.get(run_id).status == CANCELLED
    dashboard.close()
    gpu_machine.close()


def test_scores_go_in_chunks_and_come_back_whole(store, monkeypatch):
    from deepad.runs import store as store_module

    monkeypatch.setattr(store_module, "SCORE_CHUNK", 3)
    batches = []
    insert_rows = store._backend.insert_rows

    def counted(con, table, columns, rows):
        batches.append(len(rows))
        insert_rows(con, table, columns, rows)

    monkeypatch.setattr(store._backend, "insert_rows", counted)
    run_id = store.create_run("ae", {}, "t")
    scores = np.arange(7, dtype=np.float64) / 3
    store.write_scores(
        run_id,
        names=[f"n{i}" for i in range(7)],
        scores=scores,
        classes=["x", None, "y", "", "z", "w", "v"],
        components={"e": scores * 2},
    )
    assert batches == [3, 3, 1]
    table = store.scores(run_id)
    np.testing.assert_array_equal(table.index, np.arange(7))
    np.testing.assert_array_equal(table.score, scores)
    np.testing.assert_array_equal(table.components["e"], scores * 2)
    assert list(table.name) == [f"n{i}" for i in range(7)]
    assert list(table["class"]) == ["x", "", "y", "", "z", "w", "v"]
    with pytest.raises(ValueError, match="2 labels for 7 scores"):
        store.write_scores(run_id, names=list("abcdefg"), scores=scores, labels=[0, 1])
    assert len(store.scores(run_id)) == 7  # a refused write leaves the old scores
