"""Large photographs with small defects: resized whole vs cut into tiles.

``tiling``: square crops of ``side`` px (1,000 by default) of the largest photographs
scikit-image ships (``retina.jpg``, 1,411 px; ``hubble_deep_field.jpg``, 1,000 × 872 px,
whose crops are its height at most), gray. Each image is a crop at a random place, flipped
and turned by a random multiple of 90°; the test images get one small defect painted in at
the photograph's own resolution (masks at full size): a patch of real texture from another
photograph (an ellipse of 8–16 px), a scratch (10–16 px long, 2 px wide) or a hole
(8–14 px). Training and test crops are drawn independently from the whole photograph, so a
normal test crop shows places that training crops also show (the same for both ways of
scoring).

Each detector is fitted and scored twice, with ``tiling="off"`` (the image resized to the
224-px input) and ``tiling="on"`` (tiles of 224 px; see :mod:`deepad.data.tiling`), at its
defaults otherwise: image AUROC, pixel AUROC and AUPRO (maps resized to the masks) for
PatchCore, image AUROC for the pretrained embedding kNN; fit and score CPU seconds (user +
system of this process, one thread unless ``threads`` is set).

``--set`` keys: ``categories`` (``retina,hubble``), ``side``, ``n_train``, ``n_test_good``,
``n_per_defect``, ``threads``, ``methods`` (``patchcore,embedding_knn``); any other key
overrides both detectors' configuration.
"""

from __future__ import annotations

import resource
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, split_settings, write_results

RESULTS = Path("benchmarks") / "results"
_SUITE_KEYS = ("categories", "side", "n_train", "n_test_good", "n_per_defect", "threads", "methods")
PHOTOS = {"retina": "retina.jpg", "hubble": "hubble_deep_field.jpg"}
DEFECTS = ("texture", "scratch", "hole")


def load_full_photo(file: str) -> np.ndarray:
    """A shipped photograph, gray ``float32`` at its own resolution (never a held-out one)."""
    from PIL import Image

    from deepad.data.benchmarks.photos import HELD_OUT, photo_folder

    if file in HELD_OUT:
        raise ValueError(f"{file} belongs to the held-out set")
    with Image.open(photo_folder() / file) as image:
        return np.asarray(image.convert("L"), dtype=np.float32)


def _rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(category.encode()), len(split), index])


