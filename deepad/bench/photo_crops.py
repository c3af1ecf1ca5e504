"""Grey crops of real photographs with pasted-in real-photo patches, for the threshold and
CPU-default benchmarks.

Each category is one of scikit-image's sample photographs (``brick``, ``grass`` and
``gravel`` are left aside: they are kept as a held-out check). Normal items are random
square crops: training ones from the left 55 % of the photo, test ones from the right 45 %,
so no test pixel was seen in training. An anomalous test item is a normal test crop with a
patch of another photograph pasted in (a disc or a rectangle, 8–20 % of the side), and its
mask.
"""

from __future__ import annotations

import numpy as np

from deepad.data.types import DataKind, Dataset

CATEGORIES = ("moon", "hubble_deep_field", "retina", "coffee")
_PATCH_SOURCES = ("camera", "astronaut", "chelsea", "coins")


def _grey(name: str) -> np.ndarray:
    from skimage import data
    from skimage.color import rgb2gray

    image = getattr(data, name)()
    if image.ndim == 3:
        image = (rgb2gray(image[..., :3]) * 255).round().astype(np.uint8)
    return image


def _crop(image: np.ndarray, size: int, x_range: tuple[int, int], rng) -> np.ndarray:
    h, w = image.shape
    scale = max(1, int(np.ceil(size / min(h, x_range[1] - x_range[0]))))
    if scale > 1:  # a photo narrower than the crop: repeat pixels (nearest) to fit
        image = np.kron(image, np.ones((scale, scale), dtype=np.uint8))
        x_range = (x_range[0] * scale, x_range[1] * scale)
        h, w = image.shape
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(x_range[0], max(x_range[0] + 1, x_range[1] - size + 1)))
    return image[y : y + size, x : x + size].copy()


def photo_split(
    category: str,
    *,
    size: int = 192,
    n_train: int = 120,
    n_test_normal: int = 40,
    n_test_anomalous: int = 40,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """``(train of normal crops, test: normal crops then anomalous ones, with masks)``."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown photo category {category!r}; known: {', '.join(CATEGORIES)}")
    rng = np.random.default_rng([seed, CATEGORIES.index(category)])
    photo = _grey(category)
    w = photo.shape[1]
    left, right = (0, int(0.55 * w)), (int(0.55 * w), w)
    train = [_crop(photo, size, left, rng) for _ in range(n_train)]
    normal = [_crop(photo, size, right, rng) for _ in range(n_test_normal)]
    sources = [_grey(name) for name in _PATCH_SOURCES]
    anomalous, masks = [], []
    for i in range(n_test_anomalous):
        image = _crop(photo, size, right, rng)
        side = int(rng.integers(int(0.08 * size), int(0.2 * size) + 1))
        patch = _crop(sources[i % len(sources)], side, (0, sources[i % len(sources)].shape[1]), rng)
        y, x = (int(v) for v in rng.integers(0, size - side, 2))
        shape = np.ones((side, side), dtype=bool)
        if i % 2:  # a disc every other item
            yy, xx = np.mgrid[:side, :side]
            shape = (yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 <= (side / 2) ** 2
        region = image[y : y + side, x : x + side]
        region[shape] = patch[shape]
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[y : y + side, x : x + side][shape] = 1
        anomalous.append(image)
        masks.append(mask)
    labels = np.r_[np.zeros(n_test_normal), np.ones(n_test_anomalous)].astype(np.int8)
    test = Dataset(
        kind=DataKind.IMAGE,
        items=normal + anomalous,
        names=[f"{category}-test-{i}" for i in range(len(labels))],
        labels=labels,
        classes=["good"] * n_test_normal + ["pasted"] * n_test_anomalous,
        masks=[np.zeros((size, size), np.uint8)] * n_test_normal + masks,
        name=f"{category}-test",
    )
    return (
        Dataset(
            kind=DataKind.IMAGE,
            items=train,
            names=[f"{category}-train-{i}" for i in range(n_train)],
            name=f"{category}-train",
        ),
        test,
    )
