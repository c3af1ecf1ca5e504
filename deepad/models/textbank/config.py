"""The text memory banks' settings and catalogue entries (no torch: the dashboard renders
them)."""

from __future__ import annotations

from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import DetectorConfig
from deepad.models.registry import MethodInfo
from deepad.text.config import TextEmbeddingConfig

WORD_WEIGHT = 0.5  # with TFIDF_WEIGHT: the best mean held-out AUROC over 20NG and Reuters
TFIDF_WEIGHT = 0.3  # (text-peers.md)


@dataclass(frozen=True)
class TextKNNConfig(TextEmbeddingConfig, DetectorConfig):
    k: int = param(
        5, low=1, high=1000, help="Nearest normal documents whose mean distance is the score."
    )
    word_weight: float = param(
        WORD_WEIGHT,
        low=0.0,
        high=10.0,
        help="Weight of a second k-NN distance, on each document's mean kept-word state (stop "
        "words and short words left out), added to the document embedding's; both in units of "
        "their spread over the leave-one-out training scores. 0: the document embedding only.",
    )
    tfidf_weight: float = param(
        TFIDF_WEIGHT,
        low=0.0,
        high=10.0,
        help="Weight of a third k-NN distance, on each document's tf-idf vector of its kept "
        "words (vocabulary and idf from the normal training documents), in the same units. "
        "0: no tf-idf channel.",
    )


@dataclass(frozen=True)
class TokenBankConfig(TextEmbeddingConfig, DetectorConfig):
    bank_size: int = param(
        4096,
        low=1,
        high=1_000_000,
        help="Word states kept in the bank, chosen by a greedy k-centre coreset (all of them "
        "when the normal documents have fewer words).",
    )
    top_words: int = param(
        0,
        low=0,
        high=512,
        help="A document's score is the mean of its this many most anomalous word scores; "
        "0: of all its words (clearly the better ranking on held-out training splits).",
    )
    coreset_projection: int = param(
        128,
        low=0,
        high=4096,
        help="Random projection size for choosing the coreset (0: the full states).",
        advanced=True,
    )
    seed: int = param(0, low=0, help="Seed of the coreset's start and projection.", advanced=True)


METHODS = (
    MethodInfo(
        name="text_knn",
        title="k-NN on document embeddings",
        Config=TextKNNConfig,
        kinds=frozenset({DataKind.TEXT}),
        detector="deepad.models.textbank.detector:TextKNN",
        summary="k-nearest-neighbour distance on MiniLM document embeddings: score = mean cosine "
        "distance to the k most similar normal documents, plus (word_weight) the same on each "
        "document's mean kept-word state and (tfidf_weight) on its tf-idf vector of kept words. "
        "No training; strong when the normal documents cover their topic well, and fast to "
        "refit.",
    ),
    MethodInfo(
        name="token_bank",
        title="Word-state memory bank (anomalous words)",
        Config=TokenBankConfig,
        kinds=frozenset({DataKind.TEXT}),
        detector="deepad.models.textbank.detector:TokenBank",
        summary="Memory bank of contextual word states (PatchCore for text): each word scores "
        "its distance to the nearest word of the normal documents, the document the mean of its "
        "highest word scores. ``explain`` shows those word scores, i.e. which words make a "
        "document anomalous.",
        explains=True,
    ),
)
