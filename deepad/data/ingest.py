"""Reading user data into datasets: files, folders, zip archives and browser uploads.

Every loader takes a :data:`Source` and returns a :class:`~deepad.data.types.Dataset` whose
``skipped`` lists every file that was not ingested, with the reason. Bad input files are
skipped and named rather than failing the whole load, so the good files of an upload always
come through; a load raises ``ValueError`` / ``FileNotFoundError`` with the file and place
named only when the request itself is meaningless (a missing path) or when no file could be
read (then with the first file's reason: text that is not UTF-8, a table with a missing
value, an unknown column...).

Rules shared by all loaders:

- hidden files and folders (names starting with ``.``), ``__MACOSX`` and the thumbnail
  caches ``Thumbs.db`` / ``desktop.ini`` are ignored without a note;
- zip entries with an absolute path, a drive letter or a ``..`` component are refused
  (skipped with a reason), as are encrypted entries and entries larger than
  :data:`~deepad.data.sources.MAX_ENTRY_BYTES` uncompressed; once :data:`~deepad.data.sources.MAX_TOTAL_BYTES` have been read from a
  source's files, the remaining ones are skipped, so a small archive cannot expand without
  bound (decoded pixels and text have their own limits, in :mod:`deepad.data.images` and
  :mod:`deepad.data.text`);
- a zip archive is opened when it is the source itself or one of the uploads; an archive
  found inside a folder or inside another archive is skipped with a reason, so one upload
  can never unpack into an unbounded tree;
- only regular files are read: FIFOs, sockets and devices are skipped with a reason (so
  none can block a load), and a symbolic link is followed only when it stays inside the
  folder given;
- an entry whose name is not valid UTF-8 is skipped with a reason; control characters in
  names are escaped (see :func:`deepad.data.types.printable`);
- a file ending in ``.gz`` is decompressed (``table.csv.gz`` reads as a csv file);
- item names are the files' paths inside their folder or archive (``normal/001.png``); a
  line or row of a text or table file is named ``<path>:<line>``.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

from deepad.data import images, sequences, tables, text
from deepad.data.sources import Entry, Source, collect
from deepad.data.types import DataKind, Dataset


def load_images(source: Source, *, name: str = "") -> Dataset:
    """Images from files, folders or zip archives, with labels from a labeled layout.

    See :mod:`deepad.data.images` for the layouts, the colour modes and the masks.
    """
    with collect(source) as found:
        return images.images_from_entries(found.entries, found.skipped, name=name or found.title)


def load_texts(
    source: Source,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    normal_label: object | None = None,
    name: str = "",
    name_column: str | None = None,
) -> Dataset:
    """Documents from ``.txt`` / ``.csv`` / ``.jsonl`` files, folders or zip archives
    (``name_column``: the csv/jsonl column that names each document).

    See :mod:`deepad.data.text` for the rules.
    """
    with collect(source) as found:
        return text.texts_from_entries(
            found.entries,
            found.skipped,
            text_column=text_column,
            label_column=label_column,
            normal_label=normal_label,
            name=name or found.title,
            name_column=name_column,
        )


def load_table(
    source: Source,
    *,
    label_column: str | None = None,
    normal_label: object | None = None,
    name: str = "",
) -> Dataset:
    """A numeric table from ``.csv`` / ``.tsv`` / ``.jsonl`` files.

    See :mod:`deepad.data.tables` for the rules.
    """
    with collect(source) as found:
        return tables.table_from_entries(
            found.entries,
            found.skipped,
            label_column=label_column,
            normal_label=normal_label,
            name=name or found.title,
        )


def read_columns(source: Source) -> list[str]:
    """The column names of the first ``.csv`` / ``.tsv`` / ``.jsonl`` file in ``source``."""
    with collect(source) as found:
        for entry in found.entries:
            if entry.suffix in text.RECORD_SUFFIXES:
                return text.read_records(text.read_entry(entry), entry.path, entry.suffix)[0]
    raise ValueError("no .csv, .tsv or .jsonl file in this source")


def load_any(source: Source, kind: DataKind | str, **options: object) -> Dataset:
    """Load ``source`` as data of ``kind``; ``options`` go to that kind's loader."""
    kind = DataKind(kind)
    if kind == DataKind.IMAGE:
        return load_images(source, **options)  # type: ignore[arg-type]
    if kind == DataKind.TEXT:
        return load_texts(source, **options)  # type: ignore[arg-type]
    if kind == DataKind.TABLE:
        return load_table(source, **options)  # type: ignore[arg-type]
    return sequences.load_sequences(source, **options)


