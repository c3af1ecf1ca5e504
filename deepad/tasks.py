"""Dashboard work that runs service calls outside the app process, which never imports torch:
jobs of finished runs, rows of the run queue carried out by a worker
(:mod:`deepad.runs.lifecycle`).

A score job (:func:`score_job`): new data scored by a finished run's detector, with progress
the dashboard follows. A precompute job (:func:`precompute_job`): the explainers of a run's
top-scored items stored for the Explain page, queued by the run when it ends. An export job (:func:`export_job`): the run's ONNX file and its parity
figure, as ``deepad export`` writes them.
These sit above :mod:`deepad.service` (they call it); the training worker,
:mod:`deepad.runs.worker`, sits below it.

Scoring is :meth:`deepad.service.Service.score_dataset`, the same call ``deepad score``
makes; image maps of the scored items are written as a run writes its own
(:func:`deepad.runs.workflow.score_and_explain`), so the page shows them the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from deepad.explain.job import explain_job
from deepad.runs import worker
from deepad.runs.layout import ScoreJobFolder
from deepad.runs.lifecycle import JobContext
from deepad.runs.store import EXPLAIN, EXPORT, PRECOMPUTE, SCORE, private_dir

log = logging.getLogger(__name__)


def score_job(job: JobContext) -> None:
    """A score job (:data:`deepad.runs.store.SCORE` row): ``job.params["dataset"]`` scored
    by the parent run; scores.npz and heatmaps go to the job's folder, the count above the
    threshold and the threshold to the row's result. A job released from a dead worker
    starts over: what an earlier attempt left in its folder is removed first, and the
    scores are renamed into place only once written whole."""
    from deepad.service import Service

    svc = Service(job.store.home)
    run_id = job.parent
    folder = svc.run_folder(run_id).score_job(str(job.record.id))
    shutil.rmtree(folder.path, ignore_errors=True)  # an earlier attempt's, never finished
    private_dir(folder.path)
    scored = svc.score_dataset(run_id, str(job.params["dataset"]), progress=job.progress)
    arrays = {"score": np.asarray(scored.scores.score, np.float64)}
    for name, values in (scored.scores.components or {}).items():
        arrays[f"component.{name}"] = np.asarray(values, np.float64)
    with open(folder.scores_partial, "wb") as out:
        np.savez(out, **arrays)
    os.replace(folder.scores_partial, folder.scores)
    _explain(svc, run_id, scored.dataset, folder)
    job.progress(len(scored.dataset), len(scored.dataset))
    job.result.update(flagged=int(scored.flagged), threshold=float(scored.threshold))


def _explain(svc: Any, run_id: int, data: Any, folder: ScoreJobFolder) -> None:
    """Heatmaps / word weights of the scored items, where the method explains (a failure
    here leaves the scores standing)."""
    from deepad.runs.workflow import _score_and_explain

    detector = svc.model(run_id)
    if not svc.method(svc.run(run_id).method).explains:
        return
    try:
        _score_and_explain(detector, data, folder.explain)
    except Exception:
        log.exception("explaining the scored items failed; their scores stand")


def precompute_job(job: JobContext) -> None:
    """A precompute job (:data:`deepad.runs.store.PRECOMPUTE` row, queued by a training run
    when it ends): every explainer but the method's own map for the parent run's scored
    items, top-scored first, within :data:`deepad.explain.precompute.SECONDS`, stored where
    the Explain page reads them (``RunFolder.explainer_items``). It starts over when
    released from a dead worker; the items appear only once all of them are written."""
    from deepad.explain.precompute import precompute
    from deepad.service import Service

    svc = Service(job.store.home)
    run_id = job.parent
    detector = svc.model(run_id)
    results = svc.results(run_id)
    data = svc.dataset(results.dataset_id)
    folder = svc.run_folder(run_id)
    manifest = precompute(
        detector,
        data,
        folder.explainer_items,
        np.asarray(results.scores, np.float64),
        progress=job.progress,  # reads the cancel flag too: Cancelled between chunks
        staging=folder.explainer_items_partial,
    )
    job.result.update(
        {k: manifest[k] for k in ("methods", "count", "items", "complete", "seconds")}
    )


def export_job(job: JobContext) -> None:
    """An export job (:data:`deepad.runs.store.EXPORT` row): ``deepad export`` of the parent
    run for the dashboard, the ONNX file beside the run's model; what
    :meth:`deepad.service.Service.export` says about it goes to the row's result."""
    from deepad.service import Service

    done = Service(job.store.home).export(job.parent)
    job.result.update(
        path=str(done.path),
        method=done.method,
        input_shape=list(done.input_shape),
        outputs=list(done.outputs),
        max_score_error=done.max_score_error,
    )


JOB_BODIES: dict[str, Callable[[JobContext], None]] = {
    SCORE: score_job,
    EXPORT: export_job,
    EXPLAIN: explain_job,
    PRECOMPUTE: precompute_job,
}


def main(argv: list[str] | None = None) -> int:
    """``python -m deepad.tasks --home H JOB_ID``: one queued job of a finished run in this
    process (as :mod:`deepad.runs.worker` does a training run)."""
    return worker.main(argv, bodies=JOB_BODIES, prog="python -m deepad.tasks")


if __name__ == "__main__":
    sys.exit(main())