def _crop(rng: np.random.Generator, photo: np.ndarray, side: int) -> np.ndarray:
    h, w = photo.shape
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = photo[y : y + side, x : x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.rot90(crop, int(rng.integers(4))).copy()


def _centre(rng: np.random.Generator, side: int, margin: int = 24) -> tuple[int, int]:
    return tuple(int(v) for v in rng.integers(margin, side - margin, 2))  # type: ignore[return-value]


def _texture(rng, image, donors):
    import cv2

    from deepad.data.benchmarks.photos import paste_matched

    side = image.shape[0]
    cy, cx = _centre(rng, side)
    axes = tuple(int(v) // 2 for v in rng.integers(8, 17, 2))
    mask = np.zeros_like(image, np.uint8)
    cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    donor = donors[int(rng.integers(len(donors)))]
    dy = int(rng.integers(0, donor.shape[0] - 32))
    dx = int(rng.integers(0, donor.shape[1] - 32))
    patch = np.zeros_like(image)
    patch[cy - 16 : cy + 16, cx - 16 : cx + 16] = donor[dy : dy + 32, dx : dx + 32]
    return paste_matched(image, patch, mask), mask


def _scratch(rng, image, donors):
    import cv2

    del donors
    side = image.shape[0]
    cy, cx = _centre(rng, side)
    length = float(rng.uniform(10, 16))
    angle = float(rng.uniform(0, np.pi))
    bend = rng.normal(0, 2.0, 2)
    ends = np.array([[cx, cy], [cx + length * np.cos(angle), cy + length * np.sin(angle)]])
    t = np.linspace(0.0, 1.0, 16)[:, None]
    middle = ends.mean(axis=0) + bend
    curve = (1 - t) ** 2 * ends[0] + 2 * t * (1 - t) * middle + t**2 * ends[1]
    mask = np.zeros_like(image, np.uint8)
    cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 1, 2)
    inside = mask.astype(bool)
    shift = float(rng.uniform(70, 120)) * (1 if image[inside].mean() < 128 else -1)
    out = image.copy()
    out[inside] = np.clip(image[inside] + shift, 0, 255)
    return out, mask


def _hole(rng, image, donors):
    import cv2

    del donors
    side = image.shape[0]
    cy, cx = _centre(rng, side)
    axes = tuple(int(v) // 2 for v in rng.integers(8, 15, 2))
    mask = np.zeros_like(image, np.uint8)
    cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    inside = mask.astype(bool)
    rim = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool) & ~inside
    out = image.copy()
    out[rim] = np.clip(image[rim] + 60, 0, 255)
    out[inside] = rng.uniform(0, 25, int(inside.sum()))
    return out, (inside | rim).astype(np.uint8)


_PAINT = {"texture": _texture, "scratch": _scratch, "hole": _hole}


def make_large(
    category: str,
    *,
    side: int = 1000,
    n_train: int = 20,
    n_test_good: int = 8,
    n_per_defect: int = 4,
    seed: int = 0,
):
    """Training and test sets (8-bit gray, masks at full size) of one large photograph."""
    from deepad.data.benchmarks.photos import DONORS
    from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

    if category not in PHOTOS:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(PHOTOS)}")
    photo = load_full_photo(PHOTOS[category])
    side = min(side, *photo.shape)
    donors = [load_full_photo(f) for f in DONORS]

    def as_uint8(image: np.ndarray) -> np.ndarray:
        return np.clip(np.round(image), 0, 255).astype(np.uint8)

    train = [as_uint8(_crop(_rng(seed, category, "train", i), photo, side)) for i in range(n_train)]
    kinds = ["good"] * n_test_good + [d for d in DEFECTS for _ in range(n_per_defect)]
    items, masks = [], []
    for i, kind in enumerate(kinds):
        rng = _rng(seed, category, "test", i)
        image = _crop(rng, photo, side)
        mask = np.zeros((side, side), np.uint8)
        if kind != "good":
            image, mask = _PAINT[kind](rng, image, donors)
        items.append(as_uint8(image))
        masks.append(mask)
    train_set = Dataset(
        DataKind.IMAGE,
        train,
        [f"good/{i:03d}.png" for i in range(n_train)],
        labels=np.zeros(n_train, np.int8),
        name=f"large-{category}-train",
    )
    test_set = Dataset(
        DataKind.IMAGE,
        items,
        [f"{k}/{i:03d}.png" for i, k in enumerate(kinds)],
        labels=np.asarray([NORMAL if k == "good" else ANOMALOUS for k in kinds], np.int8),
        classes=kinds,
        masks=masks,
        name=f"large-{category}-test",
    )
    return train_set, test_set


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(method: str, tiling: str, train, test, overrides: dict[str, str]) -> dict[str, Any]:
    from deepad import metrics
    from deepad.config import with_overrides
    from deepad.features.extract import FEATURE_CACHE
    from deepad.models.embedding_knn import EmbeddingKNN, EmbeddingKNNConfig
    from deepad.models.patchcore import PatchCore, PatchCoreConfig

    cls, config_cls = {
        "patchcore": (PatchCore, PatchCoreConfig),
        "embedding_knn": (EmbeddingKNN, EmbeddingKNNConfig),
    }[method]
    config = with_overrides(config_cls(device="cpu", tiling=tiling), overrides)
    FEATURE_CACHE.clear()
    detector = cls(config=config)
    start = _cpu()
    detector.fit(train)
    fit = _cpu() - start
    start = _cpu()
    scores = detector.score(test).score
    maps = detector.explain(test).maps if detector.explains else None
    score = _cpu() - start
    plan = getattr(detector, "tiles_", None)
    row: dict[str, Any] = {
        "method": method,
        "input": plan.describe() if plan is not None else f"resized to {detector.image_size_} px",
        "image AUROC": metrics.auroc(test.labels, scores),
        "pixel AUROC": float("nan"),
        "AUPRO": float("nan"),
        "fit cpu s": fit,
        "score cpu s": score,
        "tiles per image": float(plan.grid.count) if plan is not None else 1.0,
        "per defect": {
            r["defect"]: r["image AUROC"]
            for r in metrics.by_defect(test.labels, scores, test.classes, np.inf)
        },
    }
    if maps is not None:
        masks = metrics.pixel_masks(test, range(len(test)))
        row["pixel AUROC"] = metrics.pixel_auroc(masks, maps)
        row["AUPRO"] = metrics.aupro(masks, maps)
    return row


