"""Detectors: one folder per method, one contract for all (see :mod:`deepad.models.base`)."""

from deepad.models.base import (
    Detector,
    Explanation,
    FeatureWeights,
    ImageMaps,
    NotFittedError,
    Scores,
    TokenWeights,
)
from deepad.models.registry import get_method, list_methods, register

__all__ = [
    "Detector",
    "Explanation",
    "FeatureWeights",
    "ImageMaps",
    "NotFittedError",
    "Scores",
    "TokenWeights",
    "get_method",
    "list_methods",
    "register",
]
