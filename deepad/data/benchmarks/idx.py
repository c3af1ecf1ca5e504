"""MNIST and Fashion-MNIST in the IDX format (``.gz`` or raw), with one-vs-rest splits."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES = tuple(str(d) for d in range(10))

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into an array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path.name}: not an IDX file (bad magic number)")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(f"{path.name}: truncated IDX file ({len(raw)} bytes for shape {shape})")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).exists():
            return directory / name
    return None


@dataclass
class IdxSplit:
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) int64


def load_idx_dataset(directory: str | os.PathLike[str], split: str) -> IdxSplit:
    """Load the ``train`` or ``test`` split of an MNIST-format directory."""
    directory = Path(directory)
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        raise FileNotFoundError(f"{directory}: no {prefix}-images/labels IDX files")
    x, y = read_idx(images), read_idx(labels).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{directory}: {len(x)} images but {len(y)} labels in {split}")
    return IdxSplit(np.ascontiguousarray(x), y)


def one_vs_rest(
    split: IdxSplit,
    normal_class: int,
    class_names: tuple[str, ...],
    *,
    normal_only: bool,
    name: str,
) -> Dataset:
    """Images of ``normal_class`` as normal (label 0), all others anomalous (label 1).

    With ``normal_only`` only the normal class is kept (a training set).
    """
    keep = split.labels == normal_class if normal_only else np.ones(len(split.labels), bool)
    index = np.flatnonzero(keep)
    labels = np.where(split.labels[index] == normal_class, NORMAL, ANOMALOUS)
    return Dataset(
        kind=DataKind.IMAGE,
        items=list(split.images[index]),
        names=[f"{name}_{i}" for i in index],
        labels=labels,
        classes=[class_names[c] for c in split.labels[index]],
        name=f"{name} one-vs-rest {class_names[normal_class]}",
    )
