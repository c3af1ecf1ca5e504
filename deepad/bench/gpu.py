"""``deepad bench gpu``: one prepared speed check of every network on one machine.

For each workload the library's path (the shared loop: bf16 autocast, channels_last, cuDNN
autotuning, data kept on the device) runs beside a plain fp32 loop of the same network in the
same process: NCHW, every batch copied from host memory, no autocast. Speed-ups are the ratio
of the two, so they compare like with like on whatever machine runs the check; the absolute
rates only mean something on the GPU they were measured on.

Workloads: FCDD training and scoring with full-resolution heatmaps (224×224, 32×32 with
``--quick``), also compiled on CUDA; DSEBM fully connected (a 118-column table) and
convolutional (28×28); CVDD on word embeddings (documents/s); MiniLM embedding (documents/s);
and the memory-bank detector ``patchcore`` when it is registered. On CUDA it records the peak
GPU memory of each workload and finally runs the CUDA tests (``pytest -m cuda``).

Results go to ``benchmarks/results/gpu-<date>.{json,md}`` (``gpu-cpu-<date>`` on the CPU),
with the machine: GPU, torch, CUDA and cuDNN versions. Settings (``--set``): ``scale`` (a factor
on every item count), ``skip`` (comma-separated workloads), ``tests=0`` (no ``pytest -m cuda``).

It needs only torch, numpy, scikit-learn, safetensors and, for the text rows,
sentence-transformers: run it on a bare GPU machine as ``PYTHONPATH=. python3 -m deepad bench
gpu``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, write_results
from deepad.device import describe_device, select_device

log = logging.getLogger(__name__)

RESULTS = Path("benchmarks") / "results"
WORKLOADS = ("fcdd", "dsebm-fc", "dsebm-conv", "cvdd", "minilm", "patchcore")
CUDA_TESTS_TIMEOUT = 240.0
CUDA_TESTS = ("tests/test_cuda.py",)  # only these: other test modules import the app's packages


@dataclass(frozen=True)
class Sizes:
    fcdd_side: int
    fcdd_train: int
    fcdd_score: int
    fcdd_batch: int
    table_items: int
    table_batch: int
    conv_items: int
    conv_batch: int
    documents: int
    words: int
    doc_batch: int
    minilm_documents: int
    epochs: int

    def scaled(self, factor: float) -> Sizes:
        def n(value: int, floor: int) -> int:
            return max(floor, int(round(value * factor)))

        return dataclasses.replace(
            self,
            fcdd_train=n(self.fcdd_train, 2 * self.fcdd_batch),
            fcdd_score=n(self.fcdd_score, self.fcdd_batch),
            table_items=n(self.table_items, 2 * self.table_batch),
            conv_items=n(self.conv_items, 2 * self.conv_batch),
            documents=n(self.documents, 2 * self.doc_batch),
            minilm_documents=n(self.minilm_documents, 4),
        )


# A few minutes on one data-centre GPU, CUDA tests included; --quick is a CPU smoke version.
FULL = Sizes(224, 2048, 1024, 64, 131_072, 1024, 16_384, 256, 8192, 64, 64, 4096, 3)
QUICK = Sizes(32, 128, 128, 32, 4096, 256, 512, 64, 512, 24, 32, 32, 2)


# --------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float:
    if device.type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated(device) / 2**20


def _rate(items: int, work: Callable[[], Any], device: torch.device) -> float:
    """Items per second of ``work`` after one untimed warm-up call."""
    work()
    _sync(device)
    start = time.perf_counter()
    work()
    _sync(device)
    return items / max(time.perf_counter() - start, 1e-9)


def _best_later_epoch(history: Sequence[Any]) -> float:
    """The first epoch pays for warm-up (cuDNN autotuning, compilation): the best later one."""
    later = history[1:] or history
    return max(h.items_per_second for h in later)


def plain_train_rate(
    module: nn.Module,
    loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor],
    batches: Sequence[tuple[torch.Tensor, ...]],
    device: torch.device,
    epochs: int,
    lr: float = 1e-3,
) -> float:
    """The baseline: fp32, NCHW, each host batch copied to ``device`` as it is used."""
    module.to(device).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    rates = []
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        items = 0
        for batch in batches:
            on_device = tuple(t.to(device) for t in batch)
            loss = loss_fn(module, on_device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            items += len(batch[0])
        _sync(device)
        rates.append(items / max(time.perf_counter() - start, 1e-9))
    return max(rates[1:] or rates)


def plain_score_rate(
    forward: Callable[[torch.Tensor], Any],
    batches: Sequence[torch.Tensor],
    device: torch.device,
) -> float:
    """The baseline's scoring: host batch → device → fp32 forward → result back to the host."""

    def work() -> None:
        with torch.no_grad():
            for batch in batches:
                forward(batch.to(device))

    return _rate(sum(len(b) for b in batches), work, device)


