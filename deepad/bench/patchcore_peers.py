"""deepad's PatchCore beside anomalib's, on crops of real photographs, in one run.

``patchcore-peers``: the categories of :mod:`deepad.data.benchmarks.photos` (192-px gray crops
of the photographs scikit-image ships; 120 training images and 56 test images per category
unless ``--set`` says otherwise). For each category, each tool fits on the training crops and
scores the test crops in a process of its own (so its CPU time, page faults and peak memory
are its own), on one thread unless ``threads`` is set:

- anomalib's ``PatchcoreModel`` (``deepad[peers]``) on timm's ``tf_efficientnet_lite0``, built
  without pretrained weights and given the weights deepad's backbone loads
  (:func:`load_lite0_into_timm`), layers ``blocks.2`` + ``blocks.4`` (deepad's ``s8`` + ``s16``),
  coreset 10 %, 9 neighbours: its own settings of the paper;
- deepad's ``patchcore`` at its defaults (``--set key=value`` overrides its configuration).

Both get the same input tensors: the crops at 192 px, gray repeated to RGB, ImageNet
normalisation (deepad's :func:`deepad.data.transforms.stack_images`). Image AUROC, pixel
AUROC and AUPRO (:func:`deepad.metrics.aupro`) per category and their means; CPU seconds
(user + system, all threads) of fitting and of scoring, the system share, minor page faults
and the process's peak resident memory.

Both coresets are random in part (anomalib's random projection and first centre, deepad's
projection and block starts): ``repeats=N`` runs each tool once per coreset seed ``0 .. N-1``
(deepad's ``seed``; ``torch``'s and ``numpy``'s generators before anomalib's coreset), and a
category's row is the mean over the runs, with the range of its image AUROC beside it.

``--set`` keys: ``categories`` (comma-separated; ``tuning`` for the tuning categories),
``n_train``, ``n_test_good``, ``n_per_defect``, ``size``, ``threads``, ``tools``
(``anomalib,deepad``), ``repeats``; any other key overrides deepad's PatchCore configuration.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, split_settings, write_results

RESULTS = Path("benchmarks") / "results"
_SUITE_KEYS = (
    "categories",
    "n_train",
    "n_test_good",
    "n_per_defect",
    "size",
    "threads",
    "tools",
    "repeats",
)
ANOMALIB_LAYERS = ("blocks.2", "blocks.4")
BATCH = 32


def load_lite0_into_timm(network: Any) -> None:
    """Give a timm ``tf_efficientnet_lite0`` (whole, or its ``features_only`` trunk) the
    weights of deepad's backbone: both list their parameters and buffers in the order of the
    layers, so they are paired in order, each pair checked for the same shape."""
    import torch

    from deepad.features.backbone import weights_path

    source = torch.load(weights_path(), map_location="cpu", weights_only=True)
    source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    target = network.state_dict()
    if len(target) > len(source):
        raise ValueError(f"{len(target)} tensors to fill, the weights hold {len(source)}")
    state = {}
    for (name, value), (source_name, weights) in zip(target.items(), source.items(), strict=False):
        if value.shape != weights.shape:
            raise ValueError(f"{name} {tuple(value.shape)} ≠ {source_name} {tuple(weights.shape)}")
        state[name] = weights
    network.load_state_dict(state, strict=True)


def _inputs(data: Any, size: int) -> Any:
    """Float ``(n, 3, size, size)`` ImageNet-normalised input, as deepad's backbone gets it."""
    import torch

    from deepad.data.transforms import stack_images, to_float
    from deepad.features.backbone import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (to_float(stack_images(data, size, 3)) - mean) / std


class _Clock:
    """CPU seconds (user, system) and minor page faults of this process between marks."""

    def __init__(self) -> None:
        self.last = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()

    def mark(self) -> dict[str, float]:
        now = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        out = {
            "cpu s": (now.ru_utime - self.last.ru_utime) + (now.ru_stime - self.last.ru_stime),
            "sys s": now.ru_stime - self.last.ru_stime,
            "faults": float(now.ru_minflt - self.last.ru_minflt),
            "wall s": wall - self.wall,
        }
        self.last, self.wall = now, wall
        return out


