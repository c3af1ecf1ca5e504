"""The threshold and CPU-default benchmarks' data and measurements, on small inputs."""

from __future__ import annotations

import numpy as np

from deepad.bench.thresholds import form_settings, measure
from deepad.data.benchmarks.photos import make_category
from deepad.data.types import DataKind, Dataset


def test_the_photo_suites_read_the_shared_photo_generator():
    # both benches name categories of deepad.data.benchmarks.photos (no second generator)
    from deepad.bench import cpu_defaults, thresholds
    from deepad.data.benchmarks.photos import CATEGORIES, HELD_OUT, TUNING_CATEGORIES

    for name in (*thresholds.PHOTO_SETS, *cpu_defaults.CATEGORIES):
        assert name in CATEGORIES or name in TUNING_CATEGORIES
        assert {**CATEGORIES, **TUNING_CATEGORIES}[name] not in HELD_OUT


def test_form_settings_cap_epochs_and_use_the_cpu_suggestions():
    train, _ = make_category("coffee", size=64, n_train=4, n_test_good=1, n_per_defect=0)
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
