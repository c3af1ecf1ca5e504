"""A store of ingested datasets on disk, addressed by a hash of their content.

Layout under ``<home>/datasets/<id>/`` (never pickle; every array is ``.npy`` read with
``allow_pickle=False``):

- ``manifest.json``: id, name, kind, count, created, source, ``counts`` (normal, anomalous,
  unknown), ``classes`` (name -> count), ``shapes`` (the most common item shapes with counts:
  ``(H, W[, 3])`` images, ``(d,)`` table rows, ``(T, d)`` sequences; none for texts, which
  get ``chars`` min/max), ``skipped`` files with reasons, ``columns``, ``storage``;
- ``names.json``, ``labels.npy`` (int8), ``classes.json`` where present;
- images: ``images.npy`` (one ``uint8`` stack) when all share one shape, else
  ``images/<index>.png``; masks as ``masks/<index>.png`` (0/1) for the images that have one;
- texts: ``texts.jsonl`` (``{"text": ...}`` per line);
- tables: ``table.npy`` (float32) and the columns in the manifest;
- sequences: ``sequences.npy`` (all steps concatenated) and ``lengths.npy``.

The id is the first 16 hex digits of a SHA-256 over the kind, items, names, labels, classes,
masks and columns (not the display name or the skipped list), so adding the same content
twice returns the first record. A dataset is written to a temporary folder and renamed into
place, so readers never see half a dataset and two writers of the same content do not clash;
the temporary folders a killed process left behind are removed by the next ``add`` (the
folder's name holds its writer's process id). The home and its folders are owner-only, and
a failure to write (a full disk, a read-only home) is a :class:`RegistryError` in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset, Skipped
from deepad.errors import DeepadError

FORMAT_VERSION = 1
_ID = re.compile(r"[0-9a-f]{16}")
# .<dataset id>-<writer pid>-<random> (staging) and .deleting-<dataset id>-<pid>
_LEFTOVER = re.compile(r"\.(?:deleting-)?[0-9a-f]{16}-(\d+)(?:-.*)?")


class RegistryError(DeepadError, ValueError):
    """A dataset could not be written to the registry (full disk, read-only home)."""


def home_dir() -> Path:
    """deepad's data folder: ``$DEEPAD_HOME``, default ``~/.deepad``."""
    return Path(os.environ.get("DEEPAD_HOME") or "~/.deepad").expanduser()


@dataclass(frozen=True)
class DatasetRecord:
    """What the registry knows about a stored dataset without loading its items."""

    id: str
    name: str
    kind: DataKind
    count: int
    created: str  # ISO 8601, UTC
    manifest: dict[str, Any]


