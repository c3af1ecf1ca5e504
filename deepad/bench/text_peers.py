"""deepad's text detector against PyOD's ``EmbeddingOD`` on the same MiniLM embeddings.

``deepad bench text-peers``: 20 Newsgroups (six top-level groups) and Reuters-21578 (seven
ModApte topics), one class normal, the rest of the test split anomalous (the protocol of
``cvdd-*`` and ``textbank-*``). Every document is embedded once by MiniLM (every layer's
pooled states from one forward pass, cached on disk) and every detector reads those arrays:

- ``EmbeddingOD KNN`` / ``EmbeddingOD LUNAR``: PyOD's ``EmbeddingOD`` itself, its encoder a
  function that returns the cached sentence embeddings (MiniLM's mean-pooled last layer, unit
  length, as sentence-transformers gives them), so its own preprocessing (StandardScaler
  fitted on the training documents) and its detectors' defaults run unchanged;
- ``deepad text_knn``: the default ``text_knn`` on the same embeddings;
- ``text_knn (old)``: the previous default (document k-NN + 0.3 x kept-word k-NN, no tf-idf).

``--set data=20ng|reuters|both`` (default both), ``--set train_per_class=N`` (default 300) and
``--set test_size=M`` (default 1500) subsample with the run's seed; ``--set cache=DIR`` keeps
the embeddings. Settings of ``text_knn`` can be overridden with ``--set key=value``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.cvdd import _auroc, _pick, _progress_bar, _sample, _splits, heldout_split
from deepad.bench.report import command_line, format_table, mean_row, write_results
from deepad.config import to_json, with_overrides
from deepad.data.types import Dataset
from deepad.disk_cache import DiskCache, disk_cache_at
from deepad.models.cvdd.config import CVDDConfig
from deepad.models.textbank.config import TextKNNConfig
from deepad.text.embeddings import DocumentEmbeddings, embed_documents

log = logging.getLogger(__name__)

DATASETS = ("20ng", "reuters")
SUITE_KEYS = ("data", "train_per_class", "test_size", "cache", "strip_quotes")
DEFAULT_TRAIN_PER_CLASS = 300
DEFAULT_TEST_SIZE = 1500


@dataclasses.dataclass
class Split:
    """One data set's sampled documents and their embeddings."""

    name: str
    classes: tuple[str, ...]
    train: Dataset
    test: Dataset
    emb_train: DocumentEmbeddings
    emb_test: DocumentEmbeddings
    embed_seconds: float


def _options(options: BenchOptions, dataset: str) -> BenchOptions:
    extra = {
        "train_per_class": str(DEFAULT_TRAIN_PER_CLASS),
        "test_size": str(DEFAULT_TEST_SIZE),
        **({"strip_quotes": "true"} if dataset == "20ng" else {}),
        **options.extra,
    }
    return dataclasses.replace(options, extra=extra)


def load_split(options: BenchOptions, dataset: str) -> Split:
    """The sampled documents of ``dataset`` and their (cached) MiniLM embeddings."""
    options = _options(options, dataset)
    train, test, (names, _) = _splits(options, dataset)
    train, test = _sample(train, test, names, options)
    text = CVDDConfig(device=options.device)  # the text settings every detector shares
    cache = disk_cache_at(options.extra.get("cache"))
    start = time.perf_counter()
    emb_train, emb_test = (_embed(data, text, cache) for data in (train, test))
    return Split(
        dataset,
        names,
        train,
        test,
        emb_train,
        emb_test,
        time.perf_counter() - start,
    )


def _embed(data: Dataset, text: CVDDConfig, cache: DiskCache | None) -> DocumentEmbeddings:
    """MiniLM states of ``data`` with every layer's pooled vectors (for the held-out table)."""
    return embed_documents(
        data.items,
        prep=text.preprocessing(),
        max_tokens=text.max_tokens,
        device="cpu" if text.device == "auto" else text.device,
        cache=cache,
        progress=_progress_bar(data.name),
        pools=True,
    )


def _datasets(options: BenchOptions) -> tuple[str, ...]:
    chosen = options.extra.get("data", "both")
    return DATASETS if chosen == "both" else (chosen,)


def knn_config(options: BenchOptions) -> TextKNNConfig:
    overrides = {k: v for k, v in options.extra.items() if k not in SUITE_KEYS}
    return with_overrides(TextKNNConfig(), overrides)


# text_knn before the tf-idf channel: document k-NN + 0.3 x kept-word k-NN
OLD_DEFAULTS = {"word_weight": "0.3", "tfidf_weight": "0"}


