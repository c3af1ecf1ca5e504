"""text-peers: PyOD's EmbeddingOD fed cached embeddings runs its own preprocessing and
detector unchanged (checked against a hand computation), and the suite's settings."""

import numpy as np
import pytest

from deepad.bench import BenchOptions, list_suites
from deepad.bench.text_peers import _datasets, embedding_od, knn_config

pytest.importorskip("pyod")


def test_embedding_od_on_a_lookup_table_is_standardised_kth_neighbour_distance():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(40, 6)), rng.normal(size=(7, 6))
    table = {f"train:{i}": v for i, v in enumerate(train)}
    table |= {f"test:{i}": v for i, v in enumerate(test)}
    model = embedding_od("KNN", 0, table)
    model.fit([f"train:{i}" for i in range(40)])
    scores = model.decision_function([f"test:{i}" for i in range(7)])
    mean, std = train.mean(0), train.std(0)  # EmbeddingOD's StandardScaler, fitted on train
    a, b = (train - mean) / std, (test - mean) / std
    distances = np.sqrt(((b[:, None, :] - a[None]) ** 2).sum(-1))
    np.testing.assert_allclose(scores, np.sort(distances, axis=1)[:, 4], rtol=1e-4)


def test_suite_is_registered_and_reads_its_settings():
    assert "text-peers" in list_suites()
    assert _datasets(BenchOptions()) == ("20ng", "reuters")
    assert _datasets(BenchOptions(extra={"data": "reuters"})) == ("reuters",)
    assert knn_config(BenchOptions(extra={"k": "7", "data": "20ng"})).k == 7
