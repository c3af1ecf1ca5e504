"""Pretrained embedding kNN's settings and catalogue entry (no torch: the dashboard renders
them)."""

from __future__ import annotations

from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import PretrainedConfig
from deepad.models.registry import MethodInfo


@dataclass(frozen=True)
class EmbeddingKNNConfig(PretrainedConfig):
    k: int = param(2, low=1, high=1000, help="Neighbours whose mean distance is the score.")
    stages: str = param(
        "head",
        help="Backbone stages (comma-separated, s2 … s32, head) averaged and concatenated.",
        advanced=True,
    )
    normalise: bool = param(
        True, help="Scale each embedding to unit length (cosine-like distances).", advanced=True
    )


METHODS = (
    MethodInfo(
        name="embedding_knn",
        title="Pretrained embedding kNN",
        Config=EmbeddingKNNConfig,
        kinds=frozenset({DataKind.IMAGE}),
        detector="deepad.models.embedding_knn.detector:EmbeddingKNN",
        summary="Mean distance to the k nearest normal images in pooled pretrained-feature space.",
    ),
)