def _loop_settings(epochs: int, batch: int, device: torch.device, seed: int) -> dict[str, Any]:
    return {
        "epochs": epochs,
        "batch_size": batch,
        "device": str(device),
        "checkpoint_every": 0,
        "seed": seed,
    }


def _library_path(
    fit: Callable[[], Any], score: Callable[[Any], Any], items: int, device: torch.device
) -> tuple[Any, float, float, float]:
    """The fitted detector, its training and scoring rates and the peak GPU memory."""
    _reset_peak(device)
    detector = fit()
    train = _best_later_epoch(detector.history_)
    rate = _rate(items, lambda: score(detector), device)
    return detector, train, rate, _peak_mib(device)


def _host_batches(x: torch.Tensor, batch: int) -> list[torch.Tensor]:
    return list(x.split(batch))


def _row(
    workload: str,
    unit: str,
    items: int,
    trains: tuple[float, float],
    scores: tuple[float, float],
    peak: float,
    **extra: Any,
) -> dict[str, Any]:
    """One table row; ``trains`` and ``scores`` are (plain loop, library) rates."""
    (base_train, train), (base_score, score) = trains, scores
    return {
        "workload": workload,
        "unit": unit,
        "items": items,
        "plain train/s": base_train,
        "train/s": train,
        "train x": train / base_train if base_train else float("nan"),
        "plain score/s": base_score,
        "score/s": score,
        "score x": score / base_score if base_score else float("nan"),
        "peak GPU MiB": peak,
        **extra,
    }


