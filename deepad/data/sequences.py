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
other column must be numeric; a sequence with a non-numeric or empty cell, or a value that
float32 cannot hold, is not loaded and is listed in ``Dataset.skipped``; so are sequences
whose columns differ from those most sequences have (the first sequence's on a tie).

Sources follow :mod:`deepad.data.ingest` and are read by :func:`deepad.data.sources.collect`, with its rules and
limits (regular files only, unsafe archive entries refused, a byte budget): a path, an
upload (any object with ``name`` and ``data`` bytes, such as ``deepad.data.sources.Upload``)
or a list of uploads.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from deepad.data import text as text_rules
from deepad.data.sources import Upload, collect
from deepad.data.tables import majority_columns
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
    item_columns: list[list[str]] = field(default_factory=list)

    def add(self, name: str, values: np.ndarray, columns: list[str], label: int, cls: str) -> None:
        self.items.append(values)
        self.names.append(name)
        self.labels.append(label)
        self.classes.append(cls)
        self.item_columns.append(columns)

    def keep_majority_columns(self) -> None:
        """Keep the sequences whose columns most sequences have; note the others."""
        self.columns = majority_columns(list(zip(self.names, self.item_columns, strict=True)))
        keep = [i for i, c in enumerate(self.item_columns) if c == self.columns]
        for i, columns in enumerate(self.item_columns):
            if columns != self.columns:
                reason = f"columns {columns} differ from those of most sequences, {self.columns}"
                self.skipped.append(Skipped(self.names[i], reason))
        for attr in ("items", "names", "labels", "classes", "item_columns"):
            values = getattr(self, attr)
            setattr(self, attr, [values[i] for i in keep])


def load_sequences(
    source: Any,
    *,
    id_column: str | None = None,
    label_column: str | None = None,
    name: str = "",
) -> Dataset:
    """Read sequences from CSV files, a folder, a zip archive or uploads (see module doc)."""
    out = _Collected()
    with collect(_as_source(source)) as found:
        out.skipped.extend(found.skipped)
        for entry in found.entries:
            _add_file(out, entry, id_column, label_column)
    out.keep_majority_columns()
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


def _as_source(source: Any) -> Any:
    """Uploads of any class with ``name`` and ``data`` as :class:`~deepad.data.sources.Upload`."""
    if _is_upload(source):
        return Upload(source.name, bytes(source.data))
    if isinstance(source, str | os.PathLike):
        return source
    if isinstance(source, Sequence):
        if not all(_is_upload(item) for item in source):
            raise TypeError("a list source must hold uploads (objects with name and data)")
        return [Upload(item.name, bytes(item.data)) for item in source]
    raise TypeError(f"cannot read sequences from {type(source).__name__}")


def _add_file(out: _Collected, entry: Any, id_column: str | None, label_column: str | None) -> None:
    """The sequences of one CSV entry, or a note in ``out.skipped`` saying why not."""
    path = PurePosixPath(entry.path)
    if path.suffixes[-2:] == [".csv", ".gz"]:
        path = path.with_suffix("")
    if entry.suffix != ".csv":
        out.skipped.append(Skipped(entry.path, "not a CSV file"))
        return
    try:
        header, rows = _read_csv(entry.read())
    except (ValueError, OSError) as error:
        out.skipped.append(Skipped(entry.path, str(error)))
        return
    chosen_id = id_column or (DEFAULT_ID_COLUMN if DEFAULT_ID_COLUMN in header else None)
    if chosen_id is not None and chosen_id not in header:
        out.skipped.append(Skipped(entry.path, f"no column {chosen_id!r}"))
        return
    if label_column is not None and label_column not in header:
        out.skipped.append(Skipped(entry.path, f"no column {label_column!r}"))
        return
    folder_label, folder_class = _label_from_path(path)
    groups = _group(rows, header.index(chosen_id)) if chosen_id else [(path.stem, rows)]
    stem = str(path.with_suffix("")) if chosen_id is None else path.stem
    for group_id, group_rows in groups:
        seq_name = stem if chosen_id is None else f"{stem}/{group_id}"
        labels = (folder_label, folder_class)
        _add_sequence(out, seq_name, header, group_rows, chosen_id, label_column, labels)


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
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
            values = np.array([[float(row[j]) for j in keep] for row in rows], dtype=np.float32)
    except ValueError:
        out.skipped.append(Skipped(seq_name, "a feature cell is empty or not a number"))
        return
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        row, col = (int(v) for v in bad[0])
        reason = (
            f"a feature cell is NaN, infinite or beyond float32's range (column "
            f"{header[keep[col]]!r}, row {row + 1})"
        )
        out.skipped.append(Skipped(seq_name, reason))
        return
    out.add(seq_name, values, [header[j] for j in keep], label, cls)


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
    rows = []
    cells = 0
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            if any(c.strip() for c in row):
                cells += len(row)
                if cells > text_rules.MAX_RECORD_CELLS:
                    raise ValueError(f"more than {text_rules.MAX_RECORD_CELLS:,} cells; not read")
                rows.append(row)
    except csv.Error as exc:
        raise ValueError(f"not a readable CSV file ({exc})") from None
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
