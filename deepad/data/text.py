"""Text documents from ``.txt``, ``.csv`` and ``.jsonl`` files, and label columns.

- A ``.txt`` file given directly (a path or an upload) holds one document per line; empty
  lines are left out.
- A ``.txt`` file found in a folder or zip archive is one document; such folders may use
  the labeled layout of :mod:`deepad.data.images` (``normal/`` + ``anomalous/<class>/``).
- ``.csv`` / ``.tsv`` / ``.jsonl`` files give one document per row from ``text_column``
  (a csv file whose first row is all numbers has no header; its columns are named
  ``column_1``, ``column_2``, ...)
  (default: a column named ``text``, else the only column); an empty text is skipped with
  a note.
- Files must be UTF-8, with or without a byte-order mark; anything else is a
  :class:`TextEncodingError` naming the file and the byte offset of the first invalid byte.
- A jsonl line that is not a JSON object (broken JSON, an integer of thousands of digits) or
  holds an escaped lone surrogate (``"\\ud800"``, not valid Unicode) is
  skipped with a note.
- Decoded sizes are bounded: a csv/tsv/jsonl file of more than :data:`MAX_RECORD_CELLS`
  cells is not read, nor is a file that would take the documents of one source over
  :data:`MAX_TEXT_CHARS` characters.
- A file that cannot be read is skipped with its reason when several files are loaded
  together; when no file could be read, the first file's error is raised.

Label columns (see :func:`labels_from_values`) hold 0/1, ``normal``/``anomalous``, or
class names with ``normal_label`` saying which value is normal.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from deepad.data.images import detect_layout
from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset, Skipped

if TYPE_CHECKING:
    from deepad.data.sources import Entry

RECORD_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson"})
TEXT_SUFFIXES = RECORD_SUFFIXES | {".txt"}

_NORMAL_VALUES = {"0", "0.0", "normal", "inlier", "good", "false"}
_ANOMALOUS_VALUES = {"1", "1.0", "anomalous", "anomaly", "abnormal", "outlier", "true"}
_UNKNOWN_VALUES = {"", "-1", "-1.0", "unknown", "?"}


#: Most cells (rows times columns) read from one csv/tsv/jsonl file.
MAX_RECORD_CELLS = 20_000_000
#: Most characters of documents one source may give (all its files together).
MAX_TEXT_CHARS = 256 * 1024**2

# Documents in a csv cell can be long; the csv module's default cap is 128 KiB per field.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))


class TextEncodingError(ValueError):
    """A file that is not UTF-8."""


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text without a byte-order mark, or a :class:`TextEncodingError`."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        raise TextEncodingError(
            f"{name}: not UTF-8: invalid byte 0x{data[offset]:02x} at byte offset {offset}"
        ) from exc


def _delimiter(header: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class FileErrors:
    """Per-file failures of a load of several files: each failed file becomes a skipped
    entry, and when no file at all could be read the first failure is raised unchanged."""

    def __init__(self, skipped: list[Skipped]) -> None:
        self.skipped = skipped
        self.first: ValueError | None = None

    @contextlib.contextmanager
    def guard(self, path: str) -> Iterator[None]:
        try:
            yield
        except ValueError as exc:
            if self.first is None:
                self.first = exc
            reason = str(exc)
            if reason.startswith(f"{path}: "):
                reason = reason[len(path) + 2 :]
            self.skipped.append(Skipped(path, reason))

    def raise_if_nothing(self, loaded: bool) -> None:
        if not loaded and self.first is not None:
            raise self.first


def read_records(
    data: bytes, name: str, suffix: str, skipped: list[Skipped] | None = None
) -> tuple[list[str], list[tuple[int, list]]]:
    """Column names and ``(line number, values)`` rows of a csv/tsv/jsonl file.

    csv values are strings; jsonl values are whatever JSON holds (``None`` for a missing key).
    A jsonl line that is not valid Unicode is noted in ``skipped`` (an error without it).
    """
    content = decode_utf8(data, name)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(content, name, skipped)
    first_line = content.split("\n", 1)[0]
    delimiter = _delimiter(first_line, suffix)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    try:
        return _read_csv_rows(reader, name)
    except csv.Error as exc:
        raise ValueError(f"{name}: line {reader.line_num}: {exc}") from None


def _read_csv_rows(reader, name: str) -> tuple[list[str], list[tuple[int, list]]]:
    try:
        first = next(reader)
    except StopIteration:
        raise ValueError(f"{name}: empty file, expected a header row") from None
    rows: list[tuple[int, list]] = []
    if all(_is_number(c) for c in first):
        # A header is never all numbers: this file has none, so name the columns.
        columns = [f"column_{i + 1}" for i in range(len(first))]
        rows.append((reader.line_num, first))
    else:
        columns = [c.strip() for c in first]
        _check_columns(columns, name)
    line = reader.line_num + 1
    most_rows = MAX_RECORD_CELLS // max(1, len(columns))
    for values in reader:
        if not values or (len(values) == 1 and not values[0].strip()):
            line = reader.line_num + 1
            continue
        if len(values) != len(columns):
            raise ValueError(
                f"{name}: line {line} has {len(values)} fields, the header has {len(columns)}"
            )
        if len(rows) >= most_rows:
            raise ValueError(f"{name}: more than {MAX_RECORD_CELLS:,} cells; not read")
        rows.append((line, values))
        line = reader.line_num + 1
    return columns, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_columns(columns: list[str], name: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ValueError(f"{name}: column {column!r} appears twice in the header")
        seen.add(column)


def _read_jsonl(
    content: str, name: str, skipped: list[Skipped] | None
) -> tuple[list[str], list[tuple[int, list]]]:
    objects: list[tuple[int, dict]] = []
    columns: dict[str, None] = {}
    first_bad: tuple[int, str] | None = None
    cells = 0
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        reason = None
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            # JSONDecodeError, and e.g. an integer of more digits than Python converts
            why = (
                exc.msg
                if isinstance(exc, json.JSONDecodeError)
                else "nested too deeply"
                if isinstance(exc, RecursionError)
                else "an integer of more digits than can be read"
                if "digits" in str(exc)
                else first_line(exc)
            )
            reason = f"is not JSON ({why})"
        else:
            if not isinstance(value, dict):
                reason = "is not a JSON object"
            elif "\\ud" in line.lower() and not _valid_unicode(value):
                reason = "holds text that is not valid Unicode (a lone surrogate)"
        if reason is not None:
            # one bad line costs that line, not the file: skipped and named
            first_bad = first_bad or (number, reason)
            if skipped is None:
                raise ValueError(f"{name}: line {number} {reason}")
            skipped.append(Skipped(f"{name}:{number}", f"{reason}; line skipped"))
            continue
        cells += len(value)
        if cells > MAX_RECORD_CELLS:
            raise ValueError(f"{name}: more than {MAX_RECORD_CELLS:,} cells; not read")
        objects.append((number, value))
        columns.update(dict.fromkeys(value))
    if not objects and first_bad is not None:  # every line was skipped: nothing to read
        raise ValueError(f"{name}: no readable line; e.g. line {first_bad[0]} {first_bad[1]}")
    names = list(columns)
    return names, [(n, [obj.get(c) for c in names]) for n, obj in objects]


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _valid_unicode(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def labels_from_values(
    values: Sequence[object], *, normal_label: object | None, where: str
) -> tuple[np.ndarray, list[str] | None]:
    """Labels (0 normal, 1 anomalous, -1 unknown) and class names from a label column.

    With ``normal_label``, values equal to it (compared as text) are normal, empty values
    unknown and every other value anomalous; the values become the class names. Without it,
    values must be 0/1, ``normal``/``anomalous`` (also ``inlier``/``outlier``, ``good``,
    ``anomaly``, ``abnormal``, ``true``/``false``), or -1 / empty / ``unknown`` / ``?`` for
    unknown; anything else is an error that asks for ``normal_label``.
    """
    text = ["" if v is None else str(v).strip() for v in values]
    if normal_label is not None:
        wanted = str(normal_label).strip()
        normal = [_same_value(v, wanted) for v in text]
        if not any(normal):
            seen = ", ".join(repr(v) for v in sorted(set(text))[:8])
            raise ValueError(f"{where}: normal_label {wanted!r} does not occur (values: {seen})")
        labels = [
            NORMAL if is_normal else UNKNOWN if v == "" else ANOMALOUS
            for v, is_normal in zip(text, normal, strict=True)
        ]
        return np.asarray(labels, np.int8), [v or "unknown" for v in text]
    labels = []
    odd: set[str] = set()
    for v in text:
        low = v.lower()
        if low in _NORMAL_VALUES:
            labels.append(NORMAL)
        elif low in _ANOMALOUS_VALUES:
            labels.append(ANOMALOUS)
        elif low in _UNKNOWN_VALUES:
            labels.append(UNKNOWN)
        else:
            odd.add(v)
    if odd:
        shown = ", ".join(repr(v) for v in sorted(odd)[:5])
        raise ValueError(
            f"{where}: labels must be 0/1 or normal/anomalous, found {shown}; "
            "pass normal_label= to say which value is normal"
        )
    return np.asarray(labels, np.int8), None


def read_entry(entry: Entry) -> bytes:
    """The entry's bytes; a failed read names the file."""
    try:
        return entry.read()
    except (ValueError, OSError) as exc:
        raise ValueError(f"{entry.path}: {exc}") from exc


