"""Text pre-processing and frozen word embeddings shared by the text detectors."""

from deepad.text.embeddings import (
    DocumentEmbeddings,
    EmbeddingSource,
    embed_documents,
    load_minilm,
    minilm_path,
)
from deepad.text.preprocess import TextPreprocessing, align_words, preprocess, word_spans

__all__ = [
    "DocumentEmbeddings",
    "EmbeddingSource",
    "TextPreprocessing",
    "align_words",
    "embed_documents",
    "load_minilm",
    "minilm_path",
    "preprocess",
    "word_spans",
]
