"""How well explanations point at the anomaly: explainer comparison and the Clever Hans score.

For data with ground-truth maps (defect masks; ``|corrupted − original|`` for MNIST-C-style
corruptions), every available explainer of a detector — its own map (FCDD's heatmap, the
autoencoder's error), LRP, the gradient and gradient × input — is compared over the
anomalous items with a ground truth:

- pixel AUROC (:func:`deepad.metrics.pixel_auroc`, masks binarised at > 0), by the run's own
  rule: over all of a set's images with a ground truth (labeled normals count as all-normal
  masks, :func:`deepad.metrics.pixel_masks`) and per defect kind over that kind's images, so
  an explainer's "all" row matches the pixel AUROC Inspect shows for the same map;
- explanation accuracy: the cosine similarity between the ground-truth map and the positive
  part of the explanation (the evidence for "anomalous"), averaged over items.

The Clever Hans score (thesis Table 4.4) is detection AUROC minus explanation accuracy, both
in percent: high when a detector finds the anomalies but for other reasons than the
anomalous pixels. Torch-free: it works on maps already computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from deepad import metrics
from deepad.data.types import Dataset
from deepad.results import ImageMaps

EXPLAINER_TITLES = {
    "default": "own map",
    "lrp": "LRP",
    "gradient": "gradient",
    "gradient_x_input": "gradient × input",
}


def _resized(amap: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    amap = np.asarray(amap, np.float32)
    if amap.shape != shape:
        amap = cv2.resize(amap, shape[::-1], interpolation=cv2.INTER_LINEAR)
    return amap


def cosine_similarity(truth: np.ndarray, explanation: np.ndarray) -> float:
    """Cosine between a ground-truth map and the positive part of an explanation (resized
    to the truth's size); 0 where either is all zero."""
    g = np.asarray(truth, np.float64).ravel()
    e = np.clip(_resized(explanation, np.asarray(truth).shape), 0.0, None).astype(np.float64)
    e = e.ravel()
    norm = np.linalg.norm(g) * np.linalg.norm(e)
    return float(g @ e / norm) if norm > 0 else 0.0


def clever_hans_score(detection_auroc: float, explanation_cosine: float) -> float:
    """Detection AUROC minus explanation accuracy, in percentage points (thesis Table 4.4)."""
    return 100.0 * (detection_auroc - explanation_cosine)


def explainer_maps(detector: Any, data: Dataset, methods: Sequence[str] | None = None) -> dict:
    """Full-resolution maps of every available explainer: ``{method: (n, h, w)}``."""
    out = {}
    for method in methods or detector.explanation_methods():
        explanation = detector.explain(data, method=method)
        if isinstance(explanation, ImageMaps):
            out[method] = np.asarray(explanation.maps, np.float32)
    return out


def compare_explainers(
    data: Dataset, maps: Mapping[str, np.ndarray], scores: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Rows ``{group, method, items, pixel_auroc, cosine[, detection_auroc, clever_hans]}``
    per defect kind (``data.classes`` of the anomalous items with a mask) and over all of
    them (``group`` = "all"). With ``scores`` the detection AUROC of each group is that
    group's anomalies against all normal items, and the Clever Hans score is given."""
    if not data.has_masks or data.labels is None:
        return []
    labels = np.asarray(data.labels)
    masks = data.masks or []
    anomalous = [i for i in range(len(data)) if labels[i] == 1 and masks[i] is not None]
    classes = data.classes or ["anomalous"] * len(data)
    groups: dict[str, list[int]] = {"all": anomalous}
    for i in anomalous:
        groups.setdefault(str(classes[i]), []).append(i)
    normal = np.flatnonzero(labels == 0)
    # the run's rule for "all": every image with a ground truth, normals with an empty one
    everything = np.arange(len(data))
    truth = metrics.pixel_masks(data, everything)
    rows = []
    for group, index in groups.items():
        detection = float("nan")
        if scores is not None and len(normal):
            chosen = np.concatenate([normal, index])
            detection = metrics.auroc(labels[chosen], np.asarray(scores)[chosen])
        for method, method_maps in maps.items():
            cosine = float(np.mean([cosine_similarity(masks[i], method_maps[i]) for i in index]))
            row = {
                "group": group,
                "method": method,
                "items": len(index),
                "pixel_auroc": metrics.pixel_auroc(
                    truth if group == "all" else [masks[i] for i in index],
                    list(method_maps) if group == "all" else [method_maps[i] for i in index],
                    max_pixels=metrics.PIXEL_AUROC_MAX_PIXELS,
                ),
                "cosine": cosine,
            }
            if scores is not None:
                row["detection_auroc"] = detection
                row["clever_hans"] = clever_hans_score(detection, cosine)
            rows.append(row)
    return rows
