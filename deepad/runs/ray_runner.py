"""Runs as tasks on a Ray cluster instead of local worker processes.

Chosen with ``DEEPAD_RUNNER=ray``; ``DEEPAD_RAY_ADDRESS`` names the cluster (e.g.
``ray://head:10001`` or ``auto``; unset starts a local Ray). Each task runs the same
:func:`deepad.runs.workflow.execute` as the local worker, against the same deepad home, which
must therefore be on a path every Ray node shares: progress, heartbeats, checkpoints and the
model land in the run store exactly as with the local runner. Every other job of the queue
(scoring new data, explaining, precomputing explanations, exporting) is a Ray task too: the
task runs the job's own entry point, ``python -m deepad.tasks`` (which knows their
functions; this package sits below them), as a child process on the node Ray chose, with
the GPUs Ray gave the task.

Each task asks for ``DEEPAD_RAY_GPUS`` GPUs (default: one when the cluster has any, else
none) and ``DEEPAD_RAY_CPUS`` CPUs (default 1). A run started on Ray records that in
``runner.json`` beside its artifacts, so :func:`deepad.runs.jobs.reconcile` judges it by its
heartbeat (its process lives on another machine) and cancel asks through the store's cancel
flag first and then with ``ray.cancel``. A job of a finished run has no folder of its own:
its row's ``params["runner"]`` says it went to Ray.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import deepad
from deepad.runs.store import STORE_URL_ENV, TRAIN, RunRecord, RunStore

log = logging.getLogger(__name__)

RUNNER_ENV = "DEEPAD_RUNNER"
ADDRESS_ENV = "DEEPAD_RAY_ADDRESS"
GPUS_ENV = "DEEPAD_RAY_GPUS"
CPUS_ENV = "DEEPAD_RAY_CPUS"
# passed on to the tasks, so they load the same plugins and use as many threads
FORWARDED_ENV = ("DEEPAD_PLUGINS", "DEEPAD_DATA", "OMP_NUM_THREADS", "HF_HOME")

_tasks: dict[tuple[str, int], Any] = {}  # (home, run id) → ObjectRef, in this process
_lock = threading.Lock()


def selected() -> bool:
    """Whether runs go to Ray (``DEEPAD_RUNNER=ray``) rather than local processes."""
    return os.environ.get(RUNNER_ENV, "process").strip().lower() == "ray"


RAY = "ray"  # params["runner"] of a job of a finished run started as a Ray task
JOB_ENTRY = "deepad.tasks"  # the entry point of the jobs of finished runs (see deepad.runs.jobs)


def _marker(store: RunStore, run_id: int) -> Path:
    return store.folder(run_id).ray_marker


def on_ray(store: RunStore, run_id: int, record: RunRecord | None = None) -> bool:
    """Whether ``run_id`` (whose row is ``record``, when at hand) was last started as a Ray
    task."""
    if record is None:
        try:
            record = store.get(run_id)
        except KeyError:
            return False
    if record.kind != TRAIN:
        return record.params.get("runner") == RAY
    return _marker(store, run_id).is_file()


def connect(**init_options: Any) -> Any:
    """The ``ray`` module, connected to ``DEEPAD_RAY_ADDRESS`` (or a local Ray started with
    ``init_options``, e.g. ``num_cpus``) once per process."""
    import ray

    if not ray.is_initialized():
        root = str(Path(deepad.__file__).resolve().parent.parent)
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        path = [root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
        ray.init(
            address=os.environ.get(ADDRESS_ENV) or None,
            runtime_env={"env_vars": env},
            ignore_reinit_error=True,
            log_to_driver=False,
            **init_options,
        )
    return ray


def _resources(ray: Any, needs_gpu: bool | None = None) -> dict[str, float]:
    """What a task asks for; a job of a finished run that needs no GPU (``needs_gpu``
    False) asks for none."""
    gpus = os.environ.get(GPUS_ENV)
    if gpus is None:
        gpus = "1" if ray.cluster_resources().get("GPU", 0) > 0 else "0"
    if needs_gpu is False:
        gpus = "0"
    return {"num_gpus": float(gpus), "num_cpus": float(os.environ.get(CPUS_ENV, "1"))}


def _run_task(
    home: str,
    run_id: int,
    resume: bool,
    store_url: str | None = None,
    artifacts: str | None = None,
) -> str:
    """The Ray task: one run end to end, recorded in the store at ``home`` (or ``store_url``,
    the shared database, with the artifacts under ``home`` or the shared ``artifacts``)."""
    from deepad.runs.workflow import execute

    store = RunStore(Path(home), url=store_url, artifacts=artifacts)
    try:
        return execute(store, run_id, resume=resume).status
    finally:
        store.close()


def _job_task(
    home: str,
    job_id: int,
    store_url: str | None = None,
    artifacts: str | None = None,
) -> str:
    """The Ray task of a job of a finished run: ``python -m deepad.tasks`` on this node (the
    store's URL and the artifact root travel in its environment, as for a local worker);
    returns the job's final status. A ``ray.cancel`` interrupting the task kills the child
    (``subprocess.run`` does on any exception)."""
    import subprocess
    import sys

    from deepad.runs.layout import ARTIFACTS_ENV

    env = dict(os.environ)
    if store_url:
        env[STORE_URL_ENV] = store_url
    if artifacts:
        env[ARTIFACTS_ENV] = artifacts
    env.setdefault("PYTHONUNBUFFERED", "1")
    done = subprocess.run(
        [sys.executable, "-m", JOB_ENTRY, "--home", home, str(job_id)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):  # 1: the job failed or was cancelled, in its row
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"job {job_id}: {tail[0]}")
    store = RunStore(Path(home), url=store_url, artifacts=artifacts)
    try:
        return store.get(job_id).status
    finally:
        store.close()


def submit(store: RunStore, run_id: int, *, resume: bool = False) -> str:
    """Start ``run_id`` as a Ray task (the run must already be claimed as queued); returns
    the task id."""
    ray = connect()
    record = store.get(run_id)
    resources = _resources(ray, needs_gpu=record.needs_gpu if record.kind != TRAIN else None)
    shared = str(store.artifacts.root) if store.artifacts.shared else None
    if record.kind == TRAIN:
        task = ray.remote(**resources)(_run_task).remote(
            str(store.home), run_id, resume, store.url, shared
        )
    else:  # a job of a finished run starts over; its row says it went to Ray
        task = ray.remote(**resources)(_job_task).remote(str(store.home), run_id, store.url, shared)
    task_id = task.hex()
    about = {"runner": RAY, "task": task_id, **resources}
    if record.kind == TRAIN:
        marker = _marker(store, run_id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(about))
    else:
        store.update(run_id, params={**record.params, "runner": RAY, "task": task_id})
    with _lock:
        _tasks[(str(store.home), run_id)] = task
    log.info("run %d submitted to Ray as task %s (%s)", run_id, task_id, resources)
    return task_id


def wait(store: RunStore, run_id: int, timeout: float | None = None) -> str | None:
    """The status the task returned, once it ended (None if unknown here or still running)."""
    with _lock:
        task = _tasks.get((str(store.home), run_id))
    if task is None:
        return None
    ray = connect()
    done, _ = ray.wait([task], timeout=timeout)
    if not done:
        return None
    try:
        return ray.get(task)
    except Exception as error:  # a cancelled or crashed task
        log.info("Ray task of run %d ended with %s", run_id, type(error).__name__)
        return None


def cancel(store: RunStore, run_id: int, *, grace: float, wait_for_stop: bool) -> None:
    """Ask through the store first (the task saves a checkpoint and ends ``cancelled``); after
    ``grace`` seconds ``ray.cancel`` interrupts a task that did not stop."""
    store.request_cancel(run_id)
    with _lock:
        task = _tasks.get((str(store.home), run_id))

    def force() -> None:
        record = store.get(run_id)
        if task is not None and record.active and record.cancel_requested:
            log.warning("run %d did not stop within the grace period; ray.cancel", run_id)
            connect().cancel(task)

    if not wait_for_stop:
        timer = threading.Timer(grace, force)
        timer.daemon = True
        timer.start()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and store.get(run_id).active:
        time.sleep(0.2)
    if store.get(run_id).active:
        force()


def shutdown() -> None:
    """Disconnect from Ray (and stop a local one this process started)."""
    import ray

    with _lock:
        _tasks.clear()
    if ray.is_initialized():
        ray.shutdown()
