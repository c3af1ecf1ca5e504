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


MAX_IMAGE_SIZE = 256  # the largest image side a shallow model is fitted on (config's bound)


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

    @property
    def dimension(self) -> int:
        """The number of features."""
        return int(self.standardizer_.mean_.shape[0])

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], meta: dict[str, int]) -> FeatureMap:
        fm = cls()
        fm.image_size_ = int(meta["image_size"])
        fm.channels_ = int(meta["channels"])
        if not 1 <= fm.image_size_ <= MAX_IMAGE_SIZE or not 0 <= fm.channels_ <= 4:
            raise ValueError(
                f"image size {fm.image_size_} / channels {fm.channels_} are out of range"
            )
        parts = {k: np.asarray(tensors[f"features.{k}"]) for k in ("mean", "std")}
        for name, part in parts.items():
            if part.ndim != 1 or len(part) < 1 or part.dtype.kind != "f":
                raise ValueError(f"the feature {name} is not a non-empty vector of numbers")
        if len(parts["mean"]) != len(parts["std"]):
            raise ValueError("the feature mean and spread differ in length")
        if fm.channels_ and len(parts["mean"]) != fm.channels_ * fm.image_size_**2:
            raise ValueError(
                f"{len(parts['mean'])} features do not match {fm.channels_} channels of "
                f"{fm.image_size_}x{fm.image_size_} pixels"
            )
        fm.standardizer_ = Standardizer.from_state(parts)
        return fm
