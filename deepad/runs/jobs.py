"""The run queue: background jobs of every kind, one OS process per job, cancel, and
recovery after a crash.

Every job is a row of the runs table: a training run, or a job of a finished run (scoring new
data, explaining its items; ``kind`` and ``parent`` say which). Jobs beyond
:func:`max_runs` wait, oldest first, whatever their kind. Each runs in
``python -m deepad.runs.worker --home H JOB_ID [--resume]``, started in a new session so that
stopping the app (or its terminal) does not stop it. The worker heartbeats into the store;
:func:`reconcile` turns jobs whose process is gone into ``interrupted`` ones, which
:func:`start_run` with ``resume=True`` continues (training from its last checkpoint).

With ``DEEPAD_RUNNER=ray`` every job is a task on a Ray cluster instead (see
:mod:`deepad.runs.ray_runner`); with ``DEEPAD_RUNNER=workers`` this machine starts nothing and
``deepad worker`` processes on any machine claim the queued jobs
(:func:`deepad.runs.worker.serve`). Either way progress goes to the same store.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

import deepad
from deepad.runs import ray_runner
from deepad.runs.store import (
    ACTIVE,
    CANCELLED,
    EXPLAIN,
    INTERRUPTED,
    QUEUED,
    RESUMABLE,
    RUNNING,
    SCORE,
    STARTING,
    STORE_URL_ENV,
    TRAIN,
    RunRecord,
    RunStateError,
    RunStore,
    private_dir,
    private_file,
    this_host,
)

log = logging.getLogger(__name__)

WORKERS = "workers"  # DEEPAD_RUNNER=workers: queued jobs wait for `deepad worker` processes
STALE_SECONDS = 120.0  # a heartbeat this old means the worker is gone or hung
CANCEL_GRACE_SECONDS = 10.0  # how long a cooperative cancel may take before SIGTERM


def pid_alive(pid: int | None) -> bool:
    """True if a process with this id exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, but cannot be inspected (another user's, say)
        return True
    return status not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def elsewhere(record: RunRecord) -> bool:
    """Whether the run's process is on another machine sharing the store (its PID means
    nothing here: only its heartbeat tells whether it still runs)."""
    return record.host is not None and record.host != this_host()


def _is_worker_process(pid: int) -> bool:
    """Whether ``pid`` still runs deepad (guards against a recycled PID); True if it exists
    but cannot be inspected."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True
    return any("deepad" in part for part in cmdline)


def _worker_env(
    store_url: str | None = None, artifacts: dict[str, str] | None = None
) -> dict[str, str]:
    """The worker must import this same deepad, even when it is not installed, and record
    into the same store (its URL travels in the environment, not on the command line, where
    every user of the machine could read a password in it) and the same artifact root."""
    env = dict(os.environ)
    if store_url:
        env[STORE_URL_ENV] = store_url
    env.update(artifacts or {})
    root = str(Path(deepad.__file__).resolve().parent.parent)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_run(store: RunStore, run_id: int, *, resume: bool = False) -> int:
    """Start ``run_id`` in its own worker process; returns the worker's PID (0 for a task
    submitted to Ray, whose process runs elsewhere).

    A fresh run must be ``queued``; ``resume=True`` continues an interrupted, cancelled or
    failed run from its last checkpoint.
    """
    record = store.get(run_id)
    _check_not_running(record)
    if record.status == QUEUED and record.params.get("resume"):
        resume = True  # resumed into the queue: continue from its checkpoint now
    allowed = (QUEUED, *RESUMABLE) if resume else (QUEUED,)
    if record.status not in allowed:
        action = "resumed" if resume else "started"
        raise RunStateError(f"run {run_id} is {record.status} and cannot be {action}")
    now = time.time()
    if not store.transition(
        run_id,
        allowed,
        unclaimed_since=now - STALE_SECONDS,  # another process (or machine) is starting it
        status=QUEUED,
        phase=STARTING,
        error=None,
        cancel_requested=None,
        pid=None,
        host=this_host(),
        heartbeat=now,
        finished=None,
    ):
        raise RunStateError(f"run {run_id} changed state while starting; try again")
    if ray_runner.selected():
        ray_runner.submit(store, run_id, resume=resume)
        return 0
    if record.kind == TRAIN:
        store.folder(run_id).ray_marker.unlink(missing_ok=True)
    elif "runner" in record.params:  # last started on Ray; now a local process
        params = {k: v for k, v in record.params.items() if k not in ("runner", "task")}
        store.update(run_id, params=params)
    # training runs in the run worker; the jobs of finished runs call the service, so their
    # process starts from deepad.tasks, which sits above it and knows their functions
    entry = "deepad.runs.worker" if record.kind == TRAIN else "deepad.tasks"
    command = [sys.executable, "-m", entry, "--home", str(store.home), str(run_id)]
    if resume:
        command.append("--resume")
    process = _spawn(command, store, record.parent or run_id)
    # the worker writes its own PID too once it starts; recording it here closes the gap
    store.transition(run_id, (QUEUED, RUNNING), pid=process.pid)
    log.info("run %d started in process %d", run_id, process.pid)
    return process.pid


def _check_not_running(record: RunRecord) -> None:
    if record.status in ACTIVE and record.pid is not None and elsewhere(record):
        raise RunStateError(f"run {record.id} is already {record.status} on {record.host}")
    if record.status in ACTIVE and pid_alive(record.pid):
        raise RunStateError(f"run {record.id} is already {record.status} (process {record.pid})")
    if (
        record.status == INTERRUPTED
        and record.pid != os.getpid()
        and pid_alive(record.pid)
        and _is_worker_process(record.pid)
    ):
        # marked interrupted for a stale heartbeat (e.g. a suspended machine) but still there
        raise RunStateError(f"run {record.id} is still running in process {record.pid}")


def _spawn(command: list[str], store: RunStore, run_id: int) -> subprocess.Popen:
    """A detached worker process writing into the run's log (owner-only), reaped when it exits."""
    log_path = store.folder(run_id).log
    private_dir(log_path.parent)
    with open(private_file(log_path), "ab") as log_file:
        kwargs: dict = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=_worker_env(store.url, store.artifacts.environment()),
            close_fds=True,
            **kwargs,
        )
    # reap the child when it exits so it does not linger as a zombie under the app
    threading.Thread(target=process.wait, name=f"deepad-reap-{process.pid}", daemon=True).start()
    return process


