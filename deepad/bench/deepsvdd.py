"""Benchmarks of Deep SVDD, Deep SAD and HSC (thesis chapter 2), with peers on the same splits.

- ``deepsad-odds``: ODDS arrhythmia, cardio and thyroid with the protocol of the thesis'
  Table 2.3: stratified 60:40 splits, features standardised with the training rows, labeled
  anomalies making up 1 % of the training set (the other training anomalies are dropped),
  10 seeds. deepad's OC-SVM and isolation forest and PyOD's run on the same unlabeled rows.
- ``deepsvdd-mnist``: MNIST one-vs-rest. Only the MNIST test images exist here, so each class
  trains on 2/3 of its test images and is tested on the rest against all other classes.
- ``deepsvdd-fmnist``: Fashion-MNIST one-vs-rest (the class's 6,000 training images, the
  10,000 test images); HSC additionally trains against the MNIST test digits as outlier
  exposure (passed to ``fit`` as labeled anomalies).
- ``deepsvdd-fmnist-heldout``: the same detectors scored on a split of the Fashion-MNIST
  training images, which is where their settings were compared; the test set is not touched.
- ``semi-curve``: AUROC of Deep SAD and HSC against the number of labeled anomalies on an
  ODDS table (the splits of ``deepsad-odds``), Deep SVDD as the reference without labels
  (thesis Figure 2.6, scenario (i); tables instead of images, to run in minutes on a CPU).

``--set key=value`` overrides a detector setting; ``--set methods=deepsvdd+hsc`` picks the
rows and ``--set peers=IForest+DeepSVDD`` the PyOD peers of the image suites. Settings are the thesis' (Adam, two-phase learning rate, weight decay 1e-6, autoencoder
pre-training for Deep SVDD and Deep SAD) with fewer epochs where a CPU run needs it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.ae_fmnist import heldout_table
from deepad.bench.dsebm import _image_split
from deepad.bench.report import format_table, mean_row, peer_scores, timed, write_results
from deepad.config import to_json, with_overrides
from deepad.data.benchmarks.idx import FASHION_CLASSES, MNIST_CLASSES, load_idx_dataset
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.device import describe_device, select_device
from deepad.models.base import Detector
from deepad.models.deepsvdd import HSC, DeepSAD, DeepSVDD
from deepad.models.shallow.detectors import OCSVM, IForest

log = logging.getLogger(__name__)

RESULTS = Path("benchmarks") / "results"
DETECTORS: dict[str, type[Detector]] = {"deepsvdd": DeepSVDD, "deepsad": DeepSAD, "hsc": HSC}
TITLES = {"deepsvdd": "Deep SVDD", "deepsad": "Deep SAD", "hsc": "HSC"}

# Thesis appendix B.1.2: Adam, 1e-4 for 50 epochs then 1e-5 for 100, weight decay 1e-6, the
# autoencoder pre-trained with the same schedule.
ODDS_SETTINGS: dict[str, Any] = {
    "epochs": 150,
    "lr": 1e-4,
    "schedule": "step",
    "lr_milestones": (50,),
    "batch_size": 128,
    "weight_decay": 1e-6,
    "pretrain_epochs": 150,
    "pretrain_lr": 1e-4,
}
# Images on a CPU: two phases as in the thesis, at Adam's default rate with small batches
# and fewer epochs (fixed beforehand, not chosen on test labels).
IMAGE_SETTINGS: dict[str, Any] = {
    "epochs": 60,
    "lr": 1e-3,
    "schedule": "step",
    "lr_milestones": (40,),
    "batch_size": 64,
    "weight_decay": 1e-6,
    "pretrain_epochs": 60,
    "pretrain_lr": 1e-3,
}
ODDS_SETS = ("arrhythmia", "cardio", "thyroid")
LABELED_RATIO = 0.01


def _methods(options: BenchOptions, default: str) -> list[str]:
    names = options.extra.pop("methods", default).split("+")
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise KeyError(f"unknown method(s) {unknown}; choose from {', '.join(DETECTORS)}")
    return names


def _config(cls: type[Detector], options: BenchOptions, base: dict[str, Any]) -> Any:
    """The method's configuration with the suite's settings, the run's device and seed, then
    the ``--set`` overrides that the method knows."""
    config = dataclasses.replace(cls.Config(), device=options.device, seed=options.seed)
    names = {f.name for f in dataclasses.fields(config)}
    settings = {k: v for k, v in {**base, **options.extra}.items() if k in names}
    return with_overrides(config, settings)


def _write(name: str, options: BenchOptions, command: str, report: str, payload: dict) -> None:
    path = options.output or RESULTS / f"{name}{'-quick' if options.quick else ''}.json"
    device = describe_device(select_device(options.device))
    write_results(path, {**payload, "command": command, "device": device})
    path.with_suffix(".md").write_text(f"# {name}\n\n`{command}`\n\n```\n{report}\n```\n")


def _command(name: str, options: BenchOptions) -> str:
    parts = ["deepad bench", name]
    if options.classes:
        parts.append("--classes " + " ".join(options.classes))
    if options.quick:
        parts.append("--quick")
    if not options.peers:
        parts.append("--no-peers")
    parts += [f"--set {k}={v}" for k, v in options.extra.items()]
    return " ".join(parts)


# --------------------------------------------------------------------- ODDS (Table 2.3)
def odds_split(
    data: Dataset, seed: int, ratio: float = LABELED_RATIO, count: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(unlabeled normal rows, labeled anomaly rows, test rows, test labels, the scaling).

    Stratified 60:40; features standardised with the mean and std of all training rows; the
    number of labeled anomalies k is chosen so they are ``ratio`` of the training set
    (k = ratio / (1 − ratio) · normals, at least 1), drawn from the training anomalies.
    ``count`` sets k instead (0 allowed); then the labeled anomalies of a smaller k are the
    first of those of a larger one with the same seed (nested sets, for a curve over k).
    """
    from sklearn.model_selection import train_test_split

    x = np.asarray(data.items, dtype=np.float64)
    y = np.asarray(data.labels)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=0.4, random_state=seed, stratify=y
    )
    mean = x[train_idx].mean(0)
    std = x[train_idx].std(0)
    std[std < 1e-8] = 1.0
    z = ((x - mean) / std).astype(np.float32)
    normal = train_idx[y[train_idx] != ANOMALOUS]
    anomalous = train_idx[y[train_idx] == ANOMALOUS]
    rng = np.random.default_rng(seed)
    if count is None:
        k = max(1, int(ratio / (1 - ratio) * len(normal)))
        known = rng.choice(anomalous, size=min(k, len(anomalous)), replace=False)
    else:
        if count > len(anomalous):
            raise ValueError(
                f"{count} labeled anomalies asked, the training split has {len(anomalous)}"
            )
        known = rng.permutation(anomalous)[:count]
    return z[normal], z[known], z[test_idx], y[test_idx], np.stack([mean, std])


