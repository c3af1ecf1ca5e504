"""deepad's one disk cache: a byte bound that holds, the entry used longest ago out first
(whatever kind it is), an unreadable entry ignored and written again, the bound from the
environment."""

from __future__ import annotations

import os

import pytest

from deepad.disk_cache import DiskCache, default_disk_cache, disk_cache_at


def _put(cache: DiskCache, key: str, size: int, fill: bytes = b"x") -> bool:
    return cache.write(key, lambda path: path.write_bytes(fill * size))


def _read(cache: DiskCache, key: str) -> bytes | None:
    return cache.read(key, lambda path: path.read_bytes())


def _age(cache: DiskCache, key: str, seconds_ago: float) -> None:
    stamp = os.path.getmtime(cache.path(key)) - seconds_ago
    os.utime(cache.path(key), (stamp, stamp))


def test_the_bound_holds_and_the_entry_used_longest_ago_goes_first(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=250)
    assert _put(cache, "features/a.bin", 100) and _put(cache, "embeddings/b.npz", 100)
    _age(cache, "features/a.bin", 30)
    _age(cache, "embeddings/b.npz", 20)
    assert _read(cache, "features/a.bin") == b"x" * 100  # a read makes "a" the newest
    assert _put(cache, "features/c.bin", 100)  # 300 > 250: the oldest, "b", goes
    assert _read(cache, "embeddings/b.npz") is None
    assert _read(cache, "features/a.bin") is not None and _read(cache, "features/c.bin")
    assert cache.nbytes == 200 <= cache.max_bytes
    for i in range(5):  # many writes: always within the bound, the new entry kept
        for path, _, _ in cache.entries():
            _age(cache, path.relative_to(tmp_path).as_posix(), 10)
        assert _put(cache, f"x/{i}.bin", 120)
        assert cache.nbytes <= cache.max_bytes
        assert [p.name for p, _, _ in cache.entries()][-1] == f"{i}.bin"
    assert _read(cache, "features/a.bin") is None


def test_an_entry_larger_than_the_bound_is_not_kept(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=100)
    assert _put(cache, "k.bin", 50)
    assert not _put(cache, "big.bin", 101)
    assert _read(cache, "big.bin") is None and _read(cache, "k.bin") == b"x" * 50
    assert [p.name for p, _, _ in cache.entries()] == ["k.bin"]  # no partial file left


def test_an_unreadable_entry_is_ignored_and_written_again(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=1000)
    _put(cache, "e/k.txt", 4, b"7")
    cache.path("e/k.txt").write_bytes(b"\xff\xfe not a number")

    def load(path):
        return int(path.read_text())

    assert cache.read("e/k.txt", load) is None  # corrupt: a miss, and the file is gone
    assert not cache.path("e/k.txt").exists()
    assert cache.write("e/k.txt", lambda path: path.write_text("7777"))
    assert cache.read("e/k.txt", load) == 7777


def test_a_full_disk_costs_the_entry_not_the_caller(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=1000)

    def no_space(path):
        raise OSError(28, "No space left on device")

    assert not cache.write("k.bin", no_space)
    assert cache.entries() == []


def test_keys_stay_inside_the_folder(tmp_path):
    cache = DiskCache(tmp_path / "cache", max_bytes=1000)
    for key in ("../x", "a/../../x", "", ".hidden", "/abs/olute"):
        with pytest.raises(ValueError):
            cache.path(key)


def test_default_cache_lives_in_the_home_and_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPAD_CACHE_MB", "16")
    cache = default_disk_cache()
    assert cache.root == tmp_path / "cache" and cache.max_bytes == 16 * 2**20
    assert disk_cache_at(tmp_path / "bench").root == tmp_path / "bench"
    assert disk_cache_at(None).root == tmp_path / "cache"
    monkeypatch.setenv("DEEPAD_CACHE_MB", "0")
    assert default_disk_cache() is None and disk_cache_at(tmp_path / "bench") is None
    monkeypatch.setenv("DEEPAD_CACHE_MB", "lots")
    assert default_disk_cache().max_bytes == 2048 * 2**20
