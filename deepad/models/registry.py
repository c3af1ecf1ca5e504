"""The registry of detection methods, which the CLI and the app list and render from."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from deepad.data.types import DataKind

if TYPE_CHECKING:
    from deepad.models.base import Detector

# Modules that register methods when imported; a method folder adds itself here.
METHOD_MODULES = (
    "deepad.models.ae",
    "deepad.models.shallow",
)

_METHODS: dict[str, type[Detector]] = {}
_loaded = False


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available by its ``name``."""
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"method {cls.name!r} is registered twice")
    _METHODS[cls.name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in METHOD_MODULES:
            importlib.import_module(module)
        _loaded = True


def get_method(name: str) -> type[Detector]:
    _load_all()
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise KeyError(f"unknown method {name!r}; known methods: {known}") from None


def list_methods(kind: DataKind | str | None = None) -> list[type[Detector]]:
    """Registered methods, optionally only those that work on ``kind`` data."""
    _load_all()
    methods = sorted(_METHODS.values(), key=lambda c: c.name)
    if kind is None:
        return methods
    kind = DataKind(kind)
    return [m for m in methods if kind in m.kinds]