def _table(rows: np.ndarray, labels: np.ndarray | None = None) -> Dataset:
    columns = [f"x{j}" for j in range(rows.shape[1])]
    names = [str(i) for i in range(len(rows))]
    return Dataset(DataKind.TABLE, rows, names, labels=labels, columns=columns)


@suite("deepsad-odds", "Deep SAD (1% labeled anomalies) on ODDS tables, thesis Table 2.3 protocol")
def run_odds(options: BenchOptions) -> None:
    from deepad.data.benchmarks.odds import find_odds_file, load_odds

    command = _command("deepsad-odds", options)
    methods = _methods(options, "deepsad+deepsvdd+hsc")
    seeds = int(options.extra.pop("seeds", 2 if options.quick else 10))
    base = {**ODDS_SETTINGS, **({"epochs": 10, "pretrain_epochs": 10} if options.quick else {})}
    configs = {m: _config(DETECTORS[m], options, base) for m in methods}
    names = options.classes or list(ODDS_SETS)
    start = time.perf_counter()
    table: list[dict[str, Any]] = []
    per_seed: dict[str, list[dict[str, float]]] = {}
    for name in names:
        data = load_odds(find_odds_file(options.root(), name))
        runs = []
        for seed in range(seeds):
            normal, known, x_test, y_test, _ = odds_split(data, options.seed + seed)
            train, test = _table(normal), _table(x_test, y_test)
            labeled = _table(known, np.full(len(known), ANOMALOUS, dtype=np.int8))
            row: dict[str, float] = {}
            for m in methods:
                cfg = dataclasses.replace(configs[m], seed=options.seed + seed)
                timing: dict[str, float] = {}
                with timed(timing):
                    detector = DETECTORS[m](config=cfg)
                    fit_labeled = labeled if detector.uses_labeled else None
                    scores = detector.fit(train, labeled=fit_labeled).decision_function(test)
                row[TITLES[m]] = metrics.auroc(y_test, scores)
                row[f"{m} s"] = timing["seconds"]
            for title, cls in (("deepad OC-SVM", OCSVM), ("deepad IForest", IForest)):
                det = cls(seed=options.seed + seed) if cls is IForest else cls()
                row[title] = metrics.auroc(y_test, det.fit(train).decision_function(test))
            if options.peers:
                for peer, (s, _) in peer_scores(
                    normal, x_test, ("OCSVM", "IForest"), seed=options.seed + seed
                ).items():
                    row[f"PyOD {peer}"] = metrics.auroc(y_test, s)
            runs.append(row)
            log.info("%s seed %d: %s", name, seed, row)
        per_seed[name] = runs
        summary: dict[str, Any] = {"dataset": name, "labeled": len(known), "seeds": seeds}
        for column in runs[0]:
            values = np.array([r[column] for r in runs])
            summary[column] = float(values.mean())
            if not column.endswith(" s"):
                summary[f"{column} ±"] = float(values.std())
        table.append(summary)
        print(format_table([summary], list(summary)), flush=True)
    columns = list(table[0])
    wall = time.perf_counter() - start
    thesis = "thesis Table 2.3 (Deep SAD): arrhythmia 75.9, cardio 95.0, thyroid 98.6"
    report = "\n".join(
        [
            format_table(table, columns, title="ODDS mean AUROC (± std over seeds)"),
            "",
            thesis,
            "labeled: labeled anomalies in each training set (1 % of it); only Deep SAD and "
            "HSC use them, the other rows train on the unlabeled normal rows alone",
            *[f"{TITLES[m]} settings: {to_json(configs[m])}" for m in methods],
            f"wall time: {wall:.0f} s",
        ]
    )
    print("\n" + report)
    _write("deepsad-odds", options, command, report, {"rows": table, "seeds": per_seed})


