"""The run queue: runs beyond the limit wait and start in order when a slot frees."""

from __future__ import annotations

import pytest

from deepad import hardware
from deepad.runs import jobs
from deepad.runs.store import CANCELLED, DONE, QUEUED, RUNNING, RunStore


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path)


@pytest.fixture
def started(monkeypatch, worker_pid) -> list[int]:
    """``start_run`` replaced by a stand-in worker process that is running at once."""
    calls: list[int] = []

    def fake_start(store: RunStore, run_id: int, *, resume: bool = False) -> int:
        calls.append(run_id)
        store.update(run_id, status=RUNNING, pid=worker_pid)
        return worker_pid

    monkeypatch.setattr(jobs, "start_run", fake_start)
    return calls


def new_run(store: RunStore) -> int:
    return store.create_run("ae", {"epochs": 1}, "d" * 16)


def test_runs_beyond_the_limit_wait_and_start_in_order(store, started):
    ids = [new_run(store) for _ in range(3)]
    assert jobs.start_queued(store, limit=1) == [ids[0]]
    assert jobs.queue_positions(store) == {ids[1]: 1, ids[2]: 2}
    assert jobs.start_queued(store, limit=1) == []  # the slot is taken
    store.update(ids[0], status=DONE)  # the worker finished: its slot frees
    assert jobs.start_queued(store, limit=1) == [ids[1]]
    assert store.get(ids[2]).status == QUEUED
    assert started == ids[:2]


def test_a_cancelled_queued_run_leaves_the_queue(store, started):
    ids = [new_run(store) for _ in range(3)]
    jobs.start_queued(store, limit=1)
    jobs.cancel_run(store, ids[1])
    assert store.get(ids[1]).status == CANCELLED
    assert jobs.queue_positions(store) == {ids[2]: 1}
    store.update(ids[0], status=DONE)
    assert jobs.start_queued(store, limit=1) == [ids[2]]


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEEPAD_MAX_RUNS", "3")
    assert jobs.max_runs() == 3
    monkeypatch.setenv("DEEPAD_MAX_RUNS", "")
    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    assert jobs.max_runs() == 1  # no GPU: one run on the CPU
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["NVIDIA H200", "NVIDIA H200"])
    assert jobs.max_runs() == 2  # one per GPU


def test_the_service_queues_a_second_run_and_reconcile_starts_it(tmp_path, started, monkeypatch):
    from deepad.service import Service

    monkeypatch.setenv("DEEPAD_MAX_RUNS", "1")
    svc = Service(tmp_path)
    first, second = new_run(svc.store), new_run(svc.store)
    svc.submit(first)
    svc.submit(second)
    assert svc.run(second).status == QUEUED and svc.queue() == {second: 1}
    svc.store.update(first, status=DONE)
    svc.reconcile()
    assert started == [first, second]


def test_the_device_is_named_without_torch(monkeypatch):
    from deepad import hardware

    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    assert hardware.describe_device().startswith(("CPU, ", "Apple"))
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["NVIDIA H200"])
    assert hardware.describe_device() == "NVIDIA H200" and hardware.device_type() == "cuda"


def test_a_worker_that_ends_starts_the_next_waiting_run(store, started, monkeypatch):
    from deepad.runs import worker

    monkeypatch.setenv("DEEPAD_MAX_RUNS", "1")
    finished, waiting = new_run(store), new_run(store)
    store.update(finished, status=DONE)
    worker._start_next(store)
    assert started == [waiting]


def test_a_run_being_started_elsewhere_is_not_started_twice(store, monkeypatch):
    """Between claiming a queued run and recording its worker's PID, another process (or
    machine) sees the run claimed: it neither starts it again nor counts its slot free."""
    ids = [new_run(store) for _ in range(2)]
    seen: dict[str, object] = {}

    class Process:  # the spawned worker; its PID is only recorded here
        pid = 4242

    def spawn(command, log_path, store_url=None):
        # the moment another process's start_queued would race with this one
        with pytest.raises(jobs.RunStateError, match="changed state while starting"):
            jobs.start_run(store, ids[0])
        seen["waiting"] = [r.id for r in jobs.waiting_runs(store)]
        seen["free"] = jobs.free_slots(store, limit=1)
        return Process()

    monkeypatch.setattr(jobs, "_spawn", spawn)
    assert jobs.start_run(store, ids[0]) == Process.pid
    assert seen == {"waiting": [ids[1]], "free": 0}
    assert store.get(ids[0]).pid == Process.pid


def test_a_slot_of_a_worker_that_died_frees_for_a_waiting_run(store, started, monkeypatch):
    """Six slots, five live workers, one queued run whose worker died while starting (its
    PID recorded, the process gone): the run waiting behind them starts."""
    import subprocess
    import sys

    monkeypatch.setenv("DEEPAD_MAX_RUNS", "6")
    live = [new_run(store) for _ in range(5)]
    assert jobs.start_queued(store) == live
    stuck = new_run(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update(stuck, pid=dead.pid)  # claimed, but its worker exited before running
    waiting = new_run(store)
    assert jobs.free_slots(store) == 1
    assert jobs.start_queued(store) == [waiting]
