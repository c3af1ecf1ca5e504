"""The main path in a real browser: demo data → train the autoencoder → inspect ranked heatmaps.

Drives Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM_PATH``) with Playwright
against ``streamlit run app.py`` on a free port with a temporary deepad home.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# a container without display, GPU or network (see the project's screenshot tool)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "DEEPAD_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true", "--server.port", str(port),
            "--browser.gatherUsageStats", "false",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.terminate()
        pytest.fail("the app did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_demo_train_inspect_in_browser(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(server)
            page.get_by_role("button", name="Use this demo set").click()
            page.get_by_text("Demo set selected").wait_for()

            page.locator('[data-testid="stSidebarNavLink"]', has_text="Train").click()
            epochs = page.get_by_label("epochs", exact=True)
            epochs.fill("3")
            epochs.press("Tab")
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("started in the background").wait_for()

            page.locator('[data-testid="stSidebarNavLink"]', has_text="Runs").click()
            page.get_by_text("AUROC", exact=False).first.wait_for(timeout=180_000)
            page.get_by_role("button", name="Inspect").click()

            page.get_by_text("Items by anomaly score").wait_for()
            images = page.locator('[data-testid="stImage"] img')
            # the page may still be rerunning (images are swapped in place), so poll
            deadline = time.time() + 120
            while images.count() < 12 and time.time() < deadline:
                page.wait_for_timeout(500)
            shown = images.count()
            assert shown >= 12, f"{shown} images; see {tmp_path / 'last.png'}"
            assert page.get_by_text("flagged (of 200)").count() >= 1
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
            browser.close()
