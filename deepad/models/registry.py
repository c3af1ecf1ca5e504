"""The registry of detection methods, which the CLI and the app list and render from.

Two tables, so the dashboard never needs torch:

- the **catalogue**: one :class:`MethodInfo` per method (name, title, data kinds, typed
  ``Config``, a one-paragraph summary, and where its detector class lives), declared in each
  method folder's torch-free ``config.py`` as ``METHODS``; listing methods and rendering their
  settings reads only these;
- the **detectors**: the classes themselves, registered with :func:`register` when their
  module is imported, which :func:`get_method` does on first use (workers, the CLI, tests).

A registered detector must agree with its catalogue entry (same ``Config``, title, kinds,
flags); a detector with no entry (a plugin's) gets one made from the class.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deepad.data.types import DataKind

if TYPE_CHECKING:
    from deepad.models.base import Detector
    from deepad.models.config import DetectorConfig


@dataclass(frozen=True)
class MethodInfo:
    """What the app and the CLI know of a method without importing its detector."""

    name: str
    title: str
    Config: type[DetectorConfig]
    kinds: frozenset[DataKind]
    detector: str  # "module:Class", imported by get_method
    summary: str = ""  # what it does and when to choose it, shown on the Train page
    explains: bool = False  # per-item maps or word weights
    uses_labeled: bool = False  # makes use of labeled anomalies in fit
    exports: bool = False  # its folder gives an inference graph: `deepad export` writes ONNX

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(DataKind(k) for k in self.kinds))
        if ":" not in self.detector:
            raise ValueError(f"method {self.name!r}: detector must be 'module:Class'")

    @classmethod
    def of(cls, detector: type[Detector]) -> MethodInfo:
        """The entry of a detector class registered without one (a plugin's)."""
        summary = " ".join((detector.__doc__ or "").strip().split("\n\n")[0].split())
        return cls(
            name=detector.name,
            title=detector.title,
            Config=detector.Config,
            kinds=detector.kinds,
            detector=f"{detector.__module__}:{detector.__qualname__}",
            summary=summary,
            explains=detector.explains,
            uses_labeled=detector.uses_labeled,
            exports=detector.inference_graph.__qualname__ != "Detector.inference_graph",
        )


_CATALOG: dict[str, MethodInfo] = {}
_METHODS: dict[str, type[Detector]] = {}
_catalog_loaded = False


def _load_catalog() -> None:
    """Read ``METHODS`` from ``deepad/models/<folder>/config.py`` of every method folder;
    these modules hold only settings, so nothing here imports torch."""
    global _catalog_loaded
    if _catalog_loaded:
        return
    _catalog_loaded = True
    import deepad.models as models

    for info in sorted(pkgutil.iter_modules(models.__path__), key=lambda i: i.name):
        name = f"deepad.models.{info.name}.config"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            for entry in importlib.import_module(name).METHODS:
                register_method(entry)


def register_method(entry: MethodInfo) -> MethodInfo:
    """Add a catalogue entry: the method is listed (and its settings rendered) from now on;
    its detector module is imported only by :func:`get_method`. A plugin that calls this from
    a module without torch keeps the dashboard free of it."""
    known = _CATALOG.get(entry.name)
    if known is not None and known != entry:
        raise ValueError(f"method {entry.name!r} is in the catalogue twice")
    _CATALOG[entry.name] = entry
    return entry


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available by its ``name``. A built-in detector takes
    its title, Config, kinds and flags from its catalogue entry (its folder's ``config.py``);
    a plugin without an entry declares them on the class and gets an entry from them."""
    _load_catalog()
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"method {cls.name!r} is registered twice")
    entry = _CATALOG.get(cls.name)
    if entry is None:
        register_method(MethodInfo.of(cls))
    else:
        _take_from_entry(entry, cls)
        _check_agrees(entry, cls)
    _METHODS[cls.name] = cls
    return cls


# What a detector with a catalogue entry need not declare again: it is set from the entry.
_FROM_ENTRY = ("title", "Config", "kinds", "explains", "uses_labeled")


def _take_from_entry(entry: MethodInfo, cls: type[Detector]) -> None:
    if entry.detector != f"{cls.__module__}:{cls.__qualname__}":
        return  # not the class the entry names: _check_agrees refuses it
    for field in _FROM_ENTRY:
        if field not in vars(cls):
            setattr(cls, field, getattr(entry, field))


def _check_agrees(entry: MethodInfo, cls: type[Detector]) -> None:
    found = MethodInfo.of(cls)
    differ = [
        field
        for field in ("title", "Config", "kinds", "detector", "explains", "uses_labeled")
        if getattr(found, field) != getattr(entry, field)
    ]
    if differ:
        raise ValueError(
            f"detector {found.detector} disagrees with the catalogue entry of {cls.name!r} "
            f"on {', '.join(differ)}"
        )


def method_info(name: str) -> MethodInfo:
    """The catalogue entry of method ``name``; imports no detector."""
    _load_catalog()
    try:
        return _CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(_CATALOG))
        raise KeyError(f"unknown method {name!r}; known methods: {known}") from None


def catalog(kind: DataKind | str | None = None) -> list[MethodInfo]:
    """Every method's catalogue entry, by name, optionally only those that work on ``kind``."""
    _load_catalog()
    entries = sorted(_CATALOG.values(), key=lambda e: e.name)
    if kind is None:
        return entries
    kind = DataKind(kind)
    return [e for e in entries if kind in e.kinds]


def method_title(name: str) -> str:
    return method_info(name).title


def get_method(name: str) -> type[Detector]:
    """The detector class of method ``name``, importing its module on first use."""
    entry = method_info(name)
    if name not in _METHODS:
        importlib.import_module(entry.detector.partition(":")[0])
        if name not in _METHODS:
            raise ValueError(f"{entry.detector} does not register method {name!r}")
    return _METHODS[name]


def list_methods(kind: DataKind | str | None = None) -> list[type[Detector]]:
    """The detector classes of every method (each imported), optionally only those that work
    on ``kind`` data."""
    return [get_method(e.name) for e in catalog(kind)]
