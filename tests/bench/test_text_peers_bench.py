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


def _topic_split():
    """Two topics of made-up documents: word vectors near one of two directions, and words
    drawn from one of two vocabularies; no test split at all."""
    from deepad.bench.text_peers import Split
    from deepad.data.types import DataKind, Dataset
    from deepad.text.embeddings import DocumentEmbeddings

    rng = np.random.default_rng(0)
    words = {"a": ["rate", "bank", "loan", "bond"], "b": ["goal", "team", "match", "coach"]}
    direction = {"a": np.eye(8)[0], "b": np.eye(8)[1]}
    classes = ["a"] * 30 + ["b"] * 30
    tokens = [list(rng.choice(words[c], 6)) for c in classes]
    vectors = np.concatenate(
        [direction[c] + 0.3 * rng.normal(size=(6, 8)) for c in classes]
    ).astype(np.float16)
    offsets = np.arange(0, 6 * 61, 6, dtype=np.int64)
    pooled = vectors.astype(np.float32).reshape(60, 6, 8).mean(1)
    pools = {name: pooled for name in ("mean5", "mean3", "cls", "max")}
    emb = DocumentEmbeddings(vectors, offsets, tokens, pooled, pools)
    train = Dataset(
        DataKind.TEXT, [" ".join(t) for t in tokens], [str(i) for i in range(60)], classes=classes
    )
    return Split("toy", ("a", "b"), train, None, emb, None, 0.0)  # type: ignore[arg-type]


def test_heldout_table_reads_the_training_documents_only():
    """The table the defaults are chosen from never sees a test document (the split has
    none), and every weight pair of the grid is a column, the tf-idf channel's too."""
    from deepad.bench.text_peers import HELDOUT_WEIGHTS, _variant, heldout_rows

    rows = heldout_rows(_topic_split(), BenchOptions(peers=False))
    assert [row["class"] for row in rows] == ["a", "b"]
    for row in rows:
        for weights in HELDOUT_WEIGHTS:
            assert row[_variant(*weights)] > 0.95  # two clean topics: every variant separates
        assert row["kept-word tf-idf"] > 0.95


def test_defaults_are_the_best_mean_of_the_committed_heldout_tables():
    """text_knn's default weights are the grid's best mean held-out AUROC over 20 Newsgroups
    and Reuters in the committed runs (training splits only, no test label), and those runs
    used them."""
    import json
    from pathlib import Path

    from deepad.bench.text_peers import HELDOUT_WEIGHTS, _variant
    from deepad.models.textbank.config import TextKNNConfig

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    runs = [json.loads((results / f"text-peers-{d}.json").read_text()) for d in ("20ng", "reuters")]
    columns = {_variant(*w): w for w in HELDOUT_WEIGHTS} | {"document k=5": (0.0, 0.0)}

    def mean(column: str) -> float:
        return float(np.mean([next(iter(r["data"].values()))["heldout"][-1][column] for r in runs]))

    best = max(columns, key=mean)
    default = TextKNNConfig()
    assert columns[best] == (default.word_weight, default.tfidf_weight)
    for run in runs:
        assert run["text_knn"]["word_weight"] == default.word_weight
        assert run["text_knn"]["tfidf_weight"] == default.tfidf_weight
