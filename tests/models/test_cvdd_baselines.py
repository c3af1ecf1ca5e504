"""OC-SVM on pooled word embeddings: the poolings by hand, detection, save/load."""

import numpy as np
import pytest

from deepad import metrics
from deepad.models.base import Detector
from deepad.models.cvdd import EmbeddingOCSVM
from deepad.models.cvdd.baselines import Pooling, pool, tfidf_weights
from deepad.text.embeddings import DocumentEmbeddings
from tests.text.vectors import finance_docs, sports_docs, write_vectors


def _emb() -> DocumentEmbeddings:
    vectors = np.array([[1, 0], [3, 4], [0, 2]], dtype=np.float16)
    return DocumentEmbeddings(
        vectors=vectors,
        offsets=np.array([0, 2, 3]),
        tokens=[["a", "b"], ["a"]],
        pooled=np.array([[5.0, 5.0], [0.0, 1.0]], dtype=np.float32),
    )


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_poolings_by_hand():
    emb = _emb()
    np.testing.assert_allclose(pool(emb, Pooling.MEAN)[0], _unit([2, 2]))
    np.testing.assert_allclose(pool(emb, Pooling.MAX)[0], _unit([3, 4]))
    np.testing.assert_allclose(pool(emb, Pooling.DOCUMENT)[0], _unit([5, 5]))
    idf = {"a": 1.0, "b": 3.0}
    np.testing.assert_allclose(pool(emb, Pooling.TFIDF, idf)[0], _unit([1 + 9, 12]))
    np.testing.assert_allclose(pool(emb, Pooling.TFIDF, idf)[1], [0.0, 1.0])


def test_idf_is_smoothed_like_scikit_learn():
    idf = tfidf_weights([["a", "b"], ["a"], ["a", "a"]])
    assert idf["a"] == pytest.approx(np.log(4 / 4) + 1)
    assert idf["b"] == pytest.approx(np.log(4 / 2) + 1)


@pytest.mark.parametrize("pooling", ["mean", "tfidf", "max"])
def test_detects_off_topic_documents_and_round_trips(tmp_path, pooling):
    path = write_vectors(tmp_path / "vec.txt")
    det = EmbeddingOCSVM(
        pooling=pooling, embedding="file", embedding_file=str(path), cache_embeddings=False
    ).fit(finance_docs(40))
    test = finance_docs(10, seed=3) + sports_docs(10) + [""]
    scores = det.decision_function(test)
    assert scores.shape == (21,) and np.isfinite(scores).all()
    assert metrics.auroc(np.r_[np.zeros(10), np.ones(10)], scores[:20]) > 0.95
    det.save(tmp_path / "m")
    np.testing.assert_array_equal(Detector.load(tmp_path / "m").decision_function(test), scores)
