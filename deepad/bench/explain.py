"""Explanation benchmarks: which explainer points at the anomaly, and Clever Hans scores.

``explain-defects``: the generated textures with defect masks of :mod:`deepad.data.synthetic`
(fcdd-defects style); FCDD and the convolutional autoencoder are trained on normal images and
every explainer of each (own map, LRP, gradient, gradient × input) is compared on the
anomalous test images per defect kind (:mod:`deepad.explain.evaluate`).

``explain-mnistc``: MNIST-C-style corruptions (:mod:`deepad.data.corruptions`) of the MNIST
test split. The first half of the split (clean) trains the detectors; per corruption, the
second half gives clean normal items and corrupted anomalies whose ground truth is
``|corrupted − original|``. Detection AUROC, explanation accuracy (cosine) and the Clever Hans
score (thesis Table 4.4) per detector, explainer and corruption.

Suite settings go in ``--set``: ``size`` (defects image side), ``n_train``, ``epochs``,
``n_test`` (mnistc items per group), ``corruptions``, ``textures``, ``detectors``, ``threads``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, timed, write_results
from deepad.data.benchmarks.idx import load_idx_dataset
from deepad.data.corruptions import CORRUPTIONS, corrupt
from deepad.data.synthetic import defect_benchmark
from deepad.data.types import DataKind, Dataset
from deepad.explain.evaluate import EXPLAINER_TITLES, compare_explainers, explainer_maps
from deepad.models.ae.detector import Autoencoder
from deepad.models.fcdd.detector import FCDD
from deepad.models.shallow.detectors import KDE

log = logging.getLogger(__name__)
RESULTS = Path("benchmarks/results")
COLUMNS = ["detector", "group", "explainer", "detection AUROC", "pixel AUROC", "cosine",
           "Clever Hans", "explain s"]  # fmt: skip


def _settings(options: BenchOptions) -> dict[str, str]:
    if "threads" in options.extra:
        torch.set_num_threads(int(options.extra["threads"]))
    return options.extra


def _rows(name: str, detector: Any, data: Dataset, prefix: dict[str, Any]) -> list[dict]:
    timing: dict[str, float] = {}
    with timed(timing):
        maps = explainer_maps(detector, data)
    scores = detector.decision_function(data)
    out = []
    for row in compare_explainers(data, maps, scores):
        out.append(
            {
                **prefix,
                "detector": name,
                "group": row["group"],
                "explainer": EXPLAINER_TITLES.get(row["method"], row["method"]),
                "detection AUROC": row["detection_auroc"],
                "pixel AUROC": row["pixel_auroc"],
                "cosine": row["cosine"],
                "Clever Hans": row["clever_hans"],
                "explain s": timing["seconds"],
            }
        )
    return out


def _chosen(detectors: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """The detectors named in the ``detectors`` setting (all by default)."""
    names = (keys.get("detectors") or ",".join(detectors)).split(",")
    return {name: detectors[name] for name in names}


def _write(options: BenchOptions, name: str, command: str, payload: dict, text: str) -> None:
    path = options.output or RESULTS / f"{name}.json"
    write_results(path, {"command": command, **payload})
    path.with_suffix(".md").write_text(f"# {name}\n\nCommand: `{command}`\n\n```\n{text}\n```\n")


def _command(suite_name: str, options: BenchOptions) -> str:
    sets = " ".join(f"--set {k}={v}" for k, v in options.extra.items())
    output = f" --output {options.output}" if options.output else ""
    return f"deepad bench {suite_name} {sets}{output}"


def _best(rows: list[dict], detector: str, key: str = "pixel AUROC") -> str:
    mine = [r for r in rows if r["detector"] == detector and r["group"] == "all"]
    if not mine:
        return "-"
    best = max(mine, key=lambda r: -np.inf if np.isnan(r[key]) else r[key])
    return f"{best['explainer']} ({best[key]:.4f})"


@suite("explain-defects", "explainer pixel AUROC / cosine on generated defects (FCDD, AE)")
def run_defects(options: BenchOptions) -> None:
    keys = _settings(options)
    size = int(keys.get("size", 64))
    n_train = int(keys.get("n_train", 60))
    epochs = int(keys.get("epochs", 10))
    textures = (keys.get("textures") or "fabric").split(",")
    start = time.perf_counter()
    rows: list[dict] = []
    for texture in textures:
        bench = defect_benchmark(
            texture, size=size, n_train=n_train, n_test_normal=16, n_test_per_defect=6,
            seed=options.seed,
        )  # fmt: skip
        detectors = {
            "FCDD": FCDD(epochs=epochs, batch_size=16, image_size=size, width=0.25,
                         device="cpu", checkpoint_every=0, seed=options.seed),
            "AE": Autoencoder(architecture="conv", epochs=epochs, batch_size=16,
                              image_size=size, code_size=32, filters=(16, 8),
                              checkpoint_every=0, seed=options.seed),
        }  # fmt: skip
        for name, detector in _chosen(detectors, keys).items():
            timing: dict[str, float] = {}
            with timed(timing):
                detector.fit(bench.train)
            log.info("%s on %s trained in %.0f s", name, texture, timing["seconds"])
            found = _rows(name, detector, bench.test, {"texture": texture})
            for row in found:
                row["train s"] = timing["seconds"]
            rows += found
            print(format_table(found, ["texture", *COLUMNS]), flush=True)
    wall = time.perf_counter() - start
    text = format_table(rows, ["texture", *COLUMNS, "train s"], title=f"Defects {size}×{size}")
    text += f"\n\nbest pixel AUROC: FCDD {_best(rows, 'FCDD')}; AE {_best(rows, 'AE')}"
    text += (
        f"\ntrain images per texture: {n_train}, epochs {epochs}, one torch thread "
        f"({torch.get_num_threads()}); wall time {wall:.0f} s"
    )
    print("\n" + text)
    _write(options, "explain-defects", _command("explain-defects", options),
           {"rows": rows, "seconds": wall}, text)  # fmt: skip


def _mnist_split(options: BenchOptions, n_train: int, n_test: int) -> tuple[np.ndarray, ...]:
    split = load_idx_dataset(Path(options.root()) / "mnist", "test")
    rng = np.random.default_rng(options.seed)
    half = len(split.images) // 2
    train = split.images[rng.permutation(half)[:n_train]]
    test = split.images[half + rng.permutation(len(split.images) - half)[: 2 * n_test]]
    return train, test[:n_test], test[n_test:]


@suite("explain-mnistc", "Clever Hans scores on MNIST-C-style corruptions (AE, FCDD, KDE)")
def run_mnistc(options: BenchOptions) -> None:
    keys = _settings(options)
    n_train = int(keys.get("n_train", 1000))
    n_test = int(keys.get("n_test", 60))
    epochs = int(keys.get("epochs", 10))
    corruptions = (keys.get("corruptions") or ",".join(CORRUPTIONS)).split(",")
    start = time.perf_counter()
    train_images, clean, to_corrupt = _mnist_split(options, n_train, n_test)
    train = Dataset(DataKind.IMAGE, list(train_images), [f"train_{i}" for i in range(n_train)])
    detectors = {
        "AE": Autoencoder(architecture="conv", epochs=epochs, batch_size=32, code_size=32,
                          checkpoint_every=0, seed=options.seed),
        "FCDD": FCDD(epochs=epochs, batch_size=32, width=0.25, device="cpu",
                     checkpoint_every=0, seed=options.seed),
        "KDE": KDE(bandwidth_rule="cv", seed=options.seed),
    }  # fmt: skip
    detectors = _chosen(detectors, keys)
    trained: dict[str, float] = {}
    for name, detector in detectors.items():
        timing: dict[str, float] = {}
        with timed(timing):
            detector.fit(train)
        trained[name] = timing["seconds"]
    rows: list[dict] = []
    for index, name in enumerate(corruptions):
        corrupted, truth = corrupt(to_corrupt, name, seed=options.seed + index)
        items = list(clean) + list(corrupted)
        data = Dataset(
            DataKind.IMAGE, items, [f"clean_{i}" for i in range(n_test)]
            + [f"{name}_{i}" for i in range(n_test)],
            labels=np.array([0] * n_test + [1] * n_test),
            classes=["clean"] * n_test + [name] * n_test,
            masks=[np.zeros_like(t) for t in truth] + list(truth),
        )  # fmt: skip
        for detector_name, detector in detectors.items():
            found = [r for r in _rows(detector_name, detector, data, {}) if r["group"] == name]
            rows += found
            print(format_table(found, COLUMNS), flush=True)
    wall = time.perf_counter() - start
    text = format_table(rows, COLUMNS, title="MNIST-C-style corruptions")
    text += "\n\n" + _top_clever_hans(rows)
    text += (
        f"\n\ntrain: {n_train} clean images of the first half of the MNIST test split; per "
        f"corruption {n_test} clean + {n_test} corrupted of the second half; epochs {epochs}; "
        f"train seconds {', '.join(f'{k} {v:.0f}' for k, v in trained.items())}; one torch "
        f"thread ({torch.get_num_threads()}); wall time {wall:.0f} s"
    )
    print("\n" + text)
    _write(options, "explain-mnistc", _command("explain-mnistc", options),
           {"rows": rows, "seconds": wall, "train_seconds": trained}, text)  # fmt: skip


def _top_clever_hans(rows: list[dict], top: int = 3) -> str:
    """Thesis Table 4.4: per detector (with LRP) the corruptions with the highest score."""
    lines = ["Top Clever Hans scores (LRP; detection AUROC − cosine, points):"]
    for detector in dict.fromkeys(r["detector"] for r in rows):
        mine = [r for r in rows if r["detector"] == detector and r["explainer"] == "LRP"]
        mine.sort(key=lambda r: -r["Clever Hans"])
        cells = [
            f"{r['Clever Hans']:.1f} {r['group']} (AUROC {r['detection AUROC']:.3f}, "
            f"cos {r['cosine']:.3f})"
            for r in mine[:top]
        ]
        lines.append(f"  {detector}: " + "; ".join(cells))
    return "\n".join(lines)
