"""``deepad bench near-duplicates``: the image memory banks' default threshold with their
training images' near-duplicates left out of the leave-one-out scores (``duplicate_ratio``,
default :data:`deepad.models.threshold.NEAR_DUPLICATE_RATIO`) and without (ratio 0: plain
leave-one-out), for PatchCore and embedding kNN at the settings the Train form starts from
on a CPU, on:

- **copies**: the photo suite's 120 training crops (:mod:`deepad.data.benchmarks.photos`,
  ``--set size=``, default 96 px), each ``--set copies=`` times (default 3), as a burst of
  shots would give them; its 40 normal and 40 anomalous test crops;
- **photo**: the same suite as it is: random crops of one part of a photograph, which
  overlap each other (each crop overlaps about 30 others). An **oracle** row for embedding
  kNN leaves out every crop that overlaps the scored one, from the crop positions only the
  generator knows; a second table counts the pairs of crops that
  :func:`deepad.data.overlap.shared_regions` finds against those that overlap (at all; by
  at least its 16-px block in both directions) and the seconds it took;
- **separate**: 120 Fashion-MNIST training images of one class (``--set classes=``, default
  0 and 8), 400 of its test images and 200 of other classes: separate pictures, where the
  threshold should stay as it was.

Columns: ``fpr`` = share of the normal test items above the threshold, ``threshold``,
``rescored`` = training images whose leave-one-out score differs from plain leave-one-out,
``auroc`` (the scores of test items do not depend on the threshold's setting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results
from deepad.bench.thresholds import form_settings
from deepad.data.types import NORMAL, Dataset

RESULTS = Path("benchmarks") / "results"
METHODS = ("patchcore", "embedding_knn")
PHOTOS = ("hubble", "moon")
COLUMNS = ("case", "data", "method", "duplicate_ratio", "fpr", "threshold", "rescored", "auroc")


def _fit(method: str, train: Dataset, ratio: float | None) -> Any:
    from deepad.models import get_method

    values = form_settings(method, train, epochs=1)
    if ratio is not None:
        values["duplicate_ratio"] = ratio
    return get_method(method)(**values).fit(train)


def _row(detector: Any, test: Dataset, plain: np.ndarray | None) -> dict[str, Any]:
    scores = detector.decision_function(test)
    normal = test.labels == NORMAL
    rescored = "" if plain is None else int(np.sum(detector.decision_scores_ != plain))
    return {
        "duplicate_ratio": detector.config.duplicate_ratio,
        "fpr": float(np.mean(scores[normal] > detector.threshold_)),
        "threshold": float(detector.threshold_),
        "rescored": rescored,
        "auroc": metrics.auroc(test.labels, scores),
    }


def compare(method: str, train: Dataset, test: Dataset) -> list[dict[str, Any]]:
    """Plain leave-one-out and the default, fitted on ``train``, measured on ``test``."""
    plain = _fit(method, train, 0.0)
    default = _fit(method, train, None)
    return [
        {"method": method, **_row(plain, test, None)},
        {"method": method, **_row(default, test, plain.decision_scores_)},
    ]


def overlap_oracle(train: Dataset, test: Dataset, corners: np.ndarray, size: int) -> dict:
    """Embedding kNN with every training crop scored without the crops overlapping it
    (positions from the generator: an oracle no method has)."""
    import torch

    from deepad.models.threshold import threshold_at

    detector = _fit("embedding_knn", train, 0.0)
    k = detector.config.k
    embeddings = detector.embeddings_.double()
    distance = torch.cdist(embeddings, embeddings)
    gap = np.abs(corners[:, None, :] - corners[None, :, :])
    overlapping = np.all(gap < size, axis=2)  # includes the crop itself
    distance[torch.from_numpy(overlapping)] = torch.inf
    held = distance.topk(k, dim=1, largest=False).values.mean(dim=1).numpy()
    threshold = threshold_at(held, detector.config.contamination)
    scores = detector.decision_function(test)
    normal = test.labels == NORMAL
    return {
        "method": "embedding_knn",
        "duplicate_ratio": "oracle: overlapping crops left out",
        "fpr": float(np.mean(scores[normal] > threshold)),
        "threshold": threshold,
        "rescored": int(np.sum(overlapping.sum(axis=1) > 1)),
        "auroc": metrics.auroc(test.labels, scores),
    }


PAIR_TITLE = "shared regions found among the photo suite's training crops, pairs of crops"
PAIR_COLUMNS = (
    "data",
    "overlapping",
    "overlap ≥ block",
    "found",
    "found, not overlapping",
    "seconds",
)


def shared_pairs(train: Dataset, corners: np.ndarray, size: int) -> dict[str, Any]:
    """Pairs of training crops :func:`deepad.data.overlap.shared_regions` finds, against the
    pairs that overlap (any overlap; an overlap of at least its block side in both
    directions), from the generator's positions."""
    import time

    from deepad.data.overlap import SIDE, shared_regions

    start = time.perf_counter()
    found = shared_regions(train.items)
    seconds = time.perf_counter() - start
    gap = np.abs(corners[:, None, :] - corners[None, :, :])
    upper = np.triu(np.ones(gap.shape[:2], dtype=bool), k=1)
    overlapping = np.all(gap < size, axis=2) & upper
    wide = np.all(gap <= size - SIDE, axis=2) & upper
    hit = np.zeros_like(upper)
    for i, others in enumerate(found):
        hit[i, others] = True
    hit &= upper
    return {
        "overlapping": int(overlapping.sum()),
        "overlap ≥ block": int(wide.sum()),
        "found": int(hit.sum()),
        "found, not overlapping": int((hit & ~overlapping).sum()),
        "seconds": seconds,
    }


