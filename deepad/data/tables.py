"""Numeric tables from ``.csv`` / ``.tsv`` / ``.jsonl`` files.

- The first row of a csv file is its header, unless it is all numbers (then the columns are
  named ``column_1``, ``column_2``, ...); the delimiter is ``,``, ``;`` or tab, whichever
  the header holds most of (always tab for ``.tsv``).
- Every column other than ``label_column`` must be numeric. A column holding any value that
  is not a number is **dropped**, with a note in ``skipped`` naming the column and its first
  non-numeric value (ids, timestamps and categories are common in exported tables; a
  categorical feature has to be encoded by the user before it can be used).
- A missing value (empty, ``NaN``, ``NA``, ``null``, ``?``), an infinite one, or one beyond
  float32's range (``1e39``, stored as float32) in a kept column is an error naming the
  file, the column, the row and the line; so is a file with a header and no rows.
- Several files are stacked when their kept columns agree; when they differ, the columns of
  most files are kept (the first file's on a tie) and the other files skipped with a note
  naming both column lists. A file that cannot be read is skipped with its reason when several
  files are loaded; when none can be read, the first file's error is raised.
- ``label_column`` follows :func:`deepad.data.text.labels_from_values`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from deepad.data.text import (
    RECORD_SUFFIXES,
    FileErrors,
    labels_from_values,
    read_entry,
    read_records,
)
from deepad.data.types import DataKind, Dataset, Skipped

if TYPE_CHECKING:
    from deepad.data.sources import Entry

_MISSING = {"", "nan", "na", "n/a", "null", "none", "?"}


class _NotNumeric(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


def _number(value: object) -> float | None:
    """A float, None when missing; raises :class:`_NotNumeric` for anything else."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    text = str(value).strip()
    if text.lower() in _MISSING:
        return None
    try:
        number = float(text)
    except ValueError:
        raise _NotNumeric(value) from None
    return None if math.isnan(number) else number


def _column(values: list[object]) -> tuple[np.ndarray | None, object, int | None]:
    """The column as float64, or None and its first non-numeric value; plus first missing row."""
    try:  # fast path: numpy parses numeric strings itself, and None / "nan" become NaN
        fast = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        pass
    else:
        holes = np.flatnonzero(np.isnan(fast))
        return fast, None, int(holes[0]) if holes.size else None
    out = np.empty(len(values), np.float64)
    missing: int | None = None
    for i, value in enumerate(values):
        try:
            number = _number(value)
        except _NotNumeric as exc:
            return None, exc.value, None
        if number is None:
            if missing is None:
                missing = i
            number = math.nan
        out[i] = number
    return out, None, missing


def numeric_columns(columns: list[str], rows: list[tuple[int, list]]) -> list[str]:
    """The columns a table keeps: those whose every value is a number or missing."""
    return [
        column
        for at, column in enumerate(columns)
        if _column([row[at] for _, row in rows])[0] is not None
    ]


@dataclass
class _TableFile:
    path: str
    columns: list[str]
    values: np.ndarray  # float32 (rows, columns)
    names: list[str]
    labels: list[object]


def majority_columns(found: Sequence[tuple[str, list[str]]]) -> list[str] | None:
    """The column list most of the files ``(path, columns)`` share, the first file's group
    on a tie (None when there are no files)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path, columns in found:
        groups.setdefault(tuple(columns), []).append(path)
    if not groups:
        return None
    # max keeps the first of equal counts, and groups are in order of first appearance
    return list(max(groups.items(), key=lambda g: len(g[1]))[0])


def _read_table_file(entry: Entry, label_column: str | None, skipped: list[Skipped]) -> _TableFile:
    """One csv/tsv/jsonl file as a float32 block of its numeric columns."""
    columns, rows = read_records(read_entry(entry), entry.path, entry.suffix, skipped)
    if label_column is not None and label_column not in columns:
        raise ValueError(
            f"{entry.path}: no label column {label_column!r} (columns: {', '.join(columns)})"
        )
    if not rows:
        raise ValueError(f"{entry.path}: a header and no rows below it")
    features: list[str] = []
    arrays: list[np.ndarray] = []
    for at, column in enumerate(columns):
        if column == label_column:
            continue
        array, bad, missing = _column([row[at] for _, row in rows])
        if array is None:
            reason = f"column {column!r} is not numeric (e.g. {bad!r}); dropped"
            skipped.append(Skipped(f"{entry.path}:{column}", reason))
            continue
        if missing is not None:
            raise ValueError(
                f"{entry.path}: missing value in column {column!r}, row {missing + 1} "
                f"(line {rows[missing][0]})"
            )
        _check_finite(array, entry.path, column, rows)
        features.append(column)
        arrays.append(array)
    if not features:
        raise ValueError(f"{entry.path}: no numeric column")
    labels = []
    if label_column is not None:
        at = columns.index(label_column)
        labels = [row[at] for _, row in rows]
    return _TableFile(
        entry.path,
        features,
        np.stack(arrays, axis=1).astype(np.float32),
        [f"{entry.path}:{line}" for line, _ in rows],
        labels,
    )


def _check_finite(array: np.ndarray, path: str, column: str, rows: list) -> None:
    """Infinite values, and finite ones that float32 cannot hold, name their place."""
    with np.errstate(over="ignore"):
        narrow = array.astype(np.float32)
    for values, what in (
        (array, "infinite value"),
        (narrow, "value beyond float32's range (about ±3.4e38)"),
    ):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = int(bad[0])
            raise ValueError(
                f"{path}: {what} in column {column!r}, row {row + 1} (line {rows[row][0]})"
            )


def table_from_entries(
    entries: list[Entry],
    skipped: list[Skipped],
    *,
    label_column: str | None,
    normal_label: object | None,
    name: str,
) -> Dataset:
    """One float32 table from the csv/tsv/jsonl entries of a source (see the module notes)."""
    skipped = list(skipped)
    errors = FileErrors(skipped)
    files: list[_TableFile] = []
    seen_table = False
    for entry in entries:
        if entry.suffix not in RECORD_SUFFIXES:
            skipped.append(Skipped(entry.path, "not a table (.csv, .tsv or .jsonl)"))
            continue
        seen_table = True
        with errors.guard(entry.path):
            files.append(_read_table_file(entry, label_column, skipped))
    errors.raise_if_nothing(bool(files))
    if not seen_table:
        raise ValueError("no .csv, .tsv or .jsonl file in this source")
    kept_columns = majority_columns([(f.path, f.columns) for f in files])
    assert kept_columns is not None
    used = [f for f in files if f.columns == kept_columns]
    for f in files:
        if f.columns != kept_columns:
            reason = f"numeric columns {f.columns} differ from those of most files, {kept_columns}"
            skipped.append(Skipped(f.path, reason))
    table = np.concatenate([f.values for f in used])
    labels = classes = None
    if label_column is not None:
        labels, classes = labels_from_values(
            [v for f in used for v in f.labels],
            normal_label=normal_label,
            where=f"{name}: column {label_column!r}",
        )
    return Dataset(
        kind=DataKind.TABLE,
        items=table,
        names=[n for f in used for n in f.names],
        labels=labels,
        classes=classes,
        columns=kept_columns,
        skipped=skipped,
        name=name,
    )
