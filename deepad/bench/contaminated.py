"""Benchmarks of the methods for contaminated training data (iterative AE, CANCE).

- ``iterative-kdd``: KDD Cup 99 10% with paper 001's protocol (after DAGMM): attack traffic is
  the normal class, a random half is the test set, and the training set is the training half's
  attacks plus the training half's "normal" traffic as anomalies making up 5 %, 10 % and 20 %
  of it. AUROC and AUPRC on the test half, for every method fitted on the same training set.
- ``iterative-mnist``: digit 4 as the normal class with 3 % of other digits (evenly drawn) as
  contamination, from MNIST's *test* split (the paper draws 4,859 fours and 265 others from
  the training split, whose images are not available here); unsupervised, so the detector is
  fitted on the mixed set and the AUROC is of its scores on that same set, as in the paper.
- ``cance-odds``: ODDS thyroid and arrhythmia, a stratified 1:1 split, training on the normal
  rows of the training half, F1 when the test set's anomaly ratio is flagged (DAGMM's protocol,
  which the CANCE paper follows), against the autoencoder on the same split.
- ``cance-images``: one-vs-rest AUROC on MNIST / Fashion-MNIST (subset of classes allowed).

``--set key=value`` sets a suite setting; ``--set method.key=value`` sets a detector setting
of one method (e.g. ``iterative_ae.epochs=50``). A method named ``NAME:VARIANT`` in
``methods`` is NAME again, fitted on the same split in the same run, with the settings of
``--set NAME:VARIANT.key=value`` on top of NAME's (e.g. ``iterative_ae:rows.percentile_of=rows``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.dsebm import ratio_metrics, split_half
from deepad.bench.report import format_table, mean_row, peer_scores, write_results
from deepad.config import to_json, with_overrides
from deepad.data.contamination import contaminate
from deepad.data.transforms import Standardizer
from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset
from deepad.models import get_method

log = logging.getLogger(__name__)

PAPER_KDD = {  # paper 001, Tables 2 and 3 (in %)
    0.05: {"auroc": 98.2, "auprc": 94.5},
    0.1: {"auroc": 98.4, "auprc": 93.9},
    0.2: {"auroc": 93.5, "auprc": 90.3},
}
PAPER_MNIST_AUROC = 82.4
# Per-method settings of the suites, before any --set method.key=value
KDD_SETTINGS: dict[str, dict[str, Any]] = {
    "iterative_ae": {},
    "ae": {"batch_size": 1024, "epochs": 50},
    "dsebm": {"batch_size": 1024, "epochs": 20},
    "iforest": {},
}


def _suite_value(options: BenchOptions, key: str, default: str) -> str:
    return options.extra.get(key, default)


def _base(method: str) -> str:
    """``iterative_ae`` of a variant name ``iterative_ae:rows``."""
    return method.split(":", 1)[0]


def method_config(options: BenchOptions, method: str, defaults: dict[str, Any]) -> Any:
    """A method's configuration: its defaults, the suite's, then ``--set method.key=value``
    (for a variant ``NAME:VARIANT``: NAME's, then the variant's own)."""
    cls = get_method(_base(method))
    config = cls.Config()
    common = {k: v for k, v in (("device", options.device), ("seed", options.seed))}
    names = {f.name for f in dataclasses.fields(config)}
    config = dataclasses.replace(config, **{k: v for k, v in common.items() if k in names})
    config = dataclasses.replace(config, **defaults)
    for name in dict.fromkeys((_base(method), method)):
        prefix = f"{name}."
        overrides = {k[len(prefix) :]: v for k, v in options.extra.items() if k.startswith(prefix)}
        config = with_overrides(config, overrides)
    return config


def suite_configs(
    options: BenchOptions, methods: Sequence[str], settings: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Each method's configuration; ``--quick`` caps every epoch count at 5."""
    configs = {}
    for method in methods:
        chosen = dict(settings.get(_base(method), {}))
        if options.quick:
            fields = {f.name for f in dataclasses.fields(get_method(_base(method)).Config)}
            chosen.update({k: 5 for k in fields if k.endswith("epochs")})
        configs[method] = method_config(options, method, chosen)
    return configs


