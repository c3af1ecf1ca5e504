"""Text memory banks on frozen MiniLM states: no training, only remembering normal text.

- :class:`TextKNN`: the bank holds one unit vector per normal document (MiniLM's sentence
  embedding, the mean of its word-piece states); a document's score is its mean cosine
  distance to its ``k`` nearest normal documents, plus ``word_weight`` times the same
  distance on the mean of its kept words' states and ``tfidf_weight`` times the same on its
  kept words' tf-idf vector, each standardised by its leave-one-out training scores.
- :class:`TokenBank`: the bank holds the contextual states of the normal documents' kept
  words (MiniLM's last hidden states, each word the mean of its word-pieces), cut down by a
  greedy k-centre coreset (PatchCore's recipe, on words instead of image patches). Each word
  of a document is scored by its cosine distance to the nearest bank entry; the document by
  the mean of its ``top_words`` highest word scores, or of all of them (the default: on
  held-out splits of 20 Newsgroups and Reuters the mean over all words ranks documents far
  better than the top 1-20, 0.88 vs 0.82 and 0.98 vs 0.92 AUROC, as topic shows in most
  words, not a few). ``explain`` returns the word scores, so the words no normal document
  uses in that sense stand out.

Training scores (``decision_scores_``, which set ``threshold_``) are leave-one-out: a training
document is scored without its own entries in the bank, as a new normal document would be.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from deepad.config import validate
from deepad.data.types import DataKind, Dataset
from deepad.models.cvdd.embedded import EmbeddingDetector
from deepad.models.registry import register
from deepad.models.textbank.bank import (
    KCenterGreedy,
    nearest_distances,
    sparse_knn_distance,
    tfidf_rows,
    tfidf_vocabulary,
    unit_rows,
)
from deepad.models.threshold import ThresholdSource, source_record
from deepad.results import Scores, TokenWeights
from deepad.text.embeddings import DocumentEmbeddings
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)


class MemoryBankDetector(EmbeddingDetector):
    """What both banks share: fitting and scoring on document embeddings, computed here or
    beforehand (a benchmark's cached split), and leave-one-out training scores."""

    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        self._fit_scores = self._fit_embeddings(self._embed(train, context), context)

    def _training_scores(self, train: Dataset) -> Scores:
        scores, self._fit_scores = self._fit_scores, None
        return Scores(scores)

    def _score(self, data: Dataset) -> Scores:
        return self.score_embeddings(self._embed(data))

    def fit_embeddings(
        self, emb: DocumentEmbeddings, *, context: RunContext | None = None
    ) -> MemoryBankDetector:
        """``fit`` on document embeddings computed beforehand."""
        validate(self.config)
        self.decision_scores_ = self._fit_embeddings(emb, context or RunContext()).astype(
            np.float64
        )
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.config.contamination))
        self.threshold_source_ = source_record(
            ThresholdSource.LEAVE_ONE_OUT, len(self.decision_scores_), len(self.decision_scores_)
        )
        self.kind_ = DataKind.TEXT
        return self

    def _fit_embeddings(self, emb: DocumentEmbeddings, context: RunContext) -> np.ndarray:
        """Fill the bank from ``emb``; return the leave-one-out scores of its documents."""
        raise NotImplementedError

    def score_embeddings(self, emb: DocumentEmbeddings) -> Scores:
        """``score`` on document embeddings computed beforehand."""
        raise NotImplementedError

    def _check_dim(self, emb: DocumentEmbeddings) -> None:
        if emb.dim != self.bank_.shape[1]:
            raise ValueError(
                f"embeddings have dimension {emb.dim}, the bank holds {self.bank_.shape[1]}"
            )

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"bank": self.bank_}, {}

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        bank = np.asarray(tensors["bank"], dtype=np.float32)
        if bank.ndim != 2 or len(bank) == 0 or bank.shape[1] == 0:
            raise ValueError(f"the memory bank must hold at least one vector (shape {bank.shape})")
        self.bank_ = bank


# ---------------------------------------------------------------------- documents
CHANNELS = ("document", "words", "tfidf")  # the order of ``scales_``'s (mean, spread) pairs


