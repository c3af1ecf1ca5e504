"""The method catalogue (each method folder's torch-free ``config.py``) and the detector
classes it points to tell the same story."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import deepad.models as models
from deepad.data.types import DataKind
from deepad.models import registry
from deepad.models.base import Detector
from deepad.models.config import DetectorConfig
from deepad.models.registry import MethodInfo, catalog, get_method, method_info, register


def _declared() -> dict[str, MethodInfo]:
    """Every entry the method folders declare in their ``config.py``."""
    found = {}
    for info in pkgutil.iter_modules(models.__path__):
        if info.ispkg:
            for entry in importlib.import_module(f"deepad.models.{info.name}.config").METHODS:
                found[entry.name] = entry
    return found


def test_every_method_folder_declares_its_methods_in_a_config_module():
    folders = [i.name for i in pkgutil.iter_modules(models.__path__) if i.ispkg]
    assert {"ae", "fcdd", "deepsvdd", "shallow", "textbank"} <= set(folders)
    for folder in folders:
        module = importlib.import_module(f"deepad.models.{folder}.config")
        assert module.METHODS, folder
        assert all(e.detector.startswith(f"deepad.models.{folder}.") for e in module.METHODS)


def test_the_catalogue_holds_every_registered_detector_and_each_agrees_with_its_entry():
    # import every module under deepad.models: a detector registered anywhere must have been
    # declared in its folder's config.py (else the dashboard would not list it)
    for info in pkgutil.walk_packages(models.__path__, prefix="deepad.models."):
        importlib.import_module(info.name)
    built_in = {n for n, c in registry._METHODS.items() if c.__module__.startswith("deepad.")}
    assert built_in == set(_declared())
    for name, entry in _declared().items():
        cls = get_method(name)
        assert (cls.name, cls.title, cls.Config, cls.kinds) == (
            entry.name,
            entry.title,
            entry.Config,
            entry.kinds,
        )
        assert (cls.explains, cls.uses_labeled) == (entry.explains, entry.uses_labeled)
        assert issubclass(entry.Config, DetectorConfig)
        assert entry.summary and "\n" not in entry.summary
        # the Train page's one line is the first paragraph of the detector's docstring
        first_paragraph = " ".join(inspect.cleandoc(cls.__doc__).split("\n\n")[0].split())
        assert entry.summary == first_paragraph, name
        assert method_info(name) is entry


def test_catalogue_filters_by_kind():
    text = {e.name for e in catalog("text")}
    assert {"cvdd", "embedding_ocsvm", "text_knn", "token_bank"} <= text
    assert "fcdd" not in text
    assert all(DataKind.SEQUENCE in e.kinds for e in catalog(DataKind.SEQUENCE))
    assert [e.name for e in catalog()] == sorted(e.name for e in catalog())


def test_a_detector_that_disagrees_with_its_entry_is_refused(monkeypatch):
    get_method("pca")

    class Impostor(Detector):
        name = "pca"
        title = "Not PCA"
        Config = DetectorConfig
        kinds = frozenset({DataKind.TABLE})

    with pytest.raises(ValueError, match="twice"):
        register(Impostor)
    monkeypatch.setattr(registry, "_METHODS", {})  # as if PCA's module were not loaded yet
    with pytest.raises(ValueError, match="on title, Config, kinds, detector, explains$"):
        register(Impostor)
    assert registry._METHODS == {}


def test_an_unknown_method_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown method 'nope'; known methods: ae, cance"):
        method_info("nope")
    with pytest.raises(KeyError, match="unknown method"):
        get_method("nope")


def test_an_entry_must_say_where_its_detector_is():
    with pytest.raises(ValueError, match="module:Class"):
        MethodInfo("x", "X", DetectorConfig, frozenset({DataKind.TABLE}), detector="x.y")