# --------------------------------------------------------------------- images
def _images(images: np.ndarray, labels: np.ndarray | None = None, prefix: str = "x") -> Dataset:
    return Dataset(
        DataKind.IMAGE, list(images), [f"{prefix}_{i}" for i in range(len(images))], labels=labels
    )


def _limit(options: BenchOptions, key: str) -> int:
    """``--set train_limit=N`` / ``oe_limit=N``: a seeded subsample of that many (0: all).
    Read, not popped: the suite's command is recorded from the options after this is read."""
    return int(options.extra.get(key, 0))


def _subsample(images: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if not limit or limit >= len(images):
        return images
    keep = np.random.default_rng(seed).choice(len(images), size=limit, replace=False)
    return images[np.sort(keep)]


def _oe_labeled(root: Path, limit: int = 0, seed: int = 0) -> Dataset:
    """The MNIST test digits as labeled anomalies (outlier exposure for Fashion-MNIST),
    optionally a seeded subsample of ``limit`` of them."""
    images = _subsample(load_idx_dataset(root / "mnist", "test").images, limit, seed)
    return _images(images, np.full(len(images), ANOMALOUS, dtype=np.int8), "mnist")


def _class_list(options: BenchOptions) -> list[int]:
    if options.classes:
        return [int(c) if str(c).isdigit() else FASHION_CLASSES.index(c) for c in options.classes]
    return [0, 1] if options.quick else list(range(10))


def _image_rows(
    options: BenchOptions,
    class_names: tuple[str, ...],
    split: Any,
    methods: list[str],
    oe: Dataset | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    base = {**IMAGE_SETTINGS, **({"epochs": 2, "pretrain_epochs": 2} if options.quick else {})}
    peers = options.extra.pop("peers", "IForest+DeepSVDD").split("+")
    configs = {m: _config(DETECTORS[m], options, base) for m in methods}
    rows = []
    for c in _class_list(options):
        x_train, x_test, y_test = split(c)
        train, test = _images(x_train), _images(x_test, y_test)
        row: dict[str, Any] = {"class": f"{c} {class_names[c]}"}
        for m in methods:
            timing: dict[str, float] = {}
            with timed(timing):
                detector = DETECTORS[m](config=configs[m])
                labeled = oe if detector.uses_labeled else None
                scores = detector.fit(train, labeled=labeled).decision_function(test)
            title = TITLES[m] + (" (OE)" if labeled is not None else "")
            row[title] = metrics.auroc(y_test, scores)
            row[f"{m} s"] = timing["seconds"]
        if options.peers:
            flat_train = x_train.reshape(len(x_train), -1) / 255.0
            flat_test = x_test.reshape(len(x_test), -1) / 255.0
            for peer, (s, seconds) in peer_scores(
                flat_train, flat_test, peers, seed=options.seed
            ).items():
                row[f"PyOD {peer}"] = metrics.auroc(y_test, s)
                row[f"{peer} s"] = seconds
        rows.append(row)
        print(format_table([row], list(row)), flush=True)
    return rows, {m: to_json(cfg) for m, cfg in configs.items()}


def _image_report(title: str, rows: list[dict[str, Any]], configs: dict, notes: list[str]) -> str:
    columns = list(rows[0])
    table = [*rows, mean_row(rows, columns, "class")]
    return "\n".join(
        [
            format_table(table, columns, title=title),
            "",
            *notes,
            *[f"{TITLES[m]} settings: {c}" for m, c in configs.items()],
        ]
    )


def _image_suite(
    name: str,
    options: BenchOptions,
    *,
    default_methods: str,
    class_names: tuple[str, ...],
    split: Any,
    notes: list[str],
) -> None:
    """One-vs-rest rows per class (see :func:`_image_rows`), the mean, notes, files."""
    command = _command(name, options)
    methods = _methods(options, default_methods)
    uses_oe = any(DETECTORS[m].uses_labeled for m in methods)
    oe_limit = _limit(options, "oe_limit")
    oe = _oe_labeled(options.root(), oe_limit, options.seed) if uses_oe else None
    start = time.perf_counter()
    rows, configs = _image_rows(options, class_names, split, methods, oe)
    notes = [*notes, f"wall time: {time.perf_counter() - start:.0f} s"]
    dataset = "MNIST" if class_names is MNIST_CLASSES else "Fashion-MNIST"
    report = _image_report(f"{dataset} one-vs-rest AUROC", rows, configs, notes)
    print("\n" + report)
    _write(name, options, command, report, {"rows": rows, "config": configs})


@suite("deepsvdd-mnist", "Deep SVDD one-vs-rest on MNIST (2/3 of each class's test images train)")
def run_mnist(options: BenchOptions) -> None:
    _image_suite(
        "deepsvdd-mnist",
        options,
        default_methods="deepsvdd",
        class_names=MNIST_CLASSES,
        split=lambda c: _image_split("mnist", options, c, 0),
        notes=[
            "Only the MNIST test images exist here: each class trains on 2/3 of its test "
            "images (about 650) and is tested on its other 1/3 against all other classes' "
            "test images.",
            "thesis Table 2.1 (One-Class Deep SVDD, trained on the ~6,000 training images): 94.8",
        ],
    )


def _fmnist_split(options: BenchOptions):
    directory = options.root() / "fashion_mnist"
    train_split = load_idx_dataset(directory, "train")
    test_split = load_idx_dataset(directory, "test")
    limit = _limit(options, "train_limit")

    def split(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        own = train_split.images[train_split.labels == c]
        x_train = _subsample(own, limit, options.seed + c)
        return x_train, test_split.images, (test_split.labels != c).astype(np.int8)

    return split


@suite(
    "deepsvdd-fmnist", "Deep SVDD and HSC (MNIST as outlier exposure) one-vs-rest on Fashion-MNIST"
)
def run_fmnist(options: BenchOptions) -> None:
    train_limit, oe_limit = _limit(options, "train_limit"), _limit(options, "oe_limit")
    train = f"a seeded subsample of {train_limit} of" if train_limit else "all"
    oe = f"a seeded subsample of {oe_limit} of" if oe_limit else "all"
    _image_suite(
        "deepsvdd-fmnist",
        options,
        default_methods="deepsvdd+hsc",
        class_names=FASHION_CLASSES,
        split=_fmnist_split(options),
        notes=[
            f"Trained on {train} the class's 6,000 training images, tested on all 10,000 test "
            f"images; HSC (OE) trains against {oe} the 10,000 MNIST test digits as anomalies.",
            "thesis: AE 0.82, Deep SVDD 0.93; deepad AE 0.921, PyOD IForest 0.917",
        ],
    )


@suite(
    "deepsvdd-fmnist-heldout",
    "Deep SVDD / Deep SAD / HSC on a held-out split of the Fashion-MNIST training images",
)
def run_fmnist_heldout(options: BenchOptions) -> None:
    command = _command("deepsvdd-fmnist-heldout", options)
    method = _methods(options, "deepsvdd")[0]
    cls = DETECTORS[method]
    base = {**IMAGE_SETTINGS, **({"epochs": 2, "pretrain_epochs": 2} if options.quick else {})}
    limit, oe_limit = _limit(options, "train_limit"), _limit(options, "oe_limit")
    config = _config(cls, options, base)
    oe = _oe_labeled(options.root(), oe_limit, options.seed) if cls.uses_labeled else None
    train_split = load_idx_dataset(options.root() / "fashion_mnist", "train")

    def fit_and_score(train: Dataset, val: Dataset) -> np.ndarray:
        if limit and limit < len(train):
            keep = np.sort(np.random.default_rng(options.seed).choice(len(train), limit, False))
            train = train.subset(keep)
        return cls(config=config).fit(train, labeled=oe).decision_function(val)

    print(command, flush=True)
    heldout_table(
        train_split,
        _class_list(options),
        fit_and_score,
        config,
        column=f"held-out AUROC ({method})",
    )


# --------------------------------------------------------------------- semi-curve
SEMI_COUNTS = (0, 1, 2, 5, 10, 20)
# the thyroid schedule of the recorded 50-epoch ODDS run: thesis rates, a third of the epochs
SEMI_SETTINGS: dict[str, Any] = {
    **ODDS_SETTINGS,
    "epochs": 50,
    "lr_milestones": (30,),
    "pretrain_epochs": 50,
}


@suite(
    "semi-curve",
    "Deep SAD and HSC AUROC against the number of labeled anomalies (Deep SVDD: none), ODDS",
)
def run_semi_curve(options: BenchOptions) -> None:
    """Thesis Figure 2.6, scenario (i), on ODDS tables: the 60:40 splits of ``deepsad-odds``
    with k labeled anomalies (``--set labeled=0+1+2+5+10+20``) drawn from the training
    anomalies, nested over k within a seed; the unlabeled part is the training normals.
    Deep SVDD does not use labels: it trains once per seed and is the 0-label reference."""
    from deepad.data.benchmarks.odds import find_odds_file, load_odds

    command = _command("semi-curve", options)
    methods = _methods(options, "deepsvdd+deepsad+hsc")
    default_counts = "0+2" if options.quick else "+".join(str(k) for k in SEMI_COUNTS)
    counts = [int(k) for k in options.extra.pop("labeled", default_counts).split("+")]
    seeds = int(options.extra.pop("seeds", 1 if options.quick else 3))
    base = {**SEMI_SETTINGS, **({"epochs": 2, "pretrain_epochs": 2} if options.quick else {})}
    # HSC keeps its own default of no pre-training (thesis), unless --set says otherwise
    no_pretrain = {k: v for k, v in base.items() if not k.startswith("pretrain")}
    configs = {
        m: _config(DETECTORS[m], options, no_pretrain if m == "hsc" else base) for m in methods
    }
    names = options.classes or ["cardio"]
    start = time.perf_counter()
    table: list[dict[str, Any]] = []
    raw: dict[str, dict[str, dict[int, list[float]]]] = {}
    for name in names:
        data = load_odds(find_odds_file(options.root(), name))
        aurocs: dict[str, dict[int, list[float]]] = {m: {k: [] for k in counts} for m in methods}
        sizes: dict[int, int] = {}
        for seed in range(options.seed, options.seed + seeds):
            unlabeled_auroc: dict[str, float] = {}
            for k in counts:
                normal, known, x_test, y_test, _ = odds_split(data, seed, count=k)
                sizes[k] = len(normal)
                labeled = _table(known, np.full(len(known), ANOMALOUS, dtype=np.int8))
                for m in methods:
                    cls = DETECTORS[m]
                    if not cls.uses_labeled and m in unlabeled_auroc:
                        aurocs[m][k].append(unlabeled_auroc[m])  # the same fit for every k
                        continue
                    detector = cls(config=dataclasses.replace(configs[m], seed=seed))
                    fit_labeled = labeled if cls.uses_labeled and len(known) else None
                    scores = detector.fit(_table(normal), labeled=fit_labeled).decision_function(
                        _table(x_test, y_test)
                    )
                    value = metrics.auroc(y_test, scores)
                    aurocs[m][k].append(value)
                    if not cls.uses_labeled:
                        unlabeled_auroc[m] = value
                log.info(
                    "%s seed %d k=%d: %s", name, seed, k, {m: aurocs[m][k][-1] for m in methods}
                )
        for k in counts:
            row: dict[str, Any] = {"dataset": name, "labeled": k}
            row["share"] = k / (k + sizes[k])
            for m in methods:
                values = np.array(aurocs[m][k])
                row[TITLES[m]] = float(values.mean())
                row[f"{TITLES[m]} ±"] = float(values.std())
            table.append(row)
            print(format_table([row], list(row)), flush=True)
        raw[name] = {m: {str(k): v for k, v in per.items()} for m, per in aurocs.items()}
    wall = time.perf_counter() - start
    report = "\n".join(
        [
            format_table(table, list(table[0]), title="ODDS mean AUROC (± std over seeds)"),
            "",
            f"labeled: labeled anomalies in the training set (share: of the training set), "
            f"drawn from the training anomalies of the 60:40 split, nested over k; {seeds} "
            "seed(s). Deep SVDD ignores them (one fit per seed: the 0-label reference); "
            "HSC without labeled anomalies has no second class to separate.",
            *[f"{TITLES[m]} settings: {to_json(configs[m])}" for m in methods],
            f"wall time: {wall:.0f} s",
        ]
    )
    print("\n" + report)
    _write("semi-curve", options, command, report, {"rows": table, "auroc": raw})
