"""Package attributes imported on first use, so a method package's ``__init__`` stays free of
torch: importing ``deepad.models.<method>.config`` (the catalogue) must not load the network."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose names in ``exports`` (name ->
    submodule) are imported from that submodule when first read (PEP 562)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        globals_of(package)[name] = value  # later reads skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals_of(package), *exports})

    return __getattr__, __dir__


def globals_of(package: str) -> dict[str, Any]:
    return vars(importlib.import_module(package))
