"""Crops of real photographs with pasted defects and exact masks, in MVTec-AD layout.

The photographs are the sample images that ship inside the scikit-image wheel (read from the
installed package's data folder; nothing is downloaded). Each category is one photograph,
turned gray and shrunk so its shorter side is at most :data:`WORKING_SIDE` pixels:

- training images are ``size``-pixel crops from the **left** part of the photograph;
- test images are crops from the **right** part (the two parts do not overlap): normal
  crops, and crops with one defect painted in — a patch of real texture from another
  photograph (``texture``), a ``scratch``, a ``smudge`` or a ``hole``; the mask is exactly the
  set of pixels the defect changed.

Everything comes from a generator seeded by ``(seed, category, split, index)``, so a suite is
reproducible and any image can be regenerated alone. :data:`CATEGORIES` are the categories a
benchmark reports; :data:`TUNING_CATEGORIES` come from other photographs, for choosing
settings without the reported test labels. ``brick``, ``grass`` and ``gravel`` are never used
here: they are kept for checking results on data no setting was chosen with.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

#: category -> file in scikit-image's data folder (reported categories).
CATEGORIES = {
    "hubble": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "moon": "moon.png",
    "retina": "retina.jpg",
}
#: the part of a photograph a category uses, as fractions (top, bottom, left, right): the
#: retina's square inside the round field of view, so no crop shows the black surround.
BOXES = {"retina.jpg": (0.2, 0.8, 0.2, 0.8)}
#: categories from other photographs, for choosing settings (never reported as results).
TUNING_CATEGORIES = {
    "coins": "coins.png",
    "cell": "cell.png",
    "coffee": "coffee.png",
    "motorcycle": "motorcycle_right.png",
}
#: photographs the pasted texture patches are cut from (none of them is a category).
DONORS = ("astronaut.png", "camera.png", "chelsea.png", "rocket.jpg")
#: never read: the held-out set.
HELD_OUT = ("brick.png", "grass.png", "gravel.png")
DEFECTS = ("texture", "scratch", "smudge", "hole")
WORKING_SIDE = 512
_SPLITS = {"train": 0, "test": 1, "donor": 2}


def photo_folder() -> Path:
    """scikit-image's folder of sample photographs (part of the installed wheel)."""
    try:
        import skimage.data
    except ImportError as exc:
        raise RuntimeError(
            "the photo benchmark needs scikit-image (pip install 'deepad[bench]')"
        ) from exc
    return Path(skimage.data.__file__).parent


def load_photo(file: str) -> np.ndarray:
    """One shipped photograph as ``float32`` gray in [0, 255], shorter side at most
    :data:`WORKING_SIDE` (area-averaged when shrunk)."""
    if file in HELD_OUT:
        raise ValueError(f"{file} belongs to the held-out set")
    from PIL import Image

    path = photo_folder() / file
    if not path.exists():
        raise FileNotFoundError(f"{file} is not among scikit-image's sample photographs")
    with Image.open(path) as image:
        gray = np.asarray(image.convert("L"), dtype=np.float32)
    if file in BOXES:
        top, bottom, left, right = BOXES[file]
        h, w = gray.shape
        gray = gray[round(top * h) : round(bottom * h), round(left * w) : round(right * w)]
    h, w = gray.shape
    scale = min(1.0, WORKING_SIDE / min(h, w))
    if scale < 1.0:
        size = (round(w * scale), round(h * scale))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray


def _rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    key = zlib.crc32(category.encode())
    return np.random.default_rng([seed, key, _SPLITS[split], index])


def split_columns(width: int, size: int) -> int:
    """First column of the test part: the right 40 % of the photograph, at least ``size``
    columns; the training part is every column left of it."""
    test_width = max(size, int(round(0.4 * width)))
    first = width - test_width
    if first < size:
        raise ValueError(f"a photograph {width} px wide is too narrow for {size}-px crops")
    return first


