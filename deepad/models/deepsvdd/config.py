"""The settings and catalogue entries of Deep SVDD, Deep SAD and HSC (no torch: the dashboard
renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from deepad.config import param
from deepad.data.summary import DataSummary, suggested_image_size
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig, cpu_training
from deepad.models.registry import MethodInfo

# The model metadata key of the soft boundary's R² (0 for the other objectives), on the scale
# of the scores, and the score component ``score − R²``; the view draws R² on the histogram.
RADIUS_SQ = "radius_sq"
MINUS_RADIUS = "minus_radius"


class Objective(enum.StrEnum):
    ONE_CLASS = "one-class"  # mean squared distance (2.11)
    SOFT_BOUNDARY = "soft-boundary"  # R² plus the distances beyond R, weighted 1/ν (2.10)


@dataclass(frozen=True)
class HypersphereConfig(NetworkConfig):
    epochs: int = param(50, low=1, high=10_000, help="Passes over the training set.")
    # Adam at its default rate and small batches: a few hundred normal items still get
    # hundreds of steps (the thesis' 1e-4 with batches of 200 assumes ~6,000 items).
    batch_size: int = param(64, low=2, high=65_536, help="Items per optimisation step.")
    lr: float = param(1e-3, low=1e-7, high=10.0, log=True, help="Learning rate.")
    image_size: int | None = param(
        None,
        low=8,
        high=512,
        help="Side images are resized to (empty: the most common side in the training set).",
    )
    filters: tuple[int, ...] = param(
        (),
        low=1,
        help="Filters per convolutional module (empty: 8, 4 for gray images up to 28 pixels, "
        "else 32, 64, 128); the last repeats when larger images need more pooling stages.",
        advanced=True,
    )
    hidden: tuple[int, ...] = param(
        (),
        low=1,
        help="Hidden widths of the table network (empty: 128, 64 from 100 columns up, else "
        "32, 16).",
        advanced=True,
    )
    code_size: int | None = param(
        None,
        low=1,
        high=4096,
        help="Output dimension of φ (empty: 32 for gray images up to 28 pixels, else 128; for "
        "tables 32 from 100 columns up, 8 from 16, else 4).",
    )
    pretrain_epochs: int = param(
        10,
        low=0,
        high=10_000,
        help="Epochs of autoencoder pre-training of the encoder before the main objective "
        "(0: start from random weights).",
    )
    pretrain_lr: float = param(
        1e-3,
        low=1e-7,
        high=10.0,
        log=True,
        help="Learning rate of the pre-training.",
        advanced=True,
    )
    pretrain_weight_decay: float | None = param(
        None,
        low=0.0,
        high=1.0,
        help="L2 weight decay of the pre-training (empty: the same as the main objective's).",
        advanced=True,
    )
    center_eps: float = param(
        0.1,
        low=0.0,
        high=10.0,
        help="Centre coordinates closer than this to zero are moved to ±ε (zero weights reach "
        "them trivially).",
        advanced=True,
    )

    @classmethod
    def suggested_defaults(
        cls, device_type: str, data: DataSummary | None = None
    ) -> dict[str, Any]:
        # on a CPU the convolutional φ at a photograph's own side trains for many minutes;
        # at most 64 px (192 px photos are halved twice, to 48) keeps 120 images near a
        # CPU-minute (cpu-defaults in benchmarks/results)
        found = cpu_training(device_type)
        size = suggested_image_size(data, device_type, cpu_cap=64, cap=256)
        if size is not None:
            found["image_size"] = size
        return found

@dataclass(frozen=True)
class DeepSVDDConfig(HypersphereConfig):
    objective: Objective = param(
        Objective.ONE_CLASS,
        help="one-class: mean squared distance to the centre (for clean training data); "
        "soft-boundary: a sphere of radius R that about a share ν of the data may leave.",
    )
    nu: float = param(
        0.1,
        low=1e-3,
        high=1.0,
        help="Soft boundary: upper bound on the share of training items outside the sphere.",
    )
    warmup_epochs: int = param(
        10,
        low=0,
        high=10_000,
        help="Soft boundary: epochs before the radius is first solved for (R = 0 until then).",
        advanced=True,
    )


@dataclass(frozen=True)
class SemiSupervisedConfig(HypersphereConfig):
    eta: float = param(
        1.0, low=0.0, high=100.0, help="Weight η of the labeled terms against the unlabeled ones."
    )
    outlier_exposure: str = param(
        "",
        help="Outlier exposure: the id of a registered dataset of the same kind, whose items "
        "are all trained as anomalies (empty: none).",
    )


@dataclass(frozen=True)
class DeepSADConfig(SemiSupervisedConfig):
    pass


@dataclass(frozen=True)
class HSCConfig(SemiSupervisedConfig):
    pretrain_epochs: int = param(
        0,
        low=0,
        high=10_000,
        help="Epochs of autoencoder pre-training of the encoder (0: random weights, as in the "
        "thesis).",
    )


_KINDS = frozenset({DataKind.IMAGE, DataKind.TABLE})
METHODS = (
    MethodInfo(
        name="deepsvdd",
        title="Deep SVDD",
        Config=DeepSVDDConfig,
        kinds=_KINDS,
        detector="deepad.models.deepsvdd.detector:DeepSVDD",
        summary="Deep Support Vector Data Description: the smallest sphere around the mapped data.",
        explains=True,
        exports=True,
    ),
    MethodInfo(
        name="deepsad",
        title="Deep SAD",
        Config=DeepSADConfig,
        kinds=_KINDS,
        detector="deepad.models.deepsvdd.detector:DeepSAD",
        summary="Deep Semi-supervised Anomaly Detection: Deep SVDD plus labeled normals and "
        "anomalies.",
        explains=True,
        uses_labeled=True,
        exports=True,
    ),
    MethodInfo(
        name="hsc",
        title="HSC",
        Config=HSCConfig,
        kinds=_KINDS,
        detector="deepad.models.deepsvdd.detector:HSC",
        summary="Hypersphere Classifier: cross-entropy with a radial, pseudo-Huber normal class "
        "at 0.",
        explains=True,
        uses_labeled=True,
        exports=True,
    ),
)
