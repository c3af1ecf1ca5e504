"""Autoencoder baseline (reconstruction error) for images and tables."""

from deepad.models.ae.config import AEConfig, Architecture, Normalization
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"Autoencoder": "detector"})

__all__ = ["AEConfig", "Architecture", "Autoencoder", "Normalization"]