def _copied(train: Dataset, copies: int) -> Dataset:
    order = np.repeat(np.arange(len(train)), copies)
    out = train.subset(order)
    out.names = [f"{name}#{i % copies}" for i, name in enumerate(out.names)]
    return out


def _fashion(options: BenchOptions, label: int) -> tuple[Dataset, Dataset]:
    from deepad.data.benchmarks.idx import load_idx_dataset, one_vs_rest

    folder = options.root() / "fashion_mnist"
    names = tuple(str(c) for c in range(10))
    rng = np.random.default_rng(options.seed)
    train = one_vs_rest(load_idx_dataset(folder, "train"), label, names, normal_only=True, name="f")
    train = train.subset(np.sort(rng.choice(len(train), 120, replace=False)))
    test = one_vs_rest(load_idx_dataset(folder, "test"), label, names, normal_only=False, name="f")
    normal, other = np.flatnonzero(test.labels == NORMAL), np.flatnonzero(test.labels != NORMAL)
    keep = np.r_[rng.choice(normal, 400, replace=False), rng.choice(other, 200, replace=False)]
    return train, test.subset(np.sort(keep))


@suite("near-duplicates", "Memory banks' threshold with near-duplicates left out, and without")
def run(options: BenchOptions) -> None:
    from deepad.data.benchmarks.photos import make_category, training_corners

    size = int(options.extra.get("size", 96))
    copies = int(options.extra.get("copies", 3))
    classes = [int(c) for c in options.extra.get("classes", "0,8").split(",")]
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []

    def add(found: list[dict[str, Any]], case: str, data: str) -> None:
        for row in found:
            row.update(case=case, data=data)
            rows.append(row)
            print(format_table([row], COLUMNS), flush=True)
        _write(options, rows, pairs)

    for photo in PHOTOS:
        train, test = make_category(
            photo, size=size, n_test_good=40, n_per_defect=10, seed=options.seed
        )
        for method in METHODS:
            add(compare(method, _copied(train, copies), test), f"copies ×{copies}", photo)
        for method in METHODS:
            add(compare(method, train, test), "photo", photo)
        corners = training_corners(photo, n_train=len(train), size=size, seed=options.seed)
        add([overlap_oracle(train, test, corners, size)], "photo", photo)
        pairs.append({"data": photo, **shared_pairs(train, corners, size)})
    for label in classes:
        train, test = _fashion(options, label)
        for method in METHODS:
            add(compare(method, train, test), "separate", f"fashion-mnist {label}")
    print("\n" + _write(options, rows, pairs))


def _write(options: BenchOptions, rows: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> str:
    title = "near-duplicates: normal test items flagged, plain leave-one-out (0) and default"
    text = f"command: {command_line()}\n\n{format_table(rows, COLUMNS, title)}\n"
    if pairs:
        text += "\n" + format_table(pairs, PAIR_COLUMNS, PAIR_TITLE) + "\n"
    out = options.output or RESULTS / "near-duplicates.json"
    write_results(out, {"command": command_line(), "rows": rows, "shared regions": pairs})
    out.with_suffix(".txt").write_text(text)
    return text
