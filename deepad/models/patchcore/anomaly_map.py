"""Patch scores to a per-pixel anomaly map, then Gaussian smoothing (σ = 4 pixels in the
paper). Both steps are one matrix per axis, so the exported graph holds them as constants.

Two ways of placing the grid on the image (``upsample``):

- ``"geometry"``: each cell sits at the input position of its receptive field's centre and
  the pixels between centres interpolate linearly; the smoothing is a Gaussian truncated at
  4σ whose rows are renormalised at the borders.
- ``"nearest"``: the grid is stretched over the image, each cell covering an equal block of
  pixels (nearest-neighbour resizing), and the smoothing mirrors the map at the borders with
  a ``2 · int(4σ + 0.5) + 1``-tap kernel, as anomalib's PatchCore does.
- ``"bilinear"``: the grid stretched over the image as ``"nearest"`` does (cell ``i`` centred
  on pixel ``(i + ½) · side / cells − ½``), the pixels between the centres interpolated
  linearly (``F.interpolate(..., "bilinear", align_corners=False)``), and the same mirrored
  smoothing.
"""

from __future__ import annotations

import numpy as np
import torch

from deepad.features.backbone import StageGeometry
from deepad.features.resample import (
    PIXELS,
    gaussian_matrix,
    interpolation_matrix,
    nearest_matrix,
    reflect_gaussian_matrix,
)

UPSAMPLE_MODES = ("geometry", "nearest", "bilinear")


def map_matrix(side: int, n_cells: int, grid: StageGeometry, sigma: float, upsample: str):
    """``(side, n_cells)`` float32 array taking one axis of the patch grid to smoothed pixels."""
    if upsample == "geometry":
        place = interpolation_matrix(side, PIXELS, n_cells, grid)
        smooth = gaussian_matrix(side, float(sigma))
    elif upsample == "nearest":
        place = nearest_matrix(side, n_cells)
        smooth = reflect_gaussian_matrix(side, float(sigma))
    elif upsample == "bilinear":
        step = side / n_cells
        stretched = StageGeometry(stride=1, field=1, offset=(step - 1) / 2)
        place = interpolation_matrix(side, PIXELS, n_cells, _scaled(stretched, step))
        smooth = reflect_gaussian_matrix(side, float(sigma))
    else:
        raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
    return np.asarray(smooth @ place, dtype=np.float32)


def _scaled(geometry: StageGeometry, step: float) -> StageGeometry:
    """A grid whose cells lie ``step`` pixels apart from ``geometry.offset`` on (the stride
    of :class:`StageGeometry` is only read as a number by the interpolation)."""
    return StageGeometry(stride=step, field=geometry.field, offset=geometry.offset)  # type: ignore[arg-type]


class AnomalyMapGenerator:
    """``(n, h, w)`` patch scores on a grid of known geometry to ``(n, side, side)`` maps."""

    def __init__(self, *, sigma: float = 4.0, upsample: str = "geometry") -> None:
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.sigma = sigma
        self.upsample = upsample

    def __call__(self, patch_scores: torch.Tensor, grid: StageGeometry, side: int) -> torch.Tensor:
        h, w = patch_scores.shape[-2:]
        my = torch.tensor(map_matrix(side, h, grid, self.sigma, self.upsample))
        mx = torch.tensor(map_matrix(side, w, grid, self.sigma, self.upsample))
        return my.to(patch_scores) @ patch_scores @ mx.to(patch_scores).T
