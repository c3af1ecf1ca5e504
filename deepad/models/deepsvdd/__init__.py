"""Deep SVDD, Deep SAD and HSC: hypersphere detectors on one bias-free network."""

from deepad.models.deepsvdd.detector import (
    HSC,
    DeepSAD,
    DeepSADConfig,
    DeepSVDD,
    DeepSVDDConfig,
    HSCConfig,
    HypersphereDetector,
    Objective,
)

__all__ = [
    "HSC",
    "DeepSAD",
    "DeepSADConfig",
    "DeepSVDD",
    "DeepSVDDConfig",
    "HSCConfig",
    "HypersphereDetector",
    "Objective",
]
