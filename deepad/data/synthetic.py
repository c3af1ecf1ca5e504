"""Seeded procedural defect-localisation data: textures and parts with exact defect masks.

Each image is drawn from its own random stream, keyed by (seed, texture, split, index), so any
image can be regenerated alone and the splits never share an image. Normal images vary in
phase, position, colour and noise; defects are painted on top and their mask is exactly the
set of pixels the painting changed the meaning of.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

TEXTURES = ("fabric", "wood", "grid", "round_part")
DEFECTS = ("scratch", "hole", "stain", "missing", "contamination")
_SPLITS = {"train": 0, "test": 1, "labeled": 2}


# --------------------------------------------------------------------- normal images
def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1] with features about ``scale`` pixels wide."""
    coarse = max(2, int(round(size / scale)))
    field = rng.standard_normal((coarse, coarse)).astype(np.float32)
    field = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
    return field / (np.abs(field).max() + 1e-6)


def _fabric(rng: np.random.Generator, size: int) -> np.ndarray:
    period = size / 14.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xx += rng.uniform(0, period)
    yy += rng.uniform(0, period)
    warp = 0.5 + 0.5 * np.cos(np.pi * ((xx % period) / period - 0.5) * 2) ** 2
    weft = 0.5 + 0.5 * np.cos(np.pi * ((yy % period) / period - 0.5) * 2) ** 2
    over = ((xx // period + yy // period) % 2).astype(bool)
    shade = np.where(over, warp, weft)
    base = np.array([0.35, 0.42, 0.62]) + rng.uniform(-0.03, 0.03, 3)
    image = shade[..., None] * base[None, None] * 1.3
    return image + rng.normal(0, 0.02, image.shape)


def _wood(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = 0.06 * _smooth_noise(rng, size, size / 3) + 0.02 * np.sin(
        2 * np.pi * (xx * rng.uniform(0.8, 1.5) + rng.uniform(0, 1))
    )
    rings = np.sin(2 * np.pi * (yy + warp) * rng.uniform(9, 11) + rng.uniform(0, 2 * np.pi))
    grain = 0.5 + 0.5 * rings**3
    fine = 0.05 * _smooth_noise(rng, size, 3)
    light = np.array([0.80, 0.60, 0.38]) + rng.uniform(-0.02, 0.02, 3)
    dark = np.array([0.55, 0.36, 0.20]) + rng.uniform(-0.02, 0.02, 3)
    t = np.clip(grain + fine, 0, 1)[..., None]
    return light * (1 - t) + dark * t + rng.normal(0, 0.015, (size, size, 3))


def _grid(rng: np.random.Generator, size: int) -> np.ndarray:
    period = size / 10.0
    width = max(1.0, size / 64.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = np.abs((xx + rng.uniform(0, period)) % period - period / 2)
    dy = np.abs((yy + rng.uniform(0, period)) % period - period / 2)
    lines = np.clip(width - np.minimum(dx, dy) + 0.5, 0, 1)
    background = np.array([0.18, 0.18, 0.2]) + rng.uniform(-0.02, 0.02)
    metal = np.array([0.78, 0.78, 0.74]) + rng.uniform(-0.03, 0.03)
    image = background * (1 - lines[..., None]) + metal * lines[..., None]
    return image + rng.normal(0, 0.02, image.shape)


def _round_part(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = size / 2 + rng.uniform(-0.03, 0.03, 2) * size
    r = np.hypot(yy - cy, xx - cx) / size
    radius = 0.36 + rng.uniform(-0.01, 0.01)
    background = np.array([0.25, 0.3, 0.25]) + rng.normal(0, 0.01, 3)
    image = np.broadcast_to(background, (size, size, 3)).copy()
    light = 0.85 - 0.5 * (xx - cx + yy - cy) / size  # light from the top left
    metal = np.clip(light, 0.2, 1.0)[..., None] * np.array([0.85, 0.82, 0.75])
    ring = (np.abs(r - radius * 0.62) < 0.012)[..., None]
    body = (r <= radius)[..., None] & ~(r <= radius * 0.3)[..., None]
    image = np.where(body, metal, image)
    image = np.where(body & ring, metal * 0.7, image)
    return image + rng.normal(0, 0.015, image.shape)


_DRAW = {"fabric": _fabric, "wood": _wood, "grid": _grid, "round_part": _round_part}


def part_region(size: int) -> np.ndarray:
    """Where defects may go on ``round_part`` (the metal ring, with margin), else everywhere."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2) / size
    return (r < 0.31) & (r > 0.14)


# --------------------------------------------------------------------- defects
def _scale(size: int) -> float:
    return size / 224.0


def _place(rng: np.random.Generator, size: int, texture: str, margin: float) -> np.ndarray:
    if texture == "round_part":
        candidates = np.argwhere(part_region(size))
        return candidates[rng.integers(len(candidates))].astype(np.float32)
    return rng.uniform(margin, size - margin, 2).astype(np.float32)


def _scratch(rng, image, texture):
    size = image.shape[0]
    mask = np.zeros((size, size), np.uint8)
    start = _place(rng, size, texture, size * 0.2)
    angle = rng.uniform(0, np.pi)
    length = size * rng.uniform(0.18, 0.3)
    steps = 6
    points = [start]
    for _ in range(steps):
        angle += rng.normal(0, 0.25)
        step = length / steps * np.array([np.sin(angle), np.cos(angle)])
        points.append(points[-1] + step)
    pts = np.clip(np.array(points), 0, size - 1)[:, ::-1].round().astype(np.int32)
    cv2.polylines(mask, [pts], False, 1, thickness=max(2, int(round(3 * _scale(size)))))
    if texture == "round_part":
        mask &= part_region(size).astype(np.uint8)
    bright = rng.random() < 0.5
    colour = np.array([0.95, 0.95, 0.92]) if bright else np.array([0.08, 0.07, 0.06])
    return np.where(mask[..., None] > 0, colour, image), mask


def _hole(rng, image, texture):
    size = image.shape[0]
    mask = np.zeros((size, size), np.uint8)
    centre = _place(rng, size, texture, size * 0.12)
    radius = max(2, int(round(size * rng.uniform(0.03, 0.055))))
    cv2.circle(mask, (int(centre[1]), int(centre[0])), radius, 1, -1)
    inner = np.zeros_like(mask)
    cv2.circle(inner, (int(centre[1]), int(centre[0])), max(1, radius - 2), 1, -1)
    out = np.where(mask[..., None] > 0, image * 0.45, image)  # rim
    out = np.where(inner[..., None] > 0, np.array([0.03, 0.03, 0.03]), out)
    return out, mask


def _stain(rng, image, texture):
    size = image.shape[0]
    centre = _place(rng, size, texture, size * 0.15)
    radius = size * rng.uniform(0.06, 0.11)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dist = np.hypot(yy - centre[0], xx - centre[1]) / radius
    wobble = 0.35 * _smooth_noise(rng, size, radius / 1.5)
    mask = (dist + wobble < 1.0).astype(np.uint8)
    colour = rng.choice(
        np.array([[0.45, 0.3, 0.1], [0.15, 0.12, 0.1], [0.6, 0.55, 0.2], [0.5, 0.2, 0.2]])
    )
    alpha = 0.6
    out = np.where(mask[..., None] > 0, image * (1 - alpha) + colour * alpha, image)
    return out, mask


def _missing(rng, image, texture):
    size = image.shape[0]
    mask = np.zeros((size, size), np.uint8)
    if texture == "round_part":
        # a bite out of the rim: the background shows where metal was
        angle = rng.uniform(0, 2 * np.pi)
        rim = size * 0.36
        cy = size / 2 + rim * np.sin(angle)
        cx = size / 2 + rim * np.cos(angle)
        cv2.circle(mask, (int(cx), int(cy)), int(size * rng.uniform(0.07, 0.1)), 1, -1)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        body = np.hypot(yy - size / 2, xx - size / 2) <= size * 0.35
        mask &= body.astype(np.uint8)
        background = np.array([0.25, 0.3, 0.25])
        return np.where(mask[..., None] > 0, background, image), mask
    # threads or grain gone: a patch holding only the local average colour
    h = int(size * rng.uniform(0.08, 0.16))
    w = int(size * rng.uniform(0.08, 0.16))
    y0, x0 = _place(rng, size, texture, size * 0.2).astype(int)
    mask[y0 : y0 + h, x0 : x0 + w] = 1
    flat = image[mask > 0].mean(axis=0) * rng.choice([0.6, 1.35])
    return np.where(mask[..., None] > 0, flat, image), mask


def _contamination(rng, image, texture):
    size = image.shape[0]
    mask = np.zeros((size, size), np.uint8)
    centre = _place(rng, size, texture, size * 0.15)
    spread = size * 0.06
    for _ in range(int(rng.integers(4, 9))):
        y, x = centre + rng.normal(0, spread, 2)
        axes = (
            max(1, int(size * rng.uniform(0.008, 0.025))),
            max(1, int(size * rng.uniform(0.008, 0.025))),
        )
        cv2.ellipse(mask, (int(x), int(y)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    if texture == "round_part":
        mask &= part_region(size).astype(np.uint8)
    colour = rng.choice(np.array([[0.1, 0.2, 0.8], [0.1, 0.6, 0.2], [0.9, 0.85, 0.1]]))
    return np.where(mask[..., None] > 0, colour, image), mask


_DEFECT_DRAW = {
    "scratch": _scratch,
    "hole": _hole,
    "stain": _stain,
    "missing": _missing,
    "contamination": _contamination,
}


# --------------------------------------------------------------------- public API
def _rng(seed: int, texture: str, split: str, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, TEXTURES.index(texture), _SPLITS[split], index, salt])


def draw_image(
    texture: str,
    *,
    size: int = 224,
    seed: int = 0,
    split: str = "train",
    index: int = 0,
    defect: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One ``uint8`` RGB image and its ``uint8`` mask (all zero without ``defect``)."""  # fmt: skip
    if texture not in _DRAW:
        raise ValueError(f"unknown texture {texture!r}; known: {', '.join(TEXTURES)}")
    if defect is not None and defect not in _DEFECT_DRAW:
        raise ValueError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
    if size < 16:
        raise ValueError("size must be at least 16 pixels")
    image = _DRAW[texture](_rng(seed, texture, split, index), size)
    mask = np.zeros((size, size), np.uint8)
    if defect is not None:
        image, mask = _DEFECT_DRAW[defect](_rng(seed, texture, split, index, 1), image, texture)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), mask


def make_defect_dataset(
    texture: str,
    *,
    n_normal: int,
    n_per_defect: int = 0,
    defects: Sequence[str] = DEFECTS,
    size: int = 224,
    seed: int = 0,
    split: str = "train",
) -> Dataset:
    """``n_normal`` defect-free images, then ``n_per_defect`` images of each defect kind.

    Labels are 0/1, classes ``good`` or the defect kind, and every image has a mask (all zero
    for normal images), so pixel-level metrics can use the normal images' pixels too.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(_SPLITS)}")
    items, masks, names, labels, classes = [], [], [], [], []
    plan = [(None, i) for i in range(n_normal)]
    plan += [
        (d, n_normal + k * len(defects) + j)
        for k in range(n_per_defect)
        for j, d in enumerate(defects)
    ]
    for defect, index in plan:
        image, mask = draw_image(
            texture, size=size, seed=seed, split=split, index=index, defect=defect
        )
        items.append(image)
        masks.append(mask)
        names.append(f"{texture}_{split}_{index:04d}_{defect or 'good'}")
        labels.append(NORMAL if defect is None else ANOMALOUS)
        classes.append(defect or "good")
    return Dataset(
        kind=DataKind.IMAGE,
        items=items,
        names=names,
        labels=np.asarray(labels, np.int8),
        classes=classes,
        masks=masks,
        name=f"synthetic {texture} {split}",
    )


@dataclass
class DefectBenchmark:
    texture: str
    train: Dataset  # normal images only
    test: Dataset  # normal images and every defect kind, with masks
    labeled: Dataset  # a few anomalies per defect kind, with masks (semi-supervised runs)


def defect_benchmark(
    texture: str,
    *,
    size: int = 224,
    n_train: int = 200,
    n_test_normal: int = 40,
    n_test_per_defect: int = 12,
    n_labeled_per_defect: int = 1,
    seed: int = 0,
) -> DefectBenchmark:
    """Train, test and labeled splits of one texture, from disjoint random streams."""
    return DefectBenchmark(
        texture=texture,
        train=make_defect_dataset(texture, n_normal=n_train, size=size, seed=seed, split="train"),
        test=make_defect_dataset(
            texture,
            n_normal=n_test_normal,
            n_per_defect=n_test_per_defect,
            size=size,
            seed=seed,
            split="test",
        ),
        labeled=make_defect_dataset(
            texture,
            n_normal=0,
            n_per_defect=n_labeled_per_defect,
            size=size,
            seed=seed,
            split="labeled",
        ),
    )


def write_labeled_layout(
    data: Dataset,
    folder: str | os.PathLike[str],
    *,
    suffix: str = ".png",
    jpeg_quality: int = 92,
) -> Path:
    """Write ``normal/``, ``anomalous/<defect>/`` and ``ground_truth/<defect>/<stem>_mask.png``.

    ``suffix`` ``.jpg`` stores the images (never the masks) as JPEG, for small bundled sets.
    """
    folder = Path(folder)
    params = (
        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        if suffix in (".jpg", ".jpeg")
        else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    for i, image in enumerate(data.items):
        label = data.labels[i] if data.labels is not None else NORMAL
        stem = data.names[i]
        bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR) if np.ndim(image) == 3 else image
        if label == ANOMALOUS:
            defect = data.classes[i] if data.classes else "defect"
            target = folder / "anomalous" / defect / f"{stem}{suffix}"
            mask = data.masks[i] if data.masks is not None else None
            if mask is not None:
                mask_path = folder / "ground_truth" / defect / f"{stem}_mask.png"
                mask_path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(mask_path), (np.asarray(mask) > 0).astype(np.uint8) * 255)
        else:
            target = folder / "normal" / f"{stem}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), bgr, params)
    return folder
