"""How long training will take on this machine, estimated before it starts (no torch: the
Train page shows it).

The estimate is ``items × epochs × cost per item-epoch`` of the method, where the cost was
measured by ``deepad bench cpu-defaults`` on a reference machine (:data:`CPU_COSTS`, CPU
seconds of one thread at a reference image side) and is scaled by the image side the
settings ask for and by this machine's speed relative to the reference: the float32
matrix-product rate of numpy (:func:`machine_speed`), measured once in a fraction of a
second and cached in the deepad home. Epochs are the configured maximum, so with early
stopping the estimate is an upper bound. Only CPU training of image networks is covered.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepad.data.summary import DataSummary
from deepad.data.tiling import plan_from_settings
from deepad.data.types import DataKind

log = logging.getLogger(__name__)

CALIBRATION_FILE = "machine-speed.json"
WARN_SECONDS = 600.0  # the Train page warns above ten minutes


@dataclass(frozen=True)
class ItemCost:
    """CPU seconds per training item per epoch at ``side`` px (``width`` for FCDD's head),
    on a machine of ``gflops``; ``fixed`` seconds once per fit (building, scoring)."""

    seconds: float
    side: int
    gflops: float
    fixed: float = 0.0
    width: float | None = None
    wide_seconds: float | None = None  # at width 1, where the width matters
    # pretrained backbone: images are resized into ``PRETRAINED_SIDES`` (or cut into tiles)
    pretrained: bool = False
    # seconds per pair of fitted items at ``side`` (a memory bank searched by every patch)
    pair_seconds: float = 0.0


#: the sides a pretrained detector resizes images into when no image size is set
#: (:func:`deepad.features.extract.input_side`)
PRETRAINED_SIDES = (112, 224)


# Measured by `deepad bench cpu-defaults --threads 1` (benchmarks/results/cpu-defaults.txt).
# ``seconds`` is the fit's CPU time divided by (items fitted × epochs run), so it includes
# the per-epoch validation pass and the scoring of the training set.
REFERENCE_GFLOPS = 93.2  # machine_speed() of the machine they were measured on, one thread
CPU_COSTS: dict[str, ItemCost] = {
    # pretrained EfficientNet-Lite0 trunk to s8 and a head of width 0.25 (the CPU form)
    "fcdd": ItemCost(
        seconds=0.115, side=192, gflops=REFERENCE_GFLOPS, width=0.25, wide_seconds=0.204
    ),
    "ae": ItemCost(seconds=0.0084, side=96, gflops=REFERENCE_GFLOPS),
    "dsebm": ItemCost(seconds=0.0066, side=48, gflops=REFERENCE_GFLOPS),
    "deepsvdd": ItemCost(seconds=0.0121, side=48, gflops=REFERENCE_GFLOPS),
    # Measured by `deepad bench tiling` (benchmarks/results/tiling.md and tiling-knn.md): fit
    # CPU seconds of 12 photographs cut into 432 and into 300 tiles of 224 px, one thread.
    # PatchCore's two fits give a cost per tile (backbone) and per pair of tiles (every
    # training patch's leave-one-out search of a bank of 5 % of all patches).
    "patchcore": ItemCost(
        seconds=0.0287, side=224, gflops=REFERENCE_GFLOPS, pretrained=True, pair_seconds=5.46e-4
    ),
    "embedding_knn": ItemCost(seconds=0.072, side=224, gflops=REFERENCE_GFLOPS, pretrained=True),
}


def _matmul_gflops(size: int = 256, repeats: int = 20) -> float:
    """One thread's float32 matrix-product rate. One thread, as the costs were measured: a
    BLAS that spreads a small product over every core reads tens of times slower on a busy
    machine (its threads wait for each other), which no training run sees."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = a.T.copy()
    with threadpool_limits(limits=1):
        best = _fastest_product(a, b, repeats)
    return 2 * size**3 / max(best, 1e-9) / 1e9


def _fastest_product(a: np.ndarray, b: np.ndarray, repeats: int) -> float:
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return best


def machine_speed(home: str | Path | None) -> float:
    """This machine's float32 matrix-product rate in GFLOP/s (best of a few, so a busy
    machine reads near its idle speed); cached in ``home`` when given."""
    path = Path(home) / CALIBRATION_FILE if home is not None else None
    key = f"{os.cpu_count()} cpus, one thread"  # earlier entries timed every BLAS thread
    if path is not None and path.is_file():
        try:
            saved = json.loads(path.read_text())
            if saved.get("cpus") == key and float(saved["gflops"]) > 0:
                return float(saved["gflops"])
        except (ValueError, KeyError, TypeError, OSError):
            pass
    speed = _matmul_gflops()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"gflops": speed, "cpus": key, "measured": time.time()}))
        except OSError as error:  # a read-only home: measure again next time
            log.warning("machine speed not cached: %s", error)
    return speed


def estimate_fit_seconds(
    method: str,
    settings: dict[str, Any],
    data: DataSummary,
    *,
    device_type: str,
    speed: float,
) -> float | None:
    """Seconds to train ``method`` with ``settings`` (a config's JSON form) on ``data``;
    None where nothing was measured (a GPU, a kind or method without a measured cost)."""
    cost = CPU_COSTS.get(method)
    if device_type != "cpu" or cost is None or data.kind != DataKind.IMAGE or not data.side:
        return None
    side = settings.get("image_size") or data.side
    epochs = int(settings.get("epochs") or 1)
    share = float(settings.get("threshold_holdout") or 0.0)
    items = max(1, round(data.count * (1.0 - share)))
    if cost.pretrained:
        # no holdout (leave-one-out scores); every image, or each of its tiles, through the
        # backbone once at the tile's or the input's side
        items = data.count
        side = settings.get("image_size") or min(
            max(data.side, PRETRAINED_SIDES[0]), PRETRAINED_SIDES[1]
        )
        plan = plan_from_settings(settings, data.side)
        if plan is not None:
            items *= plan.grid.count
            side = plan.tile
    per_item = cost.seconds
    if cost.width is not None and cost.wide_seconds is not None and "width" in settings:
        # the head's cost grows with its width squared; interpolate the two measured widths
        w = float(settings["width"])
        scale = (w**2 - cost.width**2) / (1.0 - cost.width**2)
        per_item = max(
            cost.seconds * 0.5, cost.seconds + scale * (cost.wide_seconds - cost.seconds)
        )
    pixels = (float(side) / cost.side) ** 2
    # a memory bank's nearest-neighbour search: every patch against a bank that grows with the
    # patches fitted, so it grows with the square of the images (or tiles) and of their pixels
    pairs = (items * pixels) ** 2 * cost.pair_seconds
    seconds = cost.fixed + items * epochs * per_item * pixels + pairs
    return seconds * cost.gflops / max(speed, 1e-3)


def describe_estimate(seconds: float) -> str:
    """'about a second', 'about 7 seconds', 'about 40 seconds', 'about 3 minutes', 'about 1.5
    hours': what the Train page and the recommendation both say of a fit time."""
    if seconds < 1.5:
        return "about a second"
    if seconds < 10:
        return f"about {round(seconds):.0f} seconds"
    if seconds < 90:
        return f"about {round(seconds / 5) * 5:.0f} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60):.0f} minutes"
    return f"about {seconds / 3600:.1f} hours"
