"""Settings shared by every detector that reads text through frozen word embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deepad.config import param
from deepad.text.embeddings import (
    DocumentEmbeddings,
    EmbeddingSource,
    EmbedProgress,
    default_cache_dir,
    embed_documents,
)
from deepad.text.preprocess import TextPreprocessing


@dataclass(frozen=True)
class TextEmbeddingConfig:
    """Mixed into a detector's ``Config``: how documents become word-vector matrices ``H``."""

    embedding: EmbeddingSource = param(
        EmbeddingSource.MINILM,
        help="Word vectors: minilm = contextual states of the bundled MiniLM model; "
        "minilm-static = its input embedding table; file = a GloVe/fastText text file.",
    )
    embedding_file: str = param(
        "", help="Path of the GloVe/fastText text file for embedding = file.", advanced=True
    )
    max_tokens: int = param(
        256,
        low=8,
        high=512,
        help="Word-pieces the contextual model reads per document (the rest is not embedded).",
        advanced=True,
    )
    lowercase: bool = param(True, help="Lowercase words.", advanced=True)
    strip_punctuation: bool = param(True, help="Drop punctuation.", advanced=True)
    strip_numbers: bool = param(True, help="Drop numbers.", advanced=True)
    remove_stopwords: bool = param(
        True, help="Drop English stop words (scikit-learn's list).", advanced=True
    )
    min_word_length: int = param(3, low=1, high=20, help="Shortest word kept.", advanced=True)
    cache_embeddings: bool = param(
        True,
        help="Keep computed embeddings on disk under DEEPAD_HOME/cache/embeddings.",
        advanced=True,
    )

    def preprocessing(self) -> TextPreprocessing:
        return TextPreprocessing(
            lowercase=self.lowercase,
            strip_punctuation=self.strip_punctuation,
            strip_numbers=self.strip_numbers,
            remove_stopwords=self.remove_stopwords,
            min_length=self.min_word_length,
        )


def embed_with(
    config: TextEmbeddingConfig,
    texts: Sequence[str],
    *,
    device: str = "cpu",
    progress: EmbedProgress | None = None,
) -> DocumentEmbeddings:
    """Embed ``texts`` as ``config`` says (cached on disk when it says so)."""
    return embed_documents(
        texts,
        source=config.embedding,
        prep=config.preprocessing(),
        embedding_file=config.embedding_file or None,
        max_tokens=config.max_tokens,
        device=device,
        cache_dir=default_cache_dir() if config.cache_embeddings else None,
        progress=progress,
    )
