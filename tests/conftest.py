"""Suite-wide settings: nothing a test does lands in the user's deepad home, and torch uses one
thread (the networks in tests are tiny, where thread hand-offs cost more than they save)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_deepad_home(tmp_path_factory):
    previous = os.environ.get("DEEPAD_HOME")
    os.environ["DEEPAD_HOME"] = str(tmp_path_factory.mktemp("deepad-home"))
    yield
    if previous is None:
        os.environ.pop("DEEPAD_HOME", None)
    else:
        os.environ["DEEPAD_HOME"] = previous


@pytest.fixture(autouse=True, scope="session")
def _default_run_store():
    # a developer's shared store must not receive the tests' runs
    previous = os.environ.pop("DEEPAD_STORE_URL", None)
    yield
    if previous is not None:
        os.environ["DEEPAD_STORE_URL"] = previous


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def live_app(tmp_path):
    """The dashboard on a free port with its own deepad home: ``(url, home)``."""
    from tests.browser_support import running_app

    with running_app(tmp_path) as found:
        yield found


@pytest.fixture
def chromium_page(tmp_path):
    """A headless Chromium page; its last state is saved as ``last.png`` in ``tmp_path``."""
    from tests.browser_support import browser_page

    with browser_page(tmp_path / "last.png") as found:
        yield found


@pytest.fixture
def worker_pid():
    """The PID of a live process that passes for a deepad worker (its command line names
    deepad), for tests of what the job runner does with running runs."""
    process = subprocess.Popen([sys.executable, "-c", "import time  # deepad worker\ntime.sleep(600)"])
    yield process.pid
    process.kill()
    process.wait()
