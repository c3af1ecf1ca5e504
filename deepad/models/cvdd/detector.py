"""Context Vector Data Description (CVDD): multi-context one-class classification for text.

Ruff et al.; thesis Section 3.2. Frozen word embeddings ``H`` of a document are pooled by ``r``
self-attention heads into ``M = H A``; each head's embedding ``m_k`` is pulled towards a context
vector ``c_k``. A document's anomaly score w.r.t. context ``k`` is the cosine distance
``d(c_k, m_k)``; the overall score is their mean (eq. 3.13) or minimum.

What a dashboard needs, besides the detector contract:

- ``score(items).components``: ``context_1`` ... ``context_r`` (each context's own score),
  ``mean``, ``min`` and ``closest_context`` (0-based index of the nearest context);
- :meth:`CVDD.context_scores`, :meth:`CVDD.closest_context`;
- :meth:`CVDD.explain` / :meth:`CVDD.attention`: each head's attention over the kept *words*
  of each document (``TokenWeights``; head ``k`` belongs to context ``k``);
- ``top_words_`` (per context, ``(word, count)`` pairs from the training documents) and
  :meth:`CVDD.context_labels`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from deepad.config import validate
from deepad.data.types import DataKind, Dataset
from deepad.explain.attention import context_word_relevance, score_word_relevance
from deepad.models.cvdd.config import (
    CLOSEST_CONTEXT,
    AlphaSchedule,
    CVDDConfig,
    ScoreAggregation,
    context_key,
)
from deepad.models.cvdd.embedded import EmbeddingDetector
from deepad.models.cvdd.loss import annealed_alpha, cvdd_loss
from deepad.models.cvdd.network import CVDDNet
from deepad.models.registry import register
from deepad.models.threshold import ThresholdSource, source_record
from deepad.results import Scores, TokenWeights
from deepad.text.embeddings import DocumentEmbeddings
from deepad.train.loop import LoopState, fit_network, forked_rng
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)


class _AlphaHook:
    """Sets α at the start of each epoch (the loss reads ``self.alpha``)."""

    def __init__(self, config: CVDDConfig) -> None:
        self.config = config
        self.alpha = config.alpha

    def on_epoch_start(self, state: LoopState) -> None:
        if self.config.alpha_schedule == AlphaSchedule.LOG:
            self.alpha = annealed_alpha(state.epoch, state.epochs)
        else:
            self.alpha = self.config.alpha


@register
class CVDD(EmbeddingDetector):
    """Text detector with r contexts of normality: r attention heads pool each document's
    words, each towards its own context vector; score = mean cosine distance to the contexts.
    Wants several hundred normal documents; with fewer, its contexts fit the training
    documents themselves and the pooled-embedding OC-SVM is the safer choice.

    Fit on precomputed embeddings with :meth:`fit_embeddings`; the views use
    :meth:`context_scores`, :meth:`closest_context`, :meth:`attention` and ``top_words_``.
    """

    name = "cvdd"

    # ----------------------------------------------------------------- training
    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        self._fit_embeddings(self._embed(train, context), progress, context)

    def _fit_embeddings(
        self, emb: DocumentEmbeddings, progress: ProgressCallback | None, context: RunContext
    ) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        net = CVDDNet(emb.dim, cfg.attention_size, cfg.n_contexts)
        with torch.no_grad():
            net.contexts.copy_(torch.from_numpy(init_contexts(emb, cfg.n_contexts, cfg.seed)))
        flat = torch.from_numpy(emb.vectors)
        hook = _AlphaHook(cfg)

        def batches(epoch: int, generator: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
            return [
                pad_batch(flat, emb.offsets, index)
                for index in length_buckets(emb.lengths, cfg.batch_size, generator)
            ]

        def loss_fn(module: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            words, mask = batch
            out = module(words, mask)
            return cvdd_loss(out.distances, net.contexts, alpha=hook.alpha, penalty=cfg.penalty)

        self.history_ = fit_network(
            net, loss_fn, batches, cfg, hooks=[hook], progress=progress, context=context
        )
        self.network_ = net.cpu().eval()
        self.dim_ = emb.dim
        distances, attention = self._forward(emb)
        self.top_words_ = top_words_per_context(
            emb.tokens, attention, distances, n_docs=cfg.top_docs
        )

    # ----------------------------------------------------------------- scoring
    def _forward(self, emb: DocumentEmbeddings) -> tuple[np.ndarray, list[np.ndarray]]:
        """Distances ``(n, r)`` and each document's attention ``(length, r)``."""
        if emb.dim != self.dim_:
            raise ValueError(f"embeddings have dimension {emb.dim}, the model expects {self.dim_}")
        flat = torch.from_numpy(emb.vectors)
        distances, attention = [], []
        with torch.inference_mode():
            for index in _chunks(len(emb), 256):
                words, mask = pad_batch(flat, emb.offsets, index)
                out = self.network_(words, mask)
                distances.append(out.distances.numpy())
                lengths = emb.lengths[index]
                attention += [a[:n].numpy() for a, n in zip(out.attention, lengths, strict=True)]
        return np.concatenate(distances).astype(np.float64), attention

    def _score(self, data: Dataset) -> Scores:
        distances, _ = self._forward(self._embed(data))
        return scores_from_distances(distances, self.config.score)

    def _explain(self, data: Dataset) -> TokenWeights:
        emb = self._embed(data)
        _, attention = self._forward(emb)
        return TokenWeights(
            tokens=[list(t) for t in emb.tokens],
            weights=[a.T.astype(np.float32) for a in attention],
            head_names=self.context_labels(),
        )

    def explain(self, items: Any, *, method: str = "default") -> TokenWeights:
        """``default``: each context's attention over the words; ``lrp``: each word's
        relevance for the document's score, with the attention held constant
        (:mod:`deepad.explain.attention`), as one row named ``relevance``."""
        if method != "lrp":
            return super().explain(items, method=method)
        data = self._checked(items)
        emb = self._embed(data)
        relevance, _ = self._word_relevance(emb)
        return TokenWeights(
            tokens=[list(t) for t in emb.tokens],
            weights=[r[None, :] for r in relevance],
            head_names=["relevance"],
        )

    def explanation_methods(self) -> list[str]:
        return ["default", "lrp"]

    def word_relevance(self, items: Any) -> tuple[list[np.ndarray], np.ndarray]:
        """Each document's per-word relevance ``(length,)`` and its score; the relevances of a
        document sum to its score (the conservation of :mod:`deepad.explain.attention`)."""
        self._check_fitted()
        return self._word_relevance(self._embed(self._checked(items)))

    def _word_relevance(self, emb: DocumentEmbeddings) -> tuple[list[np.ndarray], np.ndarray]:
        if emb.dim != self.dim_:
            raise ValueError(f"embeddings have dimension {emb.dim}, the model expects {self.dim_}")
        flat = torch.from_numpy(emb.vectors)
        out, scores = [], []
        with torch.inference_mode():
            for index in _chunks(len(emb), 256):
                words, mask = pad_batch(flat, emb.offsets, index)
                result = self.network_(words, mask)
                per_context = context_word_relevance(
                    words, mask, result.attention, self.network_.contexts
                )
                aggregation = ScoreAggregation(self.config.score).value
                per_word = score_word_relevance(per_context, result.distances, aggregation)
                scores.append(
                    scores_from_distances(
                        result.distances.double().numpy(), self.config.score
                    ).score
                )
                lengths = emb.lengths[index]
                out += [
                    r[:n].numpy().astype(np.float32) for r, n in zip(per_word, lengths, strict=True)
                ]
        return out, np.concatenate(scores) if scores else np.zeros(0)

    # ----------------------------------------------------------------- precomputed input
    def fit_embeddings(
        self,
        emb: DocumentEmbeddings,
        *,
        progress: ProgressCallback | None = None,
        context: RunContext | None = None,
    ) -> CVDD:
        """``fit`` on word embeddings computed beforehand (e.g. a benchmark's cached split)."""
        validate(self.config)
        with forked_rng():  # as Detector.fit: the caller's random draws stay as they were
            self._fit_embeddings(emb, progress, context or RunContext())
        self.decision_scores_ = self.score_embeddings(emb).score.astype(np.float64)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.config.contamination))
        self.threshold_source_ = source_record(
            ThresholdSource.TRAINING, len(self.decision_scores_), len(self.decision_scores_)
        )
        self.kind_ = DataKind.TEXT
        return self

    def score_embeddings(self, emb: DocumentEmbeddings) -> Scores:
        """``score`` on word embeddings computed beforehand."""
        distances, _ = self._forward(emb)
        return scores_from_distances(distances, self.config.score)

    # ----------------------------------------------------------------- for views
    def context_scores(self, items: Any) -> np.ndarray:
        """``(n, r)``: each document's cosine distance to each context (eq. 3.12)."""
        scores = self.score(items)
        return np.stack([scores.components[context_key(k)] for k in range(self.n_contexts)], 1)

    def closest_context(self, items: Any) -> np.ndarray:
        """0-based index of each document's nearest context."""
        return self.score(items).components[CLOSEST_CONTEXT].astype(np.int64)

    def attention(self, items: Any) -> TokenWeights:
        """Each context's attention over each document's kept words (same as ``explain``)."""
        return self.explain(items)

    @property
    def n_contexts(self) -> int:
        self._check_fitted()
        return self.network_.n_contexts

    def context_labels(self, words: int = 3) -> list[str]:
        """``"c1: shr, dividend, profit"``-style names from each context's top words."""
        return [
            f"c{k + 1}: " + ", ".join(w for w, _ in top[:words])
            for k, top in enumerate(self.top_words_)
        ]

    # ----------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {k: v.detach().cpu() for k, v in self.network_.state_dict().items()}
        meta = {
            "dim": self.dim_,
            "top_words": [[[w, int(c)] for w, c in top] for top in self.top_words_],
        }
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        cfg = self.config
        self.dim_ = int(meta["dim"])
        net = CVDDNet(self.dim_, cfg.attention_size, cfg.n_contexts)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()})
        self.network_ = net.eval()
        self.top_words_ = [[(w, int(c)) for w, c in top] for top in meta["top_words"]]


