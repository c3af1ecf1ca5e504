"""Moving maps between grids whose cells sit at known input positions (stage geometry).

A map on a grid with stride ``s`` and offset ``o`` has cell ``i`` centred on input pixel
``o + i · s``; :func:`interpolation_matrix` gives the linear interpolation from one such grid
to another (the image's pixels are the grid with stride 1 and offset 0), so aligning two
stages or upsampling a map to the image is one small matrix per axis, exact in position.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from deepad.features.backbone import StageGeometry

PIXELS = StageGeometry(stride=1, field=1, offset=0.0)


@lru_cache(maxsize=128)
def interpolation_matrix(
    n_out: int, target: StageGeometry, n_in: int, source: StageGeometry
) -> np.ndarray:
    """``(n_out, n_in)`` float32 matrix: row ``j`` linearly interpolates the source cells at
    the centre of target cell ``j`` (clamped to the outermost source centres)."""
    centre = target.offset + np.arange(n_out, dtype=np.float64) * target.stride
    position = np.clip((centre - source.offset) / source.stride, 0.0, max(n_in - 1, 0))
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    weight = position - low
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` float32 Gaussian smoothing along one axis, truncated at 4σ, each row
    normalised to sum 1 (so the borders keep their level)."""
    if sigma <= 0:
        return np.eye(n, dtype=np.float32)
    radius = math.ceil(4 * sigma)
    i = np.arange(n, dtype=np.float64)
    offset = i[:, None] - i[None, :]
    matrix = np.where(np.abs(offset) <= radius, np.exp(-(offset**2) / (2 * sigma**2)), 0.0)
    matrix /= matrix.sum(axis=1, keepdims=True)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def nearest_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``(n_out, n_in)`` float32 matrix of nearest-neighbour resizing as image libraries do it:
    output pixel ``j`` copies input cell ``floor(j · n_in / n_out)`` (each cell covers an
    equal run of pixels from the first one on; no receptive-field geometry)."""
    source = np.minimum(np.floor(np.arange(n_out) * (n_in / n_out)).astype(np.int64), n_in - 1)
    matrix = np.zeros((n_out, n_in), dtype=np.float32)
    matrix[np.arange(n_out), source] = 1.0
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def reflect_gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` float32 Gaussian smoothing along one axis with a kernel of
    ``2 · int(4σ + 0.5) + 1`` taps (normalised to sum 1) and the signal mirrored at the
    borders without repeating the edge sample (``… x2 x1 | x0 x1 x2 …``)."""
    if sigma <= 0:
        return np.eye(n, dtype=np.float32)
    radius = int(4 * sigma + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    period = max(2 * (n - 1), 1)
    matrix = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        index = np.abs(np.mod(i + taps.astype(np.int64), period))
        index = np.where(index >= n, period - index, index) if n > 1 else np.zeros_like(index)
        np.add.at(matrix[i], index, kernel)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def resample(
    maps: torch.Tensor, source: StageGeometry, target: StageGeometry, size: tuple[int, int]
):
    """``(..., h, w)`` maps on the ``source`` grid moved to a ``target`` grid of ``size`` cells."""
    # int(): under ONNX tracing the sides are traced values; the matrices are constants
    h_in, w_in = int(maps.shape[-2]), int(maps.shape[-1])
    my = torch.tensor(interpolation_matrix(int(size[0]), target, h_in, source))
    mx = torch.tensor(interpolation_matrix(int(size[1]), target, w_in, source))
    return my.to(maps) @ maps @ mx.to(maps).T
