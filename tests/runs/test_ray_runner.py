"""The Ray job runner against a local Ray (two CPUs): a run trains to the end with its progress
in the store, and a cancel through the store stops one."""

import time

import pytest

from deepad.runs import jobs, ray_runner
from deepad.runs.store import CANCELLED, DONE, RunStore
from tests.runs.fakes import blob_images

ray = pytest.importorskip("ray")
registry_module = pytest.importorskip("deepad.data.registry")

TINY = {"batch_size": 16, "lr": 0.01, "device": "cpu", "checkpoint_every": 1}


def _wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_runs_on_ray_record_progress_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_PLUGINS", "tests.runs.fakes")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("DEEPAD_RUNNER", "ray")
    monkeypatch.delenv("DEEPAD_RAY_ADDRESS", raising=False)
    monkeypatch.setenv("DEEPAD_RAY_GPUS", "0")
    store = RunStore(tmp_path)
    dataset = registry_module.DatasetRegistry(tmp_path).add(blob_images(48), name="blobs").id
    ray_runner.connect(num_cpus=2, include_dashboard=False)
    try:
        done = store.create_run("tiny", {**TINY, "epochs": 3}, dataset)
        assert jobs.start_run(store, done) == 0
        slow = store.create_run("tiny", {**TINY, "epochs": 400, "epoch_sleep": 0.05}, dataset)
        jobs.start_run(store, slow)
        assert ray_runner.wait(store, done, timeout=300) == DONE, store.get(done)
        record = store.get(done)
        assert record.status == DONE and record.epoch == 3 and len(store.history(done)) == 3
        assert ray_runner.on_ray(store, done)

        _wait_for(lambda: store.get(slow).epoch >= 2)
        assert jobs.reconcile(store) == []  # a Ray task is judged by its heartbeat
        record = jobs.cancel_run(store, slow, grace=60.0, wait=True)
        assert record.status == CANCELLED and record.epoch >= 2
        assert (store.artifacts_dir(slow) / "last.safetensors").exists()
    finally:
        ray_runner.shutdown()
