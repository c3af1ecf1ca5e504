"""CVDD benchmarks: one-vs-rest on Reuters-21578 and 20 Newsgroups (thesis Section 3.2.2).

``deepad bench cvdd-reuters`` and ``deepad bench cvdd-20ng``: for each class, train on that
class's training documents and score the whole test split (the other classes are the
anomalies). Printed per class: AUROC of CVDD with r = 3, 5, 10 contexts (mean score, eq. 3.13),
the best single context of the r = 3 model (column marked *oracle*: picked with test labels,
as the thesis' c* column), the OC-SVM baselines on mean / tf-idf / max-pooled word vectors and
on the model's own document embedding (ν = 0.1, not tuned), and PyOD peers (OCSVM, KNN, LUNAR
with their defaults) on the L2-normalised MiniLM mean-pooled document embeddings. Then the top
words of each r = 3 context.

Word embeddings of both splits are computed once and cached (``--set cache=DIR``, default
deepad's disk cache, ``$DEEPAD_HOME/cache``), so later runs only train. ``--quick`` trains r = 3 only,
for 10 epochs. ``--set train_per_class=N`` and ``--set test_size=M`` subsample (seeded) the
training documents of each class and the test split, for CPU-bound runs; for 20 Newsgroups,
``--set strip_quotes=true`` also removes quotes, quote attributions and signatures (the thesis'
cleaning; by default only headers are stripped). Other
``--set key=value`` pairs override CVDD settings (e.g. ``epochs=50``, ``max_tokens=128``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, mean_row, pyod_peers, write_results
from deepad.config import to_json, with_overrides
from deepad.data.types import Dataset
from deepad.disk_cache import DiskCache, disk_cache_at
from deepad.models.cvdd.baselines import EmbeddingOCSVM, Pooling
from deepad.models.cvdd.config import CVDDConfig, ScoreAggregation, context_key
from deepad.models.cvdd.detector import CVDD, init_contexts
from deepad.text.embeddings import DocumentEmbeddings, embed_documents

log = logging.getLogger(__name__)

PEERS = ("OCSVM", "KNN", "LUNAR")
SUITE_SETTINGS = ("cache", "train_per_class", "test_size", "strip_quotes", "data")
CONTEXTS = (3, 5, 10)
# Thesis Table 3.4 (GloVe): OC-SVM mean / tf-idf / max, CVDD r = 3 / 5 / 10, c*.
PAPER = {
    "earn": (91.1, 88.6, 77.1, 94.0, 92.8, 91.8, 97.6),
    "acq": (93.1, 77.0, 81.4, 90.2, 88.7, 91.5, 95.6),
    "crude": (92.4, 90.3, 91.2, 89.6, 92.5, 95.5, 89.4),
    "trade": (99.0, 96.8, 93.7, 98.3, 98.2, 99.2, 97.9),
    "money-fx": (88.6, 81.2, 73.6, 82.5, 76.7, 82.8, 99.7),
    "interest": (97.4, 93.5, 84.2, 92.3, 91.7, 97.7, 98.4),
    "ship": (91.2, 93.1, 86.5, 97.6, 96.9, 95.6, 99.7),
    "comp": (82.0, 81.2, 54.5, 70.9, 66.4, 63.3, 86.6),
    "rec": (73.2, 75.6, 56.2, 50.8, 52.8, 53.3, 68.9),
    "sci": (60.6, 64.1, 53.0, 56.7, 56.8, 55.7, 61.0),
    "misc": (61.8, 63.1, 54.1, 75.1, 70.2, 68.6, 83.8),
    "pol": (72.5, 75.5, 64.9, 62.9, 65.3, 65.1, 75.4),
    "rel": (78.2, 79.2, 68.4, 76.3, 72.9, 70.7, 87.3),
}


def cvdd_config(options: BenchOptions, **defaults: Any) -> CVDDConfig:
    """CVDD defaults, then the suite's (``--quick``), then ``--set`` (except ``cache``)."""
    config = dataclasses.replace(CVDDConfig(), device=options.device, seed=options.seed)
    config = dataclasses.replace(config, **defaults)
    overrides = {k: v for k, v in options.extra.items() if k not in SUITE_SETTINGS}
    return with_overrides(config, overrides)


