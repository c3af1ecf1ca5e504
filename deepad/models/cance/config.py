"""CANCE's settings and catalogue entry (no torch: the dashboard renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig, Optimizer
from deepad.models.registry import MethodInfo


class Encoder(enum.StrEnum):
    AE = "ae"  # the decoupled autoencoder
    PCA = "pca"  # a principal subspace of the standardised inputs


@dataclass(frozen=True)
class CANCEConfig(NetworkConfig):
    epochs: int = param(
        100, low=1, high=10_000, help="Stage 1: autoencoder epochs (reconstruction + penalty)."
    )
    optimizer: Optimizer = param(Optimizer.ADAMW, help="Optimiser (AdamW in the paper).")
    encoder: Encoder = param(
        Encoder.AE,
        help="Where the code and reconstruction come from: the decoupled autoencoder, or PCA "
        "of the standardised inputs (no network training before the estimation network).",
    )
    hidden: tuple[int, ...] = param(
        (64, 32), low=1, help="Widths of the autoencoder's hidden layers (decoder mirrors)."
    )
    code_size: int = param(
        4, low=1, high=1024, help="Width of the latent code (PCA components for encoder = pca)."
    )
    cov_weight: float = param(
        1.0,
        low=0.0,
        high=1e4,
        help="Weight of the squared off-diagonal latent covariance in the stage-1 loss.",
    )
    decoder_epochs: int = param(
        50, low=0, high=10_000, help="Stage 2: decoder epochs with the encoder frozen."
    )
    nce_epochs: int = param(
        100, low=1, high=10_000, help="Stage 3: epochs of the estimation network."
    )
    nce_lr: float = param(
        1e-3, low=1e-7, high=10.0, log=True, help="Learning rate of the estimation network."
    )
    estimator_hidden: tuple[int, ...] = param(
        (64, 64), low=1, help="Widths of the estimation network's tanh layers."
    )
    noise_ratio: float = param(
        2.0, low=0.1, high=100.0, help="Noise samples per data sample in NCE.", advanced=True
    )
    augment: bool = param(
        True,
        help="Add copies with artificially low reconstruction features as normal data "
        "(the 'A' of CANCE; off gives the paper's CNCE ablation).",
        advanced=True,
    )
    validation_share: float = param(
        0.1,
        low=0.0,
        high=0.5,
        help="Share of the training data held out to keep, per stage, the epoch with the "
        "lowest held-out loss (the paper's model selection); 0 keeps the last epoch.",
    )
    image_size: int = param(
        28, low=4, high=256, help="Images are resized to this side and flattened.", advanced=True
    )


METHODS = (
    MethodInfo(
        name="cance",
        title="CANCE (composite features + NCE)",
        Config=CANCEConfig,
        kinds=frozenset({DataKind.IMAGE, DataKind.TABLE}),
        detector="deepad.models.cance.detector:CANCE",
        summary="The right choice for mostly clean normal tables or small images whose "
        "anomalies the autoencoder reconstructs well (if your normal data may contain many "
        "anomalies, use the iterative clustering autoencoder).",
    ),
)
