"""Explanations of a run's scored items on disk: plain ``.npy`` arrays and JSON, no pickle.

``<run>/explain/manifest.json`` says what is there::

    {"type": "image" | "tokens" | "features", "count": m, "partial": bool, ...}

- ``index.npy``: int64 positions (into the run's score table) of the explained items; all
  items unless the maps would exceed the byte budget, then the top-scored ones.
- image: ``maps.npy`` float16 ``(m, h, w)`` at the network's resolution, and
  ``low_res.npy`` float16 where the method has raw low-resolution maps (FCDD). Where the
  full maps follow from those (the manifest's ``upsample``: receptive field, σ, image size),
  only ``low_res.npy`` is written and the maps are upsampled as they are read.
- tokens: ``tokens.json`` with ``head_names`` and per item ``tokens`` and ``weights``
  (``heads × len``, rounded to 5 significant digits).
- features: ``weights.npy`` float16 ``(m, d)`` (or ``weights.json`` when rows are ragged)
  and ``feature_names`` in the manifest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepad.results import Explanation, FeatureWeights, ImageMaps, TokenWeights

MANIFEST = "manifest.json"
DEFAULT_BUDGET_BYTES = 512 * 2**20


def _round(values: np.ndarray) -> list:
    return [[float(f"{v:.5g}") for v in row] for row in np.asarray(values, dtype=np.float64)]


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def write_explanations(
    directory: str | os.PathLike[str],
    explain: Callable[[np.ndarray], Explanation],
    index: np.ndarray,
    *,
    scores: np.ndarray | Callable[[], np.ndarray] | None = None,
    chunk: int = 256,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    on_chunk: Callable[[int, int], None] | None = None,
    upsampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Explain the items at ``index`` in chunks and write them under ``directory``.

    ``explain(positions)`` returns the explanation of those items. Image maps go straight
    into memory-mapped float16 files, so memory stays at one chunk. When all maps would
    exceed ``budget_bytes`` only the top-scored items that fit are explained (``scores``
    decides, or the function it names, called only then; without it, the first ones).
    ``upsampling`` (see ``Detector.map_upsampling``) says the full maps follow from the
    low-resolution ones, so only those are stored. Returns the manifest.
    """
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    index = np.asarray(index, dtype=np.int64)
    if len(index) == 0:
        raise ValueError("nothing to explain")
    first = explain(index[:chunk])
    partial = False
    if isinstance(first, ImageMaps):
        if first.low_res is None:
            upsampling = None
        per_item = (0 if upsampling else first.maps[0].size * 2) + (
            first.low_res[0].size * 2 if first.low_res is not None else 0
        )
        limit = max(1, budget_bytes // max(per_item, 1))
        if len(index) > limit:
            partial = True
            if callable(scores):
                scores = scores()
            order = (
                np.argsort(-np.asarray(scores)[index], kind="stable")
                if scores is not None
                else np.arange(len(index))
            )
            index = np.sort(index[order[:limit]])
            first = explain(index[:chunk])
        manifest = _write_image_maps(directory, explain, index, first, chunk, on_chunk, upsampling)
    else:
        parts = [first]
        for start in range(chunk, len(index), chunk):
            if on_chunk is not None:
                on_chunk(start, len(index))
            parts.append(explain(index[start : start + chunk]))
        if isinstance(first, TokenWeights):
            manifest = _write_tokens(directory, parts)
        elif isinstance(first, FeatureWeights):
            manifest = _write_features(directory, parts)
        else:
            raise TypeError(f"cannot store an explanation of type {type(first).__name__}")
    np.save(directory / "index.npy", index)
    manifest.update(count=int(len(index)), partial=partial)
    _atomic_json(directory / MANIFEST, manifest)
    if on_chunk is not None:
        on_chunk(len(index), len(index))
    return manifest


def _write_image_maps(
    directory: Path,
    explain: Callable[[np.ndarray], Explanation],
    index: np.ndarray,
    first: ImageMaps,
    chunk: int,
    on_chunk: Callable[[int, int], None] | None,
    upsampling: dict[str, Any] | None,
) -> dict[str, Any]:
    n = len(index)
    maps = None
    if upsampling is None:
        maps = np.lib.format.open_memmap(
            directory / "maps.npy", mode="w+", dtype=np.float16, shape=(n, *first.maps.shape[1:])
        )
    low = None
    if first.low_res is not None:
        low = np.lib.format.open_memmap(
            directory / "low_res.npy",
            mode="w+",
            dtype=np.float16,
            shape=(n, *first.low_res.shape[1:]),
        )
    part = first
    for start in range(0, n, chunk):
        if start:
            if on_chunk is not None:
                on_chunk(start, n)
            part = explain(index[start : start + chunk])
        stop = start + len(part.maps)
        if maps is not None:
            maps[start:stop] = _to_half(part.maps)
        if low is not None and part.low_res is not None:
            low[start:stop] = _to_half(part.low_res)
    for written in (maps, low):
        if written is not None:
            written.flush()
    del maps, low
    manifest = {
        "type": "image",
        "shape": list(first.maps.shape[1:]),
        "low_res": first.low_res is not None,
    }
    if upsampling is not None:
        manifest["upsample"] = upsampling
    return manifest


def _to_half(values: np.ndarray) -> np.ndarray:
    # float16 overflows above 65504; clip so a large map value stays large instead of inf
    return np.clip(np.asarray(values, dtype=np.float32), -65504, 65504).astype(np.float16)


def _write_tokens(directory: Path, parts: list[TokenWeights]) -> dict[str, Any]:
    tokens = [t for p in parts for t in p.tokens]
    weights = [_round(np.atleast_2d(w)) for p in parts for w in p.weights]
    head_names = parts[0].head_names
    _atomic_json(
        directory / "tokens.json",
        {"head_names": head_names, "tokens": tokens, "weights": weights},
    )
    return {"type": "tokens", "head_names": head_names}


def _write_features(directory: Path, parts: list[FeatureWeights]) -> dict[str, Any]:
    rows = [np.asarray(w, dtype=np.float32) for p in parts for w in p.weights]
    names = parts[0].feature_names
    if all(r.shape == rows[0].shape for r in rows):
        np.save(directory / "weights.npy", _to_half(np.stack(rows)))
        ragged = False
    else:
        _atomic_json(directory / "weights.json", [r.tolist() for r in rows])
        ragged = True
    return {"type": "features", "feature_names": names, "ragged": ragged}


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text())