def _terminate(pid: int) -> None:
    """SIGTERM the worker and its process group (DataLoader workers) where it leads one."""
    try:
        if os.name == "posix" and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_if_still_cancelling(store: RunStore, run_id: int, pid: int) -> None:
    try:
        record = store.get(run_id)
    except KeyError:  # deleted while cancelling: its worker must still go
        if pid_alive(pid) and _is_worker_process(pid):
            _terminate(pid)
        return
    if record.active and record.pid == pid and record.cancel_requested and pid_alive(pid):
        log.warning("run %d did not stop within the grace period; sending SIGTERM", run_id)
        _terminate(pid)


def cancel_run(
    store: RunStore,
    run_id: int,
    *,
    grace: float = CANCEL_GRACE_SECONDS,
    wait: bool = False,
) -> RunRecord:
    """Ask a run to stop; it saves a checkpoint at the next batch and ends ``cancelled``.

    If the worker has not stopped after ``grace`` seconds it gets SIGTERM. With ``wait``
    this call blocks until the run stopped (or the grace period plus a few seconds passed);
    otherwise a timer does the SIGTERM fallback and the call returns at once.
    """
    record = store.get(run_id)
    if not record.active:
        raise RunStateError(f"run {run_id} is {record.status}; there is nothing to cancel")
    if ray_runner.on_ray(store, run_id, record) and record.status == RUNNING:
        ray_runner.cancel(store, run_id, grace=grace, wait_for_stop=wait)
        return store.get(run_id)
    if elsewhere(record) and (record.status == RUNNING or record.pid is not None):
        # another machine's worker: it stops at its next check of the flag; no signal
        # reaches it from here, and a worker that died there goes stale (reconcile)
        store.request_cancel(run_id)
        deadline = time.monotonic() + (grace if wait else 0.0)
        while time.monotonic() < deadline and store.get(run_id).active:
            time.sleep(0.2)
        return store.get(run_id)
    if not pid_alive(record.pid) or ray_runner.on_ray(store, run_id, record):
        # never started, or its process is gone: nothing to ask, just record it
        store.transition(
            run_id, ACTIVE, status=CANCELLED, phase="", finished=time.time(), cancel_requested=None
        )
        return store.get(run_id)
    store.request_cancel(run_id)
    pid = int(record.pid)
    if not wait:
        timer = threading.Timer(grace, _terminate_if_still_cancelling, (store, run_id, pid))
        timer.daemon = True
        timer.start()
        return store.get(run_id)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not store.get(run_id).active or not pid_alive(pid):
            break
        time.sleep(0.2)
    else:
        _terminate_if_still_cancelling(store, run_id, pid)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and pid_alive(pid) and store.get(run_id).active:
            time.sleep(0.2)
    if store.get(run_id).active and not pid_alive(pid):
        store.transition(
            run_id, ACTIVE, status=CANCELLED, phase="", finished=time.time(), cancel_requested=None
        )
    return store.get(run_id)


