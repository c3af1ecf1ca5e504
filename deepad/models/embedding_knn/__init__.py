"""k-nearest-neighbour distance between pooled pretrained image embeddings."""

from deepad.models.embedding_knn.config import EmbeddingKNNConfig
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"EmbeddingKNN": "detector"})

__all__ = ["EmbeddingKNN", "EmbeddingKNNConfig"]
