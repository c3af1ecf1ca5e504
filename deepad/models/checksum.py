"""The checksum of a saved model's files, recorded in the run store when a run saves its
model and checked before the model is used again (no torch: the run store imports this)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from deepad.errors import ModelFileError

MODEL_FILES = ("detector.json", "detector.safetensors")
_BLOCK = 2**20


def open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file: a FIFO, a device or
    a folder in its place is refused at once (opening is non-blocking, so a FIFO with no
    writer cannot stall the caller)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: a folder, not a file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a pipe, device or socket"
        raise ModelFileError(f"{path}: {what}, not a regular file")
    return fd


def check_regular(path: Path) -> None:
    """Raise :class:`ModelFileError` unless ``path`` is a regular file."""
    os.close(open_regular(path))


def model_checksum(folder: str | os.PathLike[str]) -> str:
    """SHA-256 over the model files in ``folder`` (names and contents), as hex."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        path = Path(folder) / name
        digest.update(name.encode() + b"\0")
        fd = open_regular(path)
        with os.fdopen(fd, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def read_model_json(path: Path, limit: int = 256 * 2**20) -> object:
    """The JSON in ``path`` (a regular file of at most ``limit`` bytes); anything that stops
    it being read is a :class:`ModelFileError` naming the file."""
    import json

    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ModelFileError(f"{path}: larger than {limit // 2**20} MiB")
        return json.loads(data.decode("utf-8"))
    except ModelFileError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else _first_line(exc)
        raise ModelFileError(f"{path}: not readable JSON ({reason})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
