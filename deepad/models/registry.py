"""The registry of detection methods, which the CLI and the app list and render from."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from deepad.data.types import DataKind

if TYPE_CHECKING:
    from deepad.models.base import Detector

_METHODS: dict[str, type[Detector]] = {}
_loaded = False

# The titles of the built-in methods, known without importing their packages (which import
# torch), so the dashboard can name the method of every run it lists; a test checks them
# against the registered classes.
TITLES = {
    "ae": "Autoencoder",
    "deepsad": "Deep SAD",
    "deepsvdd": "Deep SVDD",
    "cvdd": "CVDD (context vector data description)",
    "dsebm": "DSEBM",
    "embedding_knn": "Pretrained embedding kNN",
    "embedding_ocsvm": "OC-SVM on pooled word embeddings",
    "fcdd": "FCDD",
    "hsc": "HSC",
    "iforest": "Isolation forest",
    "kde": "Kernel density (KDE)",
    "ocsvm": "One-class SVM",
    "patchcore": "PatchCore (pretrained memory bank)",
    "pca": "PCA reconstruction",
    "text_knn": "k-NN on document embeddings",
    "token_bank": "Word-state memory bank (anomalous words)",
}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available by its ``name``."""
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"method {cls.name!r} is registered twice")
    _METHODS[cls.name] = cls
    return cls


def _load_all() -> None:
    """Import every method package under ``deepad/models/``; each registers its detectors."""
    global _loaded
    if _loaded:
        return
    import deepad.models as models

    for info in pkgutil.iter_modules(models.__path__):
        if info.ispkg:
            importlib.import_module(f"deepad.models.{info.name}")
    _loaded = True


def get_method(name: str) -> type[Detector]:
    _load_all()
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise KeyError(f"unknown method {name!r}; known methods: {known}") from None


def method_title(name: str) -> str:
    """The title of method ``name``; imports the method packages only for a method that is
    neither registered yet nor built in (a plugin)."""
    if name in _METHODS:
        return _METHODS[name].title
    if name in TITLES:
        return TITLES[name]
    return get_method(name).title


def list_methods(kind: DataKind | str | None = None) -> list[type[Detector]]:
    """Registered methods, optionally only those that work on ``kind`` data."""
    _load_all()
    methods = sorted(_METHODS.values(), key=lambda c: c.name)
    if kind is None:
        return methods
    kind = DataKind(kind)
    return [m for m in methods if kind in m.kinds]
