"""Backbone features of an image dataset, computed once and kept in a bounded cache.

Images are resized to ``image_size`` square (as every image method here does), gray ones are
repeated to RGB, and ImageNet normalisation is applied. The network runs in channels_last,
in bf16 autocast on CUDA and fp32 elsewhere, always under ``torch.inference_mode``.

Results are cached in memory by the content hash of the images and the request (size,
stages, pooling), least recently used first out once the cache holds more than its byte
budget: fitting a detector scores its own training set right after, and a benchmark scores
one test set for every normal class. They are also kept on disk under the same key
(:mod:`deepad.disk_cache`, the cache shared with text embeddings, bounded too), so a later
process skips the backbone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from deepad.data.transforms import stack_images, to_float
from deepad.data.types import Dataset
from deepad.device import select_device
from deepad.disk_cache import DiskCache, default_disk_cache
from deepad.features.backbone import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EfficientNetLite0,
    inference_backbone,
)

log = logging.getLogger(__name__)

Features = dict[str, torch.Tensor]
StageReport = Callable[[str, int, int], None]

DEFAULT_CACHE_BYTES = 512 * 2**20


class FeatureCache:
    """Least-recently-used map from a content hash to features, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Features, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Features | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, features: Features) -> None:
        size = sum(t.numel() * t.element_size() for t in features.values())
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            self._entries[key] = (features, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes


FEATURE_CACHE = FeatureCache()


def content_hash(data: Dataset, *parts: object) -> str:
    """Hash of every image's pixels and shape, and of ``parts`` (the request)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr(parts).encode())
    for image in data.items:
        image = np.ascontiguousarray(image)
        digest.update(repr((image.shape, image.dtype.str)).encode())
        digest.update(memoryview(image).cast("B"))
    return digest.hexdigest()


_chosen_disk: list[DiskCache | None] = []


@contextlib.contextmanager
def using_disk_cache(cache: DiskCache | None) -> Iterator[DiskCache | None]:
    """Feature extraction uses ``cache`` (None: no disk cache) as its default meanwhile (a
    benchmark that times the backbone, or the cache itself)."""
    _chosen_disk.append(cache)
    try:
        yield cache
    finally:
        _chosen_disk.pop()


def _disk_key(key: str) -> str:
    return f"features/{key}.safetensors"


def _load(path: Path) -> Features:
    from safetensors.torch import load_file

    return load_file(path)


def _saver(features: Features) -> Callable[[Path], None]:
    from safetensors.torch import save_file

    return lambda path: save_file({k: v.contiguous() for k, v in features.items()}, str(path))


def extract_features(
    data: Dataset,
    *,
    stages: tuple[str, ...],
    image_size: int,
    pooled: bool = False,
    device: str = "auto",
    batch_size: int = 32,
    report: StageReport | None = None,
    cache: FeatureCache | None = FEATURE_CACHE,
    disk: DiskCache | None | str = "default",
) -> Features:
    """Float32 CPU features per stage: ``(n, c, h, w)`` maps, or ``(n, c)`` spatial means
    when ``pooled``. ``report(what, done, total)`` is called after each batch (a detector
    passes ``context.stage``, which may raise to cancel).

    Looked up in ``cache`` (this process), then on ``disk`` (``"default"``: deepad's disk
    cache, :func:`deepad.disk_cache.default_disk_cache`, or the one of
    :func:`using_disk_cache`; None: no disk), and kept in both when computed."""
    key = content_hash(data, "efficientnet-lite0", image_size, tuple(stages), pooled)
    if isinstance(disk, str):
        disk = _chosen_disk[-1] if _chosen_disk else default_disk_cache()
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    if disk is not None:
        hit = disk.read(_disk_key(key), _load)
        if hit is not None:
            log.info("read backbone features from the disk cache (%s)", key)
            if report is not None:
                report("reading cached backbone features", len(data), len(data))
            if cache is not None:
                cache.put(key, hit)
            return hit
    target = select_device(device)
    network = inference_backbone()
    parts: dict[str, list[torch.Tensor]] = {s: [] for s in stages}
    total = len(data)
    for first in range(0, total, batch_size):
        part = data.subset(np.arange(first, min(first + batch_size, total)))
        batch = stack_images(part, image_size, 3)
        for name, value in _forward(network, batch, stages, target).items():
            parts[name].append(value.mean(dim=(2, 3)) if pooled else value)
        if report is not None:
            report("extracting backbone features", min(first + batch_size, total), total)
    features = {
        name: torch.cat(values) if values else _empty(name, pooled)
        for name, values in parts.items()
    }
    if cache is not None:
        cache.put(key, features)
    if disk is not None and total:
        disk.write(_disk_key(key), _saver(features))
    return features


def _empty(stage: str, pooled: bool) -> torch.Tensor:
    from deepad.features.backbone import STAGE_CHANNELS

    shape = (0, STAGE_CHANNELS[stage]) if pooled else (0, STAGE_CHANNELS[stage], 0, 0)
    return torch.zeros(shape)


def _forward(
    network: EfficientNetLite0, batch: torch.Tensor, stages: tuple[str, ...], device: torch.device
) -> Features:
    """One batch of ``uint8`` RGB images through the network, back as float32 on the CPU."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    # channels_last also on the CPU: oneDNN's depthwise convolutions ran 2.3× faster so.
    # Moved outside inference mode: parameters converted inside it become inference
    # tensors, and the shared network could no longer pass a gradient to its input (FCDD's
    # trunk is a copy of it; the receptive-field checks take input gradients).
    network = network.to(device, memory_format=torch.channels_last)
    with torch.inference_mode():
        x = (to_float(batch.to(device)) - mean) / std
        x = x.contiguous(memory_format=torch.channels_last)
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = network(x, stages)
        else:
            out = network(x, stages)
        return {k: v.float().contiguous().cpu() for k, v in out.items()}


SMALLEST_SIDE = 112
LARGEST_SIDE = 224


def input_side(data: Dataset, *, low: int = SMALLEST_SIDE, high: int = LARGEST_SIDE) -> int:
    """The side images are resized to for the backbone: the most common image side, raised
    to ``low`` (a 28-pixel image would leave the stride-16 stage a 2×2 grid) and lowered to
    ``high`` (ImageNet's 224: larger photos cost more and their patches see less context)."""
    sides = Counter(max(np.shape(image)[:2]) for image in data.items)
    common = sides.most_common(1)[0][0] if sides else high
    return int(min(max(common, low), high))
