"""The files a source holds: paths, folders, zip archives and browser uploads, read safely.

:func:`collect` turns a :data:`Source` into :class:`Entry` objects (a path and a way to read
its bytes) and the files it skipped, with the reason; the loaders of every kind
(:mod:`deepad.data.ingest`, :mod:`deepad.data.sequences`) and the per-kind readers
(:mod:`deepad.data.images`, :mod:`deepad.data.tables`, :mod:`deepad.data.text`) build on it, so
this module imports none of them. Its rules are listed in :mod:`deepad.data.ingest`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from deepad.data.types import Skipped, printable

#: Largest uncompressed size accepted for one file read from an archive or folder.
MAX_ENTRY_BYTES = 512 * 1024 * 1024
#: Largest number of bytes read from one source's folders and archives together.
MAX_TOTAL_BYTES = 8 * 1024 * 1024 * 1024

_IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
_ARCHIVE_SUFFIXES = {".zip"}


@dataclass(frozen=True)
class Upload:
    """A file received from a browser upload: its file name and its bytes."""

    name: str
    data: bytes = field(repr=False)


#: What the loaders read: a path (file, folder or zip), an upload, or a list of them.
Source = str | os.PathLike[str] | Upload | Sequence[Upload] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class Entry:
    """One file found in a source.

    ``path`` is the POSIX path inside its folder or archive (the bare file name for a file
    given directly); ``direct`` is True for a file given directly (a path to a file or an
    upload) rather than found inside a folder or archive.
    """

    path: str
    read: Callable[[], bytes] = field(repr=False, compare=False)
    direct: bool = False

    @property
    def suffix(self) -> str:
        """The file type's suffix, looking through a ``.gz`` (``a.csv.gz`` gives ``.csv``)."""
        path = PurePosixPath(self.path)
        if path.suffix.lower() == ".gz":
            path = PurePosixPath(path.stem)
        return path.suffix.lower()


@dataclass
class Collected:
    entries: list[Entry]
    skipped: list[Skipped]
    title: str


