"""k-nearest-neighbour distance between globally pooled pretrained features (DN2).

Bergman, Cohen and Hoshen, "Deep Nearest Neighbor Anomaly Detection" (2020): an image whose
ImageNet features are far from every normal image's is anomalous. The pooled features
describe what the image shows rather than where, so this suits anomalies that are another
kind of object (one-vs-rest), where a patch memory bank looks for local defects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch

from deepad.config import param
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.features import STAGE_CHANNELS, extract_features, input_side, nearest_distances
from deepad.models.base import Detector, Scores
from deepad.models.config import DetectorConfig
from deepad.models.registry import register
from deepad.train.loop import ProgressCallback, RunContext


@dataclass(frozen=True)
class EmbeddingKNNConfig(DetectorConfig):
    image_size: int | None = param(
        None,
        low=32,
        high=1024,
        help="Side images are resized to (empty: the most common side, kept within 112–224).",
    )
    k: int = param(2, low=1, high=1000, help="Neighbours whose mean distance is the score.")
    stages: tuple[str, ...] = param(
        ("head",),
        help="Backbone stages whose spatially averaged features are concatenated.",
        advanced=True,
    )
    normalise: bool = param(
        True, help="Scale each embedding to unit length (cosine-like distances).", advanced=True
    )
    batch_size: int = param(64, low=1, high=4096, help="Images per backbone batch.", advanced=True)
    device: str = param(
        "auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or cuda:N.", advanced=True
    )


@register
class EmbeddingKNN(Detector):
    """Mean distance to the k nearest normal images in pooled pretrained-feature space."""

    name = "embedding_knn"
    title = "Pretrained embedding kNN"
    Config = EmbeddingKNNConfig
    kinds = frozenset({DataKind.IMAGE})

    def fit(self, train: Any, **kwargs: Any) -> Self:
        """As :meth:`Detector.fit`, but a training image's own embedding is left out of its
        neighbours, so the training scores (and the threshold) are those of unseen images."""
        super().fit(train, **kwargs)
        if len(self.embeddings_) > self.config.k:
            distance, _ = nearest_distances(self.embeddings_, self.embeddings_, self.config.k + 1)
            self.decision_scores_ = distance[:, 1:].mean(dim=1).double().numpy()
            self.threshold_ = float(
                np.quantile(self.decision_scores_, 1.0 - self.config.contamination)
            )
        return self

    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        del labeled, validation, progress  # nothing is trained
        cfg: EmbeddingKNNConfig = self.config  # type: ignore[assignment]
        unknown = [s for s in cfg.stages if s not in STAGE_CHANNELS]
        if not cfg.stages or unknown:
            raise ValueError(f"unknown backbone stages {unknown}")
        if train.labels is not None and np.any(train.labels == ANOMALOUS):
            train = train.subset(np.flatnonzero(train.labels != ANOMALOUS))
        if len(train) == 0:
            raise ValueError("embedding kNN needs normal (or unlabeled) training images")
        self.image_size_ = cfg.image_size or input_side(train)
        self.embeddings_ = self._embed(train, context)

    def _embed(self, data: Dataset, context: RunContext | None = None) -> torch.Tensor:
        cfg: EmbeddingKNNConfig = self.config  # type: ignore[assignment]
        features = extract_features(
            data,
            stages=tuple(cfg.stages),
            image_size=self.image_size_,
            pooled=True,
            device=cfg.device,
            batch_size=cfg.batch_size,
            report=context.stage if context is not None else None,
        )
        embeddings = torch.cat([features[s] for s in cfg.stages], dim=1)
        if cfg.normalise:
            embeddings = torch.nn.functional.normalize(embeddings, dim=1)
        return embeddings

    def _score(self, data: Dataset) -> Scores:
        k = min(self.config.k, len(self.embeddings_))
        distance, _ = nearest_distances(self._embed(data), self.embeddings_, k)
        return Scores(
            score=distance.mean(dim=1).double().numpy(),
            components={"nearest": distance[:, 0].double().numpy()},
        )

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"embeddings": self.embeddings_}, {"image_size": self.image_size_}

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.embeddings_ = torch.as_tensor(np.asarray(tensors["embeddings"]), dtype=torch.float32)
        self.image_size_ = int(meta["image_size"])
