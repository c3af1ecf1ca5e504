"""Backbone features in deepad's disk cache: a second extraction reads the file instead of
the backbone, an unreadable file is computed and written again (the bound and the eviction
order are tests/test_disk_cache.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from deepad.data.types import DataKind, Dataset
from deepad.disk_cache import DiskCache, default_disk_cache
from deepad.features import FeatureCache, extract_features, using_disk_cache
from deepad.features import extract as extract_module


def _images(n, seed=0, side=32):
    rng = np.random.default_rng(seed)
    items = list(rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8))
    return Dataset(DataKind.IMAGE, items, [str(i) for i in range(n)])


def test_a_second_extraction_reads_the_disk_not_the_backbone(tmp_path, monkeypatch):
    data = _images(5)
    disk = DiskCache(tmp_path, max_bytes=2**30)
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


def test_an_unreadable_feature_file_is_ignored_and_written_again(tmp_path):
    data = _images(3)
    disk = DiskCache(tmp_path, max_bytes=2**30)
    first = extract_features(
        data, stages=("s8",), image_size=32, device="cpu", cache=None, disk=disk
    )
    [(path, _, _)] = disk.entries()
    assert path.parent.name == "features" and path.suffix == ".safetensors"
    path.write_bytes(b"not a safetensors file")
    again = extract_features(
        data, stages=("s8",), image_size=32, device="cpu", cache=None, disk=disk
    )
    assert torch.equal(first["s8"], again["s8"])  # computed again, not read from the junk
    assert disk.read(path.relative_to(tmp_path).as_posix(), load_file) is not None  # rewritten


def test_extraction_uses_the_default_cache_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPAD_CACHE_MB", "16")
    extract_features(_images(2), stages=("s8",), image_size=32, device="cpu", cache=None)
    assert [p.parent.name for p, _, _ in default_disk_cache().entries()] == ["features"]
    chosen = DiskCache(tmp_path / "elsewhere", max_bytes=2**30)
    with using_disk_cache(chosen):
        extract_features(
            _images(2, seed=1), stages=("s8",), image_size=32, device="cpu", cache=None
        )
    assert len(chosen.entries()) == 1 and len(default_disk_cache().entries()) == 1
    with using_disk_cache(None):
        extract_features(
            _images(2, seed=2), stages=("s8",), image_size=32, device="cpu", cache=None
        )
    assert len(default_disk_cache().entries()) == 1
