"""Training runs: the run store, background jobs and the end-to-end run workflow.

``RunStore`` keeps runs, their per-epoch history and per-item scores in SQLite (WAL) with
artifacts in one folder per run; :mod:`deepad.runs.jobs` starts each run in its own worker
process, cancels it and recovers after crashes; :func:`deepad.runs.workflow.execute` does
one run (fit, save, score, explain, metrics) in the current process.
"""

from deepad.runs.artifacts import load_explanations
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
