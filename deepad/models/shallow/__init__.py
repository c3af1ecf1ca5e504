"""Shallow baselines (KDE, one-class SVM, PCA, kernel PCA, Gaussian / MCD, isolation forest)
under the detector contract."""

from deepad.models.shallow.covariance import Gaussian, GaussianConfig
from deepad.models.shallow.detectors import (
    KDE,
    OCSVM,
    PCA,
    IForest,
    IForestConfig,
    KDEConfig,
    OCSVMConfig,
    PCAConfig,
    ShallowDetector,
)
from deepad.models.shallow.kernel_pca import KernelPCA, KernelPCAConfig

__all__ = [
    "KDE",
    "Gaussian",
    "GaussianConfig",
    "KernelPCA",
    "KernelPCAConfig",
    "OCSVM",
    "PCA",
    "IForest",
    "IForestConfig",
    "KDEConfig",
    "OCSVMConfig",
    "PCAConfig",
    "ShallowDetector",
]