def _progress_bar(label: str):
    """A tqdm bar fed by ``(done, total)`` calls (the CLI's embedding progress)."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=f"embedding {label}", unit="doc")
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def embed_split(data: Dataset, config: CVDDConfig, cache: DiskCache | None) -> DocumentEmbeddings:
    return embed_documents(
        data.items,
        source=config.embedding,
        prep=config.preprocessing(),
        embedding_file=config.embedding_file or None,
        max_tokens=config.max_tokens,
        device="cpu" if config.device == "auto" else config.device,
        cache=cache,
        progress=_progress_bar(data.name),
    )


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return metrics.auroc(labels, scores)


def _splits(options: BenchOptions, dataset: str) -> tuple[Dataset, Dataset, tuple[Any, Any]]:
    """Training and test split of ``reuters`` or ``20ng``, with the class names and the
    paper's per-class counts."""
    root = options.root()
    if dataset == "reuters":
        from deepad.data.benchmarks import reuters

        return (*reuters.reuters_splits(root), (reuters.CLASSES, reuters.PAPER_COUNTS))
    from deepad.data.benchmarks import newsgroups

    keep = options.extra.get("strip_quotes", "false").lower() not in ("1", "true", "yes")
    train, test = newsgroups.newsgroups_splits(root, quotes_and_footers=keep)
    return train, test, (newsgroups.CLASSES, newsgroups.PAPER_COUNTS)


def _run(options: BenchOptions, dataset: str) -> None:
    train, test, (names, paper_counts) = _splits(options, dataset)
    classes = _pick(options.classes, names)
    contexts = (3,) if options.quick else CONTEXTS
    base = cvdd_config(options, **({"epochs": 10, "lr_milestones": (4,)} if options.quick else {}))
    cache = disk_cache_at(options.extra.get("cache"))
    train, test = _sample(train, test, classes, options)

    start = time.perf_counter()
    emb_train = embed_split(train, base, cache)
    emb_test = embed_split(test, base, cache)
    embed_seconds = time.perf_counter() - start
    print(f"embeddings: {len(train)} train + {len(test)} test documents, {embed_seconds:.0f} s")

    train_classes = np.array(train.classes)
    test_classes = np.array(test.classes)
    peers_test = _unit(emb_test.pooled)
    rows: list[dict[str, Any]] = []
    top_words: dict[str, list[list[tuple[str, int]]]] = {}
    for name in classes:
        row: dict[str, Any] = {"class": name}
        index = np.flatnonzero(train_classes == name)
        labels = (test_classes != name).astype(np.int8)
        part = emb_train.subset(index)
        row["train"] = len(index)
        row["test"] = int((labels == 0).sum())
        row["paper train/test"] = "{}/{}".format(*paper_counts[name])
        class_start = time.perf_counter()
        for r in contexts:
            config = dataclasses.replace(base, n_contexts=r)
            t0 = time.perf_counter()
            model = CVDD(config=config).fit_embeddings(part)
            scores = model.score_embeddings(emb_test)
            row[f"CVDD r={r}"] = _auroc(labels, scores.score)
            row[f"s r={r}"] = time.perf_counter() - t0
            if r == 3:
                per_context = [_auroc(labels, scores.components[context_key(k)]) for k in range(r)]
                row["c* r=3 (oracle)"] = max(per_context)
                row["CVDD r=3 min"] = _auroc(labels, scores.components[ScoreAggregation.MIN.value])
                top_words[name] = model.top_words_
        for pooling in (Pooling.MEAN, Pooling.TFIDF, Pooling.MAX, Pooling.DOCUMENT):
            svm = EmbeddingOCSVM(pooling=pooling, nu=0.1).fit_embeddings(part)
            row[f"OC-SVM {pooling.value}"] = _auroc(labels, svm.score_embeddings(emb_test).score)
        if options.peers:
            row |= peer_aurocs(emb_train.pooled[index], peers_test, labels, options.seed)
        row["seconds"] = time.perf_counter() - class_start
        rows.append(row)
        log.info("%s done in %.0f s", name, row["seconds"])

    auroc_columns = [f"CVDD r={r}" for r in contexts]
    auroc_columns += ["CVDD r=3 min", "c* r=3 (oracle)"]
    auroc_columns += [f"OC-SVM {p.value}" for p in Pooling]
    if options.peers:
        auroc_columns += [f"PyOD {p}" for p in PEERS]
    columns = ["class", "train", "test", "paper train/test", *auroc_columns, "seconds"]
    table_rows = [*rows, mean_row(rows, auroc_columns + ["seconds"], "class")]
    title = f"cvdd-{dataset}: AUROC, one class normal vs. the rest of the test split"
    print(format_table(table_rows, columns, title))
    if dataset == "reuters" or dataset == "20ng":
        _print_paper(classes)
    for name, contexts_words in top_words.items():
        print(f"\ntop words per context, CVDD r=3, normal class {name}:")
        for k, words in enumerate(contexts_words):
            print(f"  c{k + 1}: " + " ".join(w for w, _ in words))
    total = time.perf_counter() - start
    print(f"\nwall time {total:.0f} s (embeddings {embed_seconds:.0f} s)")
    write_results(
        options.output,
        {
            "suite": f"cvdd-{dataset}",
            "config": to_json(base),
            "contexts": list(contexts),
            "quick": options.quick,
            "rows": table_rows,
            "top_words": top_words,
            "embedding_seconds": embed_seconds,
            "wall_seconds": total,
        },
    )


