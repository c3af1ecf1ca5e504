"""The ODDS protocol of deepsad-odds (thesis Table 2.3): splits, scaling, labeled share."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepad.bench import BenchOptions, run_suite
from deepad.bench import deepsvdd as deepsvdd_bench
from deepad.bench.deepsvdd import odds_split
from deepad.data.benchmarks.idx import IdxSplit
from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset


def _data(n_normal: int = 900, n_anomalous: int = 100) -> Dataset:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(5, 2, (n_normal, 3)), rng.normal(9, 2, (n_anomalous, 3))])
    labels = np.r_[np.full(n_normal, NORMAL), np.full(n_anomalous, ANOMALOUS)].astype(np.int8)
    names = [str(i) for i in range(len(x))]
    return Dataset(DataKind.TABLE, x.astype(np.float32), names, labels=labels)


def test_odds_split_follows_the_protocol():
    normal, known, x_test, y_test, scaling = odds_split(_data(), seed=1)
    assert len(x_test) == 400 and int(y_test.sum()) == 40  # 60:40, stratified
    assert len(normal) == 540
    # labeled anomalies are 1 % of the training set: k / (k + normals) ≈ 0.01
    assert len(known) == int(0.01 / 0.99 * 540) == 5
    training = np.vstack([normal, known])
    assert training.shape[1] == 3 and scaling.shape == (2, 3)
    # standardised with all 600 training rows (their other anomalies are dropped)
    assert np.all(np.abs(training.mean(0)) < 0.5)
    again = odds_split(_data(), seed=1)
    np.testing.assert_array_equal(again[1], known)


def test_odds_split_with_a_count_gives_nested_labeled_sets():
    data = _data()
    splits = {k: odds_split(data, seed=3, count=k) for k in (0, 2, 5)}
    assert [len(splits[k][1]) for k in (0, 2, 5)] == [0, 2, 5]
    np.testing.assert_array_equal(splits[5][1][:2], splits[2][1])
    # the unlabeled rows and the test split do not depend on k
    np.testing.assert_array_equal(splits[0][0], splits[5][0])
    np.testing.assert_array_equal(splits[0][3], splits[5][3])
    # the labeled rows are training anomalies (far from the normal mean after scaling)
    assert splits[5][1].mean() > splits[5][0].mean() + 1.0


def test_odds_split_refuses_more_labeled_anomalies_than_the_split_has():
    with pytest.raises(ValueError, match="the training split has 60"):
        odds_split(_data(), seed=0, count=61)


def test_semi_curve_quick_writes_one_row_per_count(tmp_path):
    """The quick suite on a generated ODDS file: rows for k = 0 and 2, Deep SVDD the same
    at every k (it ignores labels), Deep SAD with k = 0 equal to Deep SVDD (same objective,
    same seed), and all three separating the far cluster."""
    import scipy.io

    data = _data(300, 60)
    scipy.io.savemat(tmp_path / "toy.mat", {"X": data.items, "y": data.labels.reshape(-1, 1)})
    out = tmp_path / "semi.json"
    run_suite(
        "semi-curve",
        BenchOptions(data=tmp_path, classes=["toy"], quick=True, peers=False, output=out),
    )
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [r["labeled"] for r in rows] == [0, 2]
    assert rows[0]["Deep SVDD"] == rows[1]["Deep SVDD"]
    assert rows[0]["Deep SAD"] == pytest.approx(rows[0]["Deep SVDD"])
    assert all(r[m] > 0.8 for r in rows for m in ("Deep SVDD", "Deep SAD")) and rows[1]["HSC"] > 0.8
    assert result["command"].startswith("deepad bench semi-curve --classes toy --quick")
    assert out.with_suffix(".md").read_text().count("cardio") == 0


def _fake_idx(directory, split):
    """Ten classes of 28×28 images, class c bright in the c-th row band."""
    rng = np.random.default_rng(0 if split == "train" else 1)
    labels = np.repeat(np.arange(10), 30 if split == "train" else 6)
    images = rng.integers(0, 40, (len(labels), 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 * c : 2 * c + 4] = 250
    return IdxSplit(images, labels)


def test_fmnist_subsamples_are_seeded_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(deepsvdd_bench, "load_idx_dataset", _fake_idx)
    options = BenchOptions(data=tmp_path, extra={"train_limit": "12"})
    x_train, x_test, y_test = deepsvdd_bench._fmnist_split(options)(3)
    assert len(x_train) == 12 and x_train[:, 6:10].mean() > 200  # class 3 only
    assert len(x_test) == 60 and int((y_test == 0).sum()) == 6
    np.testing.assert_array_equal(x_train, deepsvdd_bench._fmnist_split(options)(3)[0])
    assert len(deepsvdd_bench._oe_labeled(tmp_path, 7)) == 7

    out = tmp_path / "fm.json"
    run_suite(
        "deepsvdd-fmnist",
        BenchOptions(
            data=tmp_path,
            classes=["3"],
            quick=True,
            peers=False,
            output=out,
            extra={"methods": "deepsvdd", "train_limit": "12", "batch_size": "4"},
        ),
    )
    result = json.loads(out.read_text())
    assert "--set train_limit=12" in result["command"]
    assert "subsample of 12 of the class's" in out.with_suffix(".md").read_text()
    assert result["rows"][0]["Deep SVDD"] > 0.5
