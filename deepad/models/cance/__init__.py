"""CANCE: autoencoder composite features and noise-contrastive estimation (paper 003)."""

from deepad.models.cance.detector import CANCE, CANCEConfig, Encoder

__all__ = ["CANCE", "CANCEConfig", "Encoder"]
