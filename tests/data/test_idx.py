"""The IDX reader for MNIST-format files, on tiny generated files and the real copies."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from deepad.data.benchmarks.idx import (
    FASHION_CLASSES,
    load_idx_dataset,
    one_vs_rest,
    read_idx,
)


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_split(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool):
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):  # fmt: skip
        raw = idx_bytes(array, 0x08)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)


@pytest.mark.parametrize("gz", [False, True])
def test_generated_files_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 3, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0, 2], np.uint8)
    write_split(tmp_path, "train", images, labels, gz)
    split = load_idx_dataset(tmp_path, "train")
    np.testing.assert_array_equal(split.images, images)
    assert split.labels.dtype == np.int64 and split.labels.tolist() == labels.tolist()
    data = one_vs_rest(split, 1, ("a", "b", "c"), normal_only=False, name="toy")
    assert data.labels.tolist() == [1, 0, 1, 0, 1, 1] and data.classes[1] == "b"
    normal = one_vs_rest(split, 1, ("a", "b", "c"), normal_only=True, name="toy")
    assert normal.names == ["toy_1", "toy_3"] and (normal.labels == 0).all()
    with pytest.raises(FileNotFoundError):
        load_idx_dataset(tmp_path, "test")


def test_wider_types_are_big_endian(tmp_path):
    values = np.array([[1, -2], [300, 70000]], np.int32)
    (tmp_path / "x.idx").write_bytes(idx_bytes(values.astype(">i4"), 0x0C))
    out = read_idx(tmp_path / "x.idx")
    assert out.tolist() == values.tolist()


def test_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(tmp_path / "bad")
    raw = idx_bytes(np.zeros((4, 2, 2), np.uint8), 0x08)
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")


def real_data() -> Path:
    chosen = os.environ.get("DEEPAD_DATA")
    root = (
        Path(chosen) if chosen else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )
    return root / "fashion_mnist"


@pytest.mark.realdata
@pytest.mark.skipif(not real_data().is_dir(), reason="Fashion-MNIST copy not present")
def test_real_fashion_mnist_test_split():
    split = load_idx_dataset(real_data(), "test")
    assert split.images.shape == (10000, 28, 28) and split.images.dtype == np.uint8
    assert np.bincount(split.labels).tolist() == [1000] * 10
    assert len(FASHION_CLASSES) == 10
    assert 0 < split.images.mean() < 255
