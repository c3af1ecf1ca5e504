"""Fashion-MNIST one-vs-rest with the autoencoder, next to PyOD's IForest and AutoEncoder.

For each normal class the detector trains on that class's 6,000 training images and is
scored on all 10,000 test images (the other nine classes are the anomalies). Settings come
from the method's defaults plus ``--set key=value`` overrides; nothing is tuned on test labels:
``ae-fmnist-heldout`` scores a configuration on a split of the training images instead, which
is how the defaults were compared.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, mean_row, pyod_peers, timed, write_results
from deepad.config import to_json, with_overrides
from deepad.data.benchmarks.idx import FASHION_CLASSES, load_idx_dataset, one_vs_rest
from deepad.data.types import DataKind, Dataset
from deepad.device import describe_device, select_device
from deepad.models.ae import AEConfig, Autoencoder

log = logging.getLogger(__name__)

QUICK_CLASSES = (0, 1)
QUICK_EPOCHS = 3
RESULTS = Path("benchmarks") / "results"


def _output(options: BenchOptions) -> Path:
    """``--output``, else ``benchmarks/results/ae-fmnist[-quick].json`` (a smoke run keeps
    the full run's file)."""
    return options.output or RESULTS / (
        "ae-fmnist-quick.json" if options.quick else "ae-fmnist.json"
    )


def _class_indices(options: BenchOptions) -> list[int]:
    if not options.classes:
        return list(QUICK_CLASSES) if options.quick else list(range(len(FASHION_CLASSES)))
    out = []
    for c in options.classes:
        out.append(int(c) if str(c).isdigit() else FASHION_CLASSES.index(c))
    return out


def ae_config(options: BenchOptions) -> AEConfig:
    """The default configuration with the run's device, seed and ``--set`` overrides."""
    config = dataclasses.replace(AEConfig(), device=options.device, seed=options.seed)
    if options.quick:
        config = dataclasses.replace(config, epochs=QUICK_EPOCHS)
    return with_overrides(config, dict(options.extra))


@suite("ae-fmnist", "Autoencoder one-vs-rest AUROC on Fashion-MNIST, with PyOD peers")
def run(options: BenchOptions) -> None:
    directory = options.root() / "fashion_mnist"
    train_split = load_idx_dataset(directory, "train")
    test_split = load_idx_dataset(directory, "test")
    config = ae_config(options)
    classes = _class_indices(options)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for c in classes:
        train = one_vs_rest(train_split, c, FASHION_CLASSES, normal_only=True, name="fmnist")
        test = one_vs_rest(test_split, c, FASHION_CLASSES, normal_only=False, name="fmnist")
        row: dict[str, Any] = {"class": f"{c} {FASHION_CLASSES[c]}"}
        timing: dict[str, float] = {}
        with timed(timing):
            detector = Autoencoder(config=config).fit(train)
            scores = detector.decision_function(test)
        row["deepad AE"] = metrics.auroc(test.labels, scores)
        row["AE s"] = timing["seconds"]
        if options.peers:
            x_train = train_split.images[train_split.labels == c].reshape(-1, 784) / 255.0
            x_test = test_split.images.reshape(-1, 784) / 255.0
            for name, result in pyod_peers(x_train, x_test, test.labels, seed=options.seed).items():
                row[f"PyOD {name}"] = result["auroc"]
                row[f"{name} s"] = result["seconds"]
        rows.append(row)
        log.info("class %s: %s", row["class"], row)
        print(format_table([row], list(row)), flush=True)
    columns = list(rows[0])
    table = rows + [mean_row(rows, columns, "class")]
    wall = time.perf_counter() - start
    device = describe_device(select_device(options.device))
    report = "\n".join(
        [
            format_table(table, columns, title="Fashion-MNIST one-vs-rest AUROC"),
            "",
            f"device: {device}, torch threads {torch.get_num_threads()}",
            f"settings: {to_json(config)}",
            f"wall time: {wall:.0f} s for {len(classes)} classes",
        ]
    )
    print()
    print(report)
    path = _output(options)
    payload = {"suite": "ae-fmnist", "config": to_json(config), "rows": table, "seconds": wall}
    write_results(path, {**payload, "device": device})
    path.with_suffix(".md").write_text(f"# ae-fmnist\n\n```\n{report}\n```\n")


HELDOUT_TRAIN = 5000
HELDOUT_OTHERS = 2000


def heldout_split(split, normal_class: int, seed: int = 123) -> tuple[Dataset, Dataset]:
    """A validation split inside the *training* images, for choosing settings.

    Trains on 5,000 of the class's training images; validates on its other 1,000 against
    2,000 training images of the other classes. The test set is never touched.
    """
    rng = np.random.default_rng(seed)
    own = np.flatnonzero(split.labels == normal_class)
    rng.shuffle(own)
    others = rng.choice(np.flatnonzero(split.labels != normal_class), HELDOUT_OTHERS, False)
    fit_index = own[:HELDOUT_TRAIN]
    val_index = np.concatenate([own[HELDOUT_TRAIN:], others])
    train = Dataset(
        DataKind.IMAGE, list(split.images[fit_index]), [f"train_{i}" for i in fit_index]
    )
    labels = (split.labels[val_index] != normal_class).astype(np.int8)
    val = Dataset(
        DataKind.IMAGE,
        list(split.images[val_index]),
        [f"train_{i}" for i in val_index],
        labels=labels,
    )
    return train, val


@suite(
    "ae-fmnist-heldout",
    "Autoencoder AUROC on a held-out part of the Fashion-MNIST training set (for settings)",
)
def run_heldout(options: BenchOptions) -> None:
    train_split = load_idx_dataset(options.root() / "fashion_mnist", "train")
    config = ae_config(options)
    heldout_table(
        train_split,
        _class_indices(options),
        lambda train, val: Autoencoder(config=config).fit(train).decision_function(val),
        config,
    )


def heldout_table(
    train_split: Any,
    classes: Sequence[int],
    fit_and_score: Callable[[Dataset, Dataset], np.ndarray],
    config: Any,
    column: str = "held-out AUROC",
) -> None:
    """For each class, :func:`heldout_split`, then ``fit_and_score(train, val)``; prints a row
    per class as it finishes and the table with its mean at the end."""
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for c in classes:
        train, val = heldout_split(train_split, c)
        timing: dict[str, float] = {}
        with timed(timing):
            scores = fit_and_score(train, val)
        rows.append(
            {
                "class": f"{c} {FASHION_CLASSES[c]}",
                column: metrics.auroc(val.labels, scores),
                "s": timing["seconds"],
            }
        )
        print(format_table(rows[-1:], list(rows[-1])), flush=True)
    columns = list(rows[0])
    print()
    print(format_table([*rows, mean_row(rows, columns, "class")], columns))
    print(f"settings: {to_json(config)}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")