def _same_value(value: str, wanted: str) -> bool:
    """Equal as text, or as numbers (so ``normal_label=0`` matches ``0.0`` in a file)."""
    if value == wanted:
        return True
    try:
        return float(value) == float(wanted)
    except ValueError:
        return False


def _pick_text_column(columns: list[str], text_column: str | None, name: str) -> str:
    if text_column is not None:
        if text_column not in columns:
            raise ValueError(f"{name}: no column {text_column!r} (columns: {', '.join(columns)})")
        return text_column
    if "text" in columns:
        return "text"
    if len(columns) == 1:
        return columns[0]
    raise ValueError(f"{name}: choose a text column from {', '.join(columns)}")


class _Doc(NamedTuple):
    text: str
    name: str
    column_label: object = None  # the raw value of the label column, if any
    layout_label: int | None = None  # from normal/ + anomalous/ folders, if any
    layout_class: str | None = None


def texts_from_entries(
    entries: list[Entry],
    skipped: list[Skipped],
    *,
    text_column: str | None,
    label_column: str | None,
    normal_label: object | None,
    name: str,
    name_column: str | None = None,
) -> Dataset:
    """Documents from the text entries of a source (see the module notes); a csv/jsonl
    ``name_column`` names each document (default: ``file:row``)."""
    skipped = list(skipped)
    docs: list[_Doc] = []
    loose = [e for e in entries if e.suffix == ".txt" and not e.direct]
    placements = dict(
        zip((e.path for e in loose), detect_layout([e.path for e in loose]), strict=True)
    )
    has_label_column = False
    errors = FileErrors(skipped)
    chars_left = MAX_TEXT_CHARS
    for entry in entries:
        if entry.suffix not in TEXT_SUFFIXES:
            skipped.append(Skipped(entry.path, "not a text file (.txt, .csv, .tsv or .jsonl)"))
            continue
        with errors.guard(entry.path):
            found = _docs_of(entry, placements, text_column, label_column, skipped, name_column)
            chars = sum(len(d.text) for d in found)
            if chars > chars_left:
                raise ValueError(
                    f"{entry.path}: its text would take this upload over "
                    f"{MAX_TEXT_CHARS:,} characters; not read"
                )
            chars_left -= chars
            docs.extend(found)
            has_label_column |= label_column is not None and entry.suffix in RECORD_SUFFIXES
    errors.raise_if_nothing(bool(docs))

    where = f"{name}: column {label_column!r}"
    labels, classes = _combine_labels(docs, has_label_column, normal_label, where)
    return Dataset(
        kind=DataKind.TEXT,
        items=[d.text for d in docs],
        names=[d.name for d in docs],
        labels=labels,
        classes=classes,
        skipped=skipped,
        name=name,
    )


