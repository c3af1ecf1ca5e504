"""Default thresholds come from normal items the model did not fit (deepad.models.threshold)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset
from deepad.models.base import Detector
from deepad.models.config import DetectorConfig
from deepad.models.threshold import (
    MIN_HELD_OUT,
    ThresholdSource,
    cross_fit_folds,
    describe_source,
    held_out_count,
    holdout_split,
    source_record,
    threshold_at,
)
from deepad.results import Scores


class Memorizer(Detector):
    """Distance to the nearest training row: zero on every row it was fitted to, so a
    threshold on its training scores flags every new item."""

    name = "memorizer_test"
    title = "Memorizer"
    Config = DetectorConfig
    kinds = frozenset({DataKind.TABLE})

    def _fit(self, train, *, labeled, validation, progress, context) -> None:
        self.bank_ = np.asarray(train.items, dtype=np.float64)
        self.validation_seen_ = None if validation is None else len(validation)

    def _score(self, data: Dataset) -> Scores:
        x = np.asarray(data.items, dtype=np.float64)
        d = ((x[:, None, :] - self.bank_[None, :, :]) ** 2).sum(-1)
        return Scores(np.sqrt(d.min(1)))

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"bank": self.bank_}, {}

    def _restore(self, tensors, meta) -> None:
        self.bank_ = np.asarray(tensors["bank"])


class CheapMemorizer(Memorizer):
    threshold_from = ThresholdSource.CROSS_FIT


def _table(n: int, seed: int, labels=None) -> Dataset:
    x = np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)
    return Dataset(kind=DataKind.TABLE, items=x, names=[f"r{i}" for i in range(n)], labels=labels)


def test_held_out_count_keeps_a_useful_share_of_small_sets():
    assert held_out_count(120, 0.15) == 18
    assert held_out_count(40, 0.15) == MIN_HELD_OUT  # at least the minimum
    assert held_out_count(2 * MIN_HELD_OUT, 0.15) == MIN_HELD_OUT
    assert held_out_count(2 * MIN_HELD_OUT - 1, 0.15) == 0  # too few: nothing held out
    assert held_out_count(1000, 0.0) == 0


def test_only_normal_items_are_held_out_and_the_draw_is_seeded():
    labels = np.array([NORMAL] * 90 + [ANOMALOUS] * 30, dtype=np.int8)
    fit, held = holdout_split(labels, 120, 0.15, seed=3)
    assert len(held) == 14 and np.all(labels[held] == NORMAL)
    assert sorted(np.r_[fit, held]) == list(range(120))
    again = holdout_split(labels, 120, 0.15, seed=3)
    np.testing.assert_array_equal(again[1], held)
    folds = cross_fit_folds(labels, 120, 0.15, seed=3)
    joined = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(joined, np.flatnonzero(labels == NORMAL))


@pytest.mark.parametrize("cls", [Memorizer, CheapMemorizer], ids=["held_out", "cross_fit"])
def test_new_normal_items_are_flagged_at_about_the_contamination(cls):
    train, fresh = _table(1000, 0), _table(4000, 1)
    detector = cls(contamination=0.05).fit(train)
    flagged = np.mean(detector.decision_function(fresh) > detector.threshold_)
    assert 0.02 <= flagged <= 0.09
    # a threshold on the scores of the items it fitted flags (nearly) everything new
    fitted = detector.decision_scores_
    if cls is Memorizer:
        fitted = fitted[holdout_split(None, 1000, 0.15, 0)[0]]
    before = np.quantile(fitted, 0.95)
    assert np.mean(detector.decision_function(fresh) > before) > 0.9


def test_held_out_model_is_trained_on_the_rest_and_validates_on_the_held_items():
    detector = Memorizer().fit(_table(120, 0))
    assert len(detector.bank_) == 102 and detector.validation_seen_ == 18
    assert detector.threshold_source_ == {"source": "held_out", "items": 18, "of": 120}
    assert detector.decision_scores_.shape == (120,)


def test_cross_fit_refits_on_every_item():
    detector = CheapMemorizer().fit(_table(120, 0))
    assert len(detector.bank_) == 120
    assert detector.threshold_source_["source"] == "cross_fit"
    assert detector.threshold_source_["items"] == 120


def test_a_given_validation_set_sets_the_threshold():
    train, validation = _table(200, 0), _table(50, 2, labels=np.zeros(50, dtype=np.int8))
    validation.labels[:5] = ANOMALOUS  # labeled anomalies of a validation set are left out
    detector = Memorizer(contamination=0.1).fit(train, validation=validation)
    assert len(detector.bank_) == 200
    normal = validation.subset(np.arange(5, 50))
    expected = threshold_at(detector.decision_function(normal), 0.1)
    assert detector.threshold_ == pytest.approx(expected)
    assert detector.threshold_source_ == {"source": "validation", "items": 45, "of": 45}


def test_small_sets_and_a_zero_share_use_the_training_scores():
    small = Memorizer().fit(_table(15, 0))
    assert small.threshold_source_["source"] == "training"
    assert small.threshold_ == pytest.approx(threshold_at(small.decision_scores_, 0.05))
    off = Memorizer(threshold_holdout=0.0).fit(_table(200, 0))
    assert off.threshold_source_["source"] == "training" and len(off.bank_) == 200
    assert "too few" in describe_source(small.threshold_source_)


def test_labeled_anomalies_in_the_training_set_are_never_held_out():
    labels = np.array([NORMAL] * 100 + [ANOMALOUS] * 20, dtype=np.int8)
    detector = Memorizer().fit(_table(120, 0, labels=labels))
    _, held = holdout_split(labels, 120, 0.15, 0)
    assert np.all(held < 100)
    assert detector.threshold_source_ == {"source": "held_out", "items": 15, "of": 100}


def test_the_source_is_saved_with_the_model(tmp_path, monkeypatch):
    from deepad.models import registry

    monkeypatch.setattr(registry, "get_method", lambda name: Memorizer)
    detector = Memorizer().fit(_table(120, 0))
    loaded = Detector.load(detector.save(tmp_path / "m"))
    assert loaded.threshold_source_ == detector.threshold_source_
    assert loaded.threshold_ == detector.threshold_
    assert "held out of training" in describe_source(loaded.threshold_source_)


def test_describe_source_reads_every_source_and_old_models():
    assert describe_source(None) == "the training scores"
    assert "leave-one-out" in describe_source({"source": "leave_one_out", "items": 9, "of": 9})
    assert "out-of-fold" in describe_source({"source": "cross_fit", "items": 9, "of": 9})
    assert "validation" in describe_source({"source": "validation", "items": 9, "of": 9})
    assert describe_source({"source": "nonsense"}) == "the training scores"
    copies = source_record(ThresholdSource.LEAVE_ONE_OUT, 360, 360, without_duplicates=240)
    assert describe_source(copies) == (
        "leave-one-out scores of the 360 training items "
        "(240 of them also without their near-duplicates)"
    )
    assert "without_duplicates" not in source_record(ThresholdSource.LEAVE_ONE_OUT, 9, 9)


def test_threshold_is_the_order_statistic_new_items_exceed_at_most_the_contamination():
    scores = np.arange(1.0, 19.0)  # 18 held-out scores 1 … 18
    assert threshold_at(scores, 0.05) == 18.0  # ⌈19 × 0.95⌉ = 19 > 18: the highest
    assert threshold_at(scores, 0.2) == 16.0  # ⌈19 × 0.8⌉ = 16
    assert threshold_at(np.arange(1.0, 100.0), 0.1) == 90.0  # ⌈100 × 0.9⌉ = 90
    assert threshold_at(scores, 0.0) == 18.0
    # the share of new exchangeable items above it: (n + 1 − k) / (n + 1) ≤ contamination
    rng = np.random.default_rng(0)
    flagged = [np.mean(rng.random(1000) > threshold_at(rng.random(18), 0.05)) for _ in range(400)]
    assert np.mean(flagged) <= 0.06
    interpolated = [
        np.mean(rng.random(1000) > np.quantile(rng.random(18), 0.95)) for _ in range(400)
    ]
    assert np.mean(interpolated) > 0.08  # what the interpolated quantile flags instead
