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


@pytest.mark.slow
def test_jobs_of_finished_runs_are_ray_tasks_too(tmp_path, monkeypatch):
    from deepad.runs.store import SCORE
    from deepad.runs.workflow import execute

    monkeypatch.setenv("DEEPAD_PLUGINS", "tests.runs.fakes")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("DEEPAD_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("DEEPAD_RUNNER", raising=False)
    store = RunStore(tmp_path)
    registry = registry_module.DatasetRegistry(tmp_path)
    dataset = registry.add(blob_images(32), name="blobs").id
    run_id = store.create_run("tiny", {**TINY, "epochs": 1}, dataset)
    assert execute(store, run_id, registry=registry).status == DONE
    job = store.create_job(SCORE, run_id, {"dataset": dataset}, needs_gpu=False)
    monkeypatch.setenv("DEEPAD_RUNNER", "ray")
    ray_runner.connect(num_cpus=2, include_dashboard=False)
    try:
        assert jobs.start_run(store, job) == 0  # a Ray task, not a process of this machine
        assert ray_runner.wait(store, job, timeout=300) == DONE, store.get(job)
        record = store.get(job)
        assert record.status == DONE and record.epoch == record.epochs == 32
        assert record.params["runner"] == "ray" and ray_runner.on_ray(store, job)
        assert record.metrics["flagged"] >= 0
        assert store.folder(run_id).score_job(str(job)).scores.is_file()
        assert not store.folder(job).path.exists()  # a job has no run folder of its own
        assert jobs.reconcile(store) == []
    finally:
        ray_runner.shutdown()


def test_a_job_started_locally_after_ray_forgets_it_went_there(tmp_path, monkeypatch):
    from deepad.runs.store import SCORE, TRAIN

    store = RunStore(tmp_path)
    run_id = store.create_run("tiny", {**TINY, "epochs": 1}, "d" * 16)
    store.update(run_id, status=DONE)
    job = store.create_job(SCORE, run_id, {"dataset": "d" * 16})
    submitted = []
    monkeypatch.setenv("DEEPAD_RUNNER", "ray")

    def submit(store, job_id, resume=False):
        submitted.append(job_id)
        store.update(job_id, params={**store.get(job_id).params, "runner": "ray"})

    monkeypatch.setattr(ray_runner, "submit", submit)
    assert jobs.start_run(store, job) == 0 and submitted == [job]
    assert ray_runner.on_ray(store, job) and not ray_runner.on_ray(store, run_id)
    assert store.get(run_id).kind == TRAIN
    # cancelled, then started again without Ray: its row no longer says Ray
    store.update(job, status=CANCELLED, phase="", heartbeat=None)
    monkeypatch.setenv("DEEPAD_RUNNER", "process")
    spawned = []
    monkeypatch.setattr(jobs, "_spawn", lambda command, *_: spawned.append(command) or _Proc())
    jobs.start_run(store, job, resume=True)
    assert spawned[0][1:3] == ["-m", "deepad.tasks"]
    assert not ray_runner.on_ray(store, job) and "runner" not in store.get(job).params


class _Proc:
    pid = 0
