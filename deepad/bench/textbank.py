"""Text memory-bank benchmarks: one-vs-rest on 20 Newsgroups and Reuters-21578, as cvdd-*.

``deepad bench textbank-20ng`` and ``deepad bench textbank-reuters``: for each class, fill the
banks with that class's training documents and score the whole test split (the other classes
are the anomalies). Printed per class: AUROC of ``text_knn`` (k-NN on the MiniLM document
embeddings) and ``token_bank`` (coreset memory bank of MiniLM word states; its primary score
and the max / mean word score components), with their default settings or ``--set``, and
PyOD peers (OCSVM, KNN, LUNAR with their defaults) on the same L2-normalised document
embeddings in the same run.

``textbank-heldout`` (``--set data=20ng|reuters``) chooses settings without test labels: each
class's training documents are split 80/20, the 80 % fills the banks and the 20 % plus (up to)
2000 training documents of the other classes validate, over a grid of ``k``, ``bank_size``
and ``top_words``.

Embeddings are read from / written to the cache of the cvdd suites (the same texts and text
settings give the same cache file); ``--set train_per_class=N``, ``--set test_size=M`` and
``--set strip_quotes=true`` subsample and clean as there. Other ``--set key=value`` pairs go
to the detector that has that setting (text settings such as ``max_tokens`` to both).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.cvdd import (
    PEERS,
    SUITE_SETTINGS,
    _auroc,
    _pick,
    _sample,
    _splits,
    _unit,
    embed_split,
    heldout_split,
    peer_aurocs,
)
from deepad.bench.report import format_table, mean_row, write_results
from deepad.config import to_json, with_overrides
from deepad.disk_cache import DiskCache, disk_cache_at
from deepad.models.cvdd.config import CVDDConfig
from deepad.models.textbank.bank import KCenterGreedy, nearest_distances, unit_rows
from deepad.models.textbank.config import TextKNNConfig, TokenBankConfig
from deepad.models.textbank.detector import TextKNN, TokenBank, top_word_scores
from deepad.text.config import TextEmbeddingConfig
from deepad.text.embeddings import DocumentEmbeddings

log = logging.getLogger(__name__)

HELDOUT_K = (1, 3, 5, 10, 20)
HELDOUT_BANK = (1024, 4096, 16384)  # and every word, where a class has fewer
HELDOUT_TOP = (1, 3, 5, 10, 20)


@dataclasses.dataclass(frozen=True)
class Settings:
    text: CVDDConfig  # how documents are embedded (CVDD's config carries the text settings)
    knn: TextKNNConfig
    bank: TokenBankConfig


def settings(options: BenchOptions) -> Settings:
    """The detectors' defaults with ``--set`` overrides routed to whichever has the key."""
    overrides = {k: v for k, v in options.extra.items() if k not in SUITE_SETTINGS}
    targets = {"text": CVDDConfig, "knn": TextKNNConfig, "bank": TokenBankConfig}
    text_keys = {f.name for f in dataclasses.fields(TextEmbeddingConfig)}
    keys = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in targets.items()}
    keys["text"] = text_keys  # CVDD's own settings are not the suite's
    unknown = set(overrides) - keys["knn"] - keys["bank"]
    if unknown:
        raise ValueError(f"no text memory bank has the setting(s) {', '.join(sorted(unknown))}")

    def picked(name: str) -> dict[str, str]:
        return {k: v for k, v in overrides.items() if k in keys[name]}

    return Settings(
        text=with_overrides(CVDDConfig(device=options.device), picked("text")),
        knn=with_overrides(TextKNNConfig(), picked("knn")),
        bank=with_overrides(TokenBankConfig(seed=options.seed), picked("bank")),
    )


def _cache(options: BenchOptions) -> DiskCache | None:
    return disk_cache_at(options.extra.get("cache"))


