"""Receptive fields and FCDD's Gaussian receptive-field upsampling (thesis Algorithm 1), numpy only.

Each low-resolution pixel ``a`` adds ``a · G2(c, σ)`` to the full-resolution map, where ``c`` is
the centre of its receptive field and the Gaussian is cut to the receptive field's ``r × r``
square. That is a transposed convolution with stride ``jump``; because the truncated Gaussian
is separable it equals ``M_y · A · M_xᵀ`` with two small ``(h × u)`` matrices, which is what we
compute: one 28×28 map to 224×224 is two tiny matrix products instead of a strided
transposed convolution over a padded canvas.

This lives outside :mod:`deepad.models.fcdd` so the dashboard can re-upsample stored maps with
another σ without importing torch; :mod:`deepad.models.fcdd.upsample` adds the torch paths.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ReceptiveField:
    """Where output pixel ``(u, v)`` looks in the input.

    Its field is ``size`` pixels wide and centred on input coordinate ``start + u * jump``
    (pixel ``i`` has its centre at coordinate ``i``, so a centre may fall between pixels).
    """

    size: int
    jump: int
    start: float

    def centre(self, index: int) -> float:
        return self.start + index * self.jump

    def to_json(self) -> dict[str, float]:
        return {"size": self.size, "jump": self.jump, "start": self.start}

    @classmethod
    def from_json(cls, data: dict[str, float]) -> ReceptiveField:
        return cls(size=int(data["size"]), jump=int(data["jump"]), start=float(data["start"]))


def default_sigma(rf_size: int) -> float:
    """The reference implementation's choice of σ for a receptive field of ``rf_size`` pixels."""
    return float(np.log10(0.45 * rf_size + 1) + 0.25) if rf_size < 32 else 10.0


def checked_sigma(rf: ReceptiveField, sigma: float | None) -> float:
    """``sigma`` as a float, :func:`default_sigma` when None; it must be positive."""
    sigma = default_sigma(rf.size) if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError("sigma must be positive")
    return sigma


def crop_offset(rf: ReceptiveField) -> int:
    # Cropping P pixels from the full transposed-convolution output places the kernel's
    # Gaussian centre at kernel index start + P; round so that centre lies mid-kernel.
    return int(round((rf.size - 1) / 2 - rf.start))


@lru_cache(maxsize=64)
def axis_matrix(n_low: int, n_high: int, size: int, jump: int, start: float, sigma: float):
    """``(n_high, n_low)`` float64 matrix: column ``a`` is the 1-D truncated Gaussian of pixel a."""
    offset = crop_offset(ReceptiveField(size=size, jump=jump, start=start))
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
    matrix = axis_matrix(n_low, n_high, size, jump, start, sigma).astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def gaussian_kernel(rf: ReceptiveField, sigma: float) -> np.ndarray:
    """The ``r × r`` kernel of Algorithm 1 as a transposed convolution uses it (for checks)."""
    k = np.arange(rf.size, dtype=np.float64)
    centre = rf.start + crop_offset(rf)
    g = np.exp(-((k - centre) ** 2) / (2.0 * sigma**2)) / math.sqrt(2.0 * math.pi * sigma**2)
    return np.outer(g, g)


def output_size(
    low_shape: tuple[int, ...], rf: ReceptiveField, size: int | tuple[int, int] | None
) -> tuple[int, int]:
    """The full-resolution ``(h, w)``: ``size`` when given, else ``u · jump`` by ``v · jump``."""
    if size is None:
        return low_shape[0] * rf.jump, low_shape[1] * rf.jump
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def upsample_numpy(
    low_res: np.ndarray,
    rf: ReceptiveField,
    sigma: float | None = None,
    *,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Full-resolution float32 maps ``A′`` from low-resolution maps ``A`` (``(u, v)``,
    ``(n, u, v)`` or ``(n, 1, u, v)``; leading dimensions are kept). ``size`` and ``sigma``
    default as in :func:`deepad.models.fcdd.upsample.receptive_field_upsample`."""
    sigma = checked_sigma(rf, sigma)
    maps = np.asarray(low_res, dtype=np.float32)
    h, w = output_size(maps.shape[-2:], rf, size)
    my = _axis_matrix32(maps.shape[-2], h, rf.size, rf.jump, rf.start, sigma)
    mx = _axis_matrix32(maps.shape[-1], w, rf.size, rf.jump, rf.start, sigma)
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
        return upsample_numpy(low, self.rf, self.sigma, size=self.size)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[row] for row in range(len(self)))
