"""The autoencoder's settings and catalogue entry (no torch: the dashboard renders them)."""

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
    DENSE = "dense"
    CONV = "conv"


class Normalization(enum.StrEnum):
    PIXEL = "pixel"  # mean and std of every pixel (feature) over the training set
    CHANNEL = "channel"  # one mean and std per colour channel


@dataclass(frozen=True)
class AEConfig(NetworkConfig):
    architecture: Architecture = param(
        Architecture.DENSE,
        help="Network for images: dense (flattened pixels) or conv (LeNet-type). Tables "
        "always use the dense network.",
    )
    image_size: int = param(
        28, low=8, high=512, help="Images are resized to this side (pixels) before the network."
    )
    code_size: int = param(32, low=1, high=4096, help="Width of the bottleneck code.")
    hidden: tuple[int, ...] = param(
        (256, 64), low=1, help="Widths of the dense encoder's hidden layers (decoder mirrors)."
    )
    filters: tuple[int, ...] = param(
        (8, 4),
        low=1,
        help="Filters per convolutional module; the last repeats when larger images need "
        "more pooling stages.",
        advanced=True,
    )
    dropout: float = param(
        0.0, low=0.0, high=0.9, help="Dropout in the dense network.", advanced=True
    )
    normalization: Normalization = param(
        Normalization.PIXEL,
        help="Standardise each pixel/feature (pixel) or each colour channel (channel) with "
        "training-set statistics; the error is measured on this scale.",
        advanced=True,
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        # a dense net on flattened 28×28 pixels fits digits, not photographs: images get the
        # convolutional net at a size near their own
        found = cpu_training(device_type)
        size = suggested_image_size(data, device_type, cpu_cap=128, cap=256)
        if size is not None:
            found.update(architecture=Architecture.CONV, image_size=size)
        return found


METHODS = (
    MethodInfo(
        name="ae",
        title="Autoencoder",
        Config=AEConfig,
        kinds=frozenset({DataKind.IMAGE, DataKind.TABLE}),
        detector="deepad.models.ae.detector:Autoencoder",
        summary="Reconstruction-error detector with a convolutional or dense autoencoder.",
        explains=True,
        exports=True,
    ),
)
