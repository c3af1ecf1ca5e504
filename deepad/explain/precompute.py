"""Explanations of a run's scored items computed once, when the run scores them, so that the
Explain page reads one item's explainers in milliseconds instead of starting a process that
imports torch and loads the model.

A training run (:func:`deepad.runs.workflow.execute`) queues a job of its own for this once
it has saved its model and scored its items (a ``precompute`` row of the run queue, whose body
is :func:`deepad.tasks.precompute_job`), so the run's slot frees before the explainers are
computed: every explainer besides the method's own map (which the run stores anyway, see
:mod:`deepad.runs.artifacts`) — LRP, the gradient baselines — for the top-scored items first,
chunk by chunk, until all items are done or :data:`SECONDS` have passed; LRP's conservation
report (relevance at the input, absorbed, score) comes from the same propagation. Stored in
the folder given (a run's ``RunFolder.explainer_items``):

- ``manifest.json``: ``methods``, ``count``, ``seconds`` (compute time of all), ``complete``;
- ``index.npy``: int64 positions of the explained items (sorted), shared by every method;
- ``<method>/``: the explanations in the format of :func:`deepad.runs.artifacts.write_explanations`
  (float16 maps at the network's resolution, token weights as JSON, feature weights float16);
- ``conservation.npy``: float64 ``(count, 3)`` relevance, absorbed, score (with LRP).

Everything is first written to ``staging`` (the run's ``RunFolder.explainer_items_partial``)
and renamed to ``folder`` when it is all there: a job stopped half-way (cancelled, its worker
killed and the job started over elsewhere) leaves no items that read as finished.

:func:`read_item` reads one item back with numpy alone (the app process never imports torch);
items left out (a large set past the time budget) are computed on demand as before.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepad.data.types import DataKind
from deepad.results import Explanation, FeatureWeights, ImageMaps, TokenWeights

log = logging.getLogger(__name__)

SECONDS = 60.0  # compute budget per run: the demo models finish well inside it
_CHUNK = 64


def precompute(
    detector: Any,
    data: Any,
    folder: str | Path,
    scores: np.ndarray,
    *,
    seconds: float = SECONDS,
    chunk: int = _CHUNK,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    staging: str | Path | None = None,
) -> dict[str, Any]:
    """Every explainer but ``default`` for the items of ``data``, highest ``scores`` first,
    until done, ``seconds`` have passed (at least one chunk) or ``should_stop()`` says so
    (a cancelled job, checked between chunks); ``progress(done, total)`` after each chunk
    (it may raise to stop). Written under ``staging`` (default: ``folder`` with
    ``.partial`` appended), renamed to ``folder`` once complete. Returns the manifest."""
    final = Path(folder)
    folder = Path(staging) if staging is not None else final.with_name(final.name + ".partial")
    shutil.rmtree(folder, ignore_errors=True)  # what a stopped attempt left
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        manifest = _precompute(
            detector, data, folder, scores, seconds, chunk, should_stop, progress
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    folder.rename(final)
    return manifest


def _precompute(
    detector: Any,
    data: Any,
    folder: Path,
    scores: np.ndarray,
    seconds: float,
    chunk: int,
    should_stop: Callable[[], bool] | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    from deepad.runs.artifacts import write_explanations

    methods = [m for m in detector.explanation_methods() if m != "default"]
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    if data.kind == DataKind.TEXT:
        # the text detectors memoise the embeddings of the whole scored set, not of a part
        # of it: one chunk reuses them instead of embedding every document again
        chunk = max(len(order), 1)
    parts: dict[str, list[Explanation]] = {m: [] for m in methods}
    numbers: list[np.ndarray] = []
    covered: list[np.ndarray] = []
    start = time.perf_counter()
    for first in range(0, len(order) if methods else 0, chunk):
        if covered and time.perf_counter() - start > seconds:
            break
        if should_stop is not None and should_stop():
            break
        # in data order within a chunk: a whole text set then has the texts the run scored,
        # whose embeddings are memoised
        positions = np.sort(order[first : first + chunk])
        part = data.subset(positions)
        for method in methods:
            if method == "lrp":
                from deepad.explain.lrp import lrp_with_report

                explanation, report = lrp_with_report(detector, part)
                numbers.append(np.stack([report[k] for k in ("relevance", "absorbed", "score")], 1))
            else:
                explanation = detector.explain(part, method=method)
            parts[method].append(explanation)
        covered.append(positions)
        if progress is not None:
            progress(sum(len(c) for c in covered), len(order))
    taken = time.perf_counter() - start
    # with no explainer to compute, every item is "covered" by the run's own maps
    done = np.concatenate(covered) if covered else np.arange(len(order) if not methods else 0)
    index = np.sort(done)
    row_of = {int(p): r for r, p in enumerate(done)}
    for method, explanations in parts.items():
        joined = _concatenate(explanations)

        def rows(positions: np.ndarray, joined: Explanation = joined) -> Explanation:
            return _take(joined, [row_of[int(p)] for p in positions])

        write_explanations(folder / method, rows, index, chunk=max(len(index), 1))
    if numbers:
        table = np.concatenate(numbers)
        np.save(folder / "conservation.npy", table[[row_of[int(p)] for p in index]])
    np.save(folder / "index.npy", index.astype(np.int64))
    manifest = {
        "methods": methods,
        "count": int(len(index)),
        "items": int(len(order)),
        "complete": bool(len(index) == len(order)),
        "seconds": taken,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    log.info("explained %d of %d items with %s in %.1f s", len(index), len(order), methods, taken)
    return manifest


def _concatenate(parts: list[Explanation]) -> Explanation:
    first = parts[0]
    if isinstance(first, ImageMaps):
        return ImageMaps(maps=np.concatenate([np.asarray(p.maps, np.float32) for p in parts]))
    if isinstance(first, TokenWeights):
        return TokenWeights(
            tokens=[t for p in parts for t in p.tokens],
            weights=[w for p in parts for w in p.weights],
            head_names=first.head_names,
        )
    return FeatureWeights(
        weights=[w for p in parts for w in p.weights], feature_names=first.feature_names
    )


def _take(explanation: Explanation, rows: list[int]) -> Explanation:
    if isinstance(explanation, ImageMaps):
        return ImageMaps(maps=np.asarray(explanation.maps)[rows])
    if isinstance(explanation, TokenWeights):
        return TokenWeights(
            tokens=[explanation.tokens[r] for r in rows],
            weights=[explanation.weights[r] for r in rows],
            head_names=explanation.head_names,
        )
    return FeatureWeights(
        weights=[explanation.weights[r] for r in rows], feature_names=explanation.feature_names
    )


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def read_item(folder: str | Path, item: int) -> dict[str, Any] | None:
    """One item's precomputed explainers: ``maps`` by method, and with LRP ``relevance_sum``,
    ``absorbed`` and ``lrp_score``; None when the item (or the folder) is not there."""
    from deepad.runs.artifacts import load_explanations

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    index = np.load(folder / "index.npy")
    found = np.flatnonzero(index == int(item))
    if len(found) == 0:
        return None
    row = int(found[0])
    maps: dict[str, np.ndarray] = {}
    for method in manifest["methods"]:
        loaded = load_explanations(folder / method)
        if loaded is None:
            return None
        explanation = loaded[1]
        if isinstance(explanation, ImageMaps):
            maps[method] = np.asarray(explanation.maps[row], np.float32)
        else:
            maps[method] = np.asarray(explanation.weights[row], np.float32)
    out: dict[str, Any] = {"maps": maps}
    path = folder / "conservation.npy"
    if path.exists():
        relevance, absorbed, score = np.load(path, mmap_mode="r")[row]
        out.update(relevance_sum=float(relevance), absorbed=float(absorbed), lrp_score=float(score))
    return out