# ---------------------------------------------------------------------- building blocks
def pad_batch(
    flat: torch.Tensor, offsets: np.ndarray, index: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Documents ``index`` of a flat ``(total, d)`` word table as a zero-padded
    ``(batch, length, d)`` float32 tensor and its ``(batch, length)`` mask of real words."""
    index = np.asarray(index, dtype=np.int64)
    starts = offsets[index]
    lengths = offsets[index + 1] - starts
    width = int(lengths.max())
    steps = np.arange(width)
    mask = steps[None, :] < lengths[:, None]
    rows = np.where(mask, starts[:, None] + steps[None, :], 0)
    words = flat[torch.from_numpy(rows)].float()
    mask_t = torch.from_numpy(mask)
    return words * mask_t[..., None], mask_t


def length_buckets(
    lengths: np.ndarray, batch_size: int, generator: torch.Generator, pool: int = 20
) -> list[np.ndarray]:
    """Shuffled batches of documents of similar length, so little of a batch is padding.

    Documents are shuffled, cut into pools of ``pool`` batches, sorted by length inside each
    pool and batched; the batch order is shuffled again. Every document is in one batch.
    """
    order = torch.randperm(len(lengths), generator=generator).numpy()
    batches = []
    step = batch_size * pool
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in shuffle]


def init_contexts(emb: DocumentEmbeddings, n_contexts: int, seed: int) -> np.ndarray:
    """k-means++ centroids of the L2-normalised mean word embeddings (thesis, Optimization)."""
    from sklearn.cluster import KMeans

    means = emb.mean().astype(np.float64)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    distinct = len(np.unique(means.round(6), axis=0))
    if distinct >= n_contexts:
        km = KMeans(n_clusters=n_contexts, init="k-means++", n_init=10, random_state=seed)
        return km.fit(means).cluster_centers_.astype(np.float32)
    # Fewer distinct documents than contexts: the documents plus small random directions.
    rng = np.random.default_rng(seed)
    extra = means[rng.integers(0, len(means), n_contexts - distinct)]
    extra = extra + 0.1 * rng.standard_normal(extra.shape) / np.sqrt(means.shape[1])
    return np.concatenate([np.unique(means.round(6), axis=0), extra]).astype(np.float32)


def scores_from_distances(distances: np.ndarray, aggregation: ScoreAggregation) -> Scores:
    """Overall score and per-context components from ``(n, r)`` context distances."""
    mean, minimum = distances.mean(axis=1), distances.min(axis=1)
    components = {context_key(k): distances[:, k] for k in range(distances.shape[1])}
    components[ScoreAggregation.MEAN.value] = mean
    components[ScoreAggregation.MIN.value] = minimum
    components[CLOSEST_CONTEXT] = distances.argmin(axis=1).astype(np.float64)
    primary = minimum if aggregation == ScoreAggregation.MIN else mean
    return Scores(score=primary, components=components)


def top_words_per_context(
    tokens: list[list[str]],
    attention: list[np.ndarray],
    distances: np.ndarray,
    *,
    n_docs: int = 100,
    words_per_doc: int = 10,
    n_words: int = 10,
) -> list[list[tuple[str, int]]]:
    """For each context: the ``n_docs`` documents closest to it, their ``words_per_doc`` most
    attended words under that context's head, counted; the ``n_words`` most frequent
    (how thesis Tables 3.5-3.7 are made)."""
    out = []
    for k in range(distances.shape[1]):
        counts: Counter[str] = Counter()
        for i in np.argsort(distances[:, k], kind="stable")[:n_docs]:
            weights = attention[i][:, k]
            seen = set()
            for j in np.argsort(-weights, kind="stable"):
                word = tokens[i][j]
                if word in seen:
                    continue
                seen.add(word)
                counts[word] += 1
                if len(seen) == words_per_doc:
                    break
        out.append(counts.most_common(n_words))
    return out


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))