def is_ignored(path: str) -> bool:
    """Hidden files, macOS resource forks and thumbnail caches: skipped without a note."""
    return any(part.startswith(".") or part in _IGNORED_NAMES for part in _parts(path))


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def _not_utf8(name: str) -> bool:
    """True for a name holding lone surrogates: bytes that were not UTF-8, kept by the OS
    layer (``surrogateescape``) or by a JSON text; such a name cannot be stored."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _special_file(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    for test, what in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "a special file"


def _open_regular(path: Path) -> io.BufferedReader:
    """``path`` opened for reading if it is a regular file; never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        what = _special_file(os.fstat(fd).st_mode)
        if what is not None:
            raise ValueError(f"not a regular file ({what}); not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _unsafe_member(name: str) -> bool:
    normal = name.replace("\\", "/")
    drive = len(normal) >= 2 and normal[1] == ":" and normal[0].isalpha()
    return normal.startswith("/") or drive or ".." in normal.split("/")


@contextlib.contextmanager
def collect(source: Source) -> Iterator[Collected]:
    """The files of ``source``, readable until the context exits (open archives stay open)."""
    with contextlib.ExitStack() as stack:
        collector = _Collector(stack)
        for item in _as_items(source):
            if isinstance(item, Upload):
                collector.add_upload(item)
            else:
                collector.add_path(item)
        yield Collected(collector.entries, collector.skipped, _title(source))


def _as_items(source: Source) -> list[Upload | Path]:
    if isinstance(source, Upload):
        return [source]
    if isinstance(source, str | os.PathLike):
        return [Path(source).expanduser()]
    if isinstance(source, Sequence) and not isinstance(source, bytes | bytearray):
        items = list(source)
        if all(isinstance(s, Upload | str | os.PathLike) for s in items):
            return [s if isinstance(s, Upload) else Path(s).expanduser() for s in items]
    raise TypeError(f"a source is a path, an Upload or a list of them, not {type(source).__name__}")


def _title(source: Source) -> str:
    """A default dataset name: the file or folder name without its suffix."""
    if isinstance(source, Upload):
        return PurePosixPath(source.name.replace("\\", "/")).stem
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        return path.stem if path.is_file() else path.name
    items = list(source)
    if not items:
        return ""
    first = _title(items[0])
    return first if len(items) == 1 else f"{first} (+{len(items) - 1})"


class _Collector:
    """Gathers the entries of one source; every read counts against one byte budget."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.entries: list[Entry] = []
        self.skipped: list[Skipped] = []
        self.budget = MAX_TOTAL_BYTES

    def add_upload(self, upload: Upload) -> None:
        name = upload.name.replace("\\", "/")
        if self._bad_name(name):
            return
        if _unsafe_member(name):
            self.skipped.append(
                Skipped(upload.name, "unsafe file name (absolute or '..'); refused")
            )
            return
        if is_ignored(name):
            return
        name = printable("/".join(_parts(name)))
        if PurePosixPath(name).suffix.lower() in _ARCHIVE_SUFFIXES:
            self.add_zip(io.BytesIO(upload.data), name)
            return
        data = upload.data
        self._add(name, lambda: data, direct=True)

    def add_path(self, path: Path) -> None:
        if path.is_dir():
            self.add_folder(path)
        elif path.is_file():
            if path.suffix.lower() in _ARCHIVE_SUFFIXES:
                self.add_zip(path, path.name)
            else:
                self._add(printable(path.name), self._file_reader(path), direct=True)
        elif path.exists():
            what = _special_file(path.stat().st_mode)
            raise ValueError(f"{printable(str(path))}: not a regular file ({what}); not read")
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")

    def _bad_name(self, name: str) -> bool:
        """Skip (with a note) a name that cannot be stored."""
        if _not_utf8(name):
            self.skipped.append(Skipped(name, "file name is not valid UTF-8; not read"))
            return True
        return False

    def add_folder(self, root: Path) -> None:
        real_root = os.path.realpath(root)
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not is_ignored(d))
            for link in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                # os.walk does not descend into linked folders; say so instead of hiding them
                rel = (Path(folder) / link).relative_to(root).as_posix()
                self.skipped.append(Skipped(rel, "link to a folder; not followed"))
            for file in sorted(files):
                full = Path(folder) / file
                rel = full.relative_to(root).as_posix()
                if is_ignored(rel) or self._bad_name(rel):
                    continue
                rel = printable(rel)
                reason = _folder_file_problem(full, real_root)
                if reason is not None:
                    self.skipped.append(Skipped(rel, reason))
                elif full.suffix.lower() in _ARCHIVE_SUFFIXES:
                    self.skipped.append(Skipped(rel, "archive inside a folder is not opened"))
                else:
                    self._add(rel, self._file_reader(full))

    def add_zip(self, file: Path | io.BytesIO, label: str) -> None:
        try:
            archive = self.stack.enter_context(zipfile.ZipFile(file))
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            self.skipped.append(Skipped(label, _zip_problem(file, exc)))
            return
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if _unsafe_member(name):
                reason = "unsafe path in archive (absolute or '..'); refused"
                self.skipped.append(Skipped(name, reason))
                continue
            if is_ignored(name) or self._bad_name(name):
                continue
            clean = printable("/".join(_parts(name)))
            if info.flag_bits & 0x1:
                self.skipped.append(Skipped(clean, "encrypted archive entry"))
            elif stat.S_ISLNK(info.external_attr >> 16):
                self.skipped.append(Skipped(clean, "link in an archive; not followed"))
            elif info.file_size > MAX_ENTRY_BYTES:
                limit = _size(MAX_ENTRY_BYTES)
                self.skipped.append(Skipped(clean, f"larger than {limit} uncompressed"))
            elif PurePosixPath(clean).suffix.lower() in _ARCHIVE_SUFFIXES:
                self.skipped.append(Skipped(clean, "archive inside an archive is not opened"))
            else:
                self._add(clean, self._member_reader(archive, info))

    def _add(self, path: str, read: Callable[[], bytes], *, direct: bool = False) -> None:
        if path.lower().endswith(".gz"):
            compressed = read

            def read() -> bytes:
                try:
                    with gzip.GzipFile(fileobj=io.BytesIO(compressed())) as f:
                        data = f.read(MAX_ENTRY_BYTES + 1)
                except (OSError, EOFError, zlib.error) as exc:
                    raise ValueError(f"not a valid gzip file ({exc})") from None
                return self._take(data)

        self.entries.append(Entry(path, read, direct=direct))

    def _take(self, data: bytes) -> bytes:
        if len(data) > MAX_ENTRY_BYTES:
            raise ValueError(f"larger than {_size(MAX_ENTRY_BYTES)}")
        self.budget -= len(data)
        if self.budget < 0:
            raise ValueError(f"over the {_size(MAX_TOTAL_BYTES)} read from this source in total")
        return data

    def _file_reader(self, path: Path) -> Callable[[], bytes]:
        def read() -> bytes:
            with _open_regular(path) as f:
                return self._take(f.read(MAX_ENTRY_BYTES + 1))

        return read

    def _member_reader(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo
    ) -> Callable[[], bytes]:
        def read() -> bytes:
            # The header's size can lie; never trust it for the amount read.
            try:
                with archive.open(info) as f:
                    data = f.read(MAX_ENTRY_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise ValueError(f"damaged archive entry ({exc})") from None
            return self._take(data)

        return read


def _folder_file_problem(path: Path, real_root: str) -> str | None:
    """Why a file found in a folder is not read (None when it is): special files, and
    links that lead out of the folder or nowhere."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                return "link pointing outside the folder; not followed"
            mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return "broken link or unreadable file"
    what = _special_file(mode)
    return None if what is None else f"not a regular file ({what}); not read"


def _zip_problem(file: Path | io.BytesIO, error: BaseException) -> str:
    """Why a zip archive cannot be opened: one that starts like a zip archive but has no
    readable directory at its end is damaged or cut short (e.g. an interrupted download)."""
    try:
        if isinstance(file, io.BytesIO):
            start = file.getvalue()[:4]
        else:
            with open(file, "rb") as handle:
                start = handle.read(4)
    except OSError:
        start = b""
    if start.startswith(b"PK"):
        return (
            "the zip archive is damaged or truncated (its directory at the end is missing "
            "or unreadable); download or zip it again"
        )
    return f"not a readable zip archive ({error})"
