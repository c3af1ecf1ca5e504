"""Benchmarks of the detectors on pretrained features (PatchCore, embedding kNN).

``patchcore-defects``: the generated textures of ``fcdd-defects`` (same seeds and sizes, 224 px,
200 normal training images per texture), unsupervised. Image and pixel AUROC overall and per
defect kind. The pixel threshold for precision/recall/F1 flags 1 % of the pixels of 20 extra
normal images from a separate stream: the bank holds the training images' own patches, so
their maps are near zero and would give a threshold far too low.

``pretrained-fmnist``: Fashion-MNIST one-vs-rest, images upsampled to 112 px for the
backbone; embedding kNN on ``n_train`` training images of the normal class (all of them with
``n_train=0``), scored on all 10,000 test images (or ``n_test``, the same number from every
class); PyOD's IForest on the raw pixels of the same training images as the peer.

``patchcore-speed``: seconds to fit on 100 normal 256-px images and score 100 test images
(PatchCore on the CPU), twice: first with empty feature caches, then as a second process would
run on the same images, with the in-memory cache emptied and the backbone features read from
the disk cache the first run wrote (a temporary folder, removed afterwards). Every other suite
runs without a disk cache (:func:`deepad.bench.run_suite`).

``--set`` keys: ``textures``, ``size``, ``n_train``, ``methods`` (fmnist: ``knn``,
``patchcore``), ``threads``; every other key overrides the detector's configuration.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import (
    format_table,
    mean_row,
    pyod_peers,
    split_settings,
    timed,
    write_results,
)
from deepad.config import to_json, with_overrides
from deepad.data.benchmarks.idx import FASHION_CLASSES, load_idx_dataset, one_vs_rest
from deepad.data.synthetic import DEFECTS, TEXTURES, defect_benchmark, make_defect_dataset
from deepad.data.types import DataKind, Dataset
from deepad.device import describe_device, select_device
from deepad.disk_cache import DEFAULT_MAX_MB, DiskCache
from deepad.features import (
    FEATURE_CACHE,
    STAGES,
    extract_features,
    nearest_distances,
)
from deepad.features.detectors import stage_list
from deepad.features.extract import using_disk_cache
from deepad.models.embedding_knn import EmbeddingKNN, EmbeddingKNNConfig
from deepad.models.fcdd.evaluate import localisation_metrics, masks_at, threshold_from_normals
from deepad.models.patchcore import PatchCore, PatchCoreConfig

RESULTS = Path("benchmarks") / "results"
_SUITE_KEYS = ("textures", "size", "n_train", "n_test", "methods", "threads", "n_threshold")


def _split_extra(options: BenchOptions) -> tuple[dict[str, str], dict[str, str]]:
    return split_settings(options.extra, _SUITE_KEYS)


def _report(options: BenchOptions, name: str, payload: dict[str, Any], text: str) -> str:
    device = describe_device(select_device(options.device))
    text += f"\n\ndevice: {device}, torch threads {torch.get_num_threads()}"
    path = options.output or RESULTS / f"{name}{'-quick' if options.quick else ''}.json"
    write_results(path, {"suite": name, "device": device, **payload})
    path.with_suffix(".md").write_text(f"# {name}\n\n```\n{text}\n```\n")
    return text


# --------------------------------------------------------------------- defects
@suite("patchcore-defects", "PatchCore image/pixel AUROC on the generated defect textures")
def run_defects(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    size = int(keys.get("size", 64 if options.quick else 224))
    n_train = int(keys.get("n_train", 30 if options.quick else 200))
    n_threshold = int(keys.get("n_threshold", 20))
    textures = options.classes or keys.get("textures", ",".join(TEXTURES)).split(",")
    config = dataclasses.replace(
        PatchCoreConfig(), device=options.device, seed=options.seed, image_size=size
    )
    config = with_overrides(config, overrides)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for texture in textures:
        bench = defect_benchmark(
            texture,
            size=size,
            n_train=n_train,
            n_test_normal=10 if options.quick else 40,
            n_test_per_defect=3 if options.quick else 12,
            seed=options.seed,
        )
        extra_normals = make_defect_dataset(
            texture, n_normal=n_threshold, size=size, seed=options.seed + 1, split="labeled"
        )
        timing: dict[str, float] = {}
        with timed(timing, "fit s"):
            detector = PatchCore(config=config).fit(bench.train)
        with timed(timing, "score s"):
            threshold = threshold_from_normals(detector, extra_normals)
            result = localisation_metrics(detector, bench.test, threshold)
        row = {"texture": texture, **result, **_per_defect(detector, bench.test), **timing}
        rows.append(row)
        print(format_table([row], list(row)), flush=True)
        text = _defects_text(options, config, rows, size, n_train, time.perf_counter() - start)
    print("\n" + text)


def _per_defect(detector: PatchCore, test: Dataset) -> dict[str, float]:
    """Pixel AUROC of each defect kind (its images and the normal test images)."""
    maps = detector.explain(test).maps
    masks = masks_at(test, maps.shape[-1])
    classes = np.asarray(test.classes)
    out = {}
    for defect in DEFECTS:
        rows = np.flatnonzero((classes == defect) | (classes == "good"))
        if np.any(classes == defect):
            out[f"px {defect}"] = metrics.pixel_auroc([masks[i] for i in rows], list(maps[rows]))
    return out


def _defects_text(
    options: BenchOptions,
    config: PatchCoreConfig,
    rows: list[dict[str, Any]],
    size: int,
    n_train: int,
    wall: float,
) -> str:
    columns = list(rows[0])
    for drop in ("pixel precision", "pixel recall"):
        columns.remove(drop)
    table = rows + [mean_row(rows, columns, "texture")]
    text = format_table(table, columns, title=f"Generated defects, {size}×{size}, PatchCore")
    text += f"\n\ntrain images per texture: {n_train}, unsupervised; settings: {to_json(config)}"
    text += f"\nwall time: {wall:.0f} s"
    payload = {"config": to_json(config), "rows": table, "seconds": wall}
    return _report(options, "patchcore-defects", payload, text)


# --------------------------------------------------------------------- Fashion-MNIST
@suite("pretrained-fmnist", "Embedding kNN one-vs-rest AUROC on Fashion-MNIST, IForest peer")
def run_fmnist(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    n_train = int(keys.get("n_train", 200 if options.quick else 1000))
    methods = keys.get("methods", "knn").split(",")
    size = int(keys.get("size", 112))
    root = options.root() / "fashion_mnist"
    train_split = load_idx_dataset(root, "train")
    test_split = load_idx_dataset(root, "test")
    n_test = int(keys.get("n_test", 1000 if options.quick else 0))
    if n_test and n_test < len(test_split.labels):
        # the same number of test images of every class, drawn once for all normal classes
        rng_test = np.random.default_rng(options.seed)
        per_class = n_test // len(FASHION_CLASSES)
        keep = np.sort(
            np.concatenate(
                [
                    rng_test.choice(np.flatnonzero(test_split.labels == c), per_class, False)
                    for c in range(len(FASHION_CLASSES))
                ]
            )
        )
        test_split = dataclasses.replace(
            test_split, images=test_split.images[keep], labels=test_split.labels[keep]
        )
    knn = with_overrides(
        dataclasses.replace(EmbeddingKNNConfig(), device=options.device, image_size=size),
        {
            k: v
            for k, v in overrides.items()
            if k in {f.name for f in dataclasses.fields(EmbeddingKNNConfig)}
        },
    )
    patchcore = dataclasses.replace(
        PatchCoreConfig(), device=options.device, image_size=size, seed=options.seed
    )
    classes = (
        [int(c) for c in options.classes]
        if options.classes
        else list(range(10))[: 2 if options.quick else 10]
    )
    rng = np.random.default_rng(options.seed)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for c in classes:
        own = np.flatnonzero(train_split.labels == c)
        if n_train and n_train < len(own):
            own = np.sort(rng.choice(own, n_train, replace=False))
        subset = dataclasses.replace(
            train_split, images=train_split.images[own], labels=train_split.labels[own]
        )
        train = one_vs_rest(subset, c, FASHION_CLASSES, normal_only=True, name="fmnist")
        test = one_vs_rest(test_split, c, FASHION_CLASSES, normal_only=False, name="fmnist")
        row: dict[str, Any] = {"class": f"{c} {FASHION_CLASSES[c]}", "train": len(train)}
        for method in methods:
            detector: Any = (
                EmbeddingKNN(config=knn) if method == "knn" else PatchCore(config=patchcore)
            )
            timing: dict[str, float] = {}
            with timed(timing):
                scores = detector.fit(train).decision_function(test)
            row[detector.title] = metrics.auroc(test.labels, scores)
            row[f"{method} s"] = timing["seconds"]
        if options.peers:
            x_train = subset.images.reshape(len(own), -1) / 255.0
            x_test = test_split.images.reshape(len(test_split.labels), -1) / 255.0
            peers = pyod_peers(x_train, x_test, test.labels, ("IForest",), seed=options.seed)
            row["PyOD IForest"] = peers["IForest"]["auroc"]
            row["IForest s"] = peers["IForest"]["seconds"]
        rows.append(row)
        print(format_table([row], list(row)), flush=True)
        columns = list(rows[0])
        table = rows + [mean_row(rows, columns, "class")]
        text = format_table(
            table,
            columns,
            title=f"Fashion-MNIST one-vs-rest AUROC, pretrained features at {size} px",
        )
        text += (
            f"\n\ntraining images per class: {n_train or 'all'} (a random subset of the class's"
            f" 6,000), test images: {len(test_split.labels)}"
            f"{' (the same number from every class)' if n_test else ''}"
            f"\nsettings: embedding kNN {to_json(knn)}"
            f"\nwall time: {time.perf_counter() - start:.0f} s"
        )
        payload = {"config": to_json(knn), "rows": table, "n_train": n_train}
        text = _report(options, "pretrained-fmnist", payload, text)
    print("\n" + text)


# --------------------------------------------------------------------- speed
@suite("patchcore-speed", "PatchCore fit + score seconds, 100 + 100 images at 256 px")
def run_speed(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    size = int(keys.get("size", 256))
    n = int(keys.get("n_train", 20 if options.quick else 100))
    bench = defect_benchmark(
        "fabric", size=size, n_train=n, n_test_normal=n // 2, n_test_per_defect=n // 10
    )
    test = bench.test.subset(np.arange(min(n, len(bench.test))))
    config = dataclasses.replace(PatchCoreConfig(), device=options.device, image_size=size)
    config = with_overrides(config, overrides)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        disk = DiskCache(folder, max_bytes=DEFAULT_MAX_MB * 2**20)
        for run in ("first (no cache)", "second (disk cache)"):
            FEATURE_CACHE.clear()  # a new process starts with an empty memory cache
            with using_disk_cache(disk):
                rows.append(_speed_row(run, config, bench.train, test, size))
        cached_mb = disk.nbytes / 2**20
    text = format_table(
        rows, list(rows[0]), title="PatchCore speed (fit includes scoring the training set)"
    )
    text += f"\nfeatures on disk after the first run: {cached_mb:.1f} MB"
    text += f"\nsettings: {to_json(config)}"
    payload = {"config": to_json(config), "rows": rows, "cached_mb": cached_mb}
    print(_report(options, "patchcore-speed", payload, text))


def _speed_row(
    run: str, config: PatchCoreConfig, train: Dataset, test: Dataset, size: int
) -> dict[str, Any]:
    timing: dict[str, float] = {}
    # CPU seconds next to wall seconds: on a shared machine the wall time measures the others
    cpu = time.process_time()
    with timed(timing, "fit s"):
        detector = PatchCore(config=config).fit(train)
    timing["fit cpu s"] = time.process_time() - cpu
    with timed(timing, "score s"):
        scores = detector.decision_function(test)
    timing["score cpu s"] = time.process_time() - cpu - timing["fit cpu s"]
    return {
        "run": run,
        "train images": len(train),
        "test images": len(test),
        "side": size,
        "bank": len(detector.model_.memory_bank),
        **timing,
        "total s": timing["fit s"] + timing["score s"],
        "total cpu s": timing["fit cpu s"] + timing["score cpu s"],
        "image AUROC": metrics.auroc(test.labels, scores),
    }


# --------------------------------------------------------------------- settings on training data
HELDOUT_GRID_STAGES = ("head", "s32", "s32,head", "s16,s32,head", "s16,s32")


@suite(
    "pretrained-fmnist-heldout",
    "Embedding-kNN settings compared on held-out Fashion-MNIST training images (no test set)",
)
def run_fmnist_heldout(options: BenchOptions) -> None:
    """For each class (default 0 and 6, the hardest for IForest): fit on ``n_fit`` of its
    training images, validate on ``n_fit`` others of it against ``2 · n_fit`` training images
    of the other classes; every stage set × normalisation × k of the grid is scored on one
    pass of pooled features. The test images are never read."""
    keys, _ = _split_extra(options)
    n_fit = int(keys.get("n_train", 150))
    size = int(keys.get("size", 112))
    split = load_idx_dataset(options.root() / "fashion_mnist", "train")
    classes = [int(c) for c in options.classes] if options.classes else [0, 6]
    rng = np.random.default_rng(123)
    aurocs: dict[tuple[str, bool, int], list[float]] = {}
    for c in classes:
        own = rng.permutation(np.flatnonzero(split.labels == c))
        others = rng.choice(np.flatnonzero(split.labels != c), 2 * n_fit, replace=False)
        index = np.concatenate([own[: 2 * n_fit], others])
        labels = np.r_[np.zeros(n_fit), np.ones(2 * n_fit)]
        data = Dataset(DataKind.IMAGE, list(split.images[index]), [str(i) for i in index])
        pooled = extract_features(
            data, stages=STAGES[2:], image_size=size, pooled=True, device=options.device
        )
        for stages, normalise, k in itertools.product(
            HELDOUT_GRID_STAGES, (True, False), (1, 2, 5)
        ):
            parts = [pooled[s] for s in stage_list(stages)]
            embeddings = torch.cat(parts, dim=1)
            if normalise:
                embeddings = torch.nn.functional.normalize(embeddings, dim=1)
            distance, _ = nearest_distances(embeddings[n_fit:], embeddings[:n_fit], k)
            score = distance.mean(dim=1).numpy()
            aurocs.setdefault((stages, normalise, k), []).append(metrics.auroc(labels, score))
    rows = [
        {
            "stages": stages,
            "normalise": normalise,
            "k": k,
            **{f"class {c}": v for c, v in zip(classes, values, strict=True)},
            "mean": float(np.mean(values)),
        }
        for (stages, normalise, k), values in sorted(aurocs.items(), key=lambda kv: -np.mean(kv[1]))
    ]
    text = format_table(rows, list(rows[0]), title="Embedding kNN, held-out training images")
    text += (
        f"\n\n{n_fit} fit / {n_fit} own / {2 * n_fit} other training images per class, {size} px"
    )
    print(_report(options, "pretrained-fmnist-heldout", {"rows": rows}, text))
