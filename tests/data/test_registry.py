"""The dataset registry: round trips per kind, content-hash dedupe, listing and deletion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepad.data import DataKind, Dataset, DatasetRegistry, Skipped, home_dir


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.kind == b.kind and a.names == b.names and a.classes == b.classes
    assert a.columns == b.columns and a.skipped == b.skipped
    if a.labels is None:
        assert b.labels is None
    else:
        np.testing.assert_array_equal(a.labels, b.labels)
    if isinstance(a.items, np.ndarray):
        np.testing.assert_array_equal(a.items, b.items)
        assert a.items.dtype == b.items.dtype
    elif a.kind == DataKind.TEXT:
        assert list(a.items) == list(b.items)
    else:
        assert len(a.items) == len(b.items)
        for x, y in zip(a.items, b.items, strict=True):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
    if a.masks is None:
        assert b.masks is None
    else:
        for x, y in zip(a.masks, b.masks, strict=True):
            assert (x is None and y is None) or np.array_equal(x, y)


def images(mixed: bool) -> Dataset:
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, (4, 5), dtype=np.uint8) for _ in range(3)]
    if mixed:
        items.append(rng.integers(0, 256, (6, 2, 3), dtype=np.uint8))
    n = len(items)
    masks = [None] * n
    masks[1] = (items[1] > 128).astype(np.uint8)
    return Dataset(
        DataKind.IMAGE,
        items,
        [f"im{i}.png" for i in range(n)],
        labels=np.array([0, 1, -1, 1][:n]),
        classes=["good", "cut", "unknown", "cut"][:n],
        masks=masks,
        skipped=[Skipped("x.txt", "not an image")],
        name="imgs",
    )


def texts() -> Dataset:
    return Dataset(DataKind.TEXT, ["héllo\nworld", '{"json": 1}', ""], ["a", "b", "c"])


def table() -> Dataset:
    values = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    return Dataset(
        DataKind.TABLE, values, list("wxyz"), labels=np.array([0, 0, 1, -1]), columns=list("abc")
    )


def sequences() -> Dataset:
    rng = np.random.default_rng(1)
    items = [rng.normal(size=(t, 2)).astype(np.float32) for t in (5, 1, 3)]
    return Dataset(DataKind.SEQUENCE, items, ["s0", "s1", "s2"])


@pytest.mark.parametrize(
    "make", [lambda: images(False), lambda: images(True), texts, table, sequences]
)
def test_round_trip_per_kind(tmp_path, make):
    registry = DatasetRegistry(tmp_path)
    data = make()
    record = registry.add(data, source="unit test")
    assert record.kind == data.kind and record.count == len(data)
    assert sum(s["count"] for s in record.manifest["shapes"]) in (0, len(data))
    assert_same(data, registry.get(record.id))
    assert registry.record(record.id) == record
    manifest = json.loads((tmp_path / "datasets" / record.id / "manifest.json").read_text())
    assert manifest["source"] == "unit test" and manifest["count"] == len(data)
    assert not list((tmp_path / "datasets" / record.id).rglob("*.pkl"))


def test_image_storage_and_manifest(tmp_path):
    registry = DatasetRegistry(tmp_path)
    same = registry.add(images(False))
    mixed = registry.add(images(True))
    assert (tmp_path / "datasets" / same.id / "images.npy").exists()
    assert same.manifest["storage"] == "stack" and mixed.manifest["storage"] == "png"
    assert len(list((tmp_path / "datasets" / mixed.id / "images").glob("*.png"))) == 4
    assert mixed.manifest["counts"] == {"normal": 1, "anomalous": 2, "unknown": 1}
    assert mixed.manifest["classes"] == {"good": 1, "cut": 2, "unknown": 1}
    assert mixed.manifest["skipped"] == [{"name": "x.txt", "reason": "not an image"}]
    assert {tuple(s["shape"]) for s in mixed.manifest["shapes"]} == {(4, 5), (6, 2, 3)}
    assert mixed.manifest["has_masks"] is True and mixed.name == "imgs"


def test_same_content_is_stored_once(tmp_path):
    registry = DatasetRegistry(tmp_path)
    first = registry.add(table(), name="first")
    again = registry.add(table(), name="second")
    assert again.id == first.id and again.name == "first"
    assert len(registry.list()) == 1
    changed = table()
    changed.items[0, 0] += 1
    assert registry.add(changed).id != first.id
    relabeled = table()
    relabeled.labels[0] = 1
    assert registry.add(relabeled).id not in (first.id,)
    assert len(registry.list()) == 3


def test_list_and_delete(tmp_path):
    registry = DatasetRegistry(tmp_path)
    assert registry.list() == []
    a = registry.add(texts())
    b = registry.add(table())
    assert {r.id for r in registry.list()} == {a.id, b.id}
    registry.delete(a.id)
    assert [r.id for r in registry.list()] == [b.id]
    with pytest.raises(KeyError):
        registry.get(a.id)
    with pytest.raises(KeyError):
        registry.delete(a.id)
    with pytest.raises(KeyError):
        registry.get("../../etc")


def test_home_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path / "h"))
    assert home_dir() == tmp_path / "h"
    assert DatasetRegistry().root == tmp_path / "h" / "datasets"
    monkeypatch.delenv("DEEPAD_HOME")
    assert home_dir().name == ".deepad"


def test_stored_dtypes_hash_like_the_original(tmp_path):
    registry = DatasetRegistry(tmp_path)
    wide = table()
    wide.items = wide.items.astype(np.float64)
    record = registry.add(wide)
    assert registry.add(registry.get(record.id)).id == record.id
    floats = Dataset(DataKind.IMAGE, [np.zeros((2, 2), np.float32)], ["f"])
    with pytest.raises(ValueError, match="uint8"):
        registry.add(floats)


def test_leftover_staging_folders_are_swept(tmp_path):
    import os

    registry = DatasetRegistry(tmp_path)
    registry.add(texts())
    stale = tmp_path / "datasets" / ".0123456789abcdef-crashed"
    fresh = tmp_path / "datasets" / ".fedcba9876543210-writing"
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (0, 0))
    registry.add(table())
    assert not stale.exists() and fresh.exists()
    assert len(registry.list()) == 2
