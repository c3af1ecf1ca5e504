"""k-nearest-neighbour distance between pooled pretrained image embeddings."""

from deepad.models.embedding_knn.detector import EmbeddingKNN, EmbeddingKNNConfig

__all__ = ["EmbeddingKNN", "EmbeddingKNNConfig"]