def _run_anomalib(
    train: Any, test: Any, size: int, run: int, clock: _Clock
) -> tuple[Any, Any, dict]:
    import torch
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    model = PatchcoreModel(
        layers=list(ANOMALIB_LAYERS),
        backbone="tf_efficientnet_lite0",
        pre_trained=False,
        num_neighbors=9,
    )
    load_lite0_into_timm(model.feature_extractor.feature_extractor)
    clock.mark()
    x = _inputs(train, size)
    model.train()
    with torch.no_grad():
        for first in range(0, len(x), BATCH):
            model(x[first : first + BATCH])
        extract = clock.mark()
        torch.manual_seed(run)  # the coreset's random projection and first centre
        np.random.seed(run)
        model.subsample_embedding(0.1)
    coreset = clock.mark()
    model.eval()
    scores, maps = [], []
    x = _inputs(test, size)
    with torch.no_grad():
        for first in range(0, len(x), BATCH):
            out = model(x[first : first + BATCH])
            scores.append(out.pred_score.reshape(-1))
            maps.append(out.anomaly_map.reshape(-1, size, size))
    score = clock.mark()
    fit = {k: extract[k] + coreset[k] for k in extract}
    fit["coreset s"] = coreset["cpu s"]
    fit["bank"] = float(len(model.memory_bank))
    return torch.cat(scores).numpy(), torch.cat(maps).numpy(), {"fit": fit, "score": score}


