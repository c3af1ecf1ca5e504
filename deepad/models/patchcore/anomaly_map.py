"""Patch scores to a per-pixel anomaly map: placed on the image through the grid's geometry,
then Gaussian-smoothed (σ = 4 pixels in the paper). Both steps are one matrix per axis."""

from __future__ import annotations

import torch

from deepad.features.backbone import StageGeometry
from deepad.features.resample import PIXELS, gaussian_matrix, interpolation_matrix


class AnomalyMapGenerator:
    """``(n, h, w)`` patch scores on a grid of known geometry to ``(n, side, side)`` maps."""

    def __init__(self, *, sigma: float = 4.0) -> None:
        self.sigma = sigma

    def __call__(self, patch_scores: torch.Tensor, grid: StageGeometry, side: int) -> torch.Tensor:
        h, w = patch_scores.shape[-2:]
        smooth = torch.tensor(gaussian_matrix(side, float(self.sigma)))
        my = smooth @ torch.tensor(interpolation_matrix(side, PIXELS, h, grid))
        mx = smooth @ torch.tensor(interpolation_matrix(side, PIXELS, w, grid))
        return my.to(patch_scores) @ patch_scores @ mx.to(patch_scores).T
