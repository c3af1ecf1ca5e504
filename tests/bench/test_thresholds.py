"""The threshold and CPU-default benchmarks' data and measurements, on small inputs."""

from __future__ import annotations

import numpy as np

from deepad.bench.photo_crops import photo_split
from deepad.bench.thresholds import form_settings, measure
from deepad.data.types import DataKind, Dataset


def test_photo_crops_are_grey_squares_with_masks_on_the_anomalies_only():
    train, test = photo_split("moon", size=64, n_train=12, n_test_normal=4, n_test_anomalous=4)
    assert len(train) == 12 and train.labels is None
    assert all(np.shape(im) == (64, 64) and im.dtype == np.uint8 for im in train.items)
    assert list(test.labels) == [0] * 4 + [1] * 4
    assert all(m.sum() == 0 for m in test.masks[:4])
    assert all(m.sum() > 0 for m in test.masks[4:])
    # the pasted patch changes the pixels under its mask
    again = photo_split("moon", size=64, n_train=12, n_test_normal=4, n_test_anomalous=4)[1]
    np.testing.assert_array_equal(again.items[5], test.items[5])  # seeded


def test_form_settings_cap_epochs_and_use_the_cpu_suggestions():
    train, _ = photo_split("coffee", size=64, n_train=4, n_test_normal=1, n_test_anomalous=1)
    values = form_settings("fcdd", train, epochs=2)
    assert values["epochs"] == 2 and values["device"] == "cpu"
    assert values["width"] == 0.25 and values["patience"] > 0  # the CPU form's suggestions
    assert values["image_size"] == 64


def test_measure_reports_the_false_positive_rate_on_normal_items():
    rng = np.random.default_rng(0)
    train = Dataset(
        kind=DataKind.TABLE,
        items=rng.standard_normal((200, 3)).astype(np.float32),
        names=[f"t{i}" for i in range(200)],
    )
    test_items = np.r_[rng.standard_normal((100, 3)), rng.standard_normal((20, 3)) + 6]
    test = Dataset(
        kind=DataKind.TABLE,
        items=test_items.astype(np.float32),
        names=[f"s{i}" for i in range(120)],
        labels=np.r_[np.zeros(100), np.ones(20)].astype(np.int8),
    )
    row = measure("iforest", train, test, epochs=1)
    assert row["source"].startswith("cross_fit") and 0.0 <= row["fpr"] <= 0.2
    assert row["auroc"] > 0.95 and row["contamination"] == 0.05
