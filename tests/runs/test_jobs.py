import os
import signal
import subprocess
import sys
import time

import pytest

from deepad.data.registry import DatasetRegistry
from deepad.runs import jobs
from deepad.runs.store import (
    CANCELLED,
    DONE,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    RunStateError,
    RunStore,
)
from tests.runs.fakes import blob_images


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _wait_for(predicate, timeout=90.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def test_pid_alive():
    assert jobs.pid_alive(os.getpid())
    assert not jobs.pid_alive(_dead_pid())
    assert not jobs.pid_alive(None) and not jobs.pid_alive(0)


def test_reconcile_marks_only_runs_whose_process_is_gone(store, worker_pid):
    gone = store.create_run("ae", {}, "t")
    store.update(gone, status=RUNNING, pid=_dead_pid(), heartbeat=time.time())
    stale = store.create_run("ae", {}, "t")
    store.update(stale, status=RUNNING, pid=worker_pid, heartbeat=time.time() - 1000)
    alive = store.create_run("ae", {}, "t")
    store.update(alive, status=RUNNING, pid=worker_pid, heartbeat=time.time())
    never_started = store.create_run("ae", {}, "t")
    crashed_on_start = store.create_run("ae", {}, "t")
    store.update(crashed_on_start, pid=_dead_pid(), heartbeat=time.time())
    assert sorted(jobs.reconcile(store)) == [gone, stale, crashed_on_start]
    assert store.get(gone).status == INTERRUPTED and store.get(gone).resumable
    assert "stopped unexpectedly" in store.get(gone).error
    assert "before the run started" in store.get(crashed_on_start).error
    assert store.get(stale).status == INTERRUPTED
    assert store.get(alive).status == RUNNING
    assert store.get(never_started).status == QUEUED
    assert jobs.reconcile(store) == []
    # the stale one stamps its heartbeat again: it was only slow, so it is running again
    store.update(stale, heartbeat=time.time() + 1)
    jobs.reconcile(store)
    assert store.get(stale).status == RUNNING and store.get(stale).error is None
    assert store.get(gone).status == INTERRUPTED


def test_cancel_of_a_run_without_process_and_refusals(store):
    run_id = store.create_run("ae", {}, "t")
    assert jobs.cancel_run(store, run_id).status == CANCELLED
    with pytest.raises(RunStateError, match="nothing to cancel"):
        jobs.cancel_run(store, run_id)
    with pytest.raises(RunStateError, match="cannot be started"):
        jobs.start_run(store, run_id)
    store.update(run_id, status=DONE)
    with pytest.raises(RunStateError, match="cannot be resumed"):
        jobs.start_run(store, run_id, resume=True)


@pytest.fixture
def worker_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPAD_PLUGINS", "tests.runs.fakes")
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny nets: one thread is fastest
    registry = DatasetRegistry(tmp_path)
    return registry.add(blob_images(48), name="blobs").id


SLOW = {"batch_size": 16, "lr": 0.01, "device": "cpu", "checkpoint_every": 1}


@pytest.mark.slow
def test_kill_9_leaves_the_run_interrupted_and_resume_continues(store, worker_env):
    run_id = store.create_run("tiny", {**SLOW, "epochs": 12, "epoch_sleep": 0.25}, worker_env)
    pid = jobs.start_run(store, run_id)
    assert store.get(run_id).pid == pid
    _wait_for(lambda: store.get(run_id).epoch >= 3)
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not jobs.pid_alive(pid))
    assert store.get(run_id).status == RUNNING  # nobody knows yet
    assert jobs.reconcile(store) == [run_id]
    killed_at = store.get(run_id).epoch
    assert store.get(run_id).status == INTERRUPTED

    # the command line resumes it in the foreground, from the last checkpoint
    from deepad.cli import main

    assert main(["--home", str(store.home), "train", "--resume", str(run_id)]) == 0
    record = store.get(run_id)
    assert record.status == DONE, record.error
    assert [h["epoch"] for h in store.history(run_id)] == list(range(1, 13))
    log_text = store.folder(run_id).log.read_text()
    resumed_after = int(log_text.split("resuming run")[1].split("after epoch")[1].split()[0])
    assert 1 <= resumed_after <= killed_at
    assert len(store.scores(run_id)) == 48