def _heldout(options: BenchOptions, dataset: str) -> None:
    """Model selection without test labels: each class's training documents split 80/20, the
    80 % trains, the 20 % plus (up to) 2000 training documents of the other classes validate."""
    train, _, (names, _) = _splits(options, dataset)
    base = cvdd_config(options)
    emb = embed_split(train, base, disk_cache_at(options.extra.get("cache")))
    train_classes = np.array(train.classes)
    rng = np.random.default_rng(options.seed)
    rows: list[dict[str, Any]] = []
    reach: list[dict[str, Any]] = []
    for name in _pick(options.classes, names):
        fit, val, labels = heldout_split(emb, train_classes, name, rng)
        model = CVDD(config=base).fit_embeddings(fit)
        scores = model.score_embeddings(val)
        centres = init_contexts(fit, base.n_contexts, base.seed)
        means = _unit(val.mean())
        nearest = 0.5 * (1.0 - means @ _unit(centres).T).min(axis=1)
        rows.append(
            {
                "class": name,
                "CVDD mean": _auroc(labels, scores.score),
                "CVDD min": _auroc(labels, scores.components["min"]),
                "k-means init, nearest": _auroc(labels, nearest),
            }
        )
        reach.append({"class": name, **_untrained_reach(fit, val, labels, base.seed)})
    columns = ["CVDD mean", "CVDD min", "k-means init, nearest"]
    title = f"cvdd-{dataset}-heldout: validation AUROC on the training split, r={base.n_contexts}"
    print(format_table([*rows, mean_row(rows, columns, "class")], ["class", *columns], title))
    columns = list(reach[0])[1:]
    title = (
        f"cvdd-{dataset}-heldout: the same validation split scored without training, by the "
        "cosine distance of the mean word vector to the nearest of r k-means centres "
        "(CVDD's start) or to the k nearest training documents"
    )
    print(format_table([*reach, mean_row(reach, columns, "class")], ["class", *columns], title))


def heldout_split(
    emb: DocumentEmbeddings, train_classes: np.ndarray, name: str, rng: np.random.Generator
) -> tuple[DocumentEmbeddings, DocumentEmbeddings, np.ndarray]:
    """80 % of class ``name``'s training documents to fit; its other 20 % plus (up to) 2000
    training documents of the other classes to validate, with their labels (1 = other)."""
    own = rng.permutation(np.flatnonzero(train_classes == name))
    cut = int(0.8 * len(own))
    others = np.flatnonzero(train_classes != name)
    others = rng.choice(others, min(2000, len(others)), replace=False)
    val = emb.subset(np.concatenate([own[cut:], others]))
    labels = np.r_[np.zeros(len(own) - cut), np.ones(len(others))].astype(np.int8)
    return emb.subset(own[:cut]), val, labels


