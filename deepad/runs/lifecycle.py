"""One queued job of a finished run (scoring new data, explaining its items) carried out in
this process: the row's life as a training run's (:func:`deepad.runs.workflow.execute`)
has it, in the same columns.

The job claims its row (``queued`` -> ``running``, with this process's id, machine and a
heartbeat), reports ``done``/``total`` as the row's progress, stops when a cancel is asked
for (the row's ``cancel_requested``, or SIGTERM: :class:`deepad.train.loop.Cancelled`), and
ends ``done`` with its result in the row's ``metrics``, or ``failed`` with a one-line error,
or ``cancelled``. Nothing of its state is kept in files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from deepad.runs.store import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    RUNS,
    RunRecord,
    RunStateError,
    RunStore,
    this_host,
)
from deepad.train.loop import Cancelled

log = logging.getLogger(__name__)

WRITE_SECONDS = 0.5  # progress goes to the row at most this often


class JobContext:
    """What a job's body gets: its row, ``progress(done, total)``, ``should_stop()`` and
    ``result`` (a dict that ends up in the row's ``metrics``)."""

    def __init__(self, store: RunStore, record: RunRecord) -> None:
        self.store, self.record = store, record
        self.result: dict[str, Any] = {}
        self._written = 0.0

    @property
    def parent(self) -> int:
        return int(self.record.parent or 0)

    @property
    def params(self) -> dict[str, Any]:
        return self.record.params

    def progress(self, done: int, total: int) -> None:
        """Record ``done`` of ``total`` (in the row at most every :data:`WRITE_SECONDS`); stops
        the job (Cancelled) when a cancel was asked for. Called between chunks of work, so
        the cancel flag is read once a chunk."""
        stop = self.should_stop()
        now = time.monotonic()
        if stop or now - self._written >= WRITE_SECONDS or done >= total:
            self._written = now
            self.store.update(
                self.record.id,
                phase=f"{done}/{total}",
                progress=(done / total) if total > 0 else 0.0,
                epoch=int(done),
                epochs=int(total),
                heartbeat=time.time(),
            )
        if stop:
            raise Cancelled("cancel requested")

    def should_stop(self) -> bool:
        return self.store.cancel_requested(self.record.id)


Body = Callable[[JobContext], None]


def run_job(store: RunStore, job_id: int, body: Body) -> RunRecord:
    """Claim queued job ``job_id`` and run ``body`` on it in this process; returns the final
    record. Failures and cancellation are recorded in the row, not raised."""
    from deepad.runs.workflow import _Heartbeat, one_line

    now = time.time()
    claimed = store.transition(
        job_id,
        (QUEUED,),
        status=RUNNING,
        phase="starting",
        pid=os.getpid(),
        host=this_host(),
        heartbeat=now,
        started=now,
        finished=None,
        error=None,
        progress=0.0,
        metrics={},
        attempts=RUNS.c.attempts + 1,
    )
    if not claimed:
        raise RunStateError(f"job {job_id} is {store.get(job_id).status}; it cannot start now")
    record = store.get(job_id)
    context = JobContext(store, record)
    log.info("%s job %d of run %s started in process %d", record.kind, job_id, record.parent,
             os.getpid())  # fmt: skip
    try:
        with _Heartbeat(store, job_id):
            body(context)
    except (Cancelled, KeyboardInterrupt) as stop:
        log.info("job %d cancelled: %s", job_id, stop)
        store.transition(
            job_id, (RUNNING, INTERRUPTED), status=CANCELLED, phase="", finished=time.time(),
            cancel_requested=None, metrics=context.result,
        )  # fmt: skip
        if isinstance(stop, KeyboardInterrupt):
            raise
    except Exception as error:
        log.exception("%s job %d of run %s failed", record.kind, job_id, record.parent)
        store.transition(
            job_id, (RUNNING, INTERRUPTED), status=FAILED, phase="", error=one_line(error),
            finished=time.time(), metrics=context.result,
        )  # fmt: skip
    else:
        store.transition(
            job_id, (RUNNING, INTERRUPTED), status=DONE, phase="", progress=1.0,
            finished=time.time(), cancel_requested=None, metrics=context.result,
        )  # fmt: skip
    return store.get(job_id)