@register
class TextKNN(MemoryBankDetector):
    """k-nearest-neighbour distance on MiniLM document embeddings: score = mean cosine
    distance to the k most similar normal documents, plus (word_weight) the same on each
    document's mean kept-word state and (tfidf_weight) on its tf-idf vector of kept words.
    No training; strong when the normal documents cover their topic well, and fast to
    refit.

    Each channel with a weight > 0 keeps its own bank; the score is the document distance
    plus the weighted other distances, each standardised by the mean and spread of its
    leave-one-out training scores (so they are in the same units). The tf-idf vocabulary and
    idf come from the normal training documents; words never seen there are left out of a
    document's tf-idf vector (one with no known word is as far as can be)."""

    name = "text_knn"

    def _fit_embeddings(self, emb: DocumentEmbeddings, context: RunContext) -> np.ndarray:
        cfg = self.config
        self.bank_ = unit_rows(emb.pooled)
        self.word_bank_ = unit_rows(emb.mean()) if cfg.word_weight > 0 else None
        self.tfidf_words_: list[str] = []
        self.tfidf_idf_ = np.zeros(0)
        self.tfidf_bank_ = None
        if cfg.tfidf_weight > 0:
            self.tfidf_words_, self.tfidf_idf_ = tfidf_vocabulary(emb.tokens)
            self.tfidf_bank_ = tfidf_rows(emb.tokens, self.tfidf_words_, self.tfidf_idf_)
        self.scales_ = np.tile([0.0, 1.0], len(CHANNELS))  # mean, spread of each channel
        if len(self.bank_) < 2:
            return np.zeros(len(self.bank_))
        own = np.arange(len(self.bank_))
        k = min(cfg.k, len(self.bank_) - 1)  # the others of a small training set
        distances = {"document": knn_distance(self.bank_, self.bank_, k, own)}
        if self.word_bank_ is not None:
            distances["words"] = knn_distance(self.word_bank_, self.word_bank_, k, own)
        if self.tfidf_bank_ is not None:
            distances["tfidf"] = sparse_knn_distance(
                self.tfidf_bank_, self.tfidf_bank_, k, leave_out_own=True
            )
        if len(distances) == 1:
            return distances["document"]
        for i, name in enumerate(CHANNELS):
            if name in distances:
                self.scales_[2 * i : 2 * i + 2] = distances[name].mean(), _spread(distances[name])
        return self._combined(distances)

    def _weights(self) -> dict[str, float]:
        return {
            "document": 1.0,
            "words": self.config.word_weight,
            "tfidf": self.config.tfidf_weight,
        }

    def _combined(self, distances: dict[str, np.ndarray]) -> np.ndarray:
        weights = self._weights()
        total = np.zeros(len(distances["document"]))
        for i, name in enumerate(CHANNELS):
            if name in distances:
                mean, spread = self.scales_[2 * i : 2 * i + 2]
                total += weights[name] * (distances[name] - mean) / spread
        return total

    def score_embeddings(self, emb: DocumentEmbeddings) -> Scores:
        self._check_dim(emb)
        nearest = nearest_distances(unit_rows(emb.pooled), self.bank_, self.config.k)
        document = nearest.mean(axis=1).astype(np.float64)
        distances = {"document": document}
        if self.word_bank_ is not None:
            distances["words"] = knn_distance(unit_rows(emb.mean()), self.word_bank_, self.config.k)
        if self.tfidf_bank_ is not None:
            queries = tfidf_rows(emb.tokens, self.tfidf_words_, self.tfidf_idf_)
            distances["tfidf"] = sparse_knn_distance(queries, self.tfidf_bank_, self.config.k)
        components = {"nearest": nearest[:, 0].astype(np.float64), **distances}
        if len(distances) == 1:
            return Scores(score=document, components=components)
        return Scores(score=self._combined(distances), components=components)

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {"bank": self.bank_, "scales": self.scales_}
        meta: dict[str, Any] = {}
        if self.word_bank_ is not None:
            tensors["word_bank"] = self.word_bank_
        if self.tfidf_bank_ is not None:
            bank = self.tfidf_bank_
            tensors |= {
                "tfidf_idf": self.tfidf_idf_,
                "tfidf_data": bank.data.astype(np.float64),
                "tfidf_indices": bank.indices.astype(np.int64),
                "tfidf_indptr": bank.indptr.astype(np.int64),
            }
            meta["tfidf_words"] = list(self.tfidf_words_)
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.bank_ = np.asarray(tensors["bank"], dtype=np.float32)
        scales = np.asarray(tensors.get("scales", [0.0, 1.0, 0.0, 1.0]), dtype=np.float64)
        self.scales_ = np.tile([0.0, 1.0], len(CHANNELS))
        self.scales_[: len(scales)] = scales  # a model saved before the tf-idf channel: 4
        word_bank = tensors.get("word_bank")
        self.word_bank_ = None if word_bank is None else np.asarray(word_bank, dtype=np.float32)
        self.tfidf_words_, self.tfidf_idf_, self.tfidf_bank_ = [], np.zeros(0), None
        if "tfidf_idf" in tensors:
            from scipy import sparse

            words = [str(w) for w in meta["tfidf_words"]]
            idf = np.asarray(tensors["tfidf_idf"], dtype=np.float64)
            if len(words) != len(idf):
                raise ValueError(f"{len(words)} tf-idf words but {len(idf)} idf values")
            self.tfidf_words_, self.tfidf_idf_ = words, idf
            self.tfidf_bank_ = sparse.csr_matrix(
                (
                    np.asarray(tensors["tfidf_data"], dtype=np.float64),
                    np.asarray(tensors["tfidf_indices"], dtype=np.int64),
                    np.asarray(tensors["tfidf_indptr"], dtype=np.int64),
                ),
                shape=(len(self.bank_), len(words)),
            )