def embedding_od(detector: str, seed: int, table: dict[str, np.ndarray]):
    """PyOD's ``EmbeddingOD`` whose encoder looks documents up in ``table`` (keys are the
    "documents" passed to ``fit`` / ``decision_function``)."""
    from pyod.models.embedding import EmbeddingOD

    def encode(keys):
        return np.stack([table[key] for key in keys])

    return EmbeddingOD(encoder=encode, detector=detector, random_state=seed)


def _class_rows(split: Split, options: BenchOptions, configs: dict[str, TextKNNConfig]):
    from deepad.models.textbank.detector import TextKNN

    train_classes, test_classes = np.array(split.train.classes), np.array(split.test.classes)
    sentence = {  # sentence-transformers' embedding: the mean-pooled last layer, unit length
        **{f"train:{i}": v for i, v in enumerate(_unit(split.emb_train.pooled))},
        **{f"test:{i}": v for i, v in enumerate(_unit(split.emb_test.pooled))},
    }
    test_keys = [f"test:{i}" for i in range(len(split.test))]
    rows: list[dict[str, Any]] = []
    for name in _pick(options.classes, split.classes):
        index = np.flatnonzero(train_classes == name)
        labels = (test_classes != name).astype(np.int8)
        row: dict[str, Any] = {"class": name, "train": len(index), "test": int((labels == 0).sum())}
        part = split.emb_train.subset(index)
        for column, config in configs.items():
            start = time.perf_counter()
            scores = TextKNN(config=config).fit_embeddings(part).score_embeddings(split.emb_test)
            row[f"{column} s"] = time.perf_counter() - start
            row[column] = _auroc(labels, scores.score)
        if options.peers:
            for detector in PEERS:
                start = time.perf_counter()
                model = embedding_od(detector, options.seed, sentence)
                model.fit([f"train:{i}" for i in index])
                scores = model.decision_function(test_keys)
                row[f"EmbeddingOD {detector} s"] = time.perf_counter() - start
                row[f"EmbeddingOD {detector}"] = _auroc(labels, np.asarray(scores, np.float64))
        rows.append(row)
        log.info("%s %s: %s", split.name, name, row)
    return rows


PEERS = ("KNN", "LUNAR")
HELDOUT_K = (1, 3, 5, 10)
HELDOUT_POOLS = {"layer 5 mean": "mean5", "layer 3 mean": "mean3", "[CLS]": "cls", "max": "max"}
# (word_weight, tfidf_weight) pairs of the held-out table; the default is the best mean
HELDOUT_WEIGHTS = (
    (0.3, 0.0),
    (0.5, 0.0),
    (1.0, 0.0),
    (0.0, 0.3),
    (0.0, 0.5),
    (0.0, 1.0),
    (0.3, 0.3),
    (0.3, 0.5),
    (0.5, 0.3),
    (0.5, 0.5),
    (1.0, 0.3),
    (1.0, 1.0),
)


def _variant(word_weight: float, tfidf_weight: float) -> str:
    parts = ["document"]
    if word_weight:
        parts.append(f"{word_weight} words")
    if tfidf_weight:
        parts.append(f"{tfidf_weight} tf-idf")
    return " + ".join(parts)