def _run_deepad(train: Any, test: Any, overrides: dict[str, str], clock: _Clock):
    from deepad.config import with_overrides
    from deepad.features.backbone import inference_backbone
    from deepad.models.patchcore import PatchCore, PatchCoreConfig

    config = with_overrides(PatchCoreConfig(device="cpu"), overrides)
    detector = PatchCore(config=config)
    inference_backbone()  # weights loaded before the clock starts, as anomalib's are
    clock.mark()
    detector.fit(train)
    fit = clock.mark()
    fit["bank"] = float(len(detector.model_.memory_bank))
    scores = detector.score(test).score
    maps = detector.explain(test).maps
    score = clock.mark()
    return np.asarray(scores), np.asarray(maps), {"fit": fit, "score": score}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One tool on one category, in this (fresh) process; metrics and costs."""
    import os
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")  # anomalib's coreset progress bar
    warnings.filterwarnings("ignore")
    import torch

    from deepad import metrics
    from deepad.data.benchmarks.photos import make_category
    from deepad.features.extract import using_disk_cache

    torch.set_num_threads(int(job["threads"]))
    train, test = make_category(job["category"], seed=job["seed"], **job["sizes"])
    clock = _Clock()
    if job["tool"] == "anomalib":
        scores, maps, cost = _run_anomalib(train, test, job["sizes"]["size"], job["run"], clock)
    else:
        overrides = {"seed": str(job["run"]), **job["overrides"]}
        with using_disk_cache(None):  # the backbone runs: no features of an earlier run
            scores, maps, cost = _run_deepad(train, test, overrides, clock)
    masks = metrics.pixel_masks(test, range(len(test)))
    out: dict[str, Any] = {
        "category": job["category"],
        "tool": job["tool"],
        "run": job["run"],
        "image AUROC": metrics.auroc(test.labels, scores),
        "pixel AUROC": metrics.pixel_auroc(masks, maps),
        "AUPRO": metrics.aupro(masks, maps),
        "per defect": {
            r["defect"]: r["image AUROC"]
            for r in metrics.by_defect(test.labels, scores, test.classes, np.inf)
        },
        "peak MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    # where the highest map value of each normal test image lies: how far from the border
    normal = np.flatnonzero(test.labels == 0)
    side = maps.shape[-1]
    peaks = [np.unravel_index(np.argmax(maps[i]), maps[i].shape) for i in normal]
    border = [min(y, x, side - 1 - y, side - 1 - x) for y, x in peaks]
    out["normal peaks within 16 px of the border"] = float(np.mean(np.asarray(border) < 16))
    for phase in ("fit", "score"):
        for key, value in cost[phase].items():
            out[f"{phase} {key}"] = value
    return out


# glibc returns allocations above this size to the system when they are freed. With its
# default (a threshold that grows up to 32 MB), anomalib's coreset loop, which makes a
# temporary of every patch's distance per step between small tensors it keeps, fragmented
# the heap to 14 GB at 40 training images of 192 px and was stopped by the out-of-memory
# killer; so both tools' processes run with it (a cost in page faults, counted in their
# system time).
MMAP_THRESHOLD = "65536"


def run_jobs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each job in a fresh spawned process, one after the other."""
    import os

    os.environ["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD  # read by each child at start
    context = multiprocessing.get_context("spawn")
    results = []
    for job in jobs:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            results.append(pool.submit(run_one, job).result())
        row = results[-1]
        print(
            f"{row['category']:>10} {row['tool']:>8} #{row['run']}: image {row['image AUROC']:.4f} pixel "
            f"{row['pixel AUROC']:.4f} AUPRO {row['AUPRO']:.4f} fit {row['fit cpu s']:.1f} "
            f"CPU-s score {row['score cpu s']:.1f} CPU-s",
            flush=True,
        )
    return results


COLUMNS = (
    "category",
    "tool",
    "image AUROC",
    "pixel AUROC",
    "AUPRO",
    "image AUROC range",
    "fit cpu s",
    "fit sys s",
    "score cpu s",
    "fit faults",
    "peak MB",
)


def per_category(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per category and tool: the mean of its runs' figures, in the runs' order, with
    the spread of the image AUROC over the runs."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        rows.setdefault((run["category"], run["tool"]), []).append(run)
    out = []
    for (category, tool), mine in rows.items():
        row: dict[str, Any] = {"category": category, "tool": tool, "runs": len(mine)}
        for column in COLUMNS[2:]:
            if column != "image AUROC range":
                row[column] = float(np.mean([r[column] for r in mine]))
        images = [r["image AUROC"] for r in mine]
        row["image AUROC range"] = float(max(images) - min(images))
        out.append(row)
    return out


def summarise(rows: list[dict[str, Any]], tools: list[str]) -> list[dict[str, Any]]:
    """The rows, with one mean row per tool after them."""
    out = list(rows)
    for tool in tools:
        mine = [r for r in rows if r["tool"] == tool]
        mean: dict[str, Any] = {"category": "mean", "tool": tool}
        for column in COLUMNS[2:]:
            mean[column] = float(np.mean([r[column] for r in mine]))
        out.append(mean)
    return out


@suite(
    "patchcore-peers",
    "deepad's PatchCore beside anomalib's on crops of real photographs (needs deepad[peers])",
    needs_data=False,
)
def patchcore_peers(options: BenchOptions) -> None:
    from deepad.data.benchmarks.photos import CATEGORIES, TUNING_CATEGORIES

    suite_keys, overrides = split_settings(options.extra, _SUITE_KEYS)
    chosen = suite_keys.get("categories", ",".join(CATEGORIES))
    categories = list(TUNING_CATEGORIES) if chosen == "tuning" else chosen.split(",")
    tools = suite_keys.get("tools", "anomalib,deepad").split(",")
    sizes = {
        "n_train": int(suite_keys.get("n_train", 30 if options.quick else 120)),
        "n_test_good": int(suite_keys.get("n_test_good", 24)),
        "n_per_defect": int(suite_keys.get("n_per_defect", 8)),
        "size": int(suite_keys.get("size", 192)),
    }
    threads = int(suite_keys.get("threads", 1))
    repeats = int(suite_keys.get("repeats", 1))
    jobs = [
        {
            "category": c,
            "tool": t,
            "seed": options.seed,
            "sizes": sizes,
            "threads": threads,
            "overrides": overrides,
            "run": run,
        }
        for c in categories
        for run in range(repeats)
        for t in tools
    ]
    runs = run_jobs(jobs)
    rows = summarise(per_category(runs), tools)
    command = "deepad bench patchcore-peers" + "".join(
        f" --set {k}={v}" for k, v in sorted(options.extra.items())
    )
    if options.seed:
        command += f" --seed {options.seed}"
    text = format_table(rows, COLUMNS, title="patchcore-peers: real-photo crops")
    means = {r["tool"]: r for r in rows if r["category"] == "mean"}
    if {"anomalib", "deepad"} <= set(means):
        cpu = {t: means[t]["fit cpu s"] + means[t]["score cpu s"] for t in means}
        text += (
            f"\n\ndeepad's fit + score CPU time is {cpu['deepad'] / cpu['anomalib']:.3f} of "
            f"anomalib's ({cpu['deepad']:.1f} vs {cpu['anomalib']:.1f} CPU-s per category)"
        )
    text += (
        f"\n\n{sizes['n_train']} training and {sizes['n_test_good']} + "
        f"{4 * sizes['n_per_defect']} test images per category at {sizes['size']} px, "
        f"{threads} thread(s), {repeats} run(s) per tool and category (coreset seeds "
        f"0..{repeats - 1}; each row is their mean); command: {command}"
    )
    print(text)
    name = "patchcore-peers" + ("-quick" if options.quick else "")
    path = options.output or RESULTS / f"{name}.json"
    write_results(
        path,
        {
            "suite": "patchcore-peers",
            "command": command,
            "sizes": sizes,
            "threads": threads,
            "seed": options.seed,
            "deepad overrides": overrides,
            "repeats": repeats,
            "rows": rows,
            "runs": runs,
        },
    )
    path.with_suffix(".md").write_text(f"# patchcore-peers\n\n```\n{text}\n```\n")
