"""Detector plugins: modules named in ``$DEEPAD_PLUGINS`` that register extra methods.

A plugin module either

- registers its detector class with ``@deepad.models.register``: the class (and whatever its
  module imports, torch included) then loads in every process, the dashboard's too; or
- registers only a catalogue entry, ``deepad.models.register_method(MethodInfo(name=...,
  title=..., Config=..., kinds=..., detector="my_plugin.detector:MyDetector"))``, from a
  module that imports neither torch nor the detector: the dashboard lists the method and
  renders its settings from the entry, and :func:`deepad.models.get_method` imports the
  detector module (which must ``@register`` the class) where a run trains or scores.
"""

from __future__ import annotations

import importlib
import os

PLUGINS_ENV = "DEEPAD_PLUGINS"


def load_plugins() -> None:
    """Import the modules named in ``$DEEPAD_PLUGINS`` (comma-separated) so the detectors
    they register are available, in the app, the CLI and every worker alike."""
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(name)