def fit_and_score(method: str, config: Any, train: Dataset, test: Dataset) -> dict[str, Any]:
    """Fit one deepad method on ``train``; its test scores, seconds and the fitted detector."""
    start = time.perf_counter()
    detector = get_method(_base(method))(config=config).fit(train)
    scores = detector.decision_function(test)
    return {"detector": detector, "scores": scores, "seconds": time.perf_counter() - start}


def compare(
    train: Dataset,
    test: Dataset,
    methods: dict[str, Any],
    peers: Sequence[str],
    options: BenchOptions,
    ratio: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of AUROC / AUPRC (and P/R/F1 at ``ratio``) per method; the fitted detectors."""
    rows, detectors = [], {}
    labels = np.asarray(test.labels)

    def row(name: str, scores: np.ndarray, seconds: float) -> dict[str, Any]:
        out: dict[str, Any] = {"method": name}
        if ratio is None:
            out.update(auroc=metrics.auroc(labels, scores), auprc=metrics.auprc(labels, scores))
        else:
            out.update(ratio_metrics(labels, scores, ratio))
        out["seconds"] = seconds
        return out

    for method, config in methods.items():
        result = fit_and_score(method, config, train, test)
        detectors[method] = result["detector"]
        rows.append(row(f"deepad {method}", result["scores"], result["seconds"]))
        log.info("%s", rows[-1])
    if options.peers and peers and train.kind == DataKind.TABLE:
        scaler = Standardizer().fit(np.asarray(train.items))
        x_train = scaler.transform(np.asarray(train.items))
        x_test = scaler.transform(np.asarray(test.items))
        for name, (scores, seconds) in peer_scores(
            x_train, x_test, peers, seed=options.seed
        ).items():
            rows.append(row(f"PyOD {name}", scores, seconds))
    return rows, detectors


def _names(options: BenchOptions, key: str, default: str) -> list[str]:
    return [n for n in _suite_value(options, key, default).split("+") if n]


def _print_ranking(
    rows: list[dict[str, Any]], title: str, detectors: dict[str, Any]
) -> list[dict[str, Any]]:
    """Print the AUROC / AUPRC table and the iterative AE's selection rounds; return those."""
    print(format_table(rows, ("method", "auroc", "auprc", "seconds"), title=title), flush=True)
    all_rounds = {
        name: list(detector.rounds_)
        for name, detector in detectors.items()
        if getattr(detector, "rounds_", None)
    }
    for name, rounds in all_rounds.items():
        print(f"{name} selection rounds:", rounds, flush=True)
    return all_rounds.get("iterative_ae", next(iter(all_rounds.values()), []))


@suite("iterative-kdd", "Iterative clustering AE on KDD Cup 99 with 5/10/20% contamination")
def run_iterative_kdd(options: BenchOptions) -> None:
    from deepad.data.benchmarks.kdd import find_kdd_file, load_kdd

    start = time.perf_counter()
    shares = [float(s) for s in _names(options, "shares", "0.05+0.1+0.2")]
    limit = int(_suite_value(options, "train_limit", "20000" if options.quick else "0"))
    method_names = _names(options, "methods", "+".join(KDD_SETTINGS))
    peers = _names(options, "peers", "IForest+ECOD")
    data = load_kdd(find_kdd_file(options.root()))
    # paper 001: attacks are the normal class, so the loader's anomaly labels fit as they are
    train_idx, test_idx = split_half(data.labels, options.seed, stratify=False)
    train_half, test = data.subset(train_idx), data.subset(test_idx)
    attacks = train_half.subset(np.flatnonzero(train_half.labels == NORMAL))
    normals = train_half.subset(np.flatnonzero(train_half.labels == ANOMALOUS))
    rng = np.random.default_rng(options.seed)
    payload: dict[str, Any] = {"suite": "iterative-kdd", "limit": limit, "results": {}}
    for share in shares:
        base = attacks
        # the training half has too few "normal" rows for 20 % next to all its attacks:
        # then (or with train_limit) attacks are subsampled so the share is exact
        most = int(len(normals) * (1 - share) / share) if share > 0 else len(attacks)
        keep = min(len(attacks), most, limit or len(attacks))
        if keep < len(attacks):
            base = attacks.subset(np.sort(rng.choice(len(attacks), size=keep, replace=False)))
        train = contaminate(base, normals, share, seed=options.seed)
        configs = suite_configs(options, method_names, KDD_SETTINGS)
        rows, detectors = compare(train, test, configs, peers, options)
        paper = PAPER_KDD.get(share)
        if paper:
            rows.append(
                {
                    "method": "paper 001",
                    "auroc": paper["auroc"] / 100,
                    "auprc": paper["auprc"] / 100,
                }
            )
        title = (
            f"KDD Cup 99 10%: {len(train)} training rows ({share:.0%} anomalies), "
            f"{len(test)} test rows ({np.mean(test.labels == 1):.1%} anomalies)"
        )
        rounds = _print_ranking(rows, title, detectors)
        payload["results"][str(share)] = {
            "train_rows": len(train),
            "test_rows": len(test),
            "rows": rows,
            "rounds": rounds,
            "configs": {m: to_json(c) for m, c in configs.items()},
        }
    payload["seconds"] = time.perf_counter() - start
    print(f"wall time: {payload['seconds']:.0f} s")
    write_results(options.output, payload)


MNIST_SETTINGS: dict[str, dict[str, Any]] = {
    # paper 001, Table 8, "MNIST (raw pixel)"; p0 is not given there, so p + 5
    "iterative_ae": {
        "hidden": (512, 256, 128, 60),
        "code_size": 10,
        "epochs": 300,
        "batch_size": 128,
        "lr": 1e-3,
        "share": 10.0,
        "initial_share": 15.0,
        "reselect_every": 10,
    },
    "ae": {},
    "iforest": {},
}


def _images(images: np.ndarray, labels: np.ndarray, name: str) -> Dataset:
    names = [f"{name}_{i}" for i in range(len(images))]
    return Dataset(DataKind.IMAGE, list(images), names, labels=labels, name=name)


def _flat(data: Dataset) -> np.ndarray:
    return np.stack(data.items).reshape(len(data), -1).astype(np.float32) / 255.0


@suite("iterative-mnist", "Iterative clustering AE on MNIST digit 4 with 3% other digits")
def run_iterative_mnist(options: BenchOptions) -> None:
    from deepad.data.benchmarks.idx import load_idx_dataset

    start = time.perf_counter()
    share = float(_suite_value(options, "share", "0.03"))
    normal_class = int(_suite_value(options, "normal", "4"))
    method_names = _names(options, "methods", "+".join(MNIST_SETTINGS))
    peers = _names(options, "peers", "IForest+ECOD")
    split = load_idx_dataset(options.root() / "mnist", "test")
    rng = np.random.default_rng(options.seed)
    own = np.flatnonzero(split.labels == normal_class)
    n_other = round(share * len(own) / (1 - share))
    other_classes = [c for c in range(10) if c != normal_class]
    per_class = np.full(len(other_classes), n_other // len(other_classes))
    per_class[: n_other % len(other_classes)] += 1
    others = np.concatenate(
        [
            rng.choice(np.flatnonzero(split.labels == c), size=k, replace=False)
            for c, k in zip(other_classes, per_class, strict=True)
        ]
    )
    index = rng.permutation(np.concatenate([own, others]))
    labels = (split.labels[index] != normal_class).astype(np.int8)
    mixed = _images(split.images[index], labels, "mnist")
    configs = suite_configs(options, method_names, MNIST_SETTINGS)
    rows, detectors = compare(mixed, mixed, configs, [], options)
    if options.peers and peers:
        flat = _flat(mixed)
        for name, (scores, seconds) in peer_scores(flat, flat, peers, seed=options.seed).items():
            rows.append(
                {"method": f"PyOD {name}", "auroc": metrics.auroc(labels, scores),
                 "auprc": metrics.auprc(labels, scores), "seconds": seconds}
            )  # fmt: skip
    rows.append({"method": "paper 001 (training split)", "auroc": PAPER_MNIST_AUROC / 100})
    title = (
        f"MNIST test split: digit {normal_class} ({len(own)}) + {n_other} others "
        f"({np.mean(labels):.1%}), scored on the same set"
    )
    rounds = _print_ranking(rows, title, detectors)
    wall = time.perf_counter() - start
    print(f"wall time: {wall:.0f} s")
    write_results(
        options.output,
        {
            "suite": "iterative-mnist",
            "rows": rows,
            "rounds": rounds,
            "configs": {m: to_json(c) for m, c in configs.items()},
            "seconds": wall,
        },
    )


ODDS_SETTINGS: dict[str, dict[str, Any]] = {"cance": {}, "ae": {"epochs": 100}}
# ``--set networks=dagmm``: CANCE's autoencoder as DAGMM's compression network for the data set
# (DAGMM paper, Section 4; the CANCE paper prepares its tables as DAGMM does); chosen from the
# papers, not from test labels. Data sets not listed keep CANCE's defaults.
DAGMM_NETWORKS: dict[str, dict[str, Any]] = {
    "thyroid": {"hidden": (12, 4), "code_size": 1},
    "arrhythmia": {"hidden": (10,), "code_size": 2},
}


@suite("cance-odds", "CANCE on ODDS thyroid and arrhythmia (F1 at the test anomaly ratio)")
def run_cance_odds(options: BenchOptions) -> None:
    from deepad.data.benchmarks.odds import find_odds_file, load_odds

    start = time.perf_counter()
    names = options.classes or ["thyroid", "arrhythmia"]
    method_names = _names(options, "methods", "+".join(ODDS_SETTINGS))
    peers = _names(options, "peers", "IForest+ECOD")
    payload: dict[str, Any] = {"suite": "cance-odds", "results": {}}
    for name in names:
        data = load_odds(find_odds_file(options.root(), name))
        train_idx, test_idx = split_half(data.labels, options.seed, stratify=True)
        train = data.subset(train_idx[data.labels[train_idx] == 0])
        test = data.subset(test_idx)
        ratio = float(np.mean(test.labels == 1))
        settings = dict(ODDS_SETTINGS)
        if _suite_value(options, "networks", "default") == "dagmm":
            settings["cance"] = {**settings.get("cance", {}), **DAGMM_NETWORKS.get(name, {})}
        configs = suite_configs(options, method_names, settings)
        rows, _ = compare(train, test, configs, peers, options, ratio=ratio)
        title = f"ODDS {name}: {len(train)} training rows, {len(test)} test rows ({ratio:.1%})"
        columns = ("method", "precision", "recall", "f1", "auroc", "auprc", "seconds")
        print(format_table(rows, columns, title=title), flush=True)
        payload["results"][name] = {
            "rows": rows,
            "configs": {m: to_json(c) for m, c in configs.items()},
        }
    payload["seconds"] = time.perf_counter() - start
    print(f"wall time: {payload['seconds']:.0f} s")
    write_results(options.output, payload)


@suite("cance-images", "CANCE one-vs-rest AUROC on MNIST / Fashion-MNIST against the AE")
def run_cance_images(options: BenchOptions) -> None:
    from deepad.bench.dsebm import _image_split
    from deepad.data.benchmarks.idx import FASHION_CLASSES, MNIST_CLASSES

    start = time.perf_counter()
    datasets = _names(options, "datasets", "mnist+fashion_mnist")
    limit = int(_suite_value(options, "train_limit", "1000"))
    method_names = _names(options, "methods", "cance+ae")
    classes = [int(c) for c in options.classes] if options.classes else list(range(10))
    payload: dict[str, Any] = {"suite": "cance-images", "limit": limit}
    for dataset in datasets:
        titles = MNIST_CLASSES if dataset == "mnist" else FASHION_CLASSES
        rows = []
        for c in classes:
            x_train, x_test, y_test = _image_split(dataset, options, c, limit)
            train = _images(x_train, np.zeros(len(x_train), np.int8), dataset)
            test = _images(x_test, y_test, dataset)
            configs = suite_configs(options, method_names, {})
            results, _ = compare(train, test, configs, [], options)
            row: dict[str, Any] = {"class": f"{c} {titles[c]}"}
            for r in results:
                row[f"{r['method']} AUROC"] = r["auroc"]
                row[f"{r['method']} s"] = r["seconds"]
            rows.append(row)
            print(format_table([row], list(row)), flush=True)
        table = rows + [mean_row(rows, list(rows[0]), "class")]
        print(format_table(table, list(rows[0]), title=f"{dataset} one-vs-rest AUROC"), flush=True)
        payload[dataset] = table
    payload["seconds"] = time.perf_counter() - start
    print(f"wall time: {payload['seconds']:.0f} s")
    write_results(options.output, payload)
