"""The disk feature cache: a second extraction reads the files instead of the backbone, and
the folder stays within its byte cap, least recently used entry out first."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from deepad.data.types import DataKind, Dataset
from deepad.features import DiskFeatureCache, FeatureCache, default_disk_cache, extract_features
from deepad.features import extract as extract_module
from deepad.features.disk_cache import using_disk_cache


def _images(n, seed=0, side=32):
    rng = np.random.default_rng(seed)
    items = list(rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8))
    return Dataset(DataKind.IMAGE, items, [str(i) for i in range(n)])


def _entry(values: float, numel: int = 256) -> dict[str, torch.Tensor]:
    return {"s8": torch.full((numel,), float(values))}  # numel · 4 bytes


def _age(cache: DiskFeatureCache, key: str, seconds_ago: float) -> None:
    stamp = os.path.getmtime(cache.path(key)) - seconds_ago
    os.utime(cache.path(key), (stamp, stamp))


def test_a_second_extraction_reads_the_disk_not_the_backbone(tmp_path, monkeypatch):
    data = _images(5)
    disk = DiskFeatureCache(tmp_path, max_bytes=2**30)
    first = extract_features(
        data, stages=("s8", "s16"), image_size=48, device="cpu", cache=None, disk=disk
    )
    assert len(disk.entries()) == 1

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone ran although the features were on disk")

    monkeypatch.setattr(extract_module, "_forward", no_backbone)
    memory = FeatureCache()
    second = extract_features(
        data, stages=("s8", "s16"), image_size=48, device="cpu", cache=memory, disk=disk
    )
    assert set(second) == {"s8", "s16"}
    for stage in first:
        assert torch.equal(first[stage], second[stage])
    assert len(memory) == 1  # and kept in memory for the rest of the process
    # other pixels, size or stages are other keys: the backbone would have to run
    changed = _images(5)
    changed.items[0][0, 0, 0] ^= 1
    for request in [
        dict(data=changed, stages=("s8", "s16"), image_size=48),
        dict(data=data, stages=("s8", "s16"), image_size=64),
        dict(data=data, stages=("s8",), image_size=48),
    ]:
        with pytest.raises(AssertionError, match="backbone ran"):
            extract_features(**request, device="cpu", cache=None, disk=disk)


def test_folder_is_capped_and_the_least_recently_used_entry_goes_first(tmp_path):
    one = sum(t.numel() * t.element_size() for t in _entry(0).values())
    disk = DiskFeatureCache(tmp_path, max_bytes=int(2.6 * one))  # file headers add a little
    disk.put("a", _entry(1))
    disk.put("b", _entry(2))
    _age(disk, "a", 20)
    _age(disk, "b", 10)
    assert disk.get("a") is not None  # a read makes "a" the most recently used
    disk.put("c", _entry(3))
    assert disk.get("b") is None
    assert float(disk.get("a")["s8"][0]) == 1.0 and float(disk.get("c")["s8"][0]) == 3.0
    assert disk.nbytes <= disk.max_bytes
    disk.put("big", _entry(4, numel=10 * 256))  # larger than the whole cap: not written
    assert disk.get("big") is None and len(disk.entries()) == 2


def test_an_unreadable_entry_is_dropped_and_recomputed(tmp_path):
    disk = DiskFeatureCache(tmp_path, max_bytes=2**30)
    disk.put("k", _entry(1))
    disk.path("k").write_bytes(b"not a safetensors file")
    assert disk.get("k") is None
    assert not disk.path("k").exists()


def test_default_cache_lives_in_the_home_and_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPAD_FEATURE_CACHE_MB", "16")
    cache = default_disk_cache()
    assert cache.root == tmp_path / "cache" / "features" and cache.max_bytes == 16 * 2**20
    monkeypatch.setenv("DEEPAD_FEATURE_CACHE_MB", "0")
    assert default_disk_cache() is None
    chosen = DiskFeatureCache(tmp_path / "elsewhere", max_bytes=1)
    with using_disk_cache(chosen):
        assert default_disk_cache() is chosen
    assert default_disk_cache() is None
