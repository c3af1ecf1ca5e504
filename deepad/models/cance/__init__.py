"""CANCE: autoencoder composite features and noise-contrastive estimation (paper 003)."""

from deepad.models.cance.config import CANCEConfig, Encoder
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"CANCE": "detector"})

__all__ = ["CANCE", "CANCEConfig", "Encoder"]
