"""Detectors: one folder per method, one contract for all (see :mod:`deepad.models.base`)."""

from deepad.models.base import Detector, NotFittedError
from deepad.models.registry import (
    MethodInfo,
    catalog,
    get_method,
    list_methods,
    method_info,
    register,
    register_method,
)
from deepad.results import Explanation, FeatureWeights, ImageMaps, Scores, TokenWeights

__all__ = [
    "Detector",
    "Explanation",
    "FeatureWeights",
    "ImageMaps",
    "MethodInfo",
    "NotFittedError",
    "Scores",
    "TokenWeights",
    "catalog",
    "get_method",
    "list_methods",
    "method_info",
    "register",
    "register_method",
]
