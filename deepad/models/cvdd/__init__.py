"""CVDD for text and its OC-SVM baselines on pooled word embeddings."""

from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"CVDD": "detector", "EmbeddingOCSVM": "baselines"})

__all__ = ["CVDD", "EmbeddingOCSVM"]
