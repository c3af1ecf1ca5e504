"""Deep SVDD, Deep SAD and HSC: hypersphere detectors on one bias-free network."""

from deepad.models.deepsvdd.config import DeepSADConfig, DeepSVDDConfig, HSCConfig, Objective
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {name: "detector" for name in ("HSC", "DeepSAD", "DeepSVDD", "HypersphereDetector")},
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
