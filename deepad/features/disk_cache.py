"""Backbone features kept on disk between processes, bounded in bytes.

A second run on the same images (another PatchCore or embedding-kNN fit, a re-score) reads
the features instead of running the backbone. Each entry is one safetensors file
``<root>/<key>.safetensors`` (no pickle), named by the key of
:func:`deepad.features.extract.extract_features`: the content hash of every image's pixels
and shape together with the backbone, image size, stages and pooling, so changed images or
settings never match an old entry.

Bounded: after each write the oldest entries (by modification time, which a read refreshes)
are deleted until the folder holds at most ``max_bytes``; an entry larger than that is not
written. The root is ``$DEEPAD_HOME/cache/features``; ``DEEPAD_FEATURE_CACHE_MB`` sets the
cap (default 2,048 MB, ``0`` turns the disk cache off). The files can be deleted at any time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 2048
SUFFIX = ".safetensors"
ENV_MAX_MB = "DEEPAD_FEATURE_CACHE_MB"


class DiskFeatureCache:
    """Least-recently-used folder of safetensors files, at most ``max_bytes`` in all."""

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        return self.root / f"{key}{SUFFIX}"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        from safetensors.torch import load_file

        path = self.path(key)
        try:
            features = load_file(path)
            os.utime(path)  # recently used: last to be evicted
        except FileNotFoundError:
            return None
        except Exception as error:  # a truncated or foreign file: drop it, compute again
            log.warning("ignoring unreadable feature cache entry %s: %s", path.name, error)
            path.unlink(missing_ok=True)
            return None
        log.info("read backbone features from the disk cache (%s)", path.name)
        return features

    def put(self, key: str, features: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save_file

        size = sum(t.numel() * t.element_size() for t in features.values())
        if size > self.max_bytes:
            return
        partial: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # written beside, then renamed: a reader never sees half a file
            handle, name = tempfile.mkstemp(dir=self.root, suffix=".partial")
            os.close(handle)
            partial = Path(name)
            save_file({k: v.contiguous() for k, v in features.items()}, str(partial))
            os.replace(partial, self.path(key))
        except OSError as error:  # a full or read-only disk costs speed, not the run
            log.warning("could not write the feature cache in %s: %s", self.root, error)
            if partial is not None:
                partial.unlink(missing_ok=True)
            return
        self.evict()

    def entries(self) -> list[tuple[Path, int, float]]:
        """``(path, bytes, mtime)`` of every entry, oldest first."""
        out = []
        for path in self.root.glob(f"*{SUFFIX}"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            out.append((path, stat.st_size, stat.st_mtime))
        return sorted(out, key=lambda entry: entry[2])

    @property
    def nbytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> None:
        """Delete the least recently used entries until at most ``max_bytes`` remain."""
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


_chosen: list[DiskFeatureCache | None] = []


@contextlib.contextmanager
def using_disk_cache(cache: DiskFeatureCache | None) -> Iterator[DiskFeatureCache | None]:
    """Feature extraction uses ``cache`` (None: no disk cache) as its default meanwhile."""
    _chosen.append(cache)
    try:
        yield cache
    finally:
        _chosen.pop()


def default_disk_cache() -> DiskFeatureCache | None:
    """The cache under ``$DEEPAD_HOME/cache/features`` (``~/.deepad`` when unset), sized by
    ``DEEPAD_FEATURE_CACHE_MB``; None when that is 0. Inside :func:`using_disk_cache`, the
    cache given there."""
    if _chosen:
        return _chosen[-1]
    raw = os.environ.get(ENV_MAX_MB, "").strip()
    try:
        max_mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        log.warning("%s=%r is not a number of megabytes; using %d", ENV_MAX_MB, raw, DEFAULT_MAX_MB)
        max_mb = DEFAULT_MAX_MB
    if max_mb <= 0:
        return None
    home = Path(os.environ.get("DEEPAD_HOME") or "~/.deepad").expanduser()
    return DiskFeatureCache(home / "cache" / "features", max_bytes=int(max_mb * 2**20))
