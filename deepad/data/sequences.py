"""Loading multivariate sequences (time series) from CSV files.

Two layouts are read:

- **one CSV per sequence** (files, a folder or a zip archive): rows are steps, columns are
  features. Labels come from the folder names as for images: a path part ``normal`` or
  ``good`` means normal; ``anomalous``, ``anomaly``, ``anomalies`` or ``abnormal`` means
  anomalous, with the next folder (if any) as the anomaly class. Elsewhere labels are unknown.
- **one CSV with a sequence-id column** (``id_column``, or a column named ``sequence_id``):
  rows of one id form one sequence, in file order.

``label_column`` (optional) holds a per-sequence label: ``0``/``normal``/``good``/``false`` are
normal, ``1``/``anomalous``/``anomaly``/``abnormal``/``outlier``/``true`` anomalous, an empty
cell or ``-1`` unknown; it must be constant within a sequence. Columns named ``time``,
``timestamp``, ``step`` or ``t`` are taken as the time axis and not used as features. Every
other column must be numeric; a sequence with a non-numeric or empty cell, or whose columns
differ from the first sequence's, is not loaded and is listed in ``Dataset.skipped``.

Sources follow :mod:`deepad.data.ingest`: a path, an upload (any object with ``name`` and
``data`` bytes, such as ``deepad.data.ingest.Upload``) or a list of uploads.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset, Skipped

TIME_COLUMNS = frozenset({"time", "timestamp", "step", "t"})
DEFAULT_ID_COLUMN = "sequence_id"
_NORMAL_DIRS = frozenset({"normal", "good"})
_ANOMALY_DIRS = frozenset({"anomalous", "anomaly", "anomalies", "abnormal"})
_NORMAL_VALUES = frozenset({"0", "0.0", "normal", "good", "false", "no", "inlier"})
_ANOMALY_VALUES = frozenset(
    {"1", "1.0", "anomalous", "anomaly", "abnormal", "outlier", "true", "yes"}
)
_UNKNOWN_VALUES = frozenset({"", "-1", "unknown", "?"})


@dataclass
class _Collected:
    items: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    columns: list[str] | None = None

    def add(self, name: str, values: np.ndarray, columns: list[str], label: int, cls: str) -> None:
        if self.columns is None:
            self.columns = columns
        elif columns != self.columns:
            self.skipped.append(
                Skipped(name, f"columns {columns} differ from the first sequence's {self.columns}")
            )
            return
        self.items.append(values)
        self.names.append(name)
        self.labels.append(label)
        self.classes.append(cls)


def load_sequences(
    source: Any,
    *,
    id_column: str | None = None,
    label_column: str | None = None,
    name: str = "",
) -> Dataset:
    """Read sequences from CSV files, a folder, a zip archive or uploads (see module doc)."""
    out = _Collected()
    for file_name, data in _files(source, out.skipped):
        path = PurePosixPath(file_name)
        if path.suffix.lower() != ".csv":
            out.skipped.append(Skipped(file_name, "not a CSV file"))
            continue
        try:
            header, rows = _read_csv(data)
        except ValueError as error:
            out.skipped.append(Skipped(file_name, str(error)))
            continue
        chosen_id = id_column or (DEFAULT_ID_COLUMN if DEFAULT_ID_COLUMN in header else None)
        if chosen_id is not None and chosen_id not in header:
            out.skipped.append(Skipped(file_name, f"no column {chosen_id!r}"))
            continue
        if label_column is not None and label_column not in header:
            out.skipped.append(Skipped(file_name, f"no column {label_column!r}"))
            continue
        folder_label, folder_class = _label_from_path(path)
        groups = _group(rows, header.index(chosen_id)) if chosen_id else [(path.stem, rows)]
        stem = str(path.with_suffix("")) if chosen_id is None else path.stem
        for group_id, group_rows in groups:
            seq_name = stem if chosen_id is None else f"{stem}/{group_id}"
            labels = (folder_label, folder_class)
            _add_sequence(out, seq_name, header, group_rows, chosen_id, label_column, labels)
    labels = np.asarray(out.labels, dtype=np.int8)
    has_labels = bool(np.any(labels != UNKNOWN))
    return Dataset(
        kind=DataKind.SEQUENCE,
        items=out.items,
        names=out.names,
        labels=labels if has_labels else None,
        classes=out.classes if has_labels else None,
        columns=out.columns,
        skipped=out.skipped,
        name=name or _default_name(source),
    )


def _add_sequence(
    out: _Collected,
    seq_name: str,
    header: list[str],
    rows: list[list[str]],
    id_column: str | None,
    label_column: str | None,
    folder_labels: tuple[int, str],
) -> None:
    if not rows:
        out.skipped.append(Skipped(seq_name, "no rows"))
        return
    label, cls = folder_labels
    if label_column is not None:
        j = header.index(label_column)
        values = {row[j].strip() for row in rows}
        if len(values) > 1:
            out.skipped.append(Skipped(seq_name, f"{label_column!r} changes within the sequence"))
            return
        raw = values.pop()
        parsed = _parse_label(raw)
        if parsed is None:
            out.skipped.append(Skipped(seq_name, f"cannot read label {raw!r}"))
            return
        label = parsed
        cls = {NORMAL: "normal", ANOMALOUS: raw or "anomalous", UNKNOWN: ""}[label]
    dropped = {id_column, label_column}
    keep = [
        j
        for j, col in enumerate(header)
        if col not in dropped and col.strip().lower() not in TIME_COLUMNS
    ]
    if not keep:
        out.skipped.append(Skipped(seq_name, "no feature columns"))
        return
    try:
        values = np.array([[float(row[j]) for j in keep] for row in rows], dtype=np.float32)
    except ValueError:
        out.skipped.append(Skipped(seq_name, "a feature cell is empty or not a number"))
        return
    if not np.isfinite(values).all():
        out.skipped.append(Skipped(seq_name, "a feature cell is NaN or infinite"))
        return
    out.add(seq_name, values, [header[j] for j in keep], label, cls)


def _files(source: Any, skipped: list[Skipped]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file in the source, zip archives opened."""
    if _is_upload(source):
        yield from _expand(source.name, bytes(source.data), skipped)
        return
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in file.relative_to(path).parts):
                    continue
                yield from _expand(file.relative_to(path).as_posix(), file.read_bytes(), skipped)
            return
        if path.is_file():
            yield from _expand(path.name, path.read_bytes(), skipped)
            return
        raise FileNotFoundError(f"{path} does not exist")
    if isinstance(source, Sequence):
        for item in source:
            if not _is_upload(item):
                raise TypeError("a list source must hold uploads (objects with name and data)")
            yield from _expand(item.name, bytes(item.data), skipped)
        return
    raise TypeError(f"cannot read sequences from {type(source).__name__}")