def _corner(rng: np.random.Generator, height: int, columns: tuple[int, int], size: int):
    """Top-left corner ``(y, x)`` of a random crop within ``columns``."""
    y = int(rng.integers(0, height - size + 1))
    x = int(rng.integers(columns[0], columns[1] - size + 1))
    return y, x


def _crop(rng: np.random.Generator, photo: np.ndarray, columns: tuple[int, int], size: int):
    y, x = _corner(rng, photo.shape[0], columns, size)
    return photo[y : y + size, x : x + size].copy()


def training_corners(
    category: str, *, n_train: int = 120, size: int = 192, seed: int = 0
) -> np.ndarray:
    """``(n_train, 2)`` top-left corners ``(y, x)`` of :func:`make_category`'s training crops
    in the photograph (which crops overlap: known to the generator, not to a method)."""
    photo = load_photo({**CATEGORIES, **TUNING_CATEGORIES}[category])
    columns = (0, split_columns(photo.shape[1], size))
    return np.array(
        [
            _corner(_rng(seed, category, "train", i), photo.shape[0], columns, size)
            for i in range(n_train)
        ]
    ).reshape(n_train, 2)


def _px(size: int, pixels: int) -> int:
    """``pixels`` at the 192-px crops the defect sizes are given for, scaled to ``size``."""
    return max(2, round(pixels * size / 192))


