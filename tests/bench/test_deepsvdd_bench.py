"""The ODDS protocol of deepsad-odds (thesis Table 2.3): splits, scaling, labeled share."""

from __future__ import annotations

import numpy as np

from deepad.bench.deepsvdd import odds_split
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