# --------------------------------------------------------------------- workloads
def bench_fcdd(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any]:
    from deepad.data.transforms import to_float
    from deepad.models.fcdd import FCDD, FCDDConfig
    from deepad.models.fcdd.loss import anomaly_map, fcdd_loss
    from deepad.models.fcdd.network import FCDDNet
    from deepad.models.fcdd.upsample import receptive_field_upsample

    side, batch = sizes.fcdd_side, sizes.fcdd_batch
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (sizes.fcdd_train, side, side, 3), dtype=np.uint8)
    score_images = images[: sizes.fcdd_score]
    config = FCDDConfig(
        # the machine's suggestions (the quarter width on a CPU), then this check's own sizes
        **{
            **FCDDConfig.suggested_defaults(device.type),
            "image_size": side,
            **_loop_settings(sizes.epochs, batch, device, seed),
        }
    )
    detector, train, score, peak = _library_path(
        lambda: FCDD(config=config).fit(images),
        lambda d: d.explain(score_images),
        len(score_images),
        device,
    )
    compiled: float | str = float("nan")
    if device.type == "cuda":
        try:
            fitted = FCDD(config=dataclasses.replace(config, compile=True)).fit(images)
            compiled = _best_later_epoch(fitted.history_)
        except Exception as error:  # e.g. no compiler toolchain on the machine
            log.warning("torch.compile failed: %s", error)
            compiled = f"failed: {type(error).__name__}"

    net = detector.network_
    plain = FCDDNet(net.architecture, 3, image_size=side, width=net.width)
    host = (to_float(torch.from_numpy(images).permute(0, 3, 1, 2)) - 0.5) / 0.25
    labels = torch.from_numpy(rng.integers(0, 2, len(host)).astype(bool))
    weights = torch.ones(len(host))

    def loss(module: nn.Module, b: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, w = b
        return fcdd_loss(anomaly_map(module(x)), y, w)

    batches = list(zip(host.split(batch), labels.split(batch), weights.split(batch), strict=True))
    base_train = plain_train_rate(plain, loss, batches, device, sizes.epochs)
    plain.eval()
    rf, sigma = detector.receptive_field_, detector.sigma_

    def plain_maps(x: torch.Tensor) -> np.ndarray:
        low = anomaly_map(plain(x))[:, 0].cpu().numpy()
        return receptive_field_upsample(low, rf, sigma, size=side)

    base_score = plain_score_rate(
        plain_maps, _host_batches(host[: len(score_images)], batch), device
    )
    return _row(
        f"FCDD {side}x{side} ({net.architecture.value}, width {net.width:g})",
        "images",
        len(images),
        (base_train, train),
        (base_score, score),
        peak,
        **{"compiled train/s": compiled},
    )


def _bench_dsebm(
    device: torch.device,
    items: np.ndarray,
    batch: int,
    epochs: int,
    seed: int,
    name: str,
    **config: Any,
) -> dict[str, Any]:
    from deepad.models.dsebm import DSEBM, DSEBMConfig
    from deepad.models.dsebm.loss import denoising_score_matching_loss, energy_and_gradient

    cfg = DSEBMConfig(**_loop_settings(epochs, batch, device, seed), **config)
    detector, train, score, peak = _library_path(
        lambda: DSEBM(config=cfg).fit(items),
        lambda d: d.decision_function(items),
        len(items),
        device,
    )

    plain = detector._build_module()  # the same energy network, freshly initialised
    host = torch.from_numpy(np.asarray(items, dtype=np.float32))
    if host.ndim == 3:
        host = host[:, None]
    batches = [(b,) for b in host.split(batch)]
    noise = cfg.noise_std
    base_train = plain_train_rate(
        plain, lambda m, b: denoising_score_matching_loss(m, b[0], noise), batches, device, epochs
    )
    plain.eval()

    def energy(x: torch.Tensor) -> np.ndarray:
        return energy_and_gradient(plain, x).energy.detach().cpu().numpy()

    base_score = plain_score_rate(energy, _host_batches(host, batch), device)
    return _row(
        name,
        "items",
        len(items),
        (base_train, train),
        (base_score, score),
        peak,
    )


def bench_dsebm_fc(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((sizes.table_items, 118)).astype(np.float32)
    return _bench_dsebm(
        device, table, sizes.table_batch, sizes.epochs, seed, "DSEBM fc (118 columns)"
    )


def bench_dsebm_conv(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (sizes.conv_items, 28, 28), dtype=np.uint8)
    return _bench_dsebm(
        device, images, sizes.conv_batch, sizes.epochs, seed, "DSEBM conv (28x28)", image_size=28
    )


def _random_embeddings(n: int, words: int, dim: int, seed: int) -> Any:
    from deepad.text.embeddings import DocumentEmbeddings

    rng = np.random.default_rng(seed)
    lengths = rng.integers(words // 2, words + 1, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), dim)).astype(np.float16)
    tokens = [[f"w{j}" for j in range(length)] for length in lengths]
    emb = DocumentEmbeddings(vectors, offsets, tokens, np.zeros((n, dim), np.float32))
    emb.pooled = emb.mean()
    return emb


def bench_cvdd(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any]:
    from deepad.models.cvdd.config import CVDDConfig
    from deepad.models.cvdd.detector import CVDD, length_buckets, pad_batch
    from deepad.models.cvdd.loss import cvdd_loss
    from deepad.models.cvdd.network import CVDDNet

    emb = _random_embeddings(sizes.documents, sizes.words, 384, seed)
    batch = sizes.doc_batch
    cfg = CVDDConfig(**_loop_settings(sizes.epochs, batch, device, seed))
    _, train, score, peak = _library_path(
        lambda: CVDD(config=cfg).fit_embeddings(emb),
        lambda d: d.score_embeddings(emb),
        len(emb),
        device,
    )

    plain = CVDDNet(emb.dim, cfg.attention_size, cfg.n_contexts)
    flat = torch.from_numpy(emb.vectors)
    order = length_buckets(emb.lengths, batch, torch.Generator().manual_seed(seed))
    batches = [pad_batch(flat, emb.offsets, index) for index in order]

    def loss(module: nn.Module, b: tuple[torch.Tensor, ...]) -> torch.Tensor:
        out = module(*b)
        return cvdd_loss(out.distances, module.contexts, alpha=0.0, penalty=cfg.penalty)

    base_train = plain_train_rate(plain, loss, batches, device, sizes.epochs, lr=cfg.lr)
    plain.eval()

    def work() -> None:
        with torch.no_grad():
            for words, mask in batches:
                plain(words.to(device), mask.to(device)).distances.cpu()

    base_score = _rate(len(emb), work, device)
    return _row(
        f"CVDD ({sizes.words} words, 384-d)",
        "documents",
        len(emb),
        (base_train, train),
        (base_score, score),
        peak,
    )


def _documents(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = (
        "the inspection line camera reports a scratch on the left panel near the weld seam "
        "while the second shift logged normal readings for pressure temperature and flow"
    ).split()
    return [" ".join(rng.choice(vocabulary, int(rng.integers(20, 60)))) for _ in range(n)]


def bench_minilm(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any]:
    from deepad.text.embeddings import _MEMO, embed_documents, load_minilm

    texts = _documents(sizes.minilm_documents, seed)
    model = load_minilm(str(device))
    _reset_peak(device)

    def library() -> None:
        _MEMO.clear()  # measure the embedding, not the in-process memo
        embed_documents(texts, device=str(device), batch_size=64)

    score = _rate(len(texts), library, device)
    peak = _peak_mib(device)

    def plain() -> None:
        model.encode(texts, batch_size=64, convert_to_numpy=True)

    base_score = _rate(len(texts), plain, device)
    return {
        "workload": "MiniLM embedding (word states vs encode)",
        "unit": "documents",
        "items": len(texts),
        "plain score/s": base_score,
        "score/s": score,
        "score x": score / base_score,
        "peak GPU MiB": peak,
    }


def bench_patchcore(device: torch.device, sizes: Sizes, seed: int) -> dict[str, Any] | None:
    """The memory-bank detector, when registered: fit time and scoring rate (no baseline)."""
    from deepad.models import get_method

    try:
        cls = get_method("patchcore")
    except KeyError:
        return None
    rng = np.random.default_rng(seed)
    side = sizes.fcdd_side
    images = rng.integers(0, 256, (max(8, sizes.fcdd_score // 4), side, side, 3), dtype=np.uint8)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    wanted = {"device": str(device), "seed": seed, "image_size": side}
    settings = {k: v for k, v in wanted.items() if k in fields}
    _reset_peak(device)
    start = time.perf_counter()
    detector = cls(config=cls.Config(**settings)).fit(images)
    fit_seconds = time.perf_counter() - start
    # other images than those fitted on: PatchCore keeps the last inference by content
    fresh = rng.integers(0, 256, images.shape, dtype=np.uint8)
    detector.decision_function(fresh[:2])  # warm-up
    _sync(device)
    start = time.perf_counter()
    detector.decision_function(fresh)
    _sync(device)
    score = len(fresh) / max(time.perf_counter() - start, 1e-9)
    return {
        "workload": f"patchcore {side}x{side}",
        "unit": "images",
        "items": len(images),
        "fit s": fit_seconds,
        "score/s": score,
        "peak GPU MiB": _peak_mib(device),
    }


_RUNNERS: dict[str, Callable[[torch.device, Sizes, int], dict[str, Any] | None]] = {
    "fcdd": bench_fcdd,
    "dsebm-fc": bench_dsebm_fc,
    "dsebm-conv": bench_dsebm_conv,
    "cvdd": bench_cvdd,
    "minilm": bench_minilm,
    "patchcore": bench_patchcore,
}


# --------------------------------------------------------------------- the machine
def describe_machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpus=torch.cuda.device_count(),
        )
    return info


def run_cuda_tests(timeout: float = CUDA_TESTS_TIMEOUT) -> dict[str, Any]:
    """``pytest -m cuda`` in a child process; its summary line and exit status."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]
    command += [t for t in CUDA_TESTS if Path(t).exists()]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timed out", "seconds": timeout}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "status": "passed" if done.returncode == 0 else f"exit {done.returncode}",
        "summary": lines[-1] if lines else done.stderr.strip()[-300:],
        "seconds": time.perf_counter() - start,
    }


# --------------------------------------------------------------------- the suite
COLUMNS = (
    "workload",
    "unit",
    "items",
    "plain train/s",
    "train/s",
    "train x",
    "compiled train/s",
    "plain score/s",
    "score/s",
    "score x",
    "peak GPU MiB",
)
RATIO_COLUMNS = ("workload", "unit", "items", "train x", "score x")


def _chosen(options: BenchOptions) -> list[str]:
    skip = {s.strip() for s in options.extra.get("skip", "").split(",") if s.strip()}
    unknown = skip - set(WORKLOADS)
    if unknown:
        raise ValueError(f"unknown workloads to skip: {', '.join(sorted(unknown))}")
    return [w for w in WORKLOADS if w not in skip]


def _output_path(options: BenchOptions, device: torch.device) -> Path:
    if options.output:
        return options.output
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    where = "" if device.type == "cuda" else "cpu-"
    return RESULTS / f"gpu-{where}{stamp}.json"


def run_check(options: BenchOptions) -> dict[str, Any]:
    """Every workload on ``options.device``; returns the results (also written to disk)."""
    device = select_device(options.device)
    sizes = QUICK if options.quick else FULL
    sizes = sizes.scaled(float(options.extra.get("scale", 1.0)))
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    start = time.perf_counter()
    for name in _chosen(options):
        log.info("gpu check: %s", name)
        try:
            row = _RUNNERS[name](device, sizes, options.seed)
        except Exception as error:  # one workload's failure must not lose the others
            log.exception("gpu check: %s failed", name)
            skipped.append(f"{name} (failed: {type(error).__name__}: {error})")
            continue
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if row is None:
            skipped.append(f"{name} (not registered)")
            continue
        rows.append(row)
        print(format_table([_display(row)], [c for c in COLUMNS if c in row]), flush=True)
    tests = None
    if device.type == "cuda" and options.extra.get("tests", "1") != "0":
        tests = run_cuda_tests()
    command = f"deepad bench gpu --device {options.device}" + (" --quick" if options.quick else "")
    command += "".join(f" --set {k}={v}" for k, v in sorted(options.extra.items()))
    payload = {
        "suite": "gpu",
        "command": command,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": options.quick,
        "machine": describe_machine(device),
        "sizes": dataclasses.asdict(sizes),
        "rows": rows,
        "skipped": skipped,
        "cuda_tests": tests,
        "seconds": time.perf_counter() - start,
    }
    path = _output_path(options, device)
    write_results(path, payload)
    path.with_suffix(".md").write_text(format_report(payload))
    return payload


def _display(row: dict[str, Any]) -> dict[str, Any]:
    """Ratios with two decimals, whatever their size."""
    return {
        k: f"{v:.2f}" if k.endswith(" x") and isinstance(v, float) else v for k, v in row.items()
    }


def format_report(payload: dict[str, Any]) -> str:
    machine = payload["machine"]
    on_gpu = "cuda" in machine
    lines = [
        f"# deepad bench gpu{' --quick' if payload['quick'] else ''}: {machine['device']}",
        "",
        ", ".join(f"{k} {v}" for k, v in machine.items() if k != "device"),
        "",
        f"Command: `{payload.get('command', 'deepad bench gpu')}`",
        "",
        "Each row: the library's path beside a plain fp32 loop of the same network in the "
        "same process (NCHW, every batch copied from host memory, no autocast); `x` is the "
        "ratio.",
    ]
    if not on_gpu:
        lines.append(
            "On the CPU only the ratios are comparable; absolute rates mean something on a GPU."
        )
    columns = COLUMNS if on_gpu else RATIO_COLUMNS
    rows = [_display(row) for row in payload["rows"]]
    lines += ["", "```", format_table(rows, columns), "```", ""]
    if payload["skipped"]:
        lines.append("Skipped: " + ", ".join(payload["skipped"]))
    if payload["cuda_tests"] is not None:
        tests = payload["cuda_tests"]
        lines.append(f"CUDA tests (`pytest -m cuda`): {tests['status']}, {tests.get('summary')}")
    lines.append(f"\nWall time {payload['seconds']:.0f} s.\n")
    return "\n".join(lines)


@suite(
    "gpu",
    "speed of every network vs a plain fp32 loop, peak GPU memory, CUDA tests",
    needs_data=False,
)
def run_gpu(options: BenchOptions) -> None:
    run_check(options)