def heldout_rows(split: Split, options: BenchOptions) -> list[dict[str, Any]]:
    """Validation AUROC of text_knn's variants on the training split only: 80 % of a class's
    training documents fill the bank, its other 20 % and the other classes' training
    documents validate (``cvdd-heldout``'s split). Every variant's k is 5 unless named."""
    from deepad.models.textbank.bank import unit_rows
    from deepad.models.textbank.detector import TextKNN, knn_distance

    train_classes = np.array(split.train.classes)
    rng = np.random.default_rng(options.seed)
    rows = []
    for name in _pick(options.classes, split.classes):
        fit, val, labels = heldout_split(split.emb_train, train_classes, name, rng)
        row: dict[str, Any] = {"class": name}
        bank, queries = unit_rows(fit.pooled), unit_rows(val.pooled)
        for k in HELDOUT_K:
            row[f"document k={k}"] = _auroc(labels, knn_distance(queries, bank, k))
        fifth = 1.0 - np.sort(queries @ bank.T, axis=1)[:, -5]
        row["document, 5th distance"] = _auroc(labels, fifth)
        for column, pool in HELDOUT_POOLS.items():
            distance = knn_distance(unit_rows(val.pool(pool)), unit_rows(fit.pool(pool)), 5)
            row[column] = _auroc(labels, distance)
        row["kept-word mean"] = _auroc(
            labels, knn_distance(unit_rows(val.mean()), unit_rows(fit.mean()), 5)
        )
        config = TextKNNConfig(k=5, word_weight=0, tfidf_weight=1)
        tfidf = TextKNN(config=config).fit_embeddings(fit).score_embeddings(val)
        row["kept-word tf-idf"] = _auroc(labels, tfidf.components["tfidf"])
        for word_weight, tfidf_weight in HELDOUT_WEIGHTS:
            config = TextKNNConfig(k=5, word_weight=word_weight, tfidf_weight=tfidf_weight)
            scores = TextKNN(config=config).fit_embeddings(fit).score_embeddings(val).score
            row[_variant(word_weight, tfidf_weight)] = _auroc(labels, scores)
        if options.peers:
            table = {f"fit:{i}": v for i, v in enumerate(bank)}
            table |= {f"val:{i}": v for i, v in enumerate(queries)}
            model = embedding_od("KNN", options.seed, table)
            model.fit([f"fit:{i}" for i in range(len(bank))])
            scores = model.decision_function([f"val:{i}" for i in range(len(queries))])
            row["EmbeddingOD KNN"] = _auroc(labels, np.asarray(scores, np.float64))
        rows.append(row)
    return rows


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@suite(
    "text-peers",
    "deepad's text detector vs PyOD EmbeddingOD (KNN, LUNAR) on the same MiniLM embeddings, "
    "20 Newsgroups and Reuters one-vs-rest",
)
def text_peers(options: BenchOptions) -> None:
    start = time.perf_counter()
    deepad = knn_config(options)
    configs = {
        "deepad text_knn": deepad,
        "text_knn (old)": with_overrides(TextKNNConfig(), OLD_DEFAULTS),
    }
    auroc_columns = [*configs, *(f"EmbeddingOD {p}" for p in PEERS if options.peers)]
    time_columns = [f"{c} s" for c in auroc_columns]
    payload: dict[str, Any] = {
        "suite": "text-peers",
        "command": command_line(),
        # BLAS threads, set outside the command (its --threads sets torch's)
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS",) if k in os.environ},
        "text_knn": to_json(deepad),
        "text_knn (old)": to_json(configs["text_knn (old)"]),
        "settings": dict(options.extra),
        "seed": options.seed,
        "data": {},
    }
    summary: list[dict[str, Any]] = []
    for dataset in _datasets(options):
        split = load_split(options, dataset)
        print(
            f"{dataset}: {len(split.train)} train + {len(split.test)} test documents, "
            f"embeddings {split.embed_seconds:.0f} s"
        )
        held = heldout_rows(split, options)
        held.append(mean_row(held, list(held[0])[1:], "class"))
        rows = _class_rows(split, options, configs)
        mean = mean_row(rows, auroc_columns + time_columns, "class")
        table = [*rows, mean]
        payload["data"][dataset] = {
            "train": len(split.train),
            "test": len(split.test),
            "embedding_seconds": split.embed_seconds,
            "heldout": held,
            "rows": table,
        }
        summary.append({"data": dataset, **{c: mean[c] for c in auroc_columns if c in mean}})
    payload["summary"] = summary
    payload["wall_seconds"] = time.perf_counter() - start
    text = report(payload)
    print(text)
    write_results(options.output, payload)
    if options.output is not None:
        options.output.with_suffix(".md").write_text(text)


def report(payload: dict[str, Any]) -> str:
    """The run's tables as Markdown (the command first), from its JSON payload alone."""
    summary = payload["summary"]
    prefix = "".join(f"{k}={v} " for k, v in payload.get("environment", {}).items())
    parts = [f"# text-peers\n\nCommand: `{prefix}{payload['command']}`\n"]
    for dataset, found in payload["data"].items():
        held = found["heldout"]
        title = (
            f"text-peers {dataset}, held-out (training split only): validation AUROC of "
            "text_knn variants"
        )
        parts.append(format_table(held, list(held[0]), title))
        rows = found["rows"]
        scores = [c for c in summary[0] if c != "data"]
        columns = ["class", "train", "test", *scores, *(f"{c} s" for c in scores)]
        title = f"text-peers {dataset}: AUROC, one class normal vs. the rest of the test split"
        parts.append(format_table(rows, [c for c in columns if c in rows[0]], title))
    parts.append(format_table(summary, list(summary[0]), "text-peers: mean AUROC"))
    body = "\n\n".join(parts[1:])
    return f"{parts[0]}\n```\n{body}\n```\n"
