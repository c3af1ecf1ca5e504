"""A score job: new data scored by a finished run's detector in a background process, with
progress the dashboard follows (``python -m deepad.runs.worker --home H RUN --score JOB``).

Scoring is :meth:`deepad.service.Service.score_dataset`, the same call ``deepad score``
makes; image maps of the scored items are written as a run writes its own
(:func:`deepad.runs.workflow.score_and_explain`), so the page shows them the same way.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad.runs.jobs import score_job_folder
from deepad.runs.workflow import one_line

log = logging.getLogger(__name__)


def _write(folder: Path, state: dict[str, Any]) -> None:
    temporary = folder / "progress.tmp"
    temporary.write_text(json.dumps(state))
    temporary.replace(folder / "progress.json")


def run_score_job(home: Path, run_id: int, job: str) -> int:
    from deepad.service import Service

    svc = Service(home)
    folder = score_job_folder(svc.store, run_id, job)
    state = json.loads((folder / "progress.json").read_text())
    state.update(status="running", started=time.time())
    _write(folder, state)

    def progress(done: int, total: int) -> None:
        state.update(done=int(done), total=int(total))
        _write(folder, state)

    try:
        scored = svc.score_dataset(run_id, state["dataset"], progress=progress)
        arrays = {"score": np.asarray(scored.scores.score, np.float64)}
        for name, values in (scored.scores.components or {}).items():
            arrays[f"component.{name}"] = np.asarray(values, np.float64)
        np.savez(folder / "scores.npz", **arrays)
        _explain(svc, run_id, scored.dataset, folder)
    except Exception as error:
        log.exception("score job %s of run %d failed", job, run_id)
        state.update(status="failed", error=one_line(error), finished=time.time())
        _write(folder, state)
        return 1
    n = len(scored.dataset)
    state.update(
        status="done",
        done=n,
        total=n,
        flagged=scored.flagged,
        threshold=scored.threshold,
        finished=time.time(),
    )
    _write(folder, state)
    return 0


def _explain(svc: Any, run_id: int, data: Any, folder: Path) -> None:
    """Heatmaps / word weights of the scored items, where the method explains (a failure
    here leaves the scores standing)."""
    from deepad.runs.workflow import _score_and_explain

    detector = svc.model(run_id)
    if not svc.method(svc.run(run_id).method).explains:
        return
    try:
        _score_and_explain(detector, data, folder / "explain")
    except Exception:
        log.exception("explaining the scored items failed; their scores stand")