def content_hash(data: Dataset) -> str:
    """The registry id of ``data``: 16 hex digits of a SHA-256 over its content."""
    digest = hashlib.sha256()

    def put(chunk: bytes) -> None:
        digest.update(len(chunk).to_bytes(8, "little"))
        digest.update(chunk)

    def put_array(array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        put(f"{array.dtype.str}{array.shape}".encode())
        put(array.tobytes())

    kind = DataKind(data.kind)
    put(f"deepad-dataset-{FORMAT_VERSION}:{kind.value}:{len(data)}".encode())
    # Arrays are hashed in their stored dtypes, so a dataset read back hashes the same.
    if kind == DataKind.TEXT:
        for doc in data.items:
            put(doc.encode("utf-8"))
    elif kind == DataKind.TABLE:
        put_array(np.asarray(data.items, np.float32))
    elif kind == DataKind.IMAGE:
        for item in data.items:
            put_array(_uint8_image(item))
    else:
        for item in data.items:
            put_array(np.asarray(item, np.float32))
    put(json.dumps(data.names).encode())
    put(b"-" if data.labels is None else np.asarray(data.labels, np.int8).tobytes())
    put(json.dumps(data.classes).encode())
    put(json.dumps(data.columns).encode())
    if data.masks is not None:
        for mask in data.masks:
            if mask is None:
                put(b"-")
            else:
                put_array(np.asarray(mask, np.uint8))
    return digest.hexdigest()[:16]


def _uint8_image(image: object) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images are stored as uint8, got {array.dtype}")
    return array


class DatasetRegistry:
    """Datasets stored under ``<home>/datasets`` (``home`` defaults to :func:`home_dir`)."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        save_array: Callable[[Path, np.ndarray], None] | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else home_dir()
        self.root = self.home / "datasets"
        # writes one ``.npy`` file; a stand-in injects faults (a full disk) in the
        # reliability bench and the tests
        self.save_array = save_array or save_npy

    def add(self, dataset: Dataset, *, name: str | None = None, source: str = "") -> DatasetRecord:
        """Store ``dataset`` (or find it, when the same content is already stored)."""
        return self.add_or_find(dataset, name=name, source=source)[0]

    def add_or_find(
        self, dataset: Dataset, *, name: str | None = None, source: str = ""
    ) -> tuple[DatasetRecord, bool]:
        """:meth:`add`, and whether the content was stored already (then the record is the
        earlier one's, with its name and skipped files)."""
        dataset_id = content_hash(dataset)
        final = self.root / dataset_id
        if (final / "manifest.json").exists():
            return self.record(dataset_id), True
        try:
            return self._add(dataset, dataset_id, name, source), False
        except OSError as exc:
            raise RegistryError(
                f"{self.root}: could not store the dataset ({exc.strerror or exc})"
            ) from None

    def _add(
        self, dataset: Dataset, dataset_id: str, name: str | None, source: str
    ) -> DatasetRecord:
        final = self.root / dataset_id
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep_leftovers()
        staging = Path(tempfile.mkdtemp(prefix=f".{dataset_id}-{os.getpid()}-", dir=self.root))
        try:
            manifest = _write(dataset, staging, self.save_array)
            manifest.update(
                id=dataset_id,
                name=name or dataset.name or "dataset",
                source=source,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            _write_json(staging / "manifest.json", manifest)
            try:
                staging.rename(final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                # another writer stored the same content first; theirs is identical
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.record(dataset_id)

    def _sweep_leftovers(self, older_than_s: float = 24 * 3600) -> None:
        """Remove staging and deletion folders that a killed process left behind: at once
        when their writer's process is gone, else after ``older_than_s``."""
        now = time.time()
        for folder in self.root.glob(".*"):
            match = _LEFTOVER.fullmatch(folder.name)
            writer_gone = match is not None and not _process_alive(int(match.group(1)))
            try:
                if folder.is_dir() and (writer_gone or now - folder.stat().st_mtime > older_than_s):
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue  # another process removed it first

    def _folder(self, dataset_id: str) -> Path:
        if not _ID.fullmatch(str(dataset_id)):
            raise KeyError(f"not a dataset id: {dataset_id!r}")
        folder = self.root / dataset_id
        if not (folder / "manifest.json").exists():
            raise KeyError(f"no dataset {dataset_id}")
        return folder

    def record(self, dataset_id: str) -> DatasetRecord:
        folder = self._folder(dataset_id)
        return _record(json.loads((folder / "manifest.json").read_text("utf-8")))

    def get(self, dataset_id: str) -> Dataset:
        """The stored dataset, with its name and skipped list."""
        folder = self._folder(dataset_id)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        return _read(folder, manifest)

    def list(self) -> list[DatasetRecord]:
        """All stored datasets, newest first."""
        if not self.root.is_dir():
            return []
        records = []
        for folder in self.root.iterdir():
            path = folder / "manifest.json"
            if _ID.fullmatch(folder.name) and path.exists():
                records.append(_record(json.loads(path.read_text("utf-8"))))
        return sorted(records, key=lambda r: (r.created, r.id), reverse=True)

    def delete(self, dataset_id: str) -> None:
        folder = self._folder(dataset_id)
        # Rename first so a reader never sees a half-deleted folder as a dataset.
        doomed = folder.with_name(f".deleting-{dataset_id}-{os.getpid()}")
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid we can ask about: keep it
    return True


def _record(manifest: dict[str, Any]) -> DatasetRecord:
    return DatasetRecord(
        id=manifest["id"],
        name=manifest["name"],
        kind=DataKind(manifest["kind"]),
        count=int(manifest["count"]),
        created=manifest["created"],
        manifest=manifest,
    )


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as a ``.npy`` file, without pickled objects."""
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def _save_png(path: Path, array: np.ndarray) -> None:
    # Fast compression: storing an upload should take about as long as reading it.
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    image.save(path, format="PNG", compress_level=1)


def _write(
    data: Dataset, folder: Path, save_array: Callable[[Path, np.ndarray], None]
) -> dict[str, Any]:
    kind = DataKind(data.kind)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "kind": kind.value,
        "count": len(data),
        "counts": _label_counts(data),
        "classes": dict(Counter(data.classes)) if data.classes is not None else None,
        "columns": data.columns,
        "skipped": [{"name": s.name, "reason": s.reason} for s in data.skipped],
        "has_labels": data.labels is not None,
        "has_masks": data.has_masks,
    }
    _write_json(folder / "names.json", list(data.names))
    if data.labels is not None:
        save_array(folder / "labels.npy", np.asarray(data.labels, np.int8))
    if data.classes is not None:
        _write_json(folder / "classes.json", list(data.classes))
    if kind == DataKind.IMAGE:
        manifest.update(_write_images(data, folder, save_array))
    elif kind == DataKind.TEXT:
        with (folder / "texts.jsonl").open("w", encoding="utf-8") as f:
            for doc in data.items:
                f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
        lengths = [len(d) for d in data.items] or [0]
        manifest.update(_shape_summary(Counter()), storage="jsonl")
        manifest["chars"] = {"min": min(lengths), "max": max(lengths)}
    elif kind == DataKind.TABLE:
        table = np.asarray(data.items, np.float32)
        save_array(folder / "table.npy", table)
        manifest.update(_shape_summary(Counter({table.shape[1:]: len(table)})), storage="npy")
    else:
        sequences = [np.asarray(s, np.float32) for s in data.items]
        lengths = np.asarray([len(s) for s in sequences], np.int64)
        dims = {s.shape[1:] for s in sequences}
        if len(dims) > 1:
            raise ValueError(f"sequences have different feature shapes: {sorted(dims)}")
        stacked = np.concatenate(sequences) if sequences else np.zeros((0, 1), np.float32)
        save_array(folder / "sequences.npy", stacked)
        save_array(folder / "lengths.npy", lengths)
        manifest.update(_shape_summary(Counter(s.shape for s in sequences)), storage="npy")
        manifest["lengths"] = {
            "min": int(lengths.min(initial=0)),
            "max": int(lengths.max(initial=0)),
        }
    return manifest


def _label_counts(data: Dataset) -> dict[str, int]:
    if data.labels is None:
        return {"normal": 0, "anomalous": 0, "unknown": len(data)}
    labels = np.asarray(data.labels)
    return {
        "normal": int(np.sum(labels == NORMAL)),
        "anomalous": int(np.sum(labels == ANOMALOUS)),
        "unknown": int(np.sum(labels == UNKNOWN)),
    }


def _write_images(
    data: Dataset, folder: Path, save_array: Callable[[Path, np.ndarray], None]
) -> dict[str, Any]:
    arrays = [_uint8_image(im) for im in data.items]
    shapes = Counter(tuple(a.shape) for a in arrays)
    if len(shapes) == 1:
        save_array(folder / "images.npy", np.stack(arrays))
        storage = "stack"
    else:
        (folder / "images").mkdir()
        for i, array in enumerate(arrays):
            _save_png(folder / "images" / f"{i:06d}.png", array)
        storage = "png"
    if data.masks is not None:
        (folder / "masks").mkdir()
        for i, mask in enumerate(data.masks):
            if mask is not None:
                _save_png(folder / "masks" / f"{i:06d}.png", np.asarray(mask, np.uint8))
    return {"storage": storage, "masks_stored": data.masks is not None, **_shape_summary(shapes)}


def _shape_summary(shapes: Counter) -> dict[str, Any]:
    """The 20 most common item shapes with their counts, and how many shapes there are."""
    common = shapes.most_common(20)
    return {
        "shapes": [{"shape": [int(d) for d in shape], "count": n} for shape, n in common],
        "distinct_shapes": len(shapes),
    }


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _load_png(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes()), formats=("PNG",)) as image:
        return np.asarray(image, dtype=np.uint8).copy()


def _read(folder: Path, manifest: dict[str, Any]) -> Dataset:
    kind = DataKind(manifest["kind"])
    count = int(manifest["count"])
    names = json.loads((folder / "names.json").read_text("utf-8"))
    labels = _load_npy(folder / "labels.npy") if (folder / "labels.npy").exists() else None
    classes = (
        json.loads((folder / "classes.json").read_text("utf-8"))
        if (folder / "classes.json").exists()
        else None
    )
    masks = None
    items: Any
    if kind == DataKind.IMAGE:
        if manifest["storage"] == "stack":
            items = list(_load_npy(folder / "images.npy"))
        else:
            items = [_load_png(folder / "images" / f"{i:06d}.png") for i in range(count)]
        if manifest.get("masks_stored"):
            masks = []
            for i in range(count):
                path = folder / "masks" / f"{i:06d}.png"
                masks.append(_load_png(path) if path.exists() else None)
    elif kind == DataKind.TEXT:
        with (folder / "texts.jsonl").open(encoding="utf-8") as f:
            items = [json.loads(line)["text"] for line in f if line.strip()]
    elif kind == DataKind.TABLE:
        items = _load_npy(folder / "table.npy")
    else:
        stacked = _load_npy(folder / "sequences.npy")
        lengths = _load_npy(folder / "lengths.npy")
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        items = [stacked[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
    return Dataset(
        kind=kind,
        items=items,
        names=names,
        labels=labels,
        classes=classes,
        masks=masks,
        columns=manifest.get("columns"),
        skipped=[Skipped(s["name"], s["reason"]) for s in manifest.get("skipped", [])],
        name=manifest["name"],
    )
