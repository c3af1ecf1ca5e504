"""Benchmark suites, run by ``deepad bench NAME``.

Each module in this package registers its suites with :func:`suite`; a suite is a function
``(options: BenchOptions) -> None`` that prints its tables and may write results under
``benchmarks/results/``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepad.data.benchmarks import data_root


@dataclass
class BenchOptions:
    data: Path | None = None  # benchmark data root (see deepad.data.benchmarks.data_root)
    classes: list[str] | None = None  # restrict to these classes (names or indices)
    quick: bool = False  # fewer epochs / smaller subsets, for a smoke run
    peers: bool = True  # also run the PyOD peers on the same split (needs deepad[bench])
    device: str = "auto"
    seed: int = 0
    output: Path | None = None  # where to write a JSON of the results
    extra: dict[str, str] = field(default_factory=dict)  # suite-specific --set key=value

    def root(self) -> Path:
        return data_root(self.data)


Suite = Callable[[BenchOptions], None]
_SUITES: dict[str, tuple[Suite, str]] = {}
_NO_DATA: set[str] = set()  # suites that generate their own data
_loaded = False


def suite(name: str, description: str, *, needs_data: bool = True) -> Callable[[Suite], Suite]:
    def register(fn: Suite) -> Suite:
        _SUITES[name] = (fn, description)
        if not needs_data:
            _NO_DATA.add(name)
        return fn

    return register


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


def list_suites() -> dict[str, str]:
    _load_all()
    return {name: desc for name, (_, desc) in sorted(_SUITES.items())}


def needs_data(name: str) -> bool:
    """Whether suite ``name`` reads the benchmark data folder."""
    _load_all()
    return name not in _NO_DATA


def run_suite(name: str, options: BenchOptions) -> None:
    _load_all()
    if name not in _SUITES:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(_SUITES))}")
    from deepad.features.extract import using_disk_cache

    # no backbone features from an earlier run's disk cache: each suite's seconds (and the
    # GPU check's fit times) measure the backbone; patchcore-speed times the cache itself
    with using_disk_cache(None):
        _SUITES[name][0](options)