def knn_distance(
    queries: np.ndarray, bank: np.ndarray, k: int, own: np.ndarray | None = None
) -> np.ndarray:
    """Mean cosine distance of each unit query row to its ``k`` nearest unit bank rows;
    with ``own`` (the queries are the bank), a row is never its own neighbour."""
    distances = nearest_distances(queries, bank, k, query_groups=own, bank_groups=own)
    return distances.mean(axis=1).astype(np.float64)


def _spread(scores: np.ndarray) -> float:
    """Standard deviation of training scores, never 0 (identical documents)."""
    return max(float(np.std(scores)), 1e-6)


# ---------------------------------------------------------------------- words
@register
class TokenBank(MemoryBankDetector):
    """Memory bank of contextual word states (PatchCore for text): each word scores its
    distance to the nearest word of the normal documents, the document the mean of its
    highest word scores. ``explain`` shows those word scores, i.e. which words make a
    document anomalous."""

    name = "token_bank"

    def _fit_embeddings(self, emb: DocumentEmbeddings, context: RunContext) -> np.ndarray:
        cfg = self.config
        words = unit_rows(emb.vectors)
        document = np.repeat(np.arange(len(emb)), emb.lengths)
        coreset = KCenterGreedy(
            cfg.bank_size, projection_dim=cfg.coreset_projection or None, seed=cfg.seed
        )
        chosen = coreset.select(words, lambda done, total: context.stage("coreset", done, total))
        self.bank_ = words[chosen]
        log.info("word bank: %d of %d word states", len(chosen), len(words))
        leave_out = len(np.unique(document[chosen])) > 1
        distances = nearest_distances(
            words,
            self.bank_,
            query_groups=document if leave_out else None,
            bank_groups=document[chosen] if leave_out else None,
        )[:, 0]
        # the training documents' words as scored (not their vectors: those may be large)
        self._loo_words = (emb.tokens, emb.offsets, distances)
        return self._document_scores(distances, emb.offsets).score

    def word_distances(self, emb: DocumentEmbeddings) -> np.ndarray:
        """Each word's cosine distance to the nearest bank entry, flat like ``emb.vectors``."""
        self._check_dim(emb)
        return nearest_distances(unit_rows(emb.vectors), self.bank_)[:, 0]

    def score_embeddings(self, emb: DocumentEmbeddings) -> Scores:
        return self._document_scores(self.word_distances(emb), emb.offsets)

    def _document_scores(self, distances: np.ndarray, offsets: np.ndarray) -> Scores:
        return top_word_scores(distances, offsets, self.config.top_words)

    def _explain(self, data: Dataset) -> TokenWeights:
        emb = self._embed(data)
        return self._weights(emb.tokens, emb.offsets, self.word_distances(emb), range(len(emb)))

    def training_explanation(self, positions: np.ndarray) -> TokenWeights | None:
        """The training documents' word distances without their own words, kept from the
        fit in this process."""
        kept = getattr(self, "_loo_words", None)
        return None if kept is None else self._weights(*kept, positions)

    @staticmethod
    def _weights(
        tokens: list[list[str]], offsets: np.ndarray, distances: np.ndarray, positions: Any
    ) -> TokenWeights:
        """The documents at ``positions`` with their words' distances (flat, by ``offsets``)."""
        return TokenWeights(
            tokens=[list(tokens[i]) for i in positions],
            weights=[
                distances[offsets[i] : offsets[i + 1]][None, :].astype(np.float32)
                for i in positions
            ],
            head_names=["distance to the nearest normal word"],
        )


def top_word_scores(distances: np.ndarray, offsets: np.ndarray, top_words: int) -> Scores:
    """Document scores from flat word scores: the mean of each document's ``top_words``
    highest (of all of them when ``top_words`` is 0 or exceeds the document's words), with its
    highest and mean word score."""
    top, largest, mean = (np.empty(len(offsets) - 1) for _ in range(3))
    for i, (start, end) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        doc = distances[start:end]
        largest[i], mean[i] = doc.max(), doc.mean()
        top[i] = (
            np.partition(doc, -top_words)[-top_words:].mean()
            if 0 < top_words < len(doc)
            else mean[i]
        )
    return Scores(score=top, components={"max_word": largest, "mean_word": mean})
