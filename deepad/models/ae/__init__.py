"""Autoencoder baseline (reconstruction error) for images and tables."""

from deepad.models.ae.detector import AEConfig, Architecture, Autoencoder, Normalization

__all__ = ["AEConfig", "Architecture", "Autoencoder", "Normalization"]