def _run(options: BenchOptions, dataset: str) -> None:
    train, test, (names, paper_counts) = _splits(options, dataset)
    classes = _pick(options.classes, names)
    chosen = settings(options)
    # Every class's documents, whatever --classes says, so the embeddings come from one cache.
    train, test = _sample(train, test, names, options)

    start = time.perf_counter()
    emb_train = embed_split(train, chosen.text, _cache(options))
    emb_test = embed_split(test, chosen.text, _cache(options))
    embed_seconds = time.perf_counter() - start
    print(f"embeddings: {len(train)} train + {len(test)} test documents, {embed_seconds:.0f} s")

    train_classes, test_classes = np.array(train.classes), np.array(test.classes)
    peers_test = _unit(emb_test.pooled)
    knn_column = f"text_knn k={chosen.knn.k}"
    rows: list[dict[str, Any]] = []
    for name in classes:
        index = np.flatnonzero(train_classes == name)
        labels = (test_classes != name).astype(np.int8)
        part = emb_train.subset(index)
        row: dict[str, Any] = {
            "class": name,
            "train": len(index),
            "test": int((labels == 0).sum()),
            "paper train/test": "{}/{}".format(*paper_counts[name]),
        }
        class_start = time.perf_counter()
        knn = TextKNN(config=chosen.knn).fit_embeddings(part)
        row[knn_column] = _auroc(labels, knn.score_embeddings(emb_test).score)
        t0 = time.perf_counter()
        bank = TokenBank(config=chosen.bank).fit_embeddings(part)
        scores = bank.score_embeddings(emb_test)
        row["token_bank s"] = time.perf_counter() - t0
        row["token_bank"] = _auroc(labels, scores.score)
        row["token_bank max word"] = _auroc(labels, scores.components["max_word"])
        row["token_bank mean word"] = _auroc(labels, scores.components["mean_word"])
        row["bank size"] = int(bank.bank_.shape[0])
        if options.peers:
            row |= peer_aurocs(emb_train.pooled[index], peers_test, labels, options.seed)
        row["seconds"] = time.perf_counter() - class_start
        rows.append(row)
        log.info("%s done in %.0f s", name, row["seconds"])

    auroc_columns = [knn_column, "token_bank", "token_bank max word", "token_bank mean word"]
    if options.peers:
        auroc_columns += [f"PyOD {p}" for p in PEERS]
    timing = ["token_bank s", "seconds"]
    columns = ["class", "train", "test", "paper train/test", "bank size", *auroc_columns, *timing]
    table_rows = [*rows, mean_row(rows, auroc_columns + timing, "class")]
    title = f"textbank-{dataset}: AUROC, one class normal vs. the rest of the test split"
    print(format_table(table_rows, columns, title))
    total = time.perf_counter() - start
    print(f"\nwall time {total:.0f} s (embeddings {embed_seconds:.0f} s)")
    write_results(
        options.output,
        {
            "suite": f"textbank-{dataset}",
            "text_knn": to_json(chosen.knn),
            "token_bank": to_json(chosen.bank),
            "settings": dict(options.extra),
            "rows": table_rows,
            "embedding_seconds": embed_seconds,
            "wall_seconds": total,
        },
    )


def _heldout(options: BenchOptions, dataset: str) -> None:
    """Settings chosen on the training split only (see the module docstring)."""
    train, test, (names, _) = _splits(options, dataset)
    classes = _pick(options.classes, names)
    chosen = settings(options)
    train, _ = _sample(train, test, names, options)  # the training documents of the runs
    emb = embed_split(train, chosen.text, _cache(options))
    train_classes = np.array(train.classes)
    rng = np.random.default_rng(options.seed)
    rows: list[dict[str, Any]] = []
    for name in classes:
        fit, val, labels = heldout_split(emb, train_classes, name, rng)
        row: dict[str, Any] = {"class": name}
        similarity = _unit(val.pooled) @ _unit(fit.pooled).T
        nearest = -np.sort(similarity, axis=1)[:, ::-1]
        for k in HELDOUT_K:
            row[f"knn k={k}"] = _auroc(labels, nearest[:, :k].mean(axis=1))
        row |= _bank_grid(fit, val, labels, chosen.bank)
        rows.append(row)
        log.info("%s: %s", name, row)
    columns = list(rows[0])[1:]
    table = [*rows, mean_row(rows, columns, "class")]
    title = (
        f"textbank-{dataset}-heldout: validation AUROC on the training split "
        "(80 % of a class fills the bank; its other 20 % and other classes validate)"
    )
    print(format_table(table, ["class", *columns], title))
    write_results(options.output, {"suite": f"textbank-{dataset}-heldout", "rows": table})


def _bank_grid(
    fit: DocumentEmbeddings,
    val: DocumentEmbeddings,
    labels: np.ndarray,
    config: TokenBankConfig,
) -> dict[str, float]:
    """Validation AUROC of the word bank for each bank size (``all``: every word, where the
    normal documents have fewer words than a size) and top-word count. Greedy k-centre picks
    in a fixed order, so the coreset of each size is a prefix of the largest one."""
    words, queries = unit_rows(fit.vectors), unit_rows(val.vectors)
    sizes = [s for s in HELDOUT_BANK if s < len(words)]
    order = (
        KCenterGreedy(
            max(sizes), projection_dim=config.coreset_projection or None, seed=config.seed
        ).select(words)
        if sizes
        else np.zeros(0, dtype=np.int64)
    )
    banks = {str(s): words[order[:s]] for s in sizes}
    if len(sizes) < len(HELDOUT_BANK):
        banks["all"] = words
    row = {}
    for size, bank in banks.items():
        distances = nearest_distances(queries, bank)[:, 0]
        for top in HELDOUT_TOP:
            scores = top_word_scores(distances, val.offsets, top)
            row[f"bank={size} top={top}"] = _auroc(labels, scores.score)
        row[f"bank={size} mean"] = _auroc(labels, scores.components["mean_word"])
    return row


@suite("textbank-20ng", "Text memory banks (text_knn, token_bank), 20 Newsgroups one-vs-rest")
def textbank_20ng(options: BenchOptions) -> None:
    _run(options, "20ng")


@suite("textbank-reuters", "Text memory banks (text_knn, token_bank), Reuters-21578 one-vs-rest")
def textbank_reuters(options: BenchOptions) -> None:
    _run(options, "reuters")


@suite(
    "textbank-heldout",
    "Text memory-bank settings on a held-out split of the training documents "
    "(--set data=20ng|reuters)",
)
def textbank_heldout(options: BenchOptions) -> None:
    _heldout(options, options.extra.get("data", "20ng"))
