"""Explanations computed outside the app process (which never imports torch).

- one item on demand: ``python -m deepad.explain.job --home H --run R --item I --out F.npz``
  writes every available explainer's map for item ``I`` of run ``R`` with its score, relevance
  sum and absorbed relevance (:func:`explain_item`);
- the whole scored set, as a job of the run queue queued by
  :func:`deepad.runs.jobs.start_explain` (:func:`explain_job`): maps of every explainer for
  every item, and the explainer comparison of :mod:`deepad.explain.evaluate` where the data
  has ground-truth masks, written to the run's ``explainers/summary.json``; its progress
  and cancel flag are its row's in the run store.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepad.explain.evaluate import compare_explainers
from deepad.results import FeatureWeights, ImageMaps, TokenWeights
from deepad.runs.lifecycle import JobContext

if TYPE_CHECKING:
    from deepad.runs.layout import RunFolder

log = logging.getLogger(__name__)
_CHUNK = 32


def _as_arrays(explanation: Any) -> list[np.ndarray]:
    if isinstance(explanation, ImageMaps):
        return list(np.asarray(explanation.maps, np.float32))
    if isinstance(explanation, FeatureWeights):
        return [np.asarray(w, np.float32) for w in explanation.weights]
    if isinstance(explanation, TokenWeights):
        return [np.asarray(w, np.float32) for w in explanation.weights]
    raise TypeError(f"unsupported explanation {type(explanation).__name__}")


def explain_item(detector: Any, item: Any) -> dict[str, Any]:
    """Maps of every available explainer for a one-item dataset, with the item's score and,
    where LRP applies, the relevance sum and what biases absorbed."""
    out: dict[str, Any] = {"score": float(detector.decision_function(item)[0])}
    for method in detector.explanation_methods():
        try:
            out[f"map.{method}"] = _as_arrays(detector.explain(item, method=method))[0]
        except NotImplementedError:
            continue
    if "map.lrp" in out:
        from deepad.explain.lrp import conservation

        report = conservation(detector, item)
        out["relevance_sum"] = float(report["relevance"][0])
        out["absorbed"] = float(report["absorbed"][0])
        out["lrp_score"] = float(report["score"][0])
    return out


def _run_parts(home: Path, run_id: int) -> tuple[Any, Any, RunFolder]:
    from deepad.service import Service

    svc = Service(home)
    results = svc.results(run_id)
    data = svc.dataset(results.dataset_id)
    detector = svc.model(run_id)  # checked against the run's checksum, method and kind
    return detector, data, svc.run_folder(run_id)


def explain_job(job: JobContext) -> None:
    """An explain job (:data:`deepad.runs.store.EXPLAIN` row): every explainer over the
    parent run's scored set, and the comparison table where masks exist (``summary.json``
    in the run's ``explainers/``); progress and cancel through the job's row."""
    detector, data, folder = _run_parts(job.store.home, job.parent)
    folder.explainers.mkdir(parents=True, exist_ok=True)
    methods = detector.explanation_methods()
    total = len(data)
    maps: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    job.progress(0, total)
    for first in range(0, total, _CHUNK):
        part = data.subset(np.arange(first, min(first + _CHUNK, total)))
        for method in methods:
            maps[method] += _as_arrays(detector.explain(part, method=method))
        job.progress(first + len(part), total)  # stops here when a cancel was asked
    image_maps = {m: np.stack(v) for m, v in maps.items() if v and v[0].ndim == 2}
    scores = detector.decision_function(data) if data.labels is not None else None
    rows = compare_explainers(data, image_maps, scores)
    folder.explain_summary.write_text(json.dumps({"rows": rows, "methods": methods}))
    job.result.update(methods=list(methods), items=total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepad.explain.job")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--item", type=int, required=True, help="explain this item")
    parser.add_argument("--out", type=Path, required=True, help="where its maps go (.npz)")
    args = parser.parse_args(argv)
    detector, data, _ = _run_parts(args.home, args.run)
    started = time.perf_counter()
    found = explain_item(detector, data.subset(np.array([args.item])))
    found["seconds"] = time.perf_counter() - started
    np.savez(args.out, **{k: np.asarray(v) for k, v in found.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
