"""Every page test gets its own deepad home (``DEEPAD_HOME``); ``jobless`` is the service the
app uses with its background jobs replaced (see ``helpers.NoWorkers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepad.service import Service
from pages.components import state
from tests.pages.helpers import NoWorkers


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def svc(home) -> Service:
    return Service(home)


@pytest.fixture
def jobless(home, monkeypatch) -> NoWorkers:
    fake = NoWorkers(home)
    monkeypatch.setattr(state, "_service", lambda _home: fake)
    return fake
