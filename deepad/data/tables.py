"""Numeric tables from ``.csv`` / ``.tsv`` / ``.jsonl`` files.

- The first row of a csv file is its header, unless it is all numbers (then the columns are
  named ``column_1``, ``column_2``, ...); the delimiter is ``,``, ``;`` or tab, whichever
  the header holds most of (always tab for ``.tsv``).
- Every column other than ``label_column`` must be numeric. A column holding any value that
  is not a number is **dropped**, with a note in ``skipped`` naming the column and its first
  non-numeric value (ids, timestamps and categories are common in exported tables; a
  categorical feature has to be encoded by the user before it can be used).
- A missing value (empty, ``NaN``, ``NA``, ``null``, ``?``) or an infinite one in a kept
  column is an error naming the file, the column, the row and the line.
- Several files are stacked when their kept columns agree.
- ``label_column`` follows :func:`deepad.data.text.labels_from_values`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from deepad.data.text import RECORD_SUFFIXES, labels_from_values, read_entry, read_records
from deepad.data.types import DataKind, Dataset, Skipped

if TYPE_CHECKING:
    from deepad.data.ingest import Entry

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
    blocks: list[np.ndarray] = []
    names: list[str] = []
    label_values: list[object] = []
    kept_columns: list[str] | None = None
    first_file = ""
    for entry in entries:
        if entry.suffix not in RECORD_SUFFIXES:
            skipped.append(Skipped(entry.path, "not a table (.csv, .tsv or .jsonl)"))
            continue
        columns, rows = read_records(read_entry(entry), entry.path, entry.suffix)
        if label_column is not None and label_column not in columns:
            raise ValueError(
                f"{entry.path}: no label column {label_column!r} (columns: {', '.join(columns)})"
            )
        features: list[str] = []
        arrays: list[np.ndarray] = []
        for at, column in enumerate(columns):
            if column == label_column:
                continue
            values = [row[at] for _, row in rows]
            array, bad, missing = _column(values)
            if array is None:
                reason = f"column {column!r} is not numeric (e.g. {bad!r}); dropped"
                skipped.append(Skipped(f"{entry.path}:{column}", reason))
                continue
            if missing is not None:
                line = rows[missing][0]
                raise ValueError(
                    f"{entry.path}: missing value in column {column!r}, row {missing + 1} "
                    f"(line {line})"
                )
            infinite = np.flatnonzero(~np.isfinite(array))
            if infinite.size:
                row = int(infinite[0])
                raise ValueError(
                    f"{entry.path}: infinite value in column {column!r}, row {row + 1} "
                    f"(line {rows[row][0]})"
                )
            features.append(column)
            arrays.append(array)
        if kept_columns is None:
            kept_columns, first_file = features, entry.path
        elif features != kept_columns:
            raise ValueError(
                f"{entry.path}: numeric columns {features} differ from {first_file}'s "
                f"{kept_columns}"
            )
        if not features:
            raise ValueError(f"{entry.path}: no numeric column")
        blocks.append(np.stack(arrays, axis=1).astype(np.float32))
        names.extend(f"{entry.path}:{line}" for line, _ in rows)
        if label_column is not None:
            at = columns.index(label_column)
            label_values.extend(row[at] for _, row in rows)
    if kept_columns is None:
        raise ValueError("no .csv, .tsv or .jsonl file in this source")
    table = np.concatenate(blocks) if blocks else np.zeros((0, len(kept_columns)), np.float32)
    labels = classes = None
    if label_column is not None:
        labels, classes = labels_from_values(
            label_values, normal_label=normal_label, where=f"{name}: column {label_column!r}"
        )
    return Dataset(
        kind=DataKind.TABLE,
        items=table,
        names=names,
        labels=labels,
        classes=classes,
        columns=kept_columns,
        skipped=skipped,
        name=name,
    )
