"""DSEBM's settings and catalogue entry (no torch: the dashboard renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from deepad.config import param
from deepad.data.summary import DataSummary, suggested_image_size
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig, cpu_training
from deepad.models.registry import MethodInfo


class Architecture(enum.StrEnum):
    AUTO = "auto"
    FULLY_CONNECTED = "fully_connected"
    CONVOLUTIONAL = "convolutional"
    RECURRENT = "recurrent"


class Criterion(enum.StrEnum):
    ENERGY = "energy"
    RECONSTRUCTION = "reconstruction"


class Scaling(enum.StrEnum):
    STANDARD = "standard"
    MINMAX = "minmax"
    NONE = "none"


@dataclass(frozen=True)
class DSEBMConfig(NetworkConfig):
    architecture: Architecture = param(
        Architecture.AUTO,
        help="Energy network: auto picks fully connected for tables, convolutional for images "
        "and recurrent for sequences.",
    )
    criterion: Criterion = param(
        Criterion.ENERGY,
        help="Primary score: energy (DSEBM-e) or reconstruction error ‖∇E‖² (DSEBM-r). Both "
        "are always stored.",
    )
    noise_std: float = param(
        0.5,
        low=1e-4,
        high=10.0,
        log=True,
        help="σ of the Gaussian corruption in denoising score matching, in scaled input units.",
    )
    scaling: Scaling = param(
        Scaling.STANDARD,
        help="Input scaling fitted on the training set: per-feature standardisation, min-max "
        "to [0, 1], or none. Images always use one global mean and deviation.",
    )
    hidden: tuple[int, ...] = param(
        (64, 32),
        low=1,
        high=65_536,
        help="Widths of the fully connected softplus layers (the energy's h_L is the last).",
    )
    conv_channels: tuple[int, ...] = param(
        (32,),
        low=1,
        high=4096,
        help="Filters of each valid convolution (images).",
        advanced=True,
        kinds=("image",),
    )
    conv_kernel: int = param(
        3, low=1, high=15, help="Convolution kernel size.", advanced=True, kinds=("image",)
    )
    conv_pool: int = param(
        2,
        low=1,
        high=8,
        help="Max-pooling window after each convolution (1: none).",
        advanced=True,
        kinds=("image",),
    )
    conv_hidden: tuple[int, ...] = param(
        (128,),
        low=1,
        high=65_536,
        help="Fully connected layers after the convolutions (images).",
        advanced=True,
        kinds=("image",),
    )
    rnn_hidden: int = param(
        64,
        low=1,
        high=4096,
        help="GRU state size producing the per-step biases (sequences).",
        kinds=("sequence",),
    )
    full_gradient: bool = param(
        False,
        help="Sequences: differentiate through the RNN-made biases too, instead of the paper's "
        "per-step gradient with the biases held constant.",
        advanced=True,
        kinds=("sequence",),
    )
    image_size: int = param(
        0,
        low=0,
        high=1024,
        help="Resize images to this square size (0: the median side of the training images, "
        "at most 128).",
        kinds=("image",),
    )
    score_batch_size: int = param(
        1024, low=1, high=1_000_000, help="Items per batch when scoring.", advanced=True
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        found = cpu_training(device_type)
        size = suggested_image_size(data, device_type, cpu_cap=64, cap=128)
        if size is not None:
            found["image_size"] = size
        return found


METHODS = (
    MethodInfo(
        name="dsebm",
        title="DSEBM",
        Config=DSEBMConfig,
        kinds=frozenset({DataKind.TABLE, DataKind.IMAGE, DataKind.SEQUENCE}),
        detector="deepad.models.dsebm.detector:DSEBM",
        summary="Deep structured energy-based model (fully connected, convolutional or recurrent).",
        explains=True,
    ),
)
