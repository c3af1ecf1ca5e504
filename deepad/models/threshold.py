"""Where a detector's default threshold comes from (no torch: the pages describe it).

A threshold set on the scores of the items a model was fitted to flags far more than
``contamination`` of unseen normal items: a network that has learned its training images
scores them lower than any new one. So every detector's default threshold is the
``1 - contamination`` quantile of scores of *normal items the model did not fit*:

- ``leave_one_out``: methods whose model holds the training items themselves (a memory
  bank: PatchCore, embedding k-NN, the text banks) score each training item without itself
  (the image banks also without its near-duplicates, :data:`NEAR_DUPLICATE_RATIO`, and
  the images that share a region with it, :mod:`deepad.data.overlap`: a copy in the bank
  would stand in for the item);
- ``held_out``: the other methods hold ``threshold_holdout`` of the normal training items
  out of fitting (at least :data:`MIN_HELD_OUT`), train on the rest and keep that model;
  the held-out items are also the validation set of the training loop (early stopping);
- ``cross_fit``: methods that are cheap to fit (the shallow baselines) are fitted on
  :data:`CROSS_FIT_FOLDS` folds, each scoring the fold it did not see, and then fitted once
  more on all items; the threshold is set on the out-of-fold scores;
- ``validation``: a validation set given to ``fit`` is used as it is;
- ``training``: too few items to hold any out (fewer than ``2 * MIN_HELD_OUT`` normal
  ones): the training scores, which flag more than ``contamination`` of new normal items.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

# Fewest held-out items a quantile is read from; a set with fewer than twice as many normal
# items keeps them all for fitting.
MIN_HELD_OUT = 10
CROSS_FIT_FOLDS = 5

# An item closer to another than this share of its median distance to the rest of the set
# is a near-duplicate of it (a copy, a burst shot, a frame of the same scene). On 120
# Fashion-MNIST images of one class an image's nearest *distinct* image is at ≥ 0.396
# (T-shirts) and ≥ 0.50 (bags) of its median distance by pooled embeddings (embedding kNN),
# at ≥ 0.29 and ≥ 0.37 by mean patch embeddings (PatchCore); exact copies are at 0, copies
# moved by 1–2 px within 0.4 for 119 of 120 images. `deepad bench near-duplicates`
# (benchmarks/results/near-duplicates.txt) shows the thresholds of those separate images
# unchanged and those of copied photo crops back to about where the crops alone put them.
NEAR_DUPLICATE_RATIO = 0.4
ANOMALOUS = 1  # as deepad.data.types.ANOMALOUS (kept here so this module stays import-light)


class ThresholdSource(enum.StrEnum):
    LEAVE_ONE_OUT = "leave_one_out"
    HELD_OUT = "held_out"
    CROSS_FIT = "cross_fit"
    VALIDATION = "validation"
    TRAINING = "training"


def normal_positions(labels: np.ndarray | None, n: int) -> np.ndarray:
    """Positions of the items not labeled anomalous (normal or unlabeled)."""
    if labels is None:
        return np.arange(n)
    return np.flatnonzero(np.asarray(labels) != ANOMALOUS)


def held_out_count(normals: int, share: float) -> int:
    """How many of ``normals`` normal items to hold out: ``share`` of them, at least
    :data:`MIN_HELD_OUT`, and 0 when that would leave fewer items to fit than it holds out."""
    if share <= 0:
        return 0
    held = max(MIN_HELD_OUT, math.ceil(share * normals))
    return held if normals - held >= held else 0


def holdout_split(
    labels: np.ndarray | None, n: int, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(fit positions, held-out positions)``, both sorted; the held-out ones are a seeded
    draw among the normal items. None when the set is too small to hold any out."""
    normals = normal_positions(labels, n)
    held = held_out_count(len(normals), share)
    if held == 0:
        return None
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(normals, size=held, replace=False))
    return np.setdiff1d(np.arange(n), chosen), chosen


def cross_fit_folds(
    labels: np.ndarray | None, n: int, share: float, seed: int
) -> list[np.ndarray] | None:
    """:data:`CROSS_FIT_FOLDS` (fewer for small sets) disjoint folds of the normal items,
    each at least :data:`MIN_HELD_OUT` items; None when the set is too small."""
    normals = normal_positions(labels, n)
    if held_out_count(len(normals), share) == 0:
        return None
    k = max(2, min(CROSS_FIT_FOLDS, len(normals) // MIN_HELD_OUT))
    order = np.random.default_rng(seed).permutation(normals)
    return [np.sort(part) for part in np.array_split(order, k)]


def threshold_at(scores: np.ndarray, contamination: float) -> float:
    """The ``1 - contamination`` quantile of ``scores`` as the order statistic a new item
    exceeds with probability at most ``contamination``: the ``⌈(n + 1)(1 − c)⌉``-th smallest
    of ``n`` scores (the highest when that is beyond ``n``). An interpolated quantile of a
    small held-out set flags about twice the share: of 18 scores, the 0.95 quantile lies
    between the 17th and 18th, which a new normal item exceeds with probability ≈ 0.1."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = len(ordered)
    if n == 0:
        raise ValueError("no scores to set a threshold on")
    k = math.ceil(round((n + 1) * (1.0 - contamination), 9))
    return float(ordered[min(n, max(1, k)) - 1])


def source_record(
    source: ThresholdSource, items: int, of: int, *, without_duplicates: int = 0
) -> dict[str, Any]:
    """What ``detector.json`` keeps about the threshold's origin; ``without_duplicates``:
    how many of the leave-one-out items were also scored without their near-duplicates."""
    record: dict[str, Any] = {"source": source.value, "items": int(items), "of": int(of)}
    if without_duplicates:
        record["without_duplicates"] = int(without_duplicates)
    return record


def describe_source(record: dict[str, Any] | None) -> str:
    """One phrase for a page: where a model's default threshold came from."""
    if not record:
        return "the training scores"
    try:
        source = ThresholdSource(record.get("source"))
        items, of = int(record.get("items", 0)), int(record.get("of", 0))
    except (TypeError, ValueError):
        return "the training scores"
    if source == ThresholdSource.LEAVE_ONE_OUT:
        phrase = f"leave-one-out scores of the {items:,} training items"
        copies = record.get("without_duplicates")
        if isinstance(copies, int) and copies > 0:
            phrase += f" ({copies:,} of them also without their near-duplicates)"
        return phrase
    if source == ThresholdSource.HELD_OUT:
        return f"the scores of {items:,} of the {of:,} normal training items, held out of training"
    if source == ThresholdSource.CROSS_FIT:
        return f"out-of-fold scores of the {items:,} normal training items"
    if source == ThresholdSource.VALIDATION:
        return f"the scores of {items:,} normal validation items"
    return (
        f"the training scores ({of:,} items, too few to hold any out: it flags more than the "
        "contamination share of new normal items)"
    )
