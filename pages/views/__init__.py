"""Per-method Inspect views; a method without its own module uses the default view."""

from __future__ import annotations

import importlib
from types import ModuleType

from pages.views import default

_HOOKS = (
    "panel",
    "orderings",
    "image_maps",
    "item_map",
    "decorate",
    "item_tokens",
    "item_note",
    "item_details",
    "initial_normalisation",
)


def view_for(method: str) -> ModuleType:
    """The view module of ``method`` (pages/views/<method>.py), defaults filled in."""
    try:
        module = importlib.import_module(f"pages.views.{method}")
    except ModuleNotFoundError:
        return default
    for hook in _HOOKS:
        if not hasattr(module, hook):
            setattr(module, hook, getattr(default, hook))
    return module
