"""Training runs: the run store, background jobs and the end-to-end run workflow.

``RunStore`` keeps runs, their per-epoch history and per-item scores in SQLite (WAL) or a
shared PostgreSQL database, with artifacts in one folder per run (whose paths
:class:`deepad.runs.layout.RunFolder` names); its runs table is also the one queue of every
background job (training, scoring new data, explaining a run's items, precomputing the
explainers the Explain page reads, exporting).
:mod:`deepad.runs.jobs` starts each job in its own worker process, cancels it and recovers
after crashes; :mod:`deepad.runs.worker` also serves a shared store as ``deepad worker``;
:func:`deepad.runs.workflow.execute` does one run (fit, save, score, metrics; then it queues
its precompute job) in the current process, :mod:`deepad.runs.lifecycle` one job of a finished run.
"""

from typing import Any

from deepad.runs.store import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RESUMABLE,
    RUNNING,
    STATUSES,
    RunNotFound,
    RunRecord,
    RunStateError,
    RunStore,
    ScoreTable,
)

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "DONE",
    "FAILED",
    "INTERRUPTED",
    "QUEUED",
    "RESUMABLE",
    "RUNNING",
    "STATUSES",
    "RunNotFound",
    "RunRecord",
    "RunStateError",
    "RunStore",
    "ScoreTable",
    "load_explanations",
]


def __getattr__(name: str) -> Any:
    # artifacts needs the detector types (and so torch); the store alone should stay light
    # for processes that only read runs
    if name == "load_explanations":
        from deepad.runs.artifacts import load_explanations

        return load_explanations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