@pytest.mark.slow
def test_cancel_stops_a_background_run_cooperatively(store, worker_env):
    run_id = store.create_run("tiny", {**SLOW, "epochs": 400, "epoch_sleep": 0.05}, worker_env)
    pid = jobs.start_run(store, run_id)
    _wait_for(lambda: store.get(run_id).epoch >= 2)
    record = jobs.cancel_run(store, run_id, grace=60.0, wait=True)
    assert record.status == CANCELLED and record.epoch >= 2
    _wait_for(lambda: not jobs.pid_alive(pid), timeout=10)
    assert "SIGTERM" not in store.folder(run_id).log.read_text()
    assert (store.artifacts_dir(run_id) / "last.safetensors").exists()


def test_cancel_falls_back_to_sigterm_for_the_process_group(store):
    # stands in for a worker stuck where it does not poll the cancel flag
    stuck = subprocess.Popen(["sleep", "60"], start_new_session=True)
    run_id = store.create_run("ae", {}, "t")
    store.update(run_id, status=RUNNING, pid=stuck.pid, heartbeat=time.time())
    record = jobs.cancel_run(store, run_id, grace=0.3, wait=True)
    assert stuck.wait(timeout=10) == -signal.SIGTERM
    assert record.status == CANCELLED


def test_sigterm_in_a_worker_marks_the_run_cancelled(store, monkeypatch):
    from deepad.runs import worker
    from deepad.runs.workflow import execute
    from tests.runs.fakes import MemoryRegistry

    registry = MemoryRegistry()
    registry.add(blob_images(16), "train")
    run_id = store.create_run("tiny", {**SLOW, "epochs": 5}, "train")

    def terminate_in_epoch_2(report):
        if report.epoch_end and report.epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, worker._on_sigterm)
    try:
        record = execute(store, run_id, registry=registry, progress=terminate_in_epoch_2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert record.status == CANCELLED
    assert "stopped by SIGTERM" in store.folder(run_id).log.read_text()


def test_worker_exit_codes(store, capsys):
    from deepad.runs import worker

    assert worker.main(["--home", str(store.home), "99"]) == 2
    assert "no run 99" in capsys.readouterr().err
    run_id = store.create_run("ae", {}, "t")
    store.update(run_id, status=DONE)
    assert worker.main(["--home", str(store.home), str(run_id)]) == 2
    assert "cannot start" in capsys.readouterr().err


def test_a_run_on_another_machine_is_judged_by_its_heartbeat(tmp_path, store_url, monkeypatch):
    """Machines sharing one store: a PID recorded by another machine means nothing here, so
    reconcile waits for its heartbeat to go stale and cancel only raises the flag."""
    from deepad.runs.store import RUNNING, RunStore

    monkeypatch.setenv("DEEPAD_HOST", "dashboard")
    store = RunStore(tmp_path)
    gone_here = 2**22 + 4321  # above the default pid_max: no process here has it
    run_id = store.create_run("ae", {}, "t")
    store.update(run_id, status=RUNNING, pid=gone_here, host="gpu-1", heartbeat=time.time())
    assert jobs.elsewhere(store.get(run_id))
    assert jobs.reconcile(store) == []
    with pytest.raises(jobs.RunStateError, match="already running on gpu-1"):
        jobs.start_run(store, run_id, resume=True)
    record = jobs.cancel_run(store, run_id)
    assert record.status == RUNNING and record.cancel_requested is not None
    store.update(run_id, heartbeat=time.time() - jobs.STALE_SECONDS - 5)
    assert jobs.reconcile(store) == [run_id]
    # the same PID recorded by this machine is judged at once
    mine = store.create_run("ae", {}, "t")
    store.update(mine, status=RUNNING, pid=gone_here, host="dashboard", heartbeat=time.time())
    assert not jobs.elsewhere(store.get(mine)) and jobs.reconcile(store) == [mine]
    # and the other machine's running runs do not take this machine's slots
    other = store.create_run("ae", {}, "t")
    store.update(other, status=RUNNING, pid=gone_here, host="gpu-1", heartbeat=time.time())
    assert jobs.free_slots(store, limit=1) == 1
