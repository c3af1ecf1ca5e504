"""Build assets/demo/fashion: a Fashion-MNIST slice as PNG files in the loaders' layouts.

- ``train/``: 300 "Trouser" images from the Fashion-MNIST training split (unlabeled folder);
- ``test/``: 100 "Trouser" images plus 100 images of the other nine classes (12 or 11 each)
  from the test split, in the ``normal/`` + ``anomalous/<class>/`` layout;
- ``labeled/``: 20 "Trouser" and 18 other images (2 per class) from the training split,
  disjoint from ``train/``, for methods that use a few labeled examples (Deep SAD).

Usage: ``python scripts/make_demo_fashion.py [--data DIR] [--out assets/demo/fashion]``; DIR
holds the ``fashion_mnist`` IDX files (default ``$DEEPAD_DATA`` or ``../shared/data``). The
choice of images is seeded, so the output is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from deepad.data.benchmarks import data_root
from deepad.data.benchmarks.idx import FASHION_CLASSES, load_idx_dataset

NORMAL_CLASS = 1  # Trouser
SEED = 0
ATTRIBUTION = (
    "Fashion-MNIST, Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf, 2017, "
    "arXiv:1708.07747), https://github.com/zalandoresearch/fashion-mnist, MIT License. "
    "A slice of the original images, stored as PNG."
)


def slug(class_name: str) -> str:
    return class_name.lower().replace("/", "_").replace("-", "").replace(" ", "_")


def save(folder: Path, image: np.ndarray, index: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / f"{index:05d}.png", format="PNG", optimize=True)


def pick(labels: np.ndarray, cls: int, count: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(np.flatnonzero(labels == cls), size=count, replace=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding fashion_mnist/")
    parser.add_argument("--out", default="assets/demo/fashion")
    args = parser.parse_args()
    source = data_root(args.data) / "fashion_mnist"
    out = Path(args.out)
    train, test = load_idx_dataset(source, "train"), load_idx_dataset(source, "test")
    rng = np.random.default_rng(SEED)
    normal_name = FASHION_CLASSES[NORMAL_CLASS]
    others = [c for c in range(len(FASHION_CLASSES)) if c != NORMAL_CLASS]

    for part in ("train", "test", "labeled"):
        shutil.rmtree(out / part, ignore_errors=True)

    train_normal = pick(train.labels, NORMAL_CLASS, 320, rng)
    for i in train_normal[:300]:
        save(out / "train", train.images[i], i)
    for i in train_normal[300:]:
        save(out / "labeled" / "normal", train.images[i], i)
    for c in others:
        for i in pick(train.labels, c, 2, rng):
            save(out / "labeled" / "anomalous" / slug(FASHION_CLASSES[c]), train.images[i], i)

    for i in pick(test.labels, NORMAL_CLASS, 100, rng):
        save(out / "test" / "normal", test.images[i], i)
    for k, c in enumerate(others):
        count = 12 if k < 100 - 11 * len(others) else 11
        for i in pick(test.labels, c, count, rng):
            save(out / "test" / "anomalous" / slug(FASHION_CLASSES[c]), test.images[i], i)

    spec = {
        "title": f"Fashion-MNIST: {normal_name.lower()}s",
        "kind": "image",
        "description": (
            f"300 Fashion-MNIST '{normal_name}' images (28x28 gray) to train on; the test set "
            f"holds 100 more '{normal_name}' images and 100 images of the nine other classes "
            "as anomalies. 'labeled' adds 20 normal and 18 anomalous training images for "
            "semi-supervised methods."
        ),
        "attribution": ATTRIBUTION,
        "train": "train",
        "test": "test",
        "labeled": "labeled",
    }
    (out / "demo.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
