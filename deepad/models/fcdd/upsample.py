"""Gaussian receptive-field upsampling (thesis Algorithm 1) and pixel-level decisions.

Each low-resolution pixel ``a`` adds ``a · G2(c, σ)`` to the full-resolution map, where ``c`` is
the centre of its receptive field and the Gaussian is cut to the receptive field's ``r × r``
square. That is a transposed convolution with stride ``jump``; because the truncated Gaussian
is separable it equals ``M_y · A · M_xᵀ`` with two small ``(h × u)`` matrices, which is what we
compute: one 28×28 map to 224×224 is two tiny matrix products instead of a strided
transposed convolution over a padded canvas.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepad.models.fcdd.network import ReceptiveField


def default_sigma(rf_size: int) -> float:
    """The reference implementation's choice of σ for a receptive field of ``rf_size`` pixels."""
    return float(np.log10(0.45 * rf_size + 1) + 0.25) if rf_size < 32 else 10.0


def _crop_offset(rf: ReceptiveField) -> int:
    # Cropping P pixels from the full transposed-convolution output places the kernel's
    # Gaussian centre at kernel index start + P; round so that centre lies mid-kernel.
    return int(round((rf.size - 1) / 2 - rf.start))


@lru_cache(maxsize=64)
def _axis_matrix(n_low: int, n_high: int, size: int, jump: int, start: float, sigma: float):
    """``(n_high, n_low)`` float64 matrix: column ``a`` is the 1-D truncated Gaussian of pixel a."""
    rf = ReceptiveField(size=size, jump=jump, start=start)
    offset = _crop_offset(rf)
    y = np.arange(n_high, dtype=np.float64)[:, None]
    a = np.arange(n_low, dtype=np.float64)[None, :]
    kernel_index = y - a * jump + offset
    inside = (kernel_index >= 0) & (kernel_index <= size - 1)
    centre = start + a * jump
    g = np.exp(-((y - centre) ** 2) / (2.0 * sigma**2)) / math.sqrt(2.0 * math.pi * sigma**2)
    matrix = np.where(inside, g, 0.0)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def _axis_matrix32(n_low: int, n_high: int, size: int, jump: int, start: float, sigma: float):
    matrix = _axis_matrix(n_low, n_high, size, jump, start, sigma).astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def gaussian_kernel(rf: ReceptiveField, sigma: float) -> np.ndarray:
    """The ``r × r`` kernel of Algorithm 1 as a transposed convolution uses it (for checks)."""
    k = np.arange(rf.size, dtype=np.float64)
    centre = rf.start + _crop_offset(rf)
    g = np.exp(-((k - centre) ** 2) / (2.0 * sigma**2)) / math.sqrt(2.0 * math.pi * sigma**2)
    return np.outer(g, g)


def receptive_field_upsample(
    low_res: np.ndarray | torch.Tensor,
    rf: ReceptiveField,
    sigma: float | None = None,
    *,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Full-resolution maps ``A′`` from low-resolution maps ``A`` (Algorithm 1).

    ``low_res`` is ``(u, v)``, ``(n, u, v)`` or ``(n, 1, u, v)``, numpy or torch (the result has
    the same type, device and leading dimensions). ``size`` is the input image side (default
    ``u · jump``, which holds for the published networks); ``sigma`` defaults to
    :func:`default_sigma`. Differentiable when given a tensor.
    """
    sigma = default_sigma(rf.size) if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError("sigma must be positive")
    if isinstance(low_res, np.ndarray):
        maps = np.asarray(low_res, dtype=np.float32)
        h, w = _out_size(maps.shape[-2:], rf, size)
        my = _axis_matrix32(maps.shape[-2], h, rf.size, rf.jump, rf.start, sigma)
        mx = _axis_matrix32(maps.shape[-1], w, rf.size, rf.jump, rf.start, sigma)
        return my @ maps @ mx.T
    maps = low_res if low_res.is_floating_point() else low_res.float()
    h, w = _out_size(maps.shape[-2:], rf, size)
    my = torch.tensor(
        _axis_matrix(maps.shape[-2], h, rf.size, rf.jump, rf.start, sigma),
        dtype=maps.dtype,
        device=maps.device,
    )
    mx = torch.tensor(
        _axis_matrix(maps.shape[-1], w, rf.size, rf.jump, rf.start, sigma),
        dtype=maps.dtype,
        device=maps.device,
    )
    return my @ maps @ mx.T


class UpsampledMaps:
    """Full-resolution maps upsampled from low-resolution ones as each is read, so a store
    keeps only ``low_res`` and the upsampling settings: ``len``, ``shape``, ``maps[i]`` and
    iteration, as for the array they stand for."""

    def __init__(self, low_res: np.ndarray, upsampling: dict[str, Any]) -> None:
        self.low_res = low_res
        self.rf = ReceptiveField.from_json(upsampling["receptive_field"])
        self.sigma = float(upsampling["sigma"])
        self.size = int(upsampling["image_size"])

    def __len__(self) -> int:
        return len(self.low_res)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.low_res), self.size, self.size

    def __getitem__(self, row: int) -> np.ndarray:
        low = np.asarray(self.low_res[int(row)], dtype=np.float32)
        return receptive_field_upsample(low, self.rf, self.sigma, size=self.size)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[row] for row in range(len(self)))


def _out_size(
    low_shape: tuple[int, ...], rf: ReceptiveField, size: int | tuple[int, int] | None
) -> tuple[int, int]:
    if size is None:
        return low_shape[0] * rf.jump, low_shape[1] * rf.jump
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def receptive_field_upsample_conv(
    low_res: torch.Tensor, rf: ReceptiveField, sigma: float | None = None, *, size: int
) -> torch.Tensor:
    """Algorithm 1 literally, as a strided transposed convolution (``(n, 1, u, v)`` input).

    Slower than :func:`receptive_field_upsample`; kept as its independent check.
    """
    sigma = default_sigma(rf.size) if sigma is None else float(sigma)
    kernel = torch.as_tensor(gaussian_kernel(rf, sigma), dtype=low_res.dtype)[None, None]
    full = F.conv_transpose2d(low_res, kernel.to(low_res.device), stride=rf.jump)
    offset = _crop_offset(rf)
    pad_after = size + offset - full.shape[-1]
    if offset < 0 or pad_after > 0:
        before = max(0, -offset)
        full = F.pad(full, (before, max(0, pad_after), before, max(0, pad_after)))
        offset += before
    return full[..., offset : offset + size, offset : offset + size]


def defect_mask(full_res: np.ndarray, threshold: float) -> np.ndarray:
    """Binary defect mask (``uint8``, 1 = defect) of pixels whose score is above ``threshold``."""
    return (np.asarray(full_res) > threshold).astype(np.uint8)


def pixel_threshold(normal_maps: np.ndarray, *, false_positive_rate: float = 0.01) -> float:
    """Threshold flagging ``false_positive_rate`` of the pixels of maps of normal images."""
    if not 0.0 <= false_positive_rate <= 1.0:
        raise ValueError("false_positive_rate must be in [0, 1]")
    values = np.asarray(normal_maps, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no normal maps to set a pixel threshold from")
    return float(np.quantile(values, 1.0 - false_positive_rate))