def reconcile(store: RunStore, *, stale_after: float = STALE_SECONDS) -> list[int]:
    """Mark runs whose worker is gone as ``interrupted``; returns their ids.

    A run is gone when its PID is not alive (or now belongs to another program), or its
    heartbeat is older than ``stale_after`` seconds; one on another machine sharing the
    store (or on Ray) is judged by its heartbeat alone. Queued runs that were never started
    (no PID) are left alone. Cancel requests older than the grace period get SIGTERM.
    """
    now = time.time()
    if workers_selected():
        # `deepad worker` processes own the queue: a job whose worker went silent goes back
        # to it, for another worker to resume
        store.release_stale(now - stale_after)
        return []
    interrupted = []
    for record in store.list_runs(status=ACTIVE, kind=None):
        if record.pid is None:
            if record.status == RUNNING:
                gone = True
            else:
                continue
        else:
            # a Ray task's or another machine's process: only its heartbeat tells
            remote = elsewhere(record) or ray_runner.on_ray(store, record.id, record)
            alive = remote or (pid_alive(record.pid) and _is_worker_process(record.pid))
            stale = record.heartbeat is not None and now - record.heartbeat > stale_after
            gone = not alive or stale
            if (
                not gone
                and not remote
                and record.cancel_requested is not None
                and now - record.cancel_requested > CANCEL_GRACE_SECONDS
            ):
                _terminate(record.pid)
        if gone and store.transition(
            record.id,
            ACTIVE,
            status=INTERRUPTED,
            phase="",
            finished=now,
            error=(
                "the training process stopped unexpectedly; resume to continue"
                if record.status == RUNNING
                else "the worker process ended before the run started; see the run's log"
            ),
        ):
            log.info("run %d marked interrupted", record.id)
            interrupted.append(record.id)
    for record in store.list_runs(status=INTERRUPTED, kind=None):
        # a worker that only looked dead (stale heartbeat) and has stamped it again since
        fresh = record.heartbeat is not None and now - record.heartbeat <= stale_after
        if (
            fresh
            and record.finished is not None
            and record.heartbeat > record.finished
            and (
                elsewhere(record) or (pid_alive(record.pid) and _is_worker_process(int(record.pid)))
            )
        ):
            store.transition(record.id, (INTERRUPTED,), status=RUNNING, finished=None, error=None)
            log.info("run %d is alive again", record.id)
    return interrupted


# --------------------------------------------------------------------------- the run queue
# A run is created ``queued``; it holds a slot once it has a process (``pid``) or is running.
# Runs beyond ``max_runs()`` wait, oldest first, until a worker finishing (or ``reconcile``)
# starts them through ``start_queued``.


def workers_selected() -> bool:
    """Whether ``deepad worker`` processes carry out the queue (``DEEPAD_RUNNER=workers``)
    rather than processes this machine starts per job."""
    return os.environ.get(ray_runner.RUNNER_ENV, "").strip().lower() == WORKERS


