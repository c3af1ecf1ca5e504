"""Iterative clustering + autoencoder for unlabeled, contaminated data (paper 001, Algorithm 1)."""

from deepad.models.iterative.config import InitialClustering, IterativeAEConfig
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"IterativeAE": "detector"})

__all__ = ["InitialClustering", "IterativeAE", "IterativeAEConfig"]
