"""Explainer comparison, the Clever Hans score and the corruptions' ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from deepad.data.corruptions import CORRUPTIONS, corrupt
from deepad.data.types import DataKind, Dataset
from deepad.explain.evaluate import clever_hans_score, compare_explainers, cosine_similarity


def _digits(n: int = 4) -> np.ndarray:
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 6:22, 12:16] = 255
    return images


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_every_corruption_changes_pixels_and_is_seeded(name):
    images = _digits()
    corrupted, truth = corrupt(images, name, seed=3)
    assert corrupted.shape == images.shape and corrupted.dtype == np.uint8
    np.testing.assert_array_equal(truth, np.abs(corrupted.astype(int) - images).astype(np.uint8))
    assert (truth > 0).any()
    np.testing.assert_array_equal(corrupt(images, name, seed=3)[0], corrupted)


def test_cosine_and_clever_hans():
    truth = np.zeros((4, 4))
    truth[0] = 1
    assert cosine_similarity(truth, truth * 5) == pytest.approx(1.0)
    assert cosine_similarity(truth, 1 - truth) == pytest.approx(0.0)
    assert cosine_similarity(truth, -truth) == 0.0  # only evidence for "anomalous" counts
    assert clever_hans_score(0.95, 0.25) == pytest.approx(70.0)


def test_a_map_on_the_truth_beats_one_beside_it():
    images = _digits(6)
    corrupted, truth = corrupt(images, "stripe")
    labels = np.array([0, 0, 0, 1, 1, 1])
    masks = [np.zeros_like(t) for t in truth[:3]] + list(truth[3:])
    data = Dataset(DataKind.IMAGE, list(corrupted), [str(i) for i in range(6)], labels=labels,
                   classes=["clean"] * 3 + ["stripe"] * 3, masks=masks)  # fmt: skip
    good = truth.astype(np.float32)
    bad = np.roll(good, 10, axis=2)
    rows = compare_explainers(data, {"good": good, "bad": bad}, scores=labels.astype(float))
    by = {(r["group"], r["method"]): r for r in rows}
    assert by[("stripe", "good")]["pixel_auroc"] > by[("stripe", "bad")]["pixel_auroc"]
    assert by[("stripe", "good")]["clever_hans"] < by[("stripe", "bad")]["clever_hans"]
    assert by[("all", "good")]["detection_auroc"] == pytest.approx(1.0)


def test_the_all_row_uses_the_pixel_auroc_rule_of_the_run():
    """Issue 23, defect 6: Explain's table said 0.821 where Inspect said 0.832 for FCDD's own
    map, because the table left the normal images out. Both now count every image with a
    ground truth, normals with an empty mask (:func:`deepad.metrics.pixel_masks`)."""
    from deepad import metrics

    rng = np.random.default_rng(0)
    images = _digits(6)
    corrupted, truth = corrupt(images, "stripe")
    labels = np.array([0, 0, 0, 1, 1, 1])
    masks = [None] * 3 + list(truth[3:])  # normals without a mask file, as uploads often are
    data = Dataset(DataKind.IMAGE, list(corrupted), [str(i) for i in range(6)], labels=labels,
                   classes=["good"] * 3 + ["stripe"] * 3, masks=masks)  # fmt: skip
    maps = truth.astype(np.float32) + rng.random(truth.shape).astype(np.float32)
    rows = compare_explainers(data, {"default": maps})
    everything = np.arange(len(data))
    run_rule = metrics.pixel_auroc(
        metrics.pixel_masks(data, everything), list(maps), max_pixels=metrics.PIXEL_AUROC_MAX_PIXELS
    )
    anomalous_only = metrics.pixel_auroc(list(truth[3:]), list(maps[3:]))
    assert run_rule != pytest.approx(anomalous_only)  # the two rules do differ here
    by = {r["group"]: r for r in rows}
    assert by["all"]["pixel_auroc"] == pytest.approx(run_rule)
    assert by["stripe"]["pixel_auroc"] == pytest.approx(anomalous_only)