REACH_CONTEXTS = (3, 10, 30, 100)


def _untrained_reach(
    fit: DocumentEmbeddings, val: DocumentEmbeddings, labels: np.ndarray, seed: int
) -> dict[str, float]:
    """How far CVDD's scoring form (distance to the nearest of several directions) gets on
    its own: nearest k-means centre for growing r, and its limit, the nearest documents."""
    train_means, val_means = _unit(fit.mean()), _unit(val.mean())
    row = {}
    for r in REACH_CONTEXTS:
        centres = _unit(init_contexts(fit, r, seed))
        row[f"r={r}"] = _auroc(labels, -(val_means @ centres.T).max(axis=1))
    similarity = val_means @ train_means.T
    for k in (1, 5):
        nearest_k = -np.sort(similarity, axis=1)[:, -k:].mean(axis=1)
        row[f"{k}-NN"] = _auroc(labels, nearest_k)
    return row


def _print_paper(classes: tuple[str, ...]) -> None:
    cols = ("class", "OC-SVM mean", "OC-SVM tfidf", "OC-SVM max", "r=3", "r=5", "r=10", "c*")
    rows = [
        {"class": c, **{k: v for k, v in zip(cols[1:], PAPER[c], strict=True)}}
        for c in classes
        if c in PAPER
    ]
    rows.append(mean_row(rows, cols[1:], "class"))
    print()
    print(format_table(rows, cols, "thesis Table 3.4 (GloVe), AUROC in %"))


def _sample(
    train: Dataset, test: Dataset, classes: tuple[str, ...], options: BenchOptions
) -> tuple[Dataset, Dataset]:
    """The chosen classes' training documents and the test split, optionally subsampled
    (``--set train_per_class=N``, ``--set test_size=M``; seeded, labels never looked at
    beyond the class names that define the protocol)."""
    rng = np.random.default_rng(options.seed)
    train_classes = np.array(train.classes)
    per_class = options.extra.get("train_per_class")
    keep = []
    for name in classes:
        index = np.flatnonzero(train_classes == name)
        if per_class and len(index) > int(per_class):
            index = np.sort(rng.choice(index, int(per_class), replace=False))
        keep.append(index)
    train = train.subset(np.sort(np.concatenate(keep)))
    size = options.extra.get("test_size")
    if size and len(test) > int(size):
        test = test.subset(np.sort(rng.choice(len(test), int(size), replace=False)))
    return train, test


def peer_aurocs(
    train_pooled: np.ndarray, peers_test: np.ndarray, labels: np.ndarray, seed: int
) -> dict[str, float]:
    """``PyOD <name>`` columns: AUROC of each peer on the L2-normalised document embeddings."""
    peers = pyod_peers(_unit(train_pooled), peers_test, labels, PEERS, seed=seed)
    return {f"PyOD {peer}": result["auroc"] for peer, result in peers.items()}


def _pick(chosen: list[str] | None, classes: tuple[str, ...]) -> tuple[str, ...]:
    if not chosen:
        return classes
    out = []
    for c in chosen:
        name = classes[int(c)] if c.isdigit() else c
        if name not in classes:
            raise ValueError(f"unknown class {c!r}; classes: {', '.join(classes)}")
        out.append(name)
    return tuple(out)


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@suite("cvdd-reuters", "CVDD and OC-SVM baselines, Reuters-21578 ModApte one-vs-rest (7 classes)")
def cvdd_reuters(options: BenchOptions) -> None:
    _run(options, "reuters")


@suite(
    "cvdd-heldout",
    "CVDD settings on a held-out split of the training documents (--set data=20ng|reuters)",
)
def cvdd_heldout(options: BenchOptions) -> None:
    _heldout(options, options.extra.get("data", "20ng"))


@suite("cvdd-20ng", "CVDD and OC-SVM baselines, 20 Newsgroups one-vs-rest (6 top-level groups)")
def cvdd_20ng(options: BenchOptions) -> None:
    _run(options, "20ng")
