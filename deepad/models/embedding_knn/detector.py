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

from deepad.data.overlap import shared_regions
from deepad.data.tiling import TilePlan
from deepad.data.types import Dataset
from deepad.features import extract_features, nearest_distances
from deepad.features.detectors import (
    common_side,
    images_per_chunk,
    plan_from_meta,
    plan_meta,
    stage_list,
    tiled,
    training_images,
)
from deepad.features.neighbours import image_duplicates, leave_out_groups
from deepad.models.base import Detector
from deepad.models.embedding_knn.config import EmbeddingKNNConfig
from deepad.models.registry import register
from deepad.results import Scores
from deepad.train.progress import ProgressCallback, RunContext


@register
class EmbeddingKNN(Detector):
    """Mean distance to the k nearest normal images in pooled pretrained-feature space."""

    name = "embedding_knn"
    tiles_: TilePlan | None = None  # how large images are cut into tiles (None: resized whole)
    _train_owner: torch.Tensor | None = None  # image of each training embedding (this fit)
    _shared: list[np.ndarray] | None = None  # training images sharing a region (this fit)

    @property
    def _per_image(self) -> int:
        return self.tiles_.grid.count if self.tiles_ is not None else 1

    def _image_max(self, values: torch.Tensor) -> torch.Tensor:
        """Per-tile values as per-image ones: each image's largest tile value."""
        return values.view(-1, self._per_image).amax(dim=1)

    def _training_scores(self, train: Dataset) -> Scores:
        """Each normal training image's distance to its k nearest other training images
        (its own embedding left out), so the threshold is set on scores like unseen ones'.
        Tiled, each tile is compared with the other images' tiles only. An image's
        near-duplicates (:func:`image_duplicates`: images close by embedding, images sharing
        a region with it) are left out with it, unless that leaves fewer than k images: a
        copy would be its nearest neighbour."""
        self._without_duplicates = 0
        n = len(self.embeddings_)
        k = self.config.k
        owner = self._train_owner if self._train_owner is not None else torch.arange(n)
        others = n - self._per_image
        if others < k:
            return self._score(train)
        distance, _ = nearest_distances(
            self.embeddings_, self.embeddings_, k, exclude=(owner, owner)
        )
        images = self.embeddings_.view(-1, self._per_image, self.embeddings_.shape[1])
        for image, groups in leave_out_groups(
            owner, image_duplicates(images.mean(dim=1), self._shared, self.config.duplicate_ratio)
        ):
            if int(groups.sum()) < k:
                continue
            rows = torch.nonzero(owner == image)[:, 0]
            alone = (torch.zeros(len(rows), dtype=torch.long), groups)
            distance[rows] = nearest_distances(
                self.embeddings_[rows], self.embeddings_, k, exclude=alone
            )[0]
            self._without_duplicates += 1
        return Scores(
            score=self._image_max(distance.mean(dim=1)).double().numpy(),
            components={"nearest": self._image_max(distance[:, 0]).double().numpy()},
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
        self.tiles_ = cfg.tile_plan(common_side(train))
        if self.tiles_ is not None:
            self.image_size_ = self.tiles_.tile  # each tile goes through at its own size
        self.embeddings_ = self._embed(train, context)
        self._shared = shared_regions(train.items) if cfg.duplicate_ratio > 0 else None
        self._train_owner = torch.arange(len(train)).repeat_interleave(self._per_image)

    def _embed(self, data: Dataset, context: RunContext | None = None) -> torch.Tensor:
        """One embedding per image, or per tile (image after image) when tiled."""
        if self.tiles_ is None:
            return self._embed_images(data, context.stage if context is not None else None)
        step = images_per_chunk(self.tiles_, 1024)
        parts = []
        for first in range(0, len(data), step):
            part = tiled(data.subset(np.arange(first, min(first + step, len(data)))), self.tiles_)
            report = None
            if context is not None:

                def report(what: str, done: int, total: int, first: int = first) -> None:
                    per = self._per_image
                    context.stage(what, first * per + done, len(data) * per)

            parts.append(self._embed_images(part, report))
        if not parts:
            return self._embed_images(data, None)
        return torch.cat(parts)

    def _embed_images(self, data: Dataset, report: Any) -> torch.Tensor:
        cfg: EmbeddingKNNConfig = self.config  # type: ignore[assignment]
        features = extract_features(
            data,
            stages=stage_list(cfg.stages),
            image_size=self.image_size_,
            pooled=True,
            device=cfg.device,
            batch_size=cfg.batch_size,
            report=report,
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
            score=self._image_max(distance.mean(dim=1)).double().numpy(),
            components={"nearest": self._image_max(distance[:, 0]).double().numpy()},
        )

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"image_size": self.image_size_, "tiles": plan_meta(self.tiles_)}
        return {"embeddings": self.embeddings_}, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        embeddings = np.asarray(tensors["embeddings"])
        if embeddings.ndim != 2 or len(embeddings) == 0 or embeddings.shape[1] == 0:
            raise ValueError(f"the memory bank must hold at least one vector ({embeddings.shape})")
        self.embeddings_ = torch.as_tensor(embeddings, dtype=torch.float32)
        self.image_size_ = int(meta["image_size"])
        self.tiles_ = plan_from_meta(meta.get("tiles"))
        self._train_owner = None
