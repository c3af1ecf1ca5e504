"""The contamination helper mixes the stated share of labeled anomalies into a training set."""

from __future__ import annotations

import numpy as np
import pytest

from deepad.data import contaminate
from deepad.data.types import ANOMALOUS, DataKind, Dataset


def _table(n: int, offset: float, prefix: str) -> Dataset:
    rng = np.random.default_rng(len(prefix) + n)
    items = (rng.normal(size=(n, 3)) + offset).astype(np.float32)
    names = [f"{prefix}{i}" for i in range(n)]
    return Dataset(DataKind.TABLE, items, names, columns=["a", "b", "c"])


def test_contaminate_mixes_the_stated_share():
    normal, anomalies = _table(300, 0.0, "n"), _table(60, 5.0, "a")
    mixed = contaminate(normal, anomalies, 0.1, seed=3)
    assert len(mixed) == 300 + round(0.1 * 300 / 0.9)
    assert np.mean(mixed.labels == ANOMALOUS) == pytest.approx(0.1, abs=0.005)
    assert mixed.columns == normal.columns and len(set(mixed.names)) == len(mixed)
    with pytest.raises(ValueError, match="needs"):
        contaminate(normal, anomalies.subset(range(5)), 0.2)


def test_contaminate_rejects_other_kinds_and_shares():
    normal = _table(10, 0.0, "n")
    with pytest.raises(ValueError, match="share"):
        contaminate(normal, _table(10, 5.0, "a"), 1.0)
    texts = Dataset(DataKind.TEXT, ["x"], ["t0"])
    with pytest.raises(ValueError, match="cannot mix"):
        contaminate(normal, texts, 0.1)