COLUMNS = (
    "category",
    "method",
    "tiling",
    "image AUROC",
    "pixel AUROC",
    "AUPRO",
    "fit cpu s",
    "score cpu s",
)


@suite(
    "tiling",
    "large photographs with small defects: resized whole vs tiled (PatchCore, embedding kNN)",
    needs_data=False,
)
def tiling_suite(options: BenchOptions) -> None:
    import torch

    suite_keys, overrides = split_settings(options.extra, _SUITE_KEYS)
    categories = suite_keys.get("categories", ",".join(PHOTOS)).split(",")
    methods = suite_keys.get("methods", "patchcore,embedding_knn").split(",")
    sizes = {
        "side": int(suite_keys.get("side", 1000)),
        "n_train": int(suite_keys.get("n_train", 8 if options.quick else 20)),
        "n_test_good": int(suite_keys.get("n_test_good", 4 if options.quick else 8)),
        "n_per_defect": int(suite_keys.get("n_per_defect", 2 if options.quick else 4)),
    }
    threads = int(suite_keys.get("threads", 1))
    torch.set_num_threads(threads)
    rows = []
    for category in categories:
        train, test = make_large(category, seed=options.seed, **sizes)
        for method in methods:
            for tiling in ("off", "on"):
                row = {"category": category, "tiling": tiling, "side": len(train.items[0])}
                row.update(run_one(method, tiling, train, test, overrides))
                rows.append(row)
                print(
                    f"{category:>8} {method:>14} {tiling:>3}: image {row['image AUROC']:.4f} "
                    f"pixel {row['pixel AUROC']:.4f} AUPRO {row['AUPRO']:.4f} fit "
                    f"{row['fit cpu s']:.1f} score {row['score cpu s']:.1f} CPU-s "
                    f"({row['input']})",
                    flush=True,
                )
    for method in methods:
        for tiling in ("off", "on"):
            mine = [r for r in rows if r["method"] == method and r["tiling"] == tiling]
            mean: dict[str, Any] = {"category": "mean", "method": method, "tiling": tiling}
            for column in COLUMNS[3:]:
                mean[column] = float(np.mean([r[column] for r in mine]))
            rows.append(mean)
    command = "deepad bench tiling" + "".join(
        f" --set {k}={v}" for k, v in sorted(options.extra.items())
    )
    text = format_table(rows, COLUMNS, title="tiling: large photographs, resized vs tiled")
    inputs = sorted(
        {f"{r['category']}: {r['input']}" for r in rows if "input" in r and r["tiling"] == "on"}
    )
    text += "\n\ntiled input: " + "; ".join(inputs)
    text += (
        f"\n\n{sizes['n_train']} training and {sizes['n_test_good']} + "
        f"{len(DEFECTS) * sizes['n_per_defect']} test images per category, crops of "
        f"{sizes['side']} px (at most the photograph's side), {threads} thread(s); "
        f"command: {command}"
    )
    print(text)
    name = "tiling" + ("-quick" if options.quick else "")
    path = options.output or RESULTS / f"{name}.json"
    write_results(
        path,
        {
            "suite": "tiling",
            "command": command,
            "sizes": sizes,
            "threads": threads,
            "seed": options.seed,
            "overrides": overrides,
            "rows": rows,
        },
    )
    path.with_suffix(".md").write_text(f"# tiling\n\n```\n{text}\n```\n")
