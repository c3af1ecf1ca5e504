"""The one disk cache of deepad: results kept between processes, bounded in bytes.

Pretrained backbone features (:mod:`deepad.features.extract`) and text embeddings
(:mod:`deepad.text.embeddings`) are both kept here, each entry one file named by a key that
hashes its input and every setting that changes it, so changed data or settings never match an
old entry. Both share one folder, ``$DEEPAD_HOME/cache`` (``~/.deepad`` when unset), and one
bound, ``DEEPAD_CACHE_MB`` megabytes (default 2,048; ``0`` turns the cache off).

Least recently used first out: reading an entry marks it used (its modification time is set
to now, which does not depend on how the file system keeps access times), and after each
write the entries used longest ago are deleted until the folder holds at most ``max_bytes``;
an entry larger than that is not kept. An entry is written beside its place and renamed, so a
reader never sees half a file; one that cannot be read (cut short, foreign) is deleted and
counts as a miss, so it is computed and written again. A full or read-only disk costs speed,
never the run. The files can be deleted at any time.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

log = logging.getLogger(__name__)

ENV_MAX_MB = "DEEPAD_CACHE_MB"
DEFAULT_MAX_MB = 2048

T = TypeVar("T")


class DiskCache:
    """A folder of cached files, at most ``max_bytes`` in all, least recently used first out.

    Keys are relative POSIX paths (``features/<hash>.safetensors``): a folder per kind of
    entry, under one bound. The cache holds files, not objects: ``read`` and ``write`` take
    the function that loads or saves one."""

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if (
            not parts
            or PurePosixPath(key).is_absolute()
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        ):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root.joinpath(*parts)

    def read(self, key: str, load: Callable[[Path], T]) -> T | None:
        """``load(path)`` of the entry, or None when there is none or it cannot be read
        (then it is deleted)."""
        path = self.path(key)
        try:
            value = load(path)
        except FileNotFoundError:
            return None
        except Exception as error:  # a truncated or foreign file: drop it, compute again
            log.warning("ignoring unreadable cache entry %s: %s", key, error)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # used now: the last to be evicted
        except OSError:
            pass
        return value

    def write(self, key: str, save: Callable[[Path], None]) -> bool:
        """Keep an entry: ``save(path)`` writes it to a temporary name in its folder (with
        the key's suffix), which is then renamed. False when it was not kept (too large, or
        the disk refused it)."""
        target = self.path(key)
        partial: Path | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                dir=target.parent, prefix=".", suffix=".partial" + target.suffix
            )
            os.close(handle)
            partial = Path(name)
            save(partial)
            if partial.stat().st_size > self.max_bytes:
                partial.unlink()
                return False
            os.replace(partial, target)
        except OSError as error:
            log.warning("could not write the cache in %s: %s", self.root, error)
            if partial is not None:
                partial.unlink(missing_ok=True)
            return False
        self.evict()
        return True

    def entries(self) -> list[tuple[Path, int, float]]:
        """``(path, bytes, last use)`` of every entry, used longest ago first (files being
        written, whose names start with a dot, are not entries)."""
        out = []
        for path in self.root.rglob("*"):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            if path.is_file():
                out.append((path, stat.st_size, stat.st_mtime))
        return sorted(out, key=lambda entry: entry[2])

    @property
    def nbytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> None:
        """Delete the entries used longest ago until at most ``max_bytes`` remain."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def clear(self) -> None:
        for path, _, _ in self.entries():
            path.unlink(missing_ok=True)


def cache_folder() -> Path:
    """``$DEEPAD_HOME/cache`` (``~/.deepad/cache`` when DEEPAD_HOME is unset)."""
    return Path(os.environ.get("DEEPAD_HOME") or "~/.deepad").expanduser() / "cache"


def max_bytes_setting() -> int:
    """The bound from ``DEEPAD_CACHE_MB`` (default :data:`DEFAULT_MAX_MB`); 0: no cache."""
    raw = os.environ.get(ENV_MAX_MB, "").strip()
    try:
        max_mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        log.warning("%s=%r is not a number of megabytes; using %d", ENV_MAX_MB, raw, DEFAULT_MAX_MB)
        max_mb = DEFAULT_MAX_MB
    return max(0, int(max_mb * 2**20))


def default_disk_cache() -> DiskCache | None:
    """The cache in :func:`cache_folder` with the bound of :func:`max_bytes_setting`; None
    when that is 0."""
    max_bytes = max_bytes_setting()
    return DiskCache(cache_folder(), max_bytes=max_bytes) if max_bytes > 0 else None


def disk_cache_at(folder: str | os.PathLike[str] | None) -> DiskCache | None:
    """The cache in ``folder`` (e.g. a benchmark's ``--set cache=DIR``) with the usual
    bound, or :func:`default_disk_cache` when ``folder`` is None or empty."""
    if not folder:
        return default_disk_cache()
    max_bytes = max_bytes_setting()
    return DiskCache(folder, max_bytes=max_bytes) if max_bytes > 0 else None