def load_explanations(
    directory: str | os.PathLike[str],
) -> tuple[np.ndarray, Explanation] | None:
    """(item positions, explanation) written by :func:`write_explanations`, or None.

    Image maps come back memory-mapped as float16, so opening a run with 10,000 maps reads
    only the rows that are looked at; maps stored as ``low_res`` only are upsampled as each
    row is read.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        return None
    index = np.load(directory / "index.npy")
    kind = manifest["type"]
    if kind == "image":
        low = np.load(directory / "low_res.npy", mmap_mode="r") if manifest.get("low_res") else None
        if manifest.get("upsample"):
            from deepad.receptive_field import UpsampledMaps

            maps: Any = UpsampledMaps(low, manifest["upsample"])
        else:
            maps = np.load(directory / "maps.npy", mmap_mode="r")
        return index, ImageMaps(maps=maps, low_res=low)
    if kind == "tokens":
        data = json.loads((directory / "tokens.json").read_text())
        return index, TokenWeights(
            tokens=data["tokens"],
            weights=[np.asarray(w, dtype=np.float32) for w in data["weights"]],
            head_names=data["head_names"],
        )
    if kind == "features":
        if manifest.get("ragged"):
            rows = json.loads((directory / "weights.json").read_text())
            weights = [np.asarray(r, dtype=np.float32) for r in rows]
        else:
            weights = list(np.load(directory / "weights.npy").astype(np.float32))
        return index, FeatureWeights(weights=weights, feature_names=manifest.get("feature_names"))
    raise ValueError(f"unknown explanation type {kind!r} in {directory}")