def _expand(name: str, data: bytes, skipped: list[Skipped]) -> Iterator[tuple[str, bytes]]:
    if name.lower().endswith(".zip"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            skipped.append(Skipped(name, "not a valid zip archive"))
            return
        with archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                parts = PurePosixPath(info.filename).parts
                if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue
                yield info.filename, archive.read(info)
        return
    yield name, data


def _is_upload(obj: Any) -> bool:
    return hasattr(obj, "name") and isinstance(getattr(obj, "data", None), bytes | bytearray)


def _read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows; a first row of numbers means there is no header (columns c0, c1...)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        raise ValueError("empty file")
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("rows have different numbers of cells")
    if all(_is_number(c) for c in rows[0]):
        return [f"c{j}" for j in range(width)], rows
    return [c.strip() for c in rows[0]], rows[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _group(rows: list[list[str]], column: int) -> list[tuple[str, list[list[str]]]]:
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[column].strip(), []).append(row)
    return list(groups.items())


def _label_from_path(path: PurePosixPath) -> tuple[int, str]:
    folders = [p.lower() for p in path.parts[:-1]]
    for i, part in enumerate(folders):
        if part in _NORMAL_DIRS:
            return NORMAL, "normal"
        if part in _ANOMALY_DIRS:
            below = path.parts[i + 1 : -1]
            return ANOMALOUS, below[0] if below else "anomalous"
    return UNKNOWN, ""


def _parse_label(raw: str) -> int | None:
    value = raw.strip().lower()
    if value in _NORMAL_VALUES:
        return NORMAL
    if value in _ANOMALY_VALUES:
        return ANOMALOUS
    if value in _UNKNOWN_VALUES:
        return UNKNOWN
    return None


def _default_name(source: Any) -> str:
    if _is_upload(source):
        return PurePosixPath(source.name).stem
    if isinstance(source, str | os.PathLike):
        return Path(source).stem
    return "sequences"
