"""FCDD benchmarks: Fashion-MNIST one-vs-rest, generated defect localisation, and speed.

``fcdd-fmnist``: for each normal class, train on its 6,000 training images against confetti
noise or outlier exposure (the MNIST test digits, a different dataset) and score all 10,000
test images; PyOD's IForest and AutoEncoder run on the same split.

``fcdd-defects``: the procedural textures of :mod:`deepad.data.synthetic`; pixel AUROC of the
upsampled heatmaps against the exact masks, unsupervised (confetti) and semi-supervised (one
labeled anomaly with its mask per defect kind, pixel-level loss). The pixel threshold for the
binary masks is set on the training images' maps (1 % of normal pixels), never on test labels.

``fcdd-speed``: training and scoring images/s of the 28×28 network through the shared loop,
and the cost of Gaussian upsampling one 28×28 map to 224×224; on CUDA also the 224×224 net
with bf16 autocast, channels_last and optionally ``torch.compile``.

Suite settings go in ``--set``: ``modes`` (fmnist: ``confetti,oe``; defects:
``unsupervised,semi``), ``textures``, ``size`` (defects image side), ``threads`` (torch CPU
threads), ``n_train``; every other key overrides :class:`FCDDConfig`. For ``fcdd-defects``
also ``eval_epochs`` (e.g. ``10,15``: the run trains ``epochs`` epochs and is also evaluated
with its weights after each listed earlier epoch; with the constant learning rate those are
the weights a shorter run would end with) and ``workers`` (textures trained in that many
processes at once, each with the same torch thread count).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, mean_row, pyod_peers, timed, write_results
from deepad.config import to_json, with_overrides
from deepad.data.benchmarks.idx import FASHION_CLASSES, load_idx_dataset, one_vs_rest
from deepad.data.synthetic import TEXTURES, defect_benchmark
from deepad.data.types import DataKind, Dataset, as_dataset
from deepad.device import describe_device, select_device
from deepad.models.config import Precision
from deepad.models.fcdd import FCDD, AnomalySource, FCDDConfig, PixelLoss
from deepad.models.fcdd.evaluate import localisation_metrics, threshold_from_normals
from deepad.models.fcdd.upsample import receptive_field_upsample
from deepad.train.progress import RunContext

log = logging.getLogger(__name__)

RESULTS = Path("benchmarks") / "results"
_SUITE_KEYS = (
    "modes",
    "textures",
    "size",
    "threads",
    "n_train",
    "repeats",
    "eval_epochs",
    "workers",
)


def _split_extra(options: BenchOptions) -> tuple[dict[str, str], dict[str, str]]:
    suite_keys = {k: v for k, v in options.extra.items() if k in _SUITE_KEYS}
    overrides = {k: v for k, v in options.extra.items() if k not in _SUITE_KEYS}
    if "threads" in suite_keys:
        torch.set_num_threads(int(suite_keys["threads"]))
    return suite_keys, overrides


def _config(options: BenchOptions, overrides: dict[str, str], **defaults: Any) -> FCDDConfig:
    config = dataclasses.replace(FCDDConfig(), device=options.device, seed=options.seed)
    config = dataclasses.replace(config, **defaults)
    return with_overrides(config, overrides)


def _output(options: BenchOptions, name: str) -> Path:
    return options.output or RESULTS / f"{name}.json"


def _write(options: BenchOptions, name: str, payload: dict[str, Any], text: str) -> None:
    path = _output(options, name)
    write_results(path, payload)
    path.with_suffix(".md").write_text(f"# {name}\n\n```\n{text}\n```\n")


# --------------------------------------------------------------------- Fashion-MNIST
# The outlier-exposure set of the Fashion-MNIST suites, named in their configurations.
MNIST_OE = "mnist:test"


def _mnist_oe(root: Path) -> RunContext:
    """A run context where ``MNIST_OE`` names the MNIST test digits."""
    images = load_idx_dataset(root / "mnist", "test").images
    return RunContext(datasets={MNIST_OE: as_dataset(images, DataKind.IMAGE)})


def _fmnist_classes(options: BenchOptions) -> list[int]:
    if not options.classes:
        return [0, 1] if options.quick else list(range(10))
    return [int(c) if str(c).isdigit() else FASHION_CLASSES.index(c) for c in options.classes]


@suite("fcdd-fmnist", "FCDD one-vs-rest AUROC on Fashion-MNIST (confetti / MNIST OE), PyOD peers")
def run_fmnist(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    modes = keys.get("modes", "confetti,oe").split(",")
    root = options.root()
    train_split = load_idx_dataset(root / "fashion_mnist", "train")
    test_split = load_idx_dataset(root / "fashion_mnist", "test")
    oe = _mnist_oe(root) if "oe" in modes else RunContext()
    # the published network and batch (128, half anomalous), not the small-set app defaults
    config = _config(
        options, overrides, epochs=3 if options.quick else 20, batch_size=128, width=1.0
    )
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for c in _fmnist_classes(options):
        train = one_vs_rest(train_split, c, FASHION_CLASSES, normal_only=True, name="fmnist")
        test = one_vs_rest(test_split, c, FASHION_CLASSES, normal_only=False, name="fmnist")
        row: dict[str, Any] = {"class": f"{c} {FASHION_CLASSES[c]}"}
        for mode in modes:
            timing: dict[str, float] = {}
            if mode == "oe":
                mode_config = dataclasses.replace(
                    config, anomalies=AnomalySource.OUTLIER_EXPOSURE, oe_dataset=MNIST_OE
                )
            else:
                mode_config = dataclasses.replace(config, anomalies=AnomalySource.CONFETTI)
            with timed(timing):
                detector = FCDD(config=mode_config).fit(train, context=oe)
                scores = detector.decision_function(test)
            row[f"FCDD {mode}"] = metrics.auroc(test.labels, scores)
            row[f"{mode} s"] = timing["seconds"]
            row[f"{mode} img/s"] = detector.history_[-1].items_per_second
        if options.peers:
            x_train = train_split.images[train_split.labels == c].reshape(-1, 784) / 255.0
            x_test = test_split.images.reshape(-1, 784) / 255.0
            for name, result in pyod_peers(x_train, x_test, test.labels, seed=options.seed).items():
                row[f"PyOD {name}"] = result["auroc"]
                row[f"{name} s"] = result["seconds"]
        rows.append(row)
        print(format_table([row], list(row)), flush=True)
        # written after every class so a long run that is stopped still leaves its rows
        text = _fmnist_report(options, config, rows, time.perf_counter() - start)
    print("\n" + text)


def _fmnist_report(
    options: BenchOptions, config: FCDDConfig, rows: list[dict[str, Any]], wall: float
) -> str:
    columns = list(rows[0])
    table = rows + [mean_row(rows, columns, "class")]
    text = format_table(table, columns, title="Fashion-MNIST one-vs-rest AUROC (FCDD)")
    text += f"\n\ndevice: {describe_device(select_device(options.device))}"
    text += f", torch threads {torch.get_num_threads()}"
    text += f"\nsettings: {to_json(config)}\nwall time: {wall:.0f} s"
    _write(
        options,
        "fcdd-fmnist",
        {"suite": "fcdd-fmnist", "config": to_json(config), "rows": table, "seconds": wall},
        text,
    )
    return text


@suite(
    "fcdd-fmnist-heldout",
    "FCDD AUROC on a held-out part of the Fashion-MNIST training set (for choosing settings)",
)
def run_fmnist_heldout(options: BenchOptions) -> None:
    """Same settings as ``fcdd-fmnist`` (one mode: ``oe``, ``confetti`` or ``confetti+oe``),
    scored on :func:`deepad.bench.ae_fmnist.heldout_split`: the test images are never read."""
    from deepad.bench.ae_fmnist import heldout_table

    keys, overrides = _split_extra(options)
    mode = keys.get("modes", "oe")
    root = options.root()
    train_split = load_idx_dataset(root / "fashion_mnist", "train")
    config = _config(
        options, overrides, epochs=3 if options.quick else 20, batch_size=128, width=1.0
    )
    sources = {
        "oe": AnomalySource.OUTLIER_EXPOSURE,
        "confetti": AnomalySource.CONFETTI,
        "confetti+oe": AnomalySource.CONFETTI_AND_OE,
    }
    config = dataclasses.replace(
        config, anomalies=sources[mode], oe_dataset=MNIST_OE if "oe" in mode else ""
    )
    oe = _mnist_oe(root) if "oe" in mode else RunContext()
    heldout_table(
        train_split,
        _fmnist_classes(options),
        lambda train, val: FCDD(config=config).fit(train, context=oe).decision_function(val),
        config,
        column=f"held-out AUROC ({mode})",
    )


# --------------------------------------------------------------------- defects
@suite("fcdd-defects", "FCDD pixel AUROC on generated textures with defects (unsup. / 1 per kind)")
def run_defects(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    modes = keys.get("modes", "unsupervised,semi").split(",")
    size = int(keys.get("size", 64 if options.quick else 224))
    n_train = int(keys.get("n_train", 60 if options.quick else 200))
    textures = options.classes or (["fabric", "round_part"] if options.quick else list(TEXTURES))
    config = _config(
        options,
        overrides,
        epochs=5 if options.quick else 40,
        batch_size=32,
        image_size=size,
        width=1.0,
    )
    eval_epochs = sorted(
        {int(e) for e in keys.get("eval_epochs", "").split(",") if e.strip()} | {config.epochs}
    )
    if eval_epochs[0] < 1 or eval_epochs[-1] > config.epochs:
        raise ValueError(f"eval_epochs must lie between 1 and epochs={config.epochs}")
    job = _DefectJob(
        config=config,
        modes=tuple(modes),
        size=size,
        n_train=n_train,
        quick=options.quick,
        seed=options.seed,
        eval_epochs=tuple(eval_epochs),
        threads=torch.get_num_threads(),
    )
    workers = int(keys.get("workers", 1))
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if workers <= 1:
        done = map(job, textures)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(min(workers, len(textures)), mp_context=spawn)
        done = pool.map(job, textures)
    for texture_rows in done:
        rows.extend(texture_rows)
        for row in texture_rows:
            print(format_table([row], list(row)), flush=True)
        text = _defects_report(
            options, config, rows, modes, size, n_train, time.perf_counter() - start, eval_epochs
        )
    if workers > 1:
        pool.shutdown()
    print("\n" + text)


@dataclasses.dataclass(frozen=True)
class _DefectJob:
    """One texture of ``fcdd-defects``: every mode, evaluated after each of ``eval_epochs``."""

    config: FCDDConfig
    modes: tuple[str, ...]
    size: int
    n_train: int
    quick: bool
    seed: int
    eval_epochs: tuple[int, ...]
    threads: int

    def __call__(self, texture: str) -> list[dict[str, Any]]:
        torch.set_num_threads(self.threads)  # a spawned worker starts with torch's default
        bench = defect_benchmark(
            texture,
            size=self.size,
            n_train=self.n_train,
            n_test_normal=10 if self.quick else 40,
            n_test_per_defect=4 if self.quick else 12,
            seed=self.seed,
        )
        rows = []
        for mode in self.modes:
            timing: dict[str, float] = {}
            labeled = bench.labeled if mode == "semi" else None
            mode_config = dataclasses.replace(
                self.config, pixel_loss=PixelLoss.AUTO if mode == "semi" else PixelLoss.OFF
            )
            detector = FCDD(config=mode_config)
            snapshots: dict[int, dict[str, torch.Tensor]] = {}

            def keep(p: Any, detector: FCDD = detector, snapshots: dict = snapshots) -> None:
                if p.epoch_end and p.epoch in self.eval_epochs[:-1]:
                    state = detector.network_.state_dict()
                    snapshots[p.epoch] = {k: v.detach().clone() for k, v in state.items()}

            with timed(timing):
                detector.fit(bench.train, labeled=labeled, progress=keep)
                final = {k: v.detach().clone() for k, v in detector.network_.state_dict().items()}
                snapshots[self.eval_epochs[-1]] = final
            for epoch in self.eval_epochs:
                evaluation: dict[str, float] = {}
                with timed(evaluation):
                    detector.network_.load_state_dict(snapshots[epoch])
                    threshold = threshold_from_normals(detector, bench.train)
                    result = localisation_metrics(detector, bench.test, threshold)
                row = {"texture": texture, "mode": mode}
                if len(self.eval_epochs) > 1:
                    row["epochs"] = epoch
                # training (all epochs) and this evaluation
                seconds = timing["seconds"] + evaluation["seconds"]
                rows.append({**row, **result, "seconds": seconds})
        return rows


def _defects_report(
    options: BenchOptions,
    config: FCDDConfig,
    rows: list[dict[str, Any]],
    modes: list[str],
    size: int,
    n_train: int,
    wall: float,
    eval_epochs: list[int] | None = None,
) -> str:
    columns = ["texture", "mode", "image AUROC", "pixel AUROC", "pixel F1", "seconds"]
    epochs: list[int | None] = [None]
    if eval_epochs is not None and len(eval_epochs) > 1:
        columns.insert(2, "epochs")
        epochs = list(eval_epochs)
    table = list(rows)
    for mode in modes:
        for epoch in epochs:
            done = [r for r in rows if r["mode"] == mode and r.get("epochs") == epoch]
            if done:
                mean = mean_row(done, columns, "texture")
                mean["mode"] = mode
                if epoch is not None:
                    mean["epochs"] = epoch
                table.append(mean)
    text = format_table(table, columns, title=f"Generated defects, {size}×{size}, FCDD")
    text += f"\n\ndevice: {describe_device(select_device(options.device))}"
    text += f", torch threads {torch.get_num_threads()}"
    text += f"\ntrain images per texture: {n_train}; settings: {to_json(config)}"
    text += f"\nwall time: {wall:.0f} s"
    _write(
        options,
        "fcdd-defects",
        {"suite": "fcdd-defects", "config": to_json(config), "rows": table, "seconds": wall},
        text,
    )
    return text


# --------------------------------------------------------------------- speed
def _train_speed(config: FCDDConfig, images: np.ndarray) -> float:
    data = Dataset(DataKind.IMAGE, list(images), [str(i) for i in range(len(images))])
    detector = FCDD(config=config).fit(data)
    # the first epoch pays for warm-up (and compilation); report the best later one
    later = detector.history_[1:] or detector.history_
    return max(h.items_per_second for h in later)


def _score_speed(detector: FCDD, images: np.ndarray, repeats: int = 2) -> float:
    detector.decision_function(images[:256])
    start = time.perf_counter()
    for _ in range(repeats):
        detector.decision_function(images)
    return repeats * len(images) / (time.perf_counter() - start)


def _upsample_ms(repeats: int, batch: int, use_torch: bool) -> float:
    from deepad.receptive_field import ReceptiveField

    rf = ReceptiveField(size=62, jump=8, start=3.5)
    low: Any = np.random.default_rng(0).random((batch, 28, 28), dtype=np.float32)
    if batch == 1:
        low = low[0]
    if use_torch:
        low = torch.from_numpy(low).to(select_device("auto"))
    receptive_field_upsample(low, rf, 10.0, size=224)
    start = time.perf_counter()
    for _ in range(repeats):
        out = receptive_field_upsample(low, rf, 10.0, size=224)
    if use_torch and out.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1e3


@suite("fcdd-speed", "FCDD training/scoring images/s and Gaussian upsampling time")
def run_speed(options: BenchOptions) -> None:
    keys, overrides = _split_extra(options)
    device = select_device(options.device)
    rng = np.random.default_rng(options.seed)
    n = 1024 if options.quick else 4096
    images28 = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    rows: list[dict[str, Any]] = []
    base = _config(options, overrides, epochs=3, batch_size=128, width=1.0, checkpoint_every=0)
    variants: list[tuple[str, FCDDConfig]] = [
        ("fmnist28 fp32", dataclasses.replace(base, channels_last=False)),
        ("fmnist28 fp32 channels_last", base),
    ]
    if device.type == "cuda":
        variants = [
            (
                "fmnist28 fp32",
                dataclasses.replace(base, precision=Precision.FP32, channels_last=False),
            ),
            ("fmnist28 bf16+cl", base),
            ("fmnist28 bf16+cl+compile", dataclasses.replace(base, compile=True)),
        ]
    start = time.perf_counter()
    for name, config in variants:
        train_rate = _train_speed(config, images28)
        detector = FCDD(config=dataclasses.replace(config, epochs=1)).fit(images28[:256])
        rows.append(
            {
                "network": name,
                "train img/s": train_rate,
                "score img/s": _score_speed(detector, images28),
            }
        )
        print(format_table(rows[-1:], list(rows[-1])), flush=True)
    if device.type == "cuda":
        images224 = rng.integers(0, 256, (512, 224, 224, 3), dtype=np.uint8)
        config = dataclasses.replace(base, batch_size=64, image_size=224)
        for name, cfg in (
            (
                "vgg224 fp32",
                dataclasses.replace(config, precision=Precision.FP32, channels_last=False),
            ),
            ("vgg224 bf16+cl", config),
            ("vgg224 bf16+cl+compile", dataclasses.replace(config, compile=True)),
        ):
            train_rate = _train_speed(cfg, images224)
            detector = FCDD(config=dataclasses.replace(cfg, epochs=1)).fit(images224[:64])
            rows.append(
                {
                    "network": name,
                    "train img/s": train_rate,
                    "score img/s": _score_speed(detector, images224, 1),
                }
            )
            print(format_table(rows[-1:], list(rows[-1])), flush=True)
    repeats = int(keys.get("repeats", 200))
    upsampling = [
        {"upsample 28→224": "one map, numpy", "ms": _upsample_ms(repeats, 1, False)},
        {"upsample 28→224": "one map, torch", "ms": _upsample_ms(repeats, 1, True)},
        {
            "upsample 28→224": "batch of 128, torch, per map",
            "ms": _upsample_ms(20, 128, True) / 128,
        },
    ]
    wall = time.perf_counter() - start
    text = format_table(rows, ["network", "train img/s", "score img/s"], title="FCDD speed")
    text += "\n\n" + format_table(upsampling, ["upsample 28→224", "ms"])
    text += f"\n\ndevice: {describe_device(device)}, torch threads {torch.get_num_threads()}"
    text += f"\nbatch 128, {n} random 28×28 images, confetti anomalies; wall time {wall:.0f} s"
    print("\n" + text)
    _write(
        options,
        "fcdd-speed",
        {"suite": "fcdd-speed", "rows": rows, "upsampling": upsampling, "seconds": wall},
        text,
    )
