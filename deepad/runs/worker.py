"""Workers: the processes that carry out the run queue's jobs.

Two ways a job gets a worker:

- one process per job, ``python -m deepad.runs.worker --home H JOB_ID [--resume]``, started
  by :func:`deepad.runs.jobs.start_run` on the machine that queued it, with stdout and
  stderr going to the run's ``run.log``;
- ``deepad worker`` (:func:`serve`) on any machine that reaches a shared store: a loop that
  claims queued jobs that fit this machine (a GPU when the job needs one, the memory it
  asks for), carries each out in this process with a heartbeat, and puts back in the queue
  the jobs of workers whose heartbeat went stale (a killed process, a lost machine), so that
  another worker resumes them (training from its checkpoint).

Every job kind goes the same way: training (:func:`deepad.runs.workflow.execute`) and the
jobs of finished runs (:mod:`deepad.runs.lifecycle`). SIGTERM (the cancel fallback) stops
the job as cancelled wherever it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deepad.runs.lifecycle import Body
from deepad.runs.store import DONE, QUEUED, TRAIN, RunRecord, RunStateError, RunStore, this_host
from deepad.runs.workflow import execute, one_line
from deepad.train.progress import Cancelled

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # how often an idle worker looks for queued jobs


def _on_sigterm(signum: int, frame: object) -> None:
    raise Cancelled("stopped by SIGTERM")


def _start_next(store: RunStore) -> None:
    """This run's slot is free now: start the oldest waiting run, if any."""
    from deepad.runs.jobs import start_queued

    try:
        start_queued(store)
    except Exception as error:  # the queue must never turn a finished run into a failure
        print(
            f"deepad worker: starting the next queued run failed: {one_line(error)}",
            file=sys.stderr,
        )


def carry_out(
    store: RunStore,
    job_id: int,
    *,
    resume: bool = False,
    bodies: Mapping[str, Body] | None = None,
) -> RunRecord:
    """Do queued job ``job_id`` in this process, whatever its kind; returns its final record.

    Training is :func:`deepad.runs.workflow.execute`; the jobs of finished runs call the
    service, which sits above this package, so their functions come in ``bodies`` (kind →
    function) from the process's entry point (:data:`deepad.tasks.JOB_BODIES`)."""
    record = store.get(job_id)
    if record.kind == TRAIN:
        return execute(store, job_id, resume=resume or bool(record.params.get("resume")))
    from deepad.runs.lifecycle import run_job

    body = (bodies or {}).get(record.kind)
    if body is None:
        raise RunStateError(f"job {job_id}: this worker cannot do {record.kind!r} jobs")
    return run_job(store, job_id, body)


# --------------------------------------------------------------------------- shared-store workers
@dataclass(frozen=True)
class Capacity:
    """What this worker offers a job: a GPU or not, the memory it has free (MiB), and the
    kinds of job it can do (None: every kind)."""

    gpu: bool
    memory_mb: int | None = None
    kinds: frozenset[str] | None = None

    def fits(self, record: RunRecord) -> bool:
        if self.kinds is not None and record.kind not in self.kinds:
            return False
        if record.needs_gpu and not self.gpu:
            return False
        return not (record.memory_mb and self.memory_mb is not None
                    and record.memory_mb > self.memory_mb)  # fmt: skip


def this_capacity(memory_mb: int | None = None) -> Capacity:
    """This machine: a GPU when one is found (without torch), its available memory."""
    import psutil

    from deepad.runs.jobs import gpu_count

    free = memory_mb if memory_mb is not None else psutil.virtual_memory().available // 2**20
    return Capacity(gpu=gpu_count() > 0, memory_mb=int(free))


def claim_next(store: RunStore, capacity: Capacity, *, stale_after: float) -> RunRecord | None:
    """Claim the oldest queued job that fits ``capacity`` (atomic: see
    :meth:`RunStore.claim`); None when none is waiting or this machine's slots
    (``DEEPAD_MAX_RUNS``) are taken."""
    from deepad.runs.jobs import free_slots, waiting_runs

    if free_slots(store) <= 0:
        return None
    for record in waiting_runs(store):
        if not capacity.fits(record):
            continue
        if store.claim(
            record.id, host=this_host(), pid=os.getpid(), stale_before=time.time() - stale_after
        ):
            return store.get(record.id)
    return None


def serve(
    store: RunStore,
    *,
    capacity: Capacity | None = None,
    stale_after: float | None = None,
    poll: float = POLL_SECONDS,
    until_idle: bool = False,
    max_jobs: int | None = None,
    on_job: Callable[[RunRecord], None] | None = None,
    bodies: Mapping[str, Body] | None = None,
) -> int:
    """Claim and carry out queued jobs until stopped (or, with ``until_idle``, until none is
    waiting that fits it; with ``max_jobs``, after that many); returns how many it carried
    out. Before each claim, jobs whose worker's heartbeat is older than ``stale_after``
    seconds go back to the queue. ``bodies``: see :func:`carry_out`; jobs of other kinds
    are left to other workers."""
    from deepad.runs.jobs import STALE_SECONDS, waiting_runs

    capacity = capacity or this_capacity()
    doable = frozenset({TRAIN, *(bodies or {})})  # it claims only jobs it has the functions of
    capacity = dataclasses.replace(
        capacity, kinds=doable if capacity.kinds is None else doable & capacity.kinds
    )
    stale_after = STALE_SECONDS if stale_after is None else float(stale_after)
    done = 0
    log.info("worker %s:%d serving %s (%s)", this_host(), os.getpid(), store.location, capacity)
    while max_jobs is None or done < max_jobs:
        for job_id in store.release_stale(time.time() - stale_after):
            log.info("job %d: its worker stopped; it is queued again", job_id)
        record = claim_next(store, capacity, stale_after=stale_after)
        if record is None:
            if until_idle and not any(capacity.fits(r) for r in waiting_runs(store)):
                break  # nothing waits that this worker could take
            time.sleep(poll)
            continue
        log.info("claimed %s job %d (attempt %d)", record.kind, record.id, record.attempts + 1)
        # while a job runs, SIGTERM (the cancel fallback, see jobs.cancel_run) cancels it;
        # between jobs it stops the worker
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            final = carry_out(store, record.id, bodies=bodies)
        except (RunStateError, KeyError) as error:  # cancelled or deleted since the claim
            log.info("job %d not carried out: %s", record.id, one_line(error))
            store.transition(record.id, (QUEUED,), pid=None, phase="", host=None)
            continue
        finally:
            signal.signal(signal.SIGTERM, previous)
        log.info("job %d ended %s", record.id, final.status)
        done += 1
        if on_job is not None:
            on_job(final)
    return done


def main(
    argv: list[str] | None = None,
    *,
    bodies: Mapping[str, Body] | None = None,
    prog: str = "python -m deepad.runs.worker",
) -> int:
    """One queued job in this process (``bodies``: see :func:`carry_out`)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--home", type=Path, required=True, help="deepad home folder")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    args = parser.parse_args(argv)
    # execute() logs into run.log itself; stderr (also run.log) gets only what escapes it,
    # so no console handler here, or every line would be written twice
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    store = RunStore(args.home)
    try:
        record = carry_out(store, args.run_id, resume=args.resume, bodies=bodies)
    except (RunStateError, KeyError) as error:
        print(f"deepad worker: {one_line(error)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        _start_next(store)
    return 0 if record.status == DONE else 1


if __name__ == "__main__":
    sys.exit(main())
