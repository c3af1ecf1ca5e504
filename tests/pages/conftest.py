"""Every page test gets its own deepad home (``DEEPAD_HOME``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepad.service import Service


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def svc(home) -> Service:
    return Service(home)
