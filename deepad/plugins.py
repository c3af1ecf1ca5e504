"""Detector plugins: modules named in ``$DEEPAD_PLUGINS`` that register extra methods."""

from __future__ import annotations

import importlib
import os

PLUGINS_ENV = "DEEPAD_PLUGINS"


def load_plugins() -> None:
    """Import the modules named in ``$DEEPAD_PLUGINS`` (comma-separated) so the detectors
    they register are available, in the app, the CLI and every worker alike."""
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(name)