def _docs_of(
    entry: Entry,
    placements: dict[str, object],
    text_column: str | None,
    label_column: str | None,
    skipped: list[Skipped],
    name_column: str | None = None,
) -> list[_Doc]:
    """The documents of one text entry (see the module notes)."""
    data = read_entry(entry)
    docs: list[_Doc] = []
    if entry.suffix == ".txt" and entry.direct:
        content = decode_utf8(data, entry.path)
        for number, line in enumerate(content.split("\n"), start=1):
            if line.strip():
                docs.append(_Doc(line.strip(), f"{entry.path}:{number}"))
        return docs
    if entry.suffix == ".txt":
        content = decode_utf8(data, entry.path).strip()
        if not content:
            skipped.append(Skipped(entry.path, "empty text"))
            return docs
        place = placements[entry.path]
        return [_Doc(content, entry.path, None, place.label, place.cls)]  # type: ignore[attr-defined]
    columns, rows = read_records(data, entry.path, entry.suffix, skipped)
    text_at = columns.index(_pick_text_column(columns, text_column, entry.path))
    label_at = None
    if label_column is not None:
        if label_column not in columns:
            raise ValueError(
                f"{entry.path}: no label column {label_column!r} (columns: {', '.join(columns)})"
            )
        label_at = columns.index(label_column)
    name_at = None
    if name_column is not None:
        if name_column not in columns:
            raise ValueError(
                f"{entry.path}: no name column {name_column!r} (columns: {', '.join(columns)})"
            )
        name_at = columns.index(name_column)
    if not rows:
        skipped.append(Skipped(entry.path, "no rows below the header"))
    for number, values in rows:
        value = values[text_at]
        doc = "" if value is None else str(value).strip()
        if not doc:
            skipped.append(Skipped(f"{entry.path}:{number}", "empty text"))
            continue
        label = None if label_at is None else values[label_at]
        given = None if name_at is None or values[name_at] is None else str(values[name_at]).strip()
        docs.append(_Doc(doc, given or f"{entry.path}:{number}", label))
    return docs


def _combine_labels(
    docs: list[_Doc], has_label_column: bool, normal_label: object | None, where: str
) -> tuple[np.ndarray | None, list[str] | None]:
    from_layout = any(d.layout_label is not None for d in docs)
    if not has_label_column and not from_layout:
        return None, None
    labels = np.full(len(docs), UNKNOWN, np.int8)
    classes: list[str] = ["unknown"] * len(docs)
    if has_label_column:
        rows = [i for i, d in enumerate(docs) if d.column_label is not None]
        column_labels, column_classes = labels_from_values(
            [docs[i].column_label for i in rows], normal_label=normal_label, where=where
        )
        labels[rows] = column_labels
        words = {NORMAL: "normal", ANOMALOUS: "anomalous"}
        for k, i in enumerate(rows):
            if column_classes is not None:
                classes[i] = column_classes[k]
            else:
                classes[i] = words.get(int(column_labels[k]), "unknown")
    for i, doc in enumerate(docs):
        if doc.layout_label is not None:
            labels[i] = doc.layout_label
            classes[i] = doc.layout_class or "unknown"
    return labels, classes
