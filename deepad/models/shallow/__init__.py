"""Shallow baselines (KDE, one-class SVM, PCA, kernel PCA, Gaussian / MCD, isolation forest)
under the detector contract."""

from deepad.models.lazy import lazy_exports
from deepad.models.shallow.config import (
    GaussianConfig,
    IForestConfig,
    KDEConfig,
    KernelPCAConfig,
    OCSVMConfig,
    PCAConfig,
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Gaussian": "covariance",
        "KDE": "detectors",
        "OCSVM": "detectors",
        "PCA": "detectors",
        "IForest": "detectors",
        "ShallowDetector": "detectors",
        "KernelPCA": "kernel_pca",
    },
)

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
