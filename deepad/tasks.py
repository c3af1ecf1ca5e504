"""Dashboard work that runs service calls in a process of its own, so the app process never
imports torch: ``python -m deepad.tasks --home H RUN (--score JOB | --export JSON)``.

A score job: new data scored by a finished run's detector, with progress the dashboard
follows. An export: the run's ONNX file and its parity figure, as ``deepad export`` writes them.
These sit above :mod:`deepad.service` (they call it); the training worker,
:mod:`deepad.runs.worker`, sits below it.

Scoring is :meth:`deepad.service.Service.score_dataset`, the same call ``deepad score``
makes; image maps of the scored items are written as a run writes its own
(:func:`deepad.runs.workflow.score_and_explain`), so the page shows them the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad.runs.layout import ScoreJobFolder
from deepad.runs.workflow import one_line

log = logging.getLogger(__name__)


def _write(folder: ScoreJobFolder, state: dict[str, Any]) -> None:
    temporary = folder.progress.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(folder.progress)


def run_score_job(home: Path, run_id: int, job: str) -> int:
    from deepad.service import Service

    svc = Service(home)
    folder = svc.run_folder(run_id).score_job(job)
    state = json.loads(folder.progress.read_text())
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
        np.savez(folder.scores, **arrays)
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

def run_export(home: Path, run_id: int, out: Path) -> int:
    """``deepad export`` for the dashboard: the ONNX file beside the run's model, and what
    :meth:`deepad.service.Service.export` says about it (or its error) as JSON in ``out``."""
    from deepad.service import Service, ServiceError

    try:
        done = Service(home).export(run_id)
    except ServiceError as error:
        out.write_text(json.dumps({"error": str(error)}))
        return 1
    found = {
        "path": str(done.path),
        "method": done.method,
        "input_shape": list(done.input_shape),
        "outputs": list(done.outputs),
        "max_score_error": done.max_score_error,
    }
    out.write_text(json.dumps(found))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepad.tasks")
    parser.add_argument("--home", type=Path, required=True, help="deepad home folder")
    parser.add_argument("run_id", type=int)
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--score", metavar="JOB", help="run this score job of a finished run")
    task.add_argument(
        "--export", type=Path, metavar="JSON", help="export a finished run as ONNX; result here"
    )
    args = parser.parse_args(argv)
    if args.score:  # new data scored by a finished run: state in RunFolder.score_job(job)
        return run_score_job(args.home, args.run_id, args.score)
    return run_export(args.home, args.run_id, args.export)


if __name__ == "__main__":
    sys.exit(main())
