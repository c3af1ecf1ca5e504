"""Configuration shared by all detectors, by all network detectors and by the detectors on
pretrained features (no torch: the dashboard renders these settings)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deepad.config import param
from deepad.data.tiling import (
    AUTO_FACTOR,
    BLENDS,
    DEFAULT_TILE,
    TILING_MODES,
    TilePlan,
    plan_tiles,
)
from deepad.models.threshold import NEAR_DUPLICATE_RATIO

if TYPE_CHECKING:
    from deepad.data.summary import DataSummary


class Optimizer(enum.StrEnum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"


class Schedule(enum.StrEnum):
    CONSTANT = "constant"
    STEP = "step"
    COSINE = "cosine"


class Precision(enum.StrEnum):
    AUTO = "auto"  # bf16 autocast on CUDA, fp32 elsewhere
    BF16 = "bf16"
    FP32 = "fp32"


@dataclass(frozen=True)
class DetectorConfig:
    contamination: float = param(
        0.05,
        low=0.0,
        high=0.5,
        help="Expected share of anomalies; the default threshold flags this share of the "
        "held-out normal training items (or of the leave-one-out training scores).",
    )
    threshold_holdout: float = param(
        0.15,
        low=0.0,
        high=0.5,
        help="Share of the normal training items held out of fitting (at least 10 items), "
        "whose scores set the default threshold and, for networks, stop training early; "
        "methods with leave-one-out scores use those; 0: set on the training scores.",
        advanced=True,
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        """Settings a form should start from on this kind of device (``cpu``, ``cuda``, …)
        and for this training set (``data``, read from its manifest) instead of the
        defaults; the defaults themselves never depend on the device or the data."""
        del device_type, data
        return {}


# On a CPU the Train form starts networks with early stopping: training ends once the loss on
# the held-out normal items has not improved for this many epochs (on a GPU: the published
# settings, every epoch).
CPU_PATIENCE = 5


def cpu_training(device_type: str, **settings: Any) -> dict[str, Any]:
    """The training settings a form suggests on a CPU (early stopping and ``settings``, e.g.
    fewer epochs); nothing on other devices, which keep the published settings."""
    return {"patience": CPU_PATIENCE, **settings} if device_type == "cpu" else {}


@dataclass(frozen=True)
class NetworkConfig(DetectorConfig):
    epochs: int = param(30, low=1, high=10_000, help="Passes over the training set.")
    batch_size: int = param(128, low=1, high=65_536, help="Items per optimisation step.")
    lr: float = param(1e-3, low=1e-7, high=10.0, log=True, help="Learning rate.")
    weight_decay: float = param(1e-6, low=0.0, high=1.0, help="L2 weight decay.", advanced=True)
    optimizer: Optimizer = param(Optimizer.ADAM, help="Optimiser.", advanced=True)
    schedule: Schedule = param(Schedule.CONSTANT, help="Learning-rate schedule.", advanced=True)
    lr_milestones: tuple[int, ...] = param(
        (),
        low=1,
        help="Epochs at which a step schedule multiplies the rate by lr_gamma.",
        advanced=True,
    )
    lr_gamma: float = param(0.1, low=0.0, high=1.0, help="Step schedule factor.", advanced=True)
    grad_clip: float | None = param(
        None,
        low=0.0,
        help="Clip the gradient norm to this value (empty: no clipping).",
        advanced=True,
    )
    device: str = param(
        "auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or cuda:N.", advanced=True
    )
    precision: Precision = param(
        Precision.AUTO, help="auto = bf16 autocast on CUDA only.", advanced=True
    )
    channels_last: bool = param(
        True, help="channels_last memory format for convolutions on CUDA.", advanced=True
    )
    compile: bool = param(False, help="torch.compile the network (CUDA only).", advanced=True)
    num_workers: int = param(0, low=0, high=64, help="DataLoader worker processes.", advanced=True)
    seed: int = param(0, low=0, help="Random seed.", advanced=True)
    patience: int = param(
        0,
        low=0,
        high=10_000,
        help="Stop once the loss on the held-out normal items has not improved for this many "
        "epochs, and keep the weights of its best epoch (0: train every epoch).",
    )
    checkpoint_every: int = param(
        5,
        low=0,
        help="Save a resumable checkpoint every N epochs (0: only at the end).",
        advanced=True,
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        del data
        return cpu_training(device_type)


@dataclass(frozen=True)
class PretrainedConfig(DetectorConfig):
    image_size: int | None = param(
        None,
        low=32,
        high=1024,
        help="Side images are resized to (empty: the most common side, kept within 112–224).",
    )
    batch_size: int = param(32, low=1, high=4096, help="Images per backbone batch.", advanced=True)
    device: str = param(
        "auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or cuda:N.", advanced=True
    )
    tiling: str = param(
        "auto",
        choices=TILING_MODES,
        help="Cut large images into overlapping tiles at the backbone's scale instead of "
        f"resizing them whole (auto: images at least {AUTO_FACTOR}× the tile size).",
    )
    tile_size: int | None = param(
        None,
        low=32,
        high=1024,
        help="Side of a tile in pixels (empty: the image size setting, else 224).",
        advanced=True,
    )
    tile_overlap: int = param(
        32, low=8, high=512, help="Pixels neighbouring tiles share (at least 8).", advanced=True
    )
    tile_max_side: int = param(
        1536,
        low=64,
        high=8192,
        help="Larger images are resized to this side before tiling (bounds time and memory).",
        advanced=True,
    )
    tile_blend: str = param(
        "mean",
        choices=BLENDS,
        help="Where tiles overlap, the map is their mean or their largest value.",
        advanced=True,
    )
    duplicate_ratio: float = param(
        NEAR_DUPLICATE_RATIO,
        low=0.0,
        high=1.0,
        help="The leave-one-out scores the threshold is set on also leave out an image's "
        "near-duplicates: images closer to it than this share of its median distance to the "
        "others, and images that share a region with it (overlapping crops of one picture) "
        "(0: only the image itself).",
        advanced=True,
    )

    def tile_plan(self, image_side: int | None) -> TilePlan | None:
        """How images whose most common longer side is ``image_side`` are tiled with these
        settings (:func:`deepad.data.tiling.plan_tiles`), or None where they are resized
        whole."""
        if not image_side:
            return None
        return plan_tiles(
            int(image_side),
            mode=self.tiling,
            tile=self.tile_size or self.image_size or DEFAULT_TILE,
            overlap=self.tile_overlap,
            max_side=self.tile_max_side,
        )
