"""Small bundled demo sets under ``assets/demo/<name>/``, described by ``demo.json``.

``demo.json`` holds ``title``, ``kind`` (image, text, table or sequence), ``description``,
``attribution``, ``train`` and optionally ``test`` and ``labeled`` (paths relative to the
demo's folder that the loaders of :mod:`deepad.data.ingest` read), plus loader options such
as ``text_column``, ``label_column`` and ``normal_label``, which are passed to the loader of
every part.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepad.data.ingest import load_any
from deepad.data.types import DataKind, Dataset

logger = logging.getLogger(__name__)

_META_KEYS = {"title", "kind", "description", "attribution", "train", "test", "labeled"}
_PARTS = ("train", "test", "labeled")


def demo_root() -> Path:
    """``$DEEPAD_DEMOS`` if set, else the ``assets/demo`` folder of the source tree."""
    chosen = os.environ.get("DEEPAD_DEMOS")
    if chosen:
        return Path(chosen).expanduser()
    return Path(__file__).resolve().parents[2] / "assets" / "demo"


@dataclass(frozen=True)
class DemoInfo:
    """A demo set's description, its folder and the loader options from its ``demo.json``."""

    name: str
    title: str
    kind: DataKind
    description: str
    attribution: str
    folder: Path
    train: str
    test: str | None = None
    labeled: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoSet:
    info: DemoInfo
    train: Dataset
    test: Dataset | None
    labeled: Dataset | None


def _read_info(folder: Path) -> DemoInfo:
    spec = json.loads((folder / "demo.json").read_text("utf-8"))
    missing = [k for k in ("title", "kind", "train") if k not in spec]
    if missing:
        raise ValueError(f"{folder.name}/demo.json: missing {', '.join(missing)}")
    for part in _PARTS:
        value = spec.get(part)
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError(f"{folder.name}/demo.json: {part} must stay inside the demo folder")
    return DemoInfo(
        name=folder.name,
        title=spec["title"],
        kind=DataKind(spec["kind"]),
        description=spec.get("description", ""),
        attribution=spec.get("attribution", ""),
        folder=folder,
        train=spec["train"],
        test=spec.get("test"),
        labeled=spec.get("labeled"),
        options={k: v for k, v in spec.items() if k not in _META_KEYS},
    )


def list_demos(root: Path | None = None) -> list[DemoInfo]:
    """Every demo set with a readable ``demo.json``, sorted by name; broken ones are logged."""
    root = Path(root) if root is not None else demo_root()
    if not root.is_dir():
        return []
    demos = []
    for folder in sorted(p for p in root.iterdir() if (p / "demo.json").is_file()):
        try:
            demos.append(_read_info(folder))
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            logger.warning("demo %s skipped: %s", folder.name, exc)
    return demos


def load_demo(name: str, root: Path | None = None) -> DemoSet:
    """Load the demo set ``name`` (a folder under :func:`demo_root`)."""
    root = Path(root) if root is not None else demo_root()
    folder = root / name
    if "/" in name or "\\" in name or name.startswith(".") or not (folder / "demo.json").is_file():
        raise KeyError(f"no demo set {name!r}")
    info = _read_info(folder)

    def part(path: str, label: str) -> Dataset:
        data = load_any(folder / path, info.kind, **info.options)
        data.name = f"{info.title} ({label})"
        return data

    return DemoSet(
        info=info,
        train=part(info.train, "train"),
        test=part(info.test, "test") if info.test else None,
        labeled=part(info.labeled, "labeled") if info.labeled else None,
    )
