"""Feature vectors for the shallow detectors: flattened pixels or table rows, standardised."""

from __future__ import annotations

import numpy as np

from deepad.data.transforms import Standardizer, image_channels, stack_images
from deepad.data.types import DataKind, Dataset


def raw_features(data: Dataset, *, image_size: int, channels: int) -> np.ndarray:
    """``(n, d)`` float32: images resized and flattened to [0, 1] pixels, tables as they are."""
    if data.kind == DataKind.IMAGE:
        stack = stack_images(data, image_size, channels).numpy()
        return stack.reshape(len(data), -1).astype(np.float32) / 255.0
    table = np.asarray(data.items, dtype=np.float32)
    if table.ndim != 2:
        raise ValueError(f"expected a 2-D table, got shape {table.shape}")
    return table


class FeatureMap:
    """Fitted on the training set: channel count for images, then per-feature standardisation."""

    def fit(self, data: Dataset, *, image_size: int) -> np.ndarray:
        self.image_size_ = image_size
        self.channels_ = image_channels(data) if data.kind == DataKind.IMAGE else 0
        raw = raw_features(data, image_size=image_size, channels=self.channels_)
        self.standardizer_ = Standardizer().fit(raw)
        return self.standardizer_.transform(raw)

    def transform(self, data: Dataset) -> np.ndarray:
        raw = raw_features(data, image_size=self.image_size_, channels=self.channels_)
        expected = self.standardizer_.mean_.shape[0]
        if raw.shape[1] != expected:
            raise ValueError(f"expected {expected} features, got {raw.shape[1]}")
        return self.standardizer_.transform(raw)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        tensors = {f"features.{k}": v for k, v in self.standardizer_.state().items()}
        return tensors, {"image_size": self.image_size_, "channels": self.channels_}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], meta: dict[str, int]) -> FeatureMap:
        fm = cls()
        fm.image_size_ = int(meta["image_size"])
        fm.channels_ = int(meta["channels"])
        fm.standardizer_ = Standardizer.from_state(
            {k: np.asarray(tensors[f"features.{k}"]) for k in ("mean", "std")}
        )
        return fm
