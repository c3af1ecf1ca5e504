"""PatchCore's module: locally aware patch embeddings and the memory bank they are scored on."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from deepad.features.backbone import StageGeometry
from deepad.features.neighbours import nearest_distances, squared_distances
from deepad.features.resample import resample

STAGE_ALIGN_MODES = ("geometry", "bilinear")


class PatchCoreResult(NamedTuple):
    pred_score: torch.Tensor  # (n,) image scores
    anomaly_map: torch.Tensor  # (n, h, w) patch scores on the embedding grid
    max_patch: torch.Tensor  # (n,) the largest patch score (pred_score without re-weighting)


def patch_embeddings(
    features: dict[str, torch.Tensor],
    geometry: dict[str, StageGeometry],
    stages: tuple[str, ...],
    pool: int = 3,
    *,
    border: str = "inside",
    each_stage: bool = False,
    align: str = "geometry",
) -> tuple[torch.Tensor, StageGeometry]:
    """``(n, d, h, w)`` embeddings on the grid of the finest of ``stages`` (coarser stages
    interpolated onto it by position), averaged over ``pool × pool`` neighbourhoods; and the
    geometry of that grid.

    ``border="zeros"`` counts the window's cells outside the grid as zeros (border
    embeddings shrink toward the origin), ``"inside"`` averages only the cells inside it.
    ``each_stage`` averages every stage on its own grid before the alignment, so a coarse
    stage's window spans ``pool`` of its own (wider) cells.

    ``align="geometry"`` moves a coarser stage onto the finest grid by the input positions of
    the cells' receptive-field centres; ``"bilinear"`` stretches it over the same extent
    (``F.interpolate`` with ``align_corners=False``, as anomalib's PatchCore does), which
    places a stride-16 cell a quarter of a cell (4 input pixels) from where ``geometry`` puts it."""
    if border not in ("inside", "zeros"):
        raise ValueError(f"border must be 'inside' or 'zeros', not {border!r}")
    if align not in STAGE_ALIGN_MODES:
        raise ValueError(f"align must be one of {STAGE_ALIGN_MODES}, not {align!r}")
    finest = min(stages, key=lambda s: geometry[s].stride)
    size = tuple(features[finest].shape[-2:])

    def average(x: torch.Tensor) -> torch.Tensor:
        if pool <= 1:
            return x
        return F.avg_pool2d(
            x, pool, stride=1, padding=pool // 2, count_include_pad=border == "zeros"
        )

    def move(x: torch.Tensor, source: StageGeometry, target: StageGeometry) -> torch.Tensor:
        if align == "bilinear":
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return resample(x, source, target, size)

    if each_stage:
        pooled = {s: geometry[s].then(pool, 1) if pool > 1 else geometry[s] for s in stages}
        maps = [
            average(features[s])
            if s == finest
            else move(average(features[s]), pooled[s], pooled[finest])
            for s in stages
        ]
        return torch.cat(maps, dim=1), patch_grid(geometry, stages, pool)
    base = geometry[finest]
    maps = [features[s] if s == finest else move(features[s], geometry[s], base) for s in stages]
    return average(torch.cat(maps, dim=1)), patch_grid(geometry, stages, pool)


def patch_grid(
    geometry: dict[str, StageGeometry], stages: tuple[str, ...], pool: int
) -> StageGeometry:
    """Geometry of the embedding grid: the finest stage's, widened by the local average."""
    return geometry[min(stages, key=lambda s: geometry[s].stride)].then(pool, 1)


class MemoryBankModel(nn.Module):
    """Nearest-neighbour patch scoring against a bank of normal patch embeddings.

    The bank is a registered buffer, so it is part of the ``state_dict``. The image score is
    the largest patch distance; with ``reweight`` it is scaled as in the paper (eq. 7) by
    how isolated that patch's nearest bank entry is among its ``num_neighbors`` neighbours.
    """

    def __init__(
        self, dim: int, *, size: int = 0, reweight: bool = False, num_neighbors: int = 9
    ) -> None:
        super().__init__()
        self.register_buffer("memory_bank", torch.zeros(size, dim))
        self.reweight = reweight
        self.num_neighbors = num_neighbors

    def forward(
        self,
        embeddings: torch.Tensor,
        exclude: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> PatchCoreResult:
        """Scores of ``(n, d, h, w)`` embeddings. ``exclude = (image_groups, bank_groups)``
        (``(n,)`` integers, and the group of each bank entry or each group's bank columns, as
        :func:`nearest_distances` takes them) scores each image without the bank entries of
        its own group: a training image against the others' patches."""
        n, d, h, w = embeddings.shape
        patches = embeddings.permute(0, 2, 3, 1).reshape(n, h * w, d)
        if exclude is not None:
            exclude = (exclude[0].repeat_interleave(h * w), exclude[1])
        distance, nearest = nearest_distances(
            patches.reshape(-1, d), self.memory_bank, exclude=exclude
        )
        scores = distance[:, 0].view(n, h * w)
        best, where = scores.max(dim=1)
        image_score = best
        if self.reweight and n:
            rows = torch.arange(n)
            image_score = best * self._weights(
                patches[rows, where], nearest[:, 0].view(n, h * w)[rows, where]
            )
        return PatchCoreResult(image_score, scores.view(n, h, w), best)

    def _weights(self, worst: torch.Tensor, bank_index: torch.Tensor) -> torch.Tensor:
        """``1 − softmax`` weight of the nearest bank entry among its neighbourhood."""
        k = min(self.num_neighbors, len(self.memory_bank))
        # squared distances and topk directly (no chunked loop), so an exported graph has it
        centres = self.memory_bank[bank_index]
        support = squared_distances(centres, self.memory_bank).topk(k, dim=1, largest=False)[1]
        support_rows = self.memory_bank[support]  # (n, k, d)
        cross = torch.bmm(support_rows, worst[:, :, None])[..., 0]
        squared = worst.pow(2).sum(1, keepdim=True) - 2.0 * cross + support_rows.pow(2).sum(2)
        return 1.0 - torch.softmax(squared.clamp_min(0.0).sqrt(), dim=1)[:, 0]
