"""k-nearest-neighbour distance between globally pooled pretrained features (DN2).

Bergman, Cohen and Hoshen, "Deep Nearest Neighbor Anomaly Detection" (2020): an image whose
ImageNet features are far from every normal image's is anomalous. The pooled features
describe what the image shows rather than where, so this suits anomalies that are another
kind of object (one-vs-rest), where a patch memory bank looks for local defects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from deepad.data.types import Dataset
from deepad.features import extract_features, nearest_distances
from deepad.features.detectors import stage_list, training_images
from deepad.models.base import Detector
from deepad.models.embedding_knn.config import EmbeddingKNNConfig
from deepad.models.registry import register
from deepad.results import Scores
from deepad.train.progress import ProgressCallback, RunContext


@register
class EmbeddingKNN(Detector):
    """Mean distance to the k nearest normal images in pooled pretrained-feature space."""

    name = "embedding_knn"

    def _training_scores(self, train: Dataset) -> Scores:
        """Each normal training image's distance to its k nearest other training images
        (its own embedding left out), so the threshold is set on scores like unseen ones'."""
        n = len(self.embeddings_)
        if n <= self.config.k:
            return self._score(train)
        rows = torch.arange(n)
        distance, _ = nearest_distances(
            self.embeddings_, self.embeddings_, self.config.k, exclude=(rows, rows)
        )
        return Scores(
            score=distance.mean(dim=1).double().numpy(),
            components={"nearest": distance[:, 0].double().numpy()},
        )

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
        train, self.image_size_ = training_images(
            train, cfg, stage_list(cfg.stages), title=self.title, maps=False
        )
        self.embeddings_ = self._embed(train, context)

    def _embed(self, data: Dataset, context: RunContext | None = None) -> torch.Tensor:
        cfg: EmbeddingKNNConfig = self.config  # type: ignore[assignment]
        features = extract_features(
            data,
            stages=stage_list(cfg.stages),
            image_size=self.image_size_,
            pooled=True,
            device=cfg.device,
            batch_size=cfg.batch_size,
            report=context.stage if context is not None else None,
        )
        embeddings = torch.cat([features[s] for s in stage_list(cfg.stages)], dim=1)
        if cfg.normalise:
            embeddings = torch.nn.functional.normalize(embeddings, dim=1)
        return embeddings

    def _prepare(self, data: Dataset, context: RunContext) -> None:
        self._embed(data, context)  # the pooled features stay in the feature cache

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
        embeddings = np.asarray(tensors["embeddings"])
        if embeddings.ndim != 2 or len(embeddings) == 0 or embeddings.shape[1] == 0:
            raise ValueError(f"the memory bank must hold at least one vector ({embeddings.shape})")
        self.embeddings_ = torch.as_tensor(embeddings, dtype=torch.float32)
        self.image_size_ = int(meta["image_size"])