class InferredKind(NamedTuple):
    """The kind of data a source holds, as :func:`infer_kind` read it, and why (in words)."""

    kind: DataKind
    reason: str


#: How much of a csv/jsonl file :func:`infer_kind` parses to look at its columns.
INFER_SAMPLE_BYTES = 1024 * 1024
#: A column is text when most of its values have at least this many words.
_TEXT_MIN_WORDS = 3
_SHOWN_COLUMNS = 8


def infer_kind(
    source: Source, *, text_column: str | None = None, id_column: str | None = None
) -> InferredKind:
    """What kind of data ``source`` holds, from its files and, for csv/jsonl, their columns.

    - a ``text_column`` given means text, an ``id_column`` given means sequences;
    - mostly image files: images; mostly ``.txt`` files: text;
    - csv/tsv/jsonl files, by the first one's columns: a ``sequence_id`` column means
      sequences; a column named ``text``, or one whose values are mostly phrases of words,
      means text; otherwise several ``.csv`` files are sequences (one per file) and one
      file is a table of its numeric columns.

    Raises ``ValueError`` when nothing in the source says what it is.
    """
    if text_column is not None:
        return InferredKind(DataKind.TEXT, f"text column {text_column!r}")
    if id_column is not None:
        return InferredKind(DataKind.SEQUENCE, f"sequence-id column {id_column!r}")
    with collect(source) as found:
        image_files = [e for e in found.entries if e.suffix in images.IMAGE_SUFFIXES]
        text_files = [e for e in found.entries if e.suffix == ".txt"]
        record_files = [e for e in found.entries if e.suffix in text.RECORD_SUFFIXES]
        most = max(len(image_files), len(text_files), len(record_files))
        if most == 0:
            raise ValueError("no image, .txt, .csv, .tsv or .jsonl file in this source")
        if len(image_files) == most:
            return InferredKind(DataKind.IMAGE, _count(len(image_files), "image file"))
        if len(text_files) == most:
            if len(text_files) == 1 and text_files[0].direct:
                return InferredKind(DataKind.TEXT, "a .txt file, one document per line")
            files = _count(len(text_files), ".txt file")
            return InferredKind(DataKind.TEXT, f"{files}, one document each")
        return _kind_of_records(record_files)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _kind_of_records(entries: list[Entry]) -> InferredKind:

    first = entries[0]
    columns, rows = _sample_records(first)
    if sequences.DEFAULT_ID_COLUMN in columns:
        return InferredKind(DataKind.SEQUENCE, f"sequence-id column {sequences.DEFAULT_ID_COLUMN!r}")
    wordy = _text_column(columns, rows)
    if wordy is not None:
        return InferredKind(DataKind.TEXT, f"text column {wordy!r}")
    csv_files = sum(e.suffix == ".csv" for e in entries)
    if csv_files > 1:
        return InferredKind(DataKind.SEQUENCE, f"{csv_files} csv files, one sequence each")
    numeric = tables.numeric_columns(columns, rows)
    if not numeric:
        raise ValueError(f"{first.path}: neither a text column nor a numeric column")
    shown = ", ".join(numeric[:_SHOWN_COLUMNS])
    if len(numeric) > _SHOWN_COLUMNS:
        shown += f", … ({len(numeric)} in all)"
    return InferredKind(DataKind.TABLE, f"numeric columns {shown}")


def _sample_records(entry: Entry) -> tuple[list[str], list[tuple[int, list]]]:
    """The columns and the first rows of a csv/tsv/jsonl file (all of it when short)."""
    data = text.read_entry(entry)
    if len(data) > INFER_SAMPLE_BYTES:
        # Cut at a line end (never inside a UTF-8 character); a quoted field that spans
        # the cut fails to parse, and then the whole file is read.
        sample = data[: data.rfind(b"\n", 0, INFER_SAMPLE_BYTES) + 1]
        with contextlib.suppress(ValueError):
            return text.read_records(sample, entry.path, entry.suffix)
    return text.read_records(data, entry.path, entry.suffix)


def _text_column(columns: list[str], rows: list[tuple[int, list]]) -> str | None:
    """A column named ``text``, else the first whose values are mostly phrases of words."""
    if "text" in columns:
        return "text"
    for at, column in enumerate(columns):
        values = [row[at] for _, row in rows]
        phrases = sum(isinstance(v, str) and len(v.split()) >= _TEXT_MIN_WORDS for v in values)
        if values and 2 * phrases > len(values):
            return column
    return None
