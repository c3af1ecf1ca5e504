"""The shallow baselines' settings and catalogue entries (no torch: the dashboard renders
them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import DetectorConfig
from deepad.models.registry import MethodInfo


@dataclass(frozen=True)
class ShallowConfig(DetectorConfig):
    image_size: int = param(
        28,
        low=4,
        high=256,
        help="Images are resized to this side and flattened into pixel features.",
        advanced=True,
    )
    seed: int = param(0, low=0, help="Random seed.", advanced=True)


class BandwidthRule(enum.StrEnum):
    CV = "cv"  # 5-fold cross-validated log-likelihood over 2^-4 ... 2^5
    SCOTT = "scott"


@dataclass(frozen=True)
class KDEConfig(ShallowConfig):
    bandwidth: float | None = param(
        None,
        low=1e-6,
        help="Gaussian kernel bandwidth on standardised features (empty: chosen by the rule).",
    )
    bandwidth_rule: BandwidthRule = param(
        BandwidthRule.CV,
        help="cv: best mean held-out log-likelihood over 2^-4..2^5 (5 folds, training data "
        "only); scott: Scott's rule.",
    )
    cv_max_rows: int = param(
        2000,
        low=10,
        high=1_000_000,
        help="Rows (a seeded random sample) used for the bandwidth search.",
        advanced=True,
    )


def rbf_gamma_param() -> Any:
    """The RBF width setting of the kernel methods; empty picks it without labels."""
    return param(
        None,
        low=1e-9,
        log=True,
        help="RBF kernel width (empty: 'scale' = 1 / (features x variance)).",
    )


@dataclass(frozen=True)
class OCSVMConfig(ShallowConfig):
    nu: float | None = param(
        0.1,
        low=1e-4,
        high=1.0,
        help="Upper bound on the share of training points outside the boundary (empty: the "
        "contamination setting, a rule that needs no labels).",
    )
    gamma: float | None = rbf_gamma_param()


@dataclass(frozen=True)
class PCAConfig(ShallowConfig):
    components: int | None = param(
        None, low=1, help="Principal components kept (empty: use variance)."
    )
    variance: float = param(
        0.95,
        low=0.01,
        high=1.0,
        help="Keep the fewest components explaining this share of variance (when components "
        "is empty).",
    )


@dataclass(frozen=True)
class IForestConfig(ShallowConfig):
    n_estimators: int = param(100, low=1, high=10_000, help="Number of isolation trees.")
    max_samples: int = param(
        256, low=2, high=1_000_000, help="Sub-sample size per tree (capped at the set size)."
    )
    max_features: float = param(
        1.0, low=0.01, high=1.0, help="Share of features drawn for each tree.", advanced=True
    )


@dataclass(frozen=True)
class GaussianConfig(ShallowConfig):
    robust: bool = param(
        True,
        help="Estimate location and covariance by the minimum covariance determinant (MCD), "
        "which ignores the most outlying share of the training rows; off: the plain mean and "
        "covariance.",
    )
    support_fraction: float | None = param(
        None,
        low=0.5,
        high=1.0,
        help="Share of rows the MCD estimate rests on (empty: scikit-learn's (n + d + 1) / 2n).",
        advanced=True,
    )


@dataclass(frozen=True)
class KernelPCAConfig(ShallowConfig):
    components: int | None = param(
        None, low=1, help="Principal components in feature space (empty: use variance)."
    )
    variance: float = param(
        0.9,
        low=0.01,
        high=1.0,
        help="Keep the fewest components explaining this share of the feature-space variance "
        "(when components is empty).",
    )
    gamma: float | None = rbf_gamma_param()
    max_rows: int = param(
        2000,
        low=10,
        high=100_000,
        help="Training rows (a seeded random sample) the kernel matrix is built on.",
        advanced=True,
    )


_KINDS = frozenset({DataKind.IMAGE, DataKind.TABLE})
METHODS = (
    MethodInfo(
        name="gaussian",
        title="Gaussian / robust covariance (MCD)",
        Config=GaussianConfig,
        kinds=frozenset({DataKind.TABLE}),
        detector="deepad.models.shallow.covariance:Gaussian",
        summary="Mahalanobis distance to a Gaussian fitted on the standardised features. With "
        "the robust (MCD) estimate it stays usable when your normal data may contain anomalies: "
        "the estimate ignores the most outlying rows. For tables with (well) more rows than "
        "columns.",
    ),
    MethodInfo(
        name="iforest",
        title="Isolation forest",
        Config=IForestConfig,
        kinds=_KINDS,
        detector="deepad.models.shallow.detectors:IForest",
        summary="Isolation forest; score = 2^(-mean path length / c(max_samples)).",
    ),
    MethodInfo(
        name="kde",
        title="Kernel density (KDE)",
        Config=KDEConfig,
        kinds=_KINDS,
        detector="deepad.models.shallow.detectors:KDE",
        summary="Gaussian kernel density; score = negative log-density.",
    ),
    MethodInfo(
        name="kernel_pca",
        title="Kernel PCA reconstruction",
        Config=KernelPCAConfig,
        kinds=_KINDS,
        detector="deepad.models.shallow.kernel_pca:KernelPCA",
        summary="Kernel PCA reconstruction error with an RBF kernel: a non-linear subspace model "
        "of the standardised features; higher error = more anomalous.",
    ),
    MethodInfo(
        name="ocsvm",
        title="One-class SVM",
        Config=OCSVMConfig,
        kinds=_KINDS,
        detector="deepad.models.shallow.detectors:OCSVM",
        summary="One-class SVM with an RBF kernel; score = negative decision value.",
    ),
    MethodInfo(
        name="pca",
        title="PCA reconstruction",
        Config=PCAConfig,
        kinds=_KINDS,
        detector="deepad.models.shallow.detectors:PCA",
        summary="Principal subspace; score = mean squared reconstruction error of the "
        "standardised input.",
        explains=True,
    ),
)
