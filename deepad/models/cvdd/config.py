"""The settings and catalogue entries of CVDD and its pooled-embedding OC-SVM baseline (no
torch: the dashboard renders them)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import DetectorConfig, NetworkConfig, Schedule
from deepad.models.registry import MethodInfo
from deepad.text.config import TextEmbeddingConfig

# Names of CVDD's score components, shared by the detector and its view: one per context
# (``context_1`` … ``context_r``), the index of the nearest context, and the two aggregates.
CONTEXT_PREFIX = "context_"
CLOSEST_CONTEXT = "closest_context"


def context_key(k: int) -> str:
    """The component of context ``k`` (0-based): ``context_1`` for the first."""
    return f"{CONTEXT_PREFIX}{k + 1}"


def context_keys(components: Iterable[str]) -> list[str]:
    """The per-context components among ``components``, in context order."""
    found = [
        c for c in components if c.startswith(CONTEXT_PREFIX) and c[len(CONTEXT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda c: int(c[len(CONTEXT_PREFIX) :]))


class AlphaSchedule(enum.StrEnum):
    LOG = "log"  # 0, 1e-4, 1e-3, 1e-2, 1e-1, each for a fifth of the epochs
    CONSTANT = "constant"


class ScoreAggregation(enum.StrEnum):
    MEAN = "mean"
    MIN = "min"


@dataclass(frozen=True)
class CVDDConfig(TextEmbeddingConfig, NetworkConfig):
    n_contexts: int = param(3, low=1, high=64, help="Number of contexts r (attention heads).")
    attention_size: int = param(
        150, low=1, high=4096, help="Hidden size d_a of the self-attention.", advanced=True
    )
    penalty: float = param(
        1.0, low=0.0, high=1000.0, help="λ, weight of the context orthogonality penalty."
    )
    alpha_schedule: AlphaSchedule = param(
        AlphaSchedule.LOG,
        help="log: α = 0, 1e-4, 1e-3, 1e-2, 1e-1 over five equal phases; constant: α fixed.",
        advanced=True,
    )
    alpha: float = param(0.0, low=0.0, high=1e6, help="α for the constant schedule.", advanced=True)
    score: ScoreAggregation = param(
        ScoreAggregation.MEAN, help="Overall score: mean or minimum over the context scores."
    )
    top_docs: int = param(
        100,
        low=1,
        high=100_000,
        help="Closest training documents per context for its top words.",
        advanced=True,
    )
    # Thesis settings: Adam, batch 64, lr 0.01 for 40 epochs then 0.001 for 60, clip 0.5.
    epochs: int = param(100, low=1, high=10_000, help="Passes over the training set.")
    batch_size: int = param(64, low=1, high=65_536, help="Documents per optimisation step.")
    lr: float = param(0.01, low=1e-7, high=10.0, log=True, help="Learning rate.")
    schedule: Schedule = param(Schedule.STEP, help="Learning-rate schedule.", advanced=True)
    lr_milestones: tuple[int, ...] = param(
        (40,),
        low=1,
        help="Epochs at which a step schedule multiplies the rate by lr_gamma.",
        advanced=True,
    )
    grad_clip: float | None = param(
        0.5,
        low=0.0,
        help="Clip the gradient norm to this value (empty: no clipping).",
        advanced=True,
    )


# ---------------------------------------------------------------------- the OC-SVM baseline
class Pooling(enum.StrEnum):
    MEAN = "mean"
    TFIDF = "tfidf"
    MAX = "max"
    DOCUMENT = "document"


@dataclass(frozen=True)
class EmbeddingOCSVMConfig(TextEmbeddingConfig, DetectorConfig):
    pooling: Pooling = param(
        Pooling.MEAN,
        help="How word vectors become one document vector: mean, tf-idf weighted mean, max, "
        "or document (the model's own mean over all word-pieces).",
    )
    nu: float = param(
        0.1, low=1e-4, high=1.0, help="ν of the OC-SVM: bound on the share of training outliers."
    )


METHODS = (
    MethodInfo(
        name="cvdd",
        title="CVDD (context vector data description)",
        Config=CVDDConfig,
        kinds=frozenset({DataKind.TEXT}),
        detector="deepad.models.cvdd.detector:CVDD",
        summary="Text detector with r contexts of normality: r attention heads pool each "
        "document's words, each towards its own context vector; score = mean cosine distance to "
        "the contexts. Wants several hundred normal documents; with fewer, its contexts fit the "
        "training documents themselves and the pooled-embedding OC-SVM is the safer choice.",
        explains=True,
    ),
    MethodInfo(
        name="embedding_ocsvm",
        title="OC-SVM on pooled word embeddings",
        Config=EmbeddingOCSVMConfig,
        kinds=frozenset({DataKind.TEXT}),
        detector="deepad.models.cvdd.baselines:EmbeddingOCSVM",
        summary="One-class SVM with a cosine kernel on one pooled vector per document (mean, "
        "tf-idf weighted mean or maximum of its word vectors, or the model's document "
        "embedding): the CVDD paper's baseline, fast, and sound on small training sets.",
    ),
)