def _ellipse(rng: np.random.Generator, size: int, low: int, high: int) -> np.ndarray:
    """A filled ellipse mask with axes in ``[low, high)`` pixels at 192 px (scaled to the
    image's ``size``), inside the image."""
    low, high = _px(size, low), _px(size, high)
    a, b = (int(v) for v in rng.integers(low, high, 2))
    cy, cx = (int(v) for v in rng.integers(high // 2 + 2, size - high // 2 - 2, 2))
    mask = np.zeros((size, size), np.uint8)
    angle = float(rng.uniform(0, 180))
    cv2.ellipse(mask, (cx, cy), (a // 2, b // 2), angle, 0, 360, 1, -1)
    return mask


def _texture(rng, image, donors):
    """A patch of another photograph's texture, its mean matched to the area it covers."""
    size = image.shape[0]
    mask = _ellipse(rng, size, 24, 60)
    donor = donors[int(rng.integers(len(donors)))]
    patch = _crop(rng, donor, (0, donor.shape[1]), size)
    return paste_matched(image, patch, mask), mask


def paste_matched(image: np.ndarray, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with ``patch`` where ``mask`` is set, shifted to the mean brightness of the
    area it covers (so the defect is texture, not a brightness step)."""
    inside = mask.astype(bool)
    patch = patch - patch[inside].mean() + image[inside].mean()
    out = image.copy()
    out[inside] = patch[inside]
    return out


def _scratch(rng, image, donors):
    """A thin curved line, brighter or darker than the area it crosses."""
    del donors
    size = image.shape[0]
    margin = _px(size, 12)
    ends = rng.uniform(margin, size - margin, (3, 2))
    t = np.linspace(0.0, 1.0, 64)[:, None]
    curve = (1 - t) ** 2 * ends[0] + 2 * t * (1 - t) * ends[2] + t**2 * ends[1]
    mask = np.zeros((size, size), np.uint8)
    width = int(rng.integers(2, 4))
    cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 1, width)
    inside = mask.astype(bool)
    level = image[inside].mean()
    shift = float(rng.uniform(70, 120)) * (1 if level < 128 else -1)
    out = image.copy()
    out[inside] = np.clip(image[inside] + shift, 0, 255)
    return out, mask


def _smudge(rng, image, donors):
    """A soft blurred stain: the area is blurred and shifted in brightness, fading out."""
    del donors
    size = image.shape[0]
    core = _ellipse(rng, size, 30, 64).astype(np.float32)
    alpha = cv2.GaussianBlur(core, (0, 0), 5.0 * size / 192)
    alpha = np.clip(alpha / max(alpha.max(), 1e-6), 0, 1) * float(rng.uniform(0.7, 0.95))
    mask = (alpha > 0.25).astype(np.uint8)
    blurred = cv2.GaussianBlur(image, (0, 0), 4.0 * size / 192)
    level = image[mask.astype(bool)].mean()
    shift = float(rng.uniform(35, 60)) * (1 if level < 128 else -1)
    stained = np.clip(blurred + shift, 0, 255)
    out = image * (1 - alpha) + stained * alpha
    return out.astype(np.float32), mask


def _hole(rng, image, donors):
    """A dark hole with a lighter rim of one pixel."""
    del donors
    size = image.shape[0]
    mask = _ellipse(rng, size, 12, 36)
    inside = mask.astype(bool)
    out = image.copy()
    rim = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool) & ~inside
    out[rim] = np.clip(image[rim] + 60, 0, 255)
    mask = (inside | rim).astype(np.uint8)
    out[inside] = rng.uniform(0, 25, int(inside.sum()))
    return out, mask


_PAINT = {"texture": _texture, "scratch": _scratch, "smudge": _smudge, "hole": _hole}


def make_category(
    category: str,
    *,
    n_train: int = 120,
    n_test_good: int = 24,
    n_per_defect: int = 8,
    size: int = 192,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """Training (normal crops of the left part) and test (normal and defective crops of the
    right part, with masks) sets of one category, as 8-bit gray images."""
    files = {**CATEGORIES, **TUNING_CATEGORIES}
    if category not in files:
        raise ValueError(f"unknown photo category {category!r}; known: {', '.join(files)}")
    photo = load_photo(files[category])
    split = split_columns(photo.shape[1], size)
    donors = [load_photo(f) for f in DONORS]
    train = []
    for i in range(n_train):
        train.append(_crop(_rng(seed, category, "train", i), photo, (0, split), size))
    items, labels, classes, masks, names = [], [], [], [], []
    kinds = ["good"] * n_test_good + [d for d in DEFECTS for _ in range(n_per_defect)]
    for i, kind in enumerate(kinds):
        rng = _rng(seed, category, "test", i)
        image = _crop(rng, photo, (split, photo.shape[1]), size)
        mask = np.zeros((size, size), np.uint8)
        if kind != "good":
            image, mask = _PAINT[kind](rng, image, donors)
        items.append(np.clip(np.round(image), 0, 255).astype(np.uint8))
        labels.append(NORMAL if kind == "good" else ANOMALOUS)
        classes.append(kind)
        masks.append(mask)
        names.append(f"{kind}/{i:03d}.png")
    train_set = Dataset(
        kind=DataKind.IMAGE,
        items=[np.clip(np.round(t), 0, 255).astype(np.uint8) for t in train],
        names=[f"good/{i:03d}.png" for i in range(n_train)],
        labels=np.zeros(n_train, np.int8),
        name=f"photos-{category}-train",
    )
    test_set = Dataset(
        kind=DataKind.IMAGE,
        items=items,
        names=names,
        labels=np.asarray(labels, np.int8),
        classes=classes,
        masks=masks,
        name=f"photos-{category}-test",
    )
    return train_set, test_set


def write_mvtec(train: Dataset, test: Dataset, folder: Path) -> Path:
    """``train/good``, ``test/good``, ``test/<defect>`` and ``ground_truth/<defect>/<stem>_mask.png``
    under ``folder`` (masks as 0/255 PNG)."""
    from PIL import Image

    folder = Path(folder)
    for i, image in enumerate(train.items):
        path = folder / "train" / "good" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    for image, kind, mask, name in zip(
        test.items, test.classes, test.masks, test.names, strict=True
    ):
        stem = Path(name).stem
        path = folder / "test" / kind / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        if kind != "good":
            target = folder / "ground_truth" / kind / f"{stem}_mask.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((mask > 0).astype(np.uint8) * 255).save(target)
    return folder


def build_suite(
    root: Path,
    categories: Sequence[str] = tuple(CATEGORIES),
    *,
    seed: int = 0,
    **sizes: int,
) -> list[Path]:
    """Write every category under ``root/<category>/`` in MVTec-AD layout."""
    return [write_mvtec(*make_category(c, seed=seed, **sizes), Path(root) / c) for c in categories]
