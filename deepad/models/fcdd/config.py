"""FCDD's settings and catalogue entry, and the network choices they name (no torch: the
dashboard renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from deepad.config import param
from deepad.data.summary import DataSummary, suggested_image_size
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig, cpu_training
from deepad.models.registry import MethodInfo


class Backbone(enum.StrEnum):
    AUTO = "auto"  # efficientnet_lite0 for images larger than PRETRAINED_ABOVE pixels
    NONE = "none"  # the from-scratch network of ``architecture``
    EFFICIENTNET_LITE0 = "efficientnet_lite0"  # frozen pretrained trunk + trainable head


class Architecture(enum.StrEnum):
    AUTO = "auto"  # chosen by input size
    FMNIST28 = "fmnist28"  # 28×28 → 7×7, receptive field 16
    CIFAR32 = "cifar32"  # 32×32 → 8×8, receptive field 22
    VGG224 = "vgg224"  # 224×224 → 28×28, receptive field 62


# The width the Train form suggests on a CPU: at 128×128 the quarter-width VGG net trains
# about 8× faster than the published one and localised the generated defects as well
# (fcdd-defects). The configuration's own default stays 1, so settings mean one model.
CPU_WIDTH = 0.25
# The epochs the Train form suggests on a CPU, with early stopping (models.config.CPU_PATIENCE):
# 120 grey images at 192 px then train in about 3 CPU-minutes (cpu-defaults in
# benchmarks/results); on a GPU the published 30.
CPU_EPOCHS = 12


class AnomalySource(enum.StrEnum):
    CONFETTI = "confetti"  # coloured blobs pasted into normal images
    OUTLIER_EXPOSURE = "outlier_exposure"  # images of another registered dataset (oe_dataset)
    CONFETTI_AND_OE = "confetti+outlier_exposure"
    NONE = "none"  # only the labeled anomalies given to fit


class PixelLoss(enum.StrEnum):
    AUTO = "auto"  # on when labeled anomalies come with ground-truth masks
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class FCDDConfig(NetworkConfig):
    epochs: int = param(30, low=1, high=10_000, help="Passes over the normal training images.")
    # Half of each batch is normal, so one epoch takes n / 16 steps: a set of a few dozen
    # images still gets over a hundred updates in 30 epochs (with 128 it would get 30).
    batch_size: int = param(
        32, low=2, high=65_536, help="Images per optimisation step, about half of them anomalous."
    )
    image_size: int | None = param(
        None,
        low=8,
        high=1024,
        help="Side images are resized to (empty: the most common side in the training set).",
    )
    backbone: Backbone = param(
        Backbone.AUTO,
        help=(
            "efficientnet_lite0: a frozen ImageNet-pretrained trunk with a trained head; none: "
            "the from-scratch network of architecture; auto: pretrained above 64 px."
        ),
    )
    backbone_stage: str = param(
        "s8",
        help="Stage of the pretrained trunk the head reads (s4, s8, s16); frozen up to it.",
        advanced=True,
    )
    architecture: Architecture = param(
        Architecture.AUTO,
        help=(
            "From-scratch network: fmnist28 (RF 16), cifar32 (RF 22), vgg224 (RF 62); auto "
            "picks by size."
        ),
    )
    width: float = param(
        1.0,
        low=0.05,
        high=4.0,
        help=(
            "Channel multiplier of the network (1 = the published widths; on a CPU, where the "
            f"full network trains about ten times slower, the form suggests {CPU_WIDTH})."
        ),
        advanced=True,
    )
    anomalies: AnomalySource = param(
        AnomalySource.CONFETTI,
        help="Artificial anomalies to train against; labeled anomalies are always added.",
    )
    oe_dataset: str = param(
        "",
        help="Outlier-exposure images: the id of a registered image dataset (deepad ingest).",
    )
    anomaly_fraction: float = param(
        0.5, low=0.05, high=0.95, help="Share of each batch that is anomalous.", advanced=True
    )
    labeled_share: float = param(
        0.5,
        low=0.0,
        high=1.0,
        help="Share of the anomalous half taken from labeled anomalies when there are both.",
        advanced=True,
    )
    eta: float = param(1.0, low=0.0, high=100.0, help="Weight η of labeled and anomalous terms.")
    sigma: float | None = param(
        None,
        low=0.1,
        high=100.0,
        help="σ of the Gaussian upsampling of heatmaps (empty: from the receptive field).",
    )
    pixel_loss: PixelLoss = param(
        PixelLoss.AUTO,
        help="Train on upsampled heatmaps against ground-truth masks (auto: when masks exist).",
    )
    confetti_blobs: int = param(
        4, low=1, high=32, help="Most confetti blobs per image.", advanced=True
    )
    confetti_size: tuple[float, ...] = param(
        (0.05, 0.2),
        low=0.0,
        high=1.0,
        help="Range of confetti blob axes, as fractions of the image side.",
        advanced=True,
    )
    augment: bool = param(True, help="Random left-right flips during training.", advanced=True)
    shift: int = param(
        0,
        low=0,
        high=64,
        help="Random translations of up to this many pixels during training (zero fill).",
        advanced=True,
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        found: dict[str, Any] = (
            cpu_training(device_type, width=CPU_WIDTH, epochs=CPU_EPOCHS)
            if device_type == "cpu"
            else {}
        )
        size = suggested_image_size(data, device_type, cpu_cap=256, cap=256, high=1024)
        if size is not None:
            found["image_size"] = size
        return found


METHODS = (
    MethodInfo(
        name="fcdd",
        title="FCDD",
        Config=FCDDConfig,
        kinds=frozenset({DataKind.IMAGE}),
        detector="deepad.models.fcdd.detector:FCDD",
        summary="Fully convolutional one-class classifier whose output is a low-resolution "
        "heatmap.",
        explains=True,
        uses_labeled=True,
        exports=True,
    ),
)
