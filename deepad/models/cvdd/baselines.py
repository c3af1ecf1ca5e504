"""The CVDD paper's baselines: a one-class SVM on pooled word embeddings.

Documents are pooled to one vector by the mean, the tf-idf-weighted mean or the element-wise
maximum of their word vectors (or, with ``document``, the embedding model's own mean over all
word-pieces, stop words included). Vectors are L2-normalised and the OC-SVM uses a linear
kernel, i.e. the cosine kernel of the thesis, for which the OC-SVM equals SVDD.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from deepad.config import validate
from deepad.data.types import DataKind, Dataset
from deepad.models.cvdd.config import Pooling
from deepad.models.cvdd.embedded import EmbeddingDetector
from deepad.models.registry import register
from deepad.models.threshold import ThresholdSource, source_record
from deepad.results import Scores
from deepad.text.embeddings import DocumentEmbeddings
from deepad.train.loop import forked_rng
from deepad.train.progress import ProgressCallback, RunContext


def tfidf_weights(tokens: list[list[str]]) -> dict[str, float]:
    """Smoothed idf of every word of a corpus: ``log((1 + n) / (1 + df)) + 1``."""
    df = Counter(w for doc in tokens for w in set(doc))
    n = len(tokens)
    return {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}


def pool(
    emb: DocumentEmbeddings, pooling: Pooling, idf: dict[str, float] | None = None
) -> np.ndarray:
    """One L2-normalised vector per document, ``(n, d)`` float64."""
    if pooling == Pooling.DOCUMENT:
        vectors = emb.pooled.astype(np.float64)
    elif pooling == Pooling.MEAN:
        vectors = emb.mean().astype(np.float64)
    elif pooling == Pooling.MAX:
        vectors = np.maximum.reduceat(emb.vectors.astype(np.float64), emb.offsets[:-1], axis=0)
    else:
        if idf is None:
            raise ValueError("tf-idf pooling needs the idf table of the training corpus")
        # Words never seen in training are as rare as can be: they get the largest idf.
        unseen = max(idf.values(), default=1.0)
        weights = np.array(
            [idf.get(w, unseen) for doc in emb.tokens for w in doc], dtype=np.float64
        )
        weighted = emb.vectors.astype(np.float64) * weights[:, None]
        sums = np.add.reduceat(weighted, emb.offsets[:-1], axis=0)
        totals = np.add.reduceat(weights, emb.offsets[:-1])
        vectors = sums / totals[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@register
class EmbeddingOCSVM(EmbeddingDetector):
    """One-class SVM with a cosine kernel on one pooled vector per document (mean, tf-idf
    weighted mean or maximum of its word vectors, or the model's document embedding): the
    CVDD paper's baseline, fast, and sound on small training sets."""

    name = "embedding_ocsvm"

    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        self._fit_embeddings(self._embed(train, context))

    def _fit_embeddings(self, emb: DocumentEmbeddings) -> None:
        from sklearn.svm import OneClassSVM

        cfg = self.config
        self.idf_ = tfidf_weights(emb.tokens) if cfg.pooling == Pooling.TFIDF else {}
        x = pool(emb, cfg.pooling, self.idf_)
        svm = OneClassSVM(kernel="linear", nu=cfg.nu).fit(x)
        # With a linear kernel the decision function is <w, x> + b; keeping w and b is enough.
        self.weights_ = (svm.dual_coef_ @ svm.support_vectors_).ravel()
        self.intercept_ = float(svm.intercept_[0])

    def fit_embeddings(self, emb: DocumentEmbeddings) -> EmbeddingOCSVM:
        """``fit`` on word embeddings computed beforehand (e.g. a benchmark's cached split)."""
        validate(self.config)
        with forked_rng():  # as Detector.fit: OneClassSVM draws from numpy's global RNG
            self._fit_embeddings(emb)
        self.decision_scores_ = self.score_embeddings(emb).score.astype(np.float64)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.config.contamination))
        self.threshold_source_ = source_record(ThresholdSource.TRAINING, len(self.decision_scores_), len(self.decision_scores_))
        self.kind_ = DataKind.TEXT
        return self

    def score_embeddings(self, emb: DocumentEmbeddings) -> Scores:
        """``score`` on word embeddings computed beforehand."""
        x = pool(emb, self.config.pooling, self.idf_)
        return Scores(score=-(x @ self.weights_ + self.intercept_))

    def _score(self, data: Dataset) -> Scores:
        return self.score_embeddings(self._embed(data))

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        words = sorted(self.idf_)
        tensors = {
            "weights": self.weights_.astype(np.float64),
            "idf": np.array([self.idf_[w] for w in words], dtype=np.float64),
        }
        return tensors, {"intercept": self.intercept_, "words": words}

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.weights_ = np.asarray(tensors["weights"], dtype=np.float64)
        self.intercept_ = float(meta["intercept"])
        idf = np.asarray(tensors["idf"], dtype=np.float64)
        self.idf_ = dict(zip(meta["words"], idf.tolist(), strict=True))
