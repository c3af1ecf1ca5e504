"""Turning datasets into tensors for networks: image stacks and standardised tables."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from deepad.data.types import DataKind, Dataset


def image_channels(data: Dataset) -> int:
    """3 when any image is RGB, else 1."""
    return 3 if any(np.ndim(im) == 3 for im in data.items) else 1


def stack_images(data: Dataset, size: int, channels: int) -> torch.Tensor:
    """Resize every image to ``size``×``size`` and stack as ``uint8`` ``(n, channels, s, s)``.

    Keeping ``uint8`` until the last moment quarters host and device memory; networks convert
    with :func:`to_float`.
    """
    if data.kind != DataKind.IMAGE:
        raise ValueError(f"expected images, got {data.kind.value} data")
    out = np.empty((len(data), channels, size, size), dtype=np.uint8)
    for i, image in enumerate(data.items):
        image = np.asarray(image)
        if image.shape[:2] != (size, size):
            shrink = image.shape[0] > size or image.shape[1] > size
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (size, size), interpolation=interp)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] != channels:
            image = (
                np.repeat(image[..., :1], channels, axis=-1)
                if channels == 3
                else (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None])
            )
        out[i] = np.moveaxis(image, -1, 0)
    return torch.from_numpy(out)


def stack_masks(data: Dataset, size: int) -> torch.Tensor | None:
    """Ground-truth masks resized to ``size`` (nearest), ``(n, 1, s, s)`` uint8; None if none.

    Images without a mask get an all-zero mask when they are labeled normal and -1 (unknown)
    everywhere otherwise.
    """
    if not data.has_masks:
        return None
    out = np.zeros((len(data), 1, size, size), dtype=np.int8)
    for i, mask in enumerate(data.masks or []):
        if mask is None:
            normal = data.labels is not None and data.labels[i] == 0
            out[i] = 0 if normal else -1
            continue
        resized = cv2.resize(
            np.asarray(mask, np.uint8), (size, size), interpolation=cv2.INTER_NEAREST
        )
        out[i, 0] = resized > 0
    return torch.from_numpy(out)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images to float in [0, 1] on the same device."""
    return images.float().div_(255.0)


class Standardizer:
    """Per-feature mean and standard deviation, fitted on training rows."""

    def fit(self, table: np.ndarray) -> Standardizer:
        table = np.asarray(table, dtype=np.float64)
        self.mean_ = table.mean(axis=0).astype(np.float32)
        std = table.std(axis=0)
        self.std_ = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        return self

    def transform(self, table: np.ndarray) -> np.ndarray:
        return ((np.asarray(table, dtype=np.float32) - self.mean_) / self.std_).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Standardizer:
        s = cls()
        s.mean_ = np.asarray(state["mean"], dtype=np.float32)
        s.std_ = np.asarray(state["std"], dtype=np.float32)
        return s
