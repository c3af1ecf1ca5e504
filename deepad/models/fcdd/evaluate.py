"""Pixel-level results of FCDD: heatmaps against ground-truth masks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from deepad import metrics
from deepad.data.types import Dataset
from deepad.models.fcdd.upsample import defect_mask, pixel_threshold

if TYPE_CHECKING:
    from deepad.models.fcdd.detector import FCDD


def masks_at(data: Dataset, size: int) -> list[np.ndarray | None]:
    """Ground-truth masks resized (nearest) to the heatmaps' ``size`` × ``size``."""
    out: list[np.ndarray | None] = []
    for mask in data.masks or [None] * len(data):
        if mask is None:
            out.append(None)
            continue
        mask = np.asarray(mask, np.uint8)
        if mask.shape != (size, size):
            mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
        out.append((mask > 0).astype(np.uint8))
    return out


def threshold_from_normals(
    detector: FCDD, normal: Dataset, *, false_positive_rate: float = 0.01
) -> float:
    """Pixel threshold that flags ``false_positive_rate`` of the pixels of normal images."""
    return pixel_threshold(detector.explain(normal).maps, false_positive_rate=false_positive_rate)


def localisation_metrics(detector: FCDD, data: Dataset, threshold: float) -> dict[str, float]:
    """Image AUROC, pixel AUROC (images with masks) and pixel precision/recall/F1 at
    ``threshold`` (an image without a mask counts as defect-free when labeled normal)."""
    explanation = detector.explain(data)
    maps = explanation.maps
    size = maps.shape[-1]
    masks = masks_at(data, size)
    scores = detector.score(data).score
    predicted = defect_mask(maps, threshold).astype(bool)
    tp = fp = fn = 0
    for i, mask in enumerate(masks):
        if mask is None:
            if data.labels is None or data.labels[i] != 0:
                continue
            mask = np.zeros((size, size), np.uint8)
        truth = mask > 0
        tp += int(np.sum(predicted[i] & truth))
        fp += int(np.sum(predicted[i] & ~truth))
        fn += int(np.sum(~predicted[i] & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    labels = data.labels if data.labels is not None else np.full(len(data), -1)
    return {
        "image AUROC": metrics.auroc(labels, scores),
        "pixel AUROC": metrics.pixel_auroc(masks, list(maps)),
        "pixel precision": precision,
        "pixel recall": recall,
        "pixel F1": f1,
    }
