"""Detection metrics on scikit-learn: ranking quality, thresholds and operating points.

All functions take scores where higher means more anomalous and labels where 1 is anomalous.
Items with an unknown label (-1) are left out of every labeled metric.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from deepad.data.types import NORMAL, Dataset


def _sklearn():
    """``sklearn.metrics``, imported on first use: with SciPy it takes seconds to import, which
    the dashboard should not wait for at start (see :func:`preload`)."""
    from sklearn import metrics

    return metrics


_preloading: threading.Thread | None = None


def preload() -> threading.Thread:
    """Import scikit-learn in a background thread (once per process), so that a long-lived
    process (the dashboard) has it ready when its first page computes a metric."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_sklearn, name="deepad-preload", daemon=True)
        _preloading.start()
    return _preloading


def _known(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    keep = labels >= 0
    return labels[keep].astype(np.int8), scores[keep]


def _both_classes(labels: np.ndarray) -> bool:
    return labels.size > 0 and 0 < labels.sum() < labels.size


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels, scores = _known(labels, scores)
    return (
        float(_sklearn().roc_auc_score(labels, scores)) if _both_classes(labels) else float("nan")
    )


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision with anomalies as the positive class; NaN with one class."""
    labels, scores = _known(labels, scores)
    return (
        float(_sklearn().average_precision_score(labels, scores))
        if _both_classes(labels)
        else float("nan")
    )


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    flagged: int
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


def flagged(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The one rule that decides which items are flagged, everywhere (the pages' counts, the
    CSV export, the heatmap zip, ``deepad score``): a score strictly above the threshold."""
    return np.asarray(scores, dtype=np.float64) > float(threshold)


def excess_flagged(
    labels: np.ndarray | None, scores: np.ndarray, threshold: float, contamination: float
) -> tuple[str, float] | None:
    """Whether ``threshold`` flags far more than ``contamination`` asks for, as ``(of what,
    share)``, else None. With labeled normal items it is judged on them (the false-positive
    rate: above a quarter, or four times ``contamination``), so a test set of mostly
    anomalies, rightly flagged, raises nothing; without, on all items (above half, or four
    times ``contamination``)."""
    above = flagged(scores, threshold)
    if not len(above):
        return None
    normal = np.asarray(labels) == NORMAL if labels is not None else None
    if normal is not None and normal.any():
        share = float(above[normal].mean())
        return ("labeled normal items", share) if share > max(0.25, 4 * contamination) else None
    share = float(above.mean())
    return ("scored items", share) if share > max(0.5, 4 * contamination) else None


def operating_point(
    labels: np.ndarray | None, scores: np.ndarray, threshold: float
) -> OperatingPoint:
    """Counts at ``threshold`` (an item is flagged when its score is above it)."""
    scores = np.asarray(scores, dtype=np.float64)
    above = flagged(scores, threshold)
    if labels is None:
        return OperatingPoint(threshold, int(above.sum()), 0, 0, 0, 0)
    labels = np.asarray(labels)
    known = labels >= 0
    pos = (labels == 1) & known
    neg = (labels == 0) & known
    return OperatingPoint(
        threshold=float(threshold),
        flagged=int(above.sum()),
        tp=int((above & pos).sum()),
        fp=int((above & neg).sum()),
        fn=int((~above & pos).sum()),
        tn=int((~above & neg).sum()),
    )


def precision_recall_f1(
    labels: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[float, float, float]:
    point = operating_point(labels, scores, threshold)
    return point.precision, point.recall, point.f1


def threshold_for_contamination(scores: np.ndarray, contamination: float) -> float:
    """The threshold that flags the top ``contamination`` share of ``scores``."""
    if not 0.0 <= contamination <= 1.0:
        raise ValueError("contamination must be in [0, 1]")
    return float(np.quantile(np.asarray(scores, dtype=np.float64), 1.0 - contamination))


def threshold_for_fpr(labels: np.ndarray, scores: np.ndarray, target_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on labeled normals is ≤ ``target_fpr``."""
    labels, scores = _known(labels, scores)
    normals = np.sort(scores[labels == 0])
    if normals.size == 0:
        raise ValueError("a false-positive-rate threshold needs labeled normal items")
    allowed = int(np.floor(target_fpr * normals.size))
    # flagged means score > threshold; allow at most `allowed` normals above it
    return (
        float(normals[normals.size - allowed - 1])
        if allowed < normals.size
        else float(normals[0] - 1.0)
    )


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over all cut points; needs both classes."""
    labels, scores = _known(labels, scores)
    if not _both_classes(labels):
        raise ValueError("best-F1 needs both normal and anomalous labels")
    precision, recall, thresholds = _sklearn().precision_recall_curve(labels, scores)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0)
    best = int(np.argmax(f1[:-1]))
    # precision_recall_curve flags score >= t; we flag score > threshold, so step just below t
    cut = thresholds[best]
    below = scores[scores < cut]
    threshold = float(below.max()) if below.size else float(np.nextafter(cut, -np.inf))
    return threshold, float(f1[best])


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of the ROC curve."""
    labels, scores = _known(labels, scores)
    return _sklearn().roc_curve(labels, scores)


def pr_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) of the precision-recall curve."""
    labels, scores = _known(labels, scores)
    return _sklearn().precision_recall_curve(labels, scores)


# above this many mask pixels in all, masks are shrunk to the map size instead (memory)
PIXEL_AUROC_MAX_PIXELS = 50_000_000


def pixel_masks(data: Dataset, items: Sequence[int] | np.ndarray) -> list[np.ndarray | None]:
    """The ground truth pixel AUROC scores ``items`` of ``data`` against: each item's mask,
    an all-zero mask for a labeled normal image without one (defect-free, as in the MVTec
    protocol), and None (left out) for any other image without a mask."""
    out: list[np.ndarray | None] = []
    for item in items:
        mask = None if data.masks is None else data.masks[int(item)]
        if mask is None and data.labels is not None and data.labels[int(item)] == NORMAL:
            mask = np.zeros(np.shape(data.items[int(item)])[:2], dtype=np.uint8)
        out.append(None if mask is None else np.asarray(mask))
    return out


def pixel_auroc(
    masks: Sequence[np.ndarray | None],
    maps: Sequence[np.ndarray] | np.ndarray,
    *,
    max_pixels: int | None = None,
) -> float:
    """AUROC over all pixels of the images that have a ground-truth mask.

    The resizing rule: each map is resized bilinearly to its own mask's ``(height, width)``
    (maps come at the network's resolution, masks at the image's), and masks are binarised
    (any value above 0 is anomalous). Images whose mask is None are left out. When the
    masks together hold more than ``max_pixels`` pixels, each mask is instead shrunk
    (nearest neighbour) to its map's size, so memory stays bounded. NaN without both
    anomalous and normal pixels.
    """
    pairs = [
        (np.asarray(m), np.asarray(a, np.float32))
        for m, a in zip(masks, maps, strict=True)
        if m is not None
    ]
    if not pairs:
        return float("nan")
    shrink = max_pixels is not None and sum(m.size for m, _ in pairs) > max_pixels
    labels, scores = [], []
    for mask, amap in pairs:
        truth = (mask > 0).astype(np.uint8)
        if truth.shape != amap.shape:
            if shrink:
                truth = cv2.resize(truth, amap.shape[::-1], interpolation=cv2.INTER_NEAREST)
            else:
                amap = cv2.resize(amap, truth.shape[::-1], interpolation=cv2.INTER_LINEAR)
        labels.append(truth.ravel())
        scores.append(amap.ravel())
    y = np.concatenate(labels).astype(np.int8)
    return (
        float(_sklearn().roc_auc_score(y, np.concatenate(scores)))
        if _both_classes(y)
        else float("nan")
    )


def _map_mask_pairs(
    masks: Sequence[np.ndarray | None],
    maps: Sequence[np.ndarray] | np.ndarray,
    max_pixels: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(binary mask, map) of every image that has a mask, at the mask's size, or at the
    map's when the masks hold more than ``max_pixels`` pixels (as :func:`pixel_auroc`)."""
    kept = [(m, a) for m, a in zip(masks, maps, strict=True) if m is not None]
    shrink = max_pixels is not None and sum(np.size(m) for m, _ in kept) > max_pixels
    pairs = []
    for mask, amap in kept:
        truth = (np.asarray(mask) > 0).astype(np.uint8)
        amap = np.asarray(amap, np.float32)
        if truth.shape != amap.shape:
            if shrink:
                truth = cv2.resize(truth, amap.shape[::-1], interpolation=cv2.INTER_NEAREST)
            else:
                amap = cv2.resize(amap, truth.shape[::-1], interpolation=cv2.INTER_LINEAR)
        pairs.append((truth, amap))
    return pairs


def pro_curve(
    masks: Sequence[np.ndarray | None],
    maps: Sequence[np.ndarray] | np.ndarray,
    *,
    fpr_limit: float = 0.3,
    max_pixels: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-region overlap against the pixel false-positive rate, up to ``fpr_limit``.

    Every 8-connected region of every ground-truth mask is one region; at a threshold, its
    overlap is the share of its pixels at or above the threshold, and the PRO is the mean
    overlap over all regions; the FPR is the share of all defect-free pixels (of every
    image with a mask, normal ones included) at or above it. One point per distinct map
    value, from the highest down, starting at (0, 0); the last point is interpolated at
    ``fpr_limit``. Maps are resized to their masks as in :func:`pixel_auroc` (masks to their
    maps over ``max_pixels``). Empty arrays without a region or without a defect-free pixel."""
    pairs = _map_mask_pairs(masks, maps, max_pixels)
    weights, background, values = [], [], []
    regions = 0
    for truth, amap in pairs:
        count, labels = cv2.connectedComponents(truth, connectivity=8)
        labels = labels.ravel()
        sizes = np.bincount(labels, minlength=count).astype(np.float64)
        weight = np.zeros(labels.size)
        inside = labels > 0
        weight[inside] = 1.0 / sizes[labels[inside]]
        weights.append(weight)
        background.append(~inside)
        values.append(amap.ravel())
        regions += count - 1
    if not pairs:
        return np.zeros(0), np.zeros(0)
    background = np.concatenate(background)
    if regions == 0 or not background.any():
        return np.zeros(0), np.zeros(0)
    values = np.concatenate(values)
    order = np.argsort(-values, kind="stable")
    fpr = np.cumsum(background[order]) / background.sum()
    pro = np.cumsum(np.concatenate(weights)[order]) / regions
    ordered = values[order]
    last_of_tie = np.append(ordered[:-1] != ordered[1:], True)
    fpr = np.concatenate([[0.0], np.minimum(fpr[last_of_tie], 1.0)])
    pro = np.concatenate([[0.0], np.minimum(pro[last_of_tie], 1.0)])
    inside_limit = np.flatnonzero(fpr <= fpr_limit)
    i = inside_limit[-1]
    if fpr[i] < fpr_limit and i + 1 < len(fpr):
        step = (fpr_limit - fpr[i]) / (fpr[i + 1] - fpr[i])
        return (
            np.append(fpr[: i + 1], fpr_limit),
            np.append(pro[: i + 1], pro[i] + step * (pro[i + 1] - pro[i])),
        )
    return fpr[: i + 1], pro[: i + 1]


def aupro(
    masks: Sequence[np.ndarray | None],
    maps: Sequence[np.ndarray] | np.ndarray,
    *,
    fpr_limit: float = 0.3,
    max_pixels: int | None = None,
) -> float:
    """Area under the per-region-overlap curve up to ``fpr_limit`` (30 %) FPR, divided by
    that limit, so 1 is perfect (the MVTec-AD benchmark's localisation metric; curve as in
    :func:`pro_curve`). Images whose mask is None are left out; normal images count with an
    all-zero mask (:func:`pixel_masks`). NaN without a defect region or a defect-free pixel."""
    fpr, pro = pro_curve(masks, maps, fpr_limit=fpr_limit, max_pixels=max_pixels)
    if len(fpr) < 2 or fpr[-1] <= 0:
        return float("nan")
    area = np.sum(np.diff(fpr) * (pro[1:] + pro[:-1]) / 2.0)  # trapezoids
    return float(area / fpr[-1])


def summary(labels: np.ndarray | None, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics a run records: AUROC, AUPRC and P/R/F1 at ``threshold``."""
    point = operating_point(labels, scores, threshold)
    out = {"threshold": float(threshold), "flagged": float(point.flagged)}
    if labels is not None and _both_classes(_known(labels, scores)[0]):
        out.update(
            auroc=auroc(labels, scores),
            auprc=auprc(labels, scores),
            precision=point.precision,
            recall=point.recall,
            f1=point.f1,
        )
    return out


def by_defect(
    labels: np.ndarray, scores: np.ndarray, classes: Sequence[str], threshold: float
) -> list[dict[str, Any]]:
    """One row per defect type among the anomalous items: how many, the image AUROC of that
    type against all labeled normals, and the share of them above ``threshold`` (recall)."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    classes = np.asarray([str(c) for c in classes])
    normal = labels == 0
    rows = []
    defects = sorted(set(classes[labels == 1]))
    if not any(defects):  # anomalies without a type: nothing to break down
        return []
    for defect in defects:
        mine = (labels == 1) & (classes == defect)
        both = normal | mine
        rows.append(
            {
                "defect": defect or "(no type)",
                "count": int(mine.sum()),
                "image AUROC": auroc(mine[both].astype(np.int8), scores[both]),
                "recall": float(np.mean(flagged(scores[mine], threshold))),
            }
        )
    return rows
