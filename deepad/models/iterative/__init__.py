"""Iterative clustering + autoencoder for unlabeled, contaminated data (paper 001, Algorithm 1)."""

from deepad.models.iterative.detector import (
    InitialClustering,
    IterativeAE,
    IterativeAEConfig,
)

__all__ = ["InitialClustering", "IterativeAE", "IterativeAEConfig"]
