"""PatchCore's settings and catalogue entry (no torch: the dashboard renders them)."""

from __future__ import annotations

from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import PretrainedConfig
from deepad.models.registry import MethodInfo

# the two image scores (the first is also the name of the score component kept beside it)
MAX_PATCH = "max_patch"
SMOOTHED_MAP = "smoothed_map"


@dataclass(frozen=True)
class PatchCoreConfig(PretrainedConfig):
    stages: str = param(
        "s8,s16",
        help="Backbone stages (comma-separated, s2 … s32) that make a patch embedding.",
        advanced=True,
    )
    coreset_share: float = param(
        0.1, low=0.001, high=1.0, help="Share of the training patches kept in the memory bank."
    )
    projection_dim: int = param(
        128,
        low=0,
        high=4096,
        help="Random-projection dimensions for the coreset distances (0: none).",
        advanced=True,
    )
    coreset_block: int = param(
        4096,
        low=0,
        high=10_000_000,
        help="Patches per block of the coreset search (0: all at once, slow on a CPU).",
        advanced=True,
    )
    pool: int = param(
        3, low=1, high=9, help="Side of the local average over neighbouring patches.", advanced=True
    )
    pool_border: str = param(
        "zeros",
        choices=("inside", "zeros"),
        help="Border patches of the local average: averaged over the neighbours inside the "
        "grid, or over the full window with zeros outside it (smaller at the border).",
        advanced=True,
    )
    pool_each_stage: bool = param(
        True,
        help="Average each stage over its own neighbourhood before aligning the stages "
        "(a coarse stage then sees a wider context).",
        advanced=True,
    )
    stage_align: str = param(
        "bilinear",
        choices=("geometry", "bilinear"),
        help="Coarser stages onto the finest grid: by the stated receptive-field centres of "
        "their cells, or stretched over the same extent (bilinear, as anomalib does; closer "
        "to the centres measured on the pretrained trunk).",
        advanced=True,
    )
    image_score: str = param(
        MAX_PATCH,
        choices=(MAX_PATCH, SMOOTHED_MAP),
        help="Image score: the largest patch distance, or the peak of the smoothed map.",
        advanced=True,
    )
    reweight: bool = param(
        True, help="Scale the image score by the paper's neighbourhood re-weighting."
    )
    num_neighbors: int = param(
        9, low=1, high=100, help="Bank neighbours used by the re-weighting.", advanced=True
    )
    sigma: float = param(
        4.0, low=0.0, high=64.0, help="σ in pixels of the Gaussian smoothing of the maps."
    )
    upsample: str = param(
        "nearest",
        choices=("geometry", "nearest", "bilinear"),
        help="Patch grid to pixels: cells at their receptive-field centres, linearly "
        "interpolated; or stretched over the image (nearest, or bilinear between the "
        "stretched cells' centres) with mirrored borders.",
        advanced=True,
    )
    seed: int = param(0, low=0, help="Seed of the coreset's projection and start.", advanced=True)


METHODS = (
    MethodInfo(
        name="patchcore",
        title="PatchCore (pretrained memory bank)",
        Config=PatchCoreConfig,
        kinds=frozenset({DataKind.IMAGE}),
        detector="deepad.models.patchcore.detector:PatchCore",
        summary="Nearest-neighbour distance of each patch to a coreset of normal patches.",
        explains=True,
        exports=True,
    ),
)
