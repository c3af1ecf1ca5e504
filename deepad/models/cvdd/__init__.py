"""CVDD for text and its OC-SVM baselines on pooled word embeddings."""

from deepad.models.cvdd.baselines import EmbeddingOCSVM
from deepad.models.cvdd.detector import CVDD

__all__ = ["CVDD", "EmbeddingOCSVM"]