def max_runs() -> int:
    """How many runs may train at once: ``$DEEPAD_MAX_RUNS``, else one per NVIDIA GPU (found
    without torch), else one."""
    value = os.environ.get("DEEPAD_MAX_RUNS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            log.warning("DEEPAD_MAX_RUNS=%r is not a number; using the default", value)
    return max(1, gpu_count())


def gpu_count() -> int:
    from deepad.hardware import gpu_names

    return len(gpu_names())


def _being_started(record: RunRecord, now: float) -> bool:
    """Claimed by a process that is starting it (its worker has no PID recorded yet)."""
    return (
        record.status == QUEUED
        and record.phase == STARTING
        and record.heartbeat is not None
        and now - record.heartbeat <= STALE_SECONDS
    )


def _holds_slot(record: RunRecord, now: float) -> bool:
    if record.pid is not None and not elsewhere(record) and not pid_alive(record.pid):
        # its worker on this machine is gone (killed, or died while starting): until
        # reconcile marks the run interrupted, it must not keep a waiting run from starting
        return False
    return record.status == RUNNING or (
        record.status == QUEUED and (record.pid is not None or _being_started(record, now))
    )


def waiting_runs(store: RunStore) -> list[RunRecord]:
    """Queued runs not yet given a process, in the order they start (oldest first)."""
    now = time.time()
    return sorted(
        (
            r
            for r in store.list_runs(status=(QUEUED,), kind=None)
            if r.pid is None and not _being_started(r, now)
        ),
        key=lambda r: r.id,
    )


def queue_positions(store: RunStore) -> dict[int, int]:
    """Run id -> place in the queue (1 starts next) for every waiting run."""
    return {r.id: i for i, r in enumerate(waiting_runs(store), start=1)}


def free_slots(store: RunStore, limit: int | None = None) -> int:
    limit = max_runs() if limit is None else limit
    now = time.time()
    # the limit is this machine's: runs that other machines sharing the store run hold theirs
    busy = sum(
        _holds_slot(r, now) and not elsewhere(r) for r in store.list_runs(status=ACTIVE, kind=None)
    )
    return max(0, limit - busy)


def enqueue_resume(store: RunStore, run_id: int) -> None:
    """Put an interrupted, cancelled or failed run back in the queue, marked to continue from
    its last checkpoint when :func:`start_queued` starts it (waiting runs start oldest first,
    so a resumed run goes before runs created after it)."""
    record = store.get(run_id)
    _check_not_running(record)
    if record.status not in RESUMABLE:
        raise RunStateError(f"run {run_id} is {record.status} and cannot be resumed")
    params = dict(record.params)
    if record.kind == TRAIN:
        params["resume"] = True
    if not store.transition(
        run_id,
        RESUMABLE,
        params=params,
        status=QUEUED,
        phase="",
        error=None,
        cancel_requested=None,
        pid=None,
        host=None,
        finished=None,
    ):
        raise RunStateError(f"run {run_id} changed state while being queued; try again")


def start_queued(store: RunStore, *, limit: int | None = None) -> list[int]:
    """Start waiting runs, oldest first, while slots are free; returns the started ids.
    With ``DEEPAD_RUNNER=workers`` nothing starts here: ``deepad worker`` processes, on this
    machine or others, claim the queued jobs from the store."""
    if workers_selected():
        return []
    started = []
    for record in waiting_runs(store)[: free_slots(store, limit)]:
        try:
            start_run(store, record.id)
        except RunStateError as error:  # cancelled or started meanwhile
            log.info("queued run %d not started: %s", record.id, error)
            continue
        started.append(record.id)
    return started


__all__ = [
    "CANCEL_GRACE_SECONDS",
    "STALE_SECONDS",
    "cancel_run",
    "elsewhere",
    "enqueue_resume",
    "free_slots",
    "max_runs",
    "pid_alive",
    "queue_positions",
    "reconcile",
    "start_queued",
    "start_run",
    "waiting_runs",
]


def start_explain(store: RunStore, run_id: int) -> int:
    """Queue the explain job of finished run ``run_id`` (every explainer over its scored
    set, :mod:`deepad.explain.job`) and start it when a slot is free; returns the job's id.
    Its progress and cancel flag are its row's; its output goes to the run's log. While one
    waits or runs, asking again returns that one."""
    active = store.list_runs(status=ACTIVE, kind=EXPLAIN, parent=run_id)
    if active:
        return active[0].id
    job = store.create_job(EXPLAIN, run_id)
    start_queued(store)
    return job


# --------------------------------------------------------------------------- score jobs
# New data scored by a finished run: a SCORE row of the queue (params: dataset; progress,
# result and error in the row), its output in RunFolder.score_job(<job id>): scores.npz and
# explain/ (heatmaps).


def start_scoring(store: RunStore, run_id: int, dataset_id: str) -> str:
    """Queue scoring the registered dataset ``dataset_id`` with finished run ``run_id``
    (:mod:`deepad.tasks`), started when a slot is free; returns the job's id."""
    job = store.create_job(SCORE, run_id, {"dataset": str(dataset_id)})
    start_queued(store)
    return str(job)
