"""Settings shared by every detector that reads text through frozen word embeddings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepad.config import param
from deepad.data.types import printable
from deepad.disk_cache import default_disk_cache
from deepad.text.embeddings import (
    DocumentEmbeddings,
    EmbeddingSource,
    EmbedProgress,
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
        "",
        help="For embedding = file: the name of a GloVe/fastText text file in the word-vector "
        "folder the operator allows ($DEEPAD_WORD_VECTORS); paths outside it are refused.",
        advanced=True,
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
        help="Keep computed embeddings in deepad's disk cache (DEEPAD_HOME/cache, at most "
        "DEEPAD_CACHE_MB megabytes with the backbone features).",
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


WORD_VECTORS_ENV = "DEEPAD_WORD_VECTORS"


def word_vectors_path(name: str) -> Path:
    """The word-vector file a setting names: a file in the folder the operator allows in
    ``$DEEPAD_WORD_VECTORS`` (a name, or a path that stays inside that folder). A setting
    comes from a form or a model file, so it never reaches any other file on the server;
    the messages name the setting, never the folder's other files or a file's content."""
    folder = os.environ.get(WORD_VECTORS_ENV, "").strip()
    if not folder:
        raise ValueError(
            "embedding = file reads word vectors only from the folder the operator names in "
            f"${WORD_VECTORS_ENV}, which is not set here; use minilm or minilm-static"
        )
    if not name:
        raise ValueError("embedding = file needs embedding_file: a file in the word-vector folder")
    root = Path(folder).expanduser().resolve()
    path = (root / name).resolve()  # an absolute name replaces root; resolve follows links
    shown = printable(name)
    if not path.is_relative_to(root) or path == root:
        raise ValueError(
            f"embedding_file {shown!r} is not in the word-vector folder (${WORD_VECTORS_ENV}); "
            "name a file in it"
        )
    if not path.is_file():
        raise ValueError(f"embedding_file {shown!r}: no such file in the word-vector folder")
    return path


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
        embedding_file=(
            word_vectors_path(config.embedding_file)
            if EmbeddingSource(config.embedding) == EmbeddingSource.FILE
            else None
        ),
        max_tokens=config.max_tokens,
        device=device,
        cache=default_disk_cache() if config.cache_embeddings else None,
        progress=progress,
    )
