"""Shallow baselines (KDE, one-class SVM, PCA, isolation forest) under the detector contract."""

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

__all__ = [
    "KDE",
    "OCSVM",
    "PCA",
    "IForest",
    "IForestConfig",
    "KDEConfig",
    "OCSVMConfig",
    "PCAConfig",
    "ShallowDetector",
]
