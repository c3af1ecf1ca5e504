"""Loaders for local copies of public benchmark datasets, each with a one-vs-rest builder.

Nothing is downloaded: every loader reads files from a directory the user gives (``--data``
on the command line, or the ``DEEPAD_DATA`` environment variable).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The benchmark data directory: ``path``, else ``$DEEPAD_DATA``, else ``../shared/data``."""
    chosen = path or os.environ.get("DEEPAD_DATA") or Path("..") / "shared" / "data"
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"benchmark data directory {root} does not exist; pass --data or set DEEPAD_DATA"
        )
    return root
