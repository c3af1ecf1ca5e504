"""What the browser tests share: Debian's Chromium, the app on a free port with its own deepad
home, and the few steps every flow takes the way a person does (navigate, upload, train).

Chromium is ``/usr/bin/chromium``, or ``$CHROMIUM_PATH``; the fixtures built on these
helpers live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
# waits are generous: CI machines are small and often shared
STEP_MS = 60_000
TRAIN_MS = 300_000

MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    # a real browser on a busy 2-core machine sometimes loses a race with a rerun (a widget
    # briefly doubled, a page switch painting late); one retry, and a second failure is real
    pytest.mark.flaky(reruns=1),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` on a free port; yields its URL and its deepad home."""
    port = free_port()
    home = tmp_path / "home"
    env = {**os.environ, "DEEPAD_HOME": str(home)}
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true", "--server.port", str(port),
                "--browser.gatherUsageStats", "false",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
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
                pytest.fail("the app did not start: " + log_path.read_text()[-2000:])
            yield url, home
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def browser_page(screenshot: Path):
    """A Chromium page; a full-page screenshot of where it ended is left at ``screenshot``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(STEP_MS)
        try:
            yield page
        finally:
            try:
                page.screenshot(path=str(screenshot), full_page=True)
            finally:
                browser.close()


def go_to(page, name: str) -> None:
    """Click a page in the sidebar."""
    page.locator('[data-testid="stSidebarNavLink"]', has_text=name).click()
    page.locator("h1", has_text=name).first.wait_for()


def choose(page, label: str, option: str, *, scope=None) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    combo = (scope or page).get_by_role("combobox", name=label, exact=True)
    wanted = page.get_by_role("option", name=option, exact=True)
    # a rerun that lands while the list is open closes it again: open it until it stays
    for _ in range(5):
        combo.click()
        try:
            wanted.wait_for(timeout=10_000)
            wanted.click()
            break
        except Exception:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"no option {option!r} in {label!r}")
    wanted.wait_for(state="detached")


def visible_tab(page):
    return page.locator('[role="tabpanel"]:visible')


def upload(page, tab: str, files: list[Path]) -> None:
    """Put ``files`` into the file uploader of the Data page's tab ``tab``."""
    page.get_by_role("tab", name=tab).click()
    panel = visible_tab(page)
    uploader = panel.locator('[data-testid="stFileUploaderDropzoneInput"]')
    # after a rerun (a new data type) the old uploader can linger a moment beside the new one
    deadline = time.time() + STEP_MS / 1000
    while uploader.count() != 1 and time.time() < deadline:
        page.wait_for_timeout(300)
    # a rerun still under way when the files arrive can draw the uploader anew without them:
    # give them again until every file shows in the panel or the step's time is up
    for attempt in range(3):
        uploader.set_input_files([str(f) for f in files])
        try:
            for f in files:
                panel.get_by_text(f.name).first.wait_for(timeout=STEP_MS / 3)
            return
        except Exception:
            if attempt == 2:
                raise


def ingest(page, *, expect: str) -> None:
    visible_tab(page).get_by_role("button", name="Ingest upload").click()
    page.get_by_text(expect).first.wait_for()


def set_number(page, label: str, value: int | float) -> None:
    """Type ``value`` into the number field ``label``. After a rerun the old form can linger
    a moment beside the new one, also between a check and the typing, so a field that turns
    out to be two is tried again until the step's time is up."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.time() + STEP_MS / 1000
    while True:
        field = page.get_by_label(label, exact=True)
        try:
            if field.count() == 1 or time.time() >= deadline:
                field.fill(str(value), timeout=10_000)
                field.press("Tab", timeout=10_000)
                return
        except PlaywrightError:
            if time.time() >= deadline:
                raise
        page.wait_for_timeout(300)


def train_and_inspect(page) -> None:
    """Start the run set up on the Train page, wait for it on Runs and open it in Inspect."""
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started in the background").wait_for()
    go_to(page, "Runs")
    open_inspect(page, timeout=TRAIN_MS)


def open_inspect(page, *, timeout: float = STEP_MS) -> None:
    """Follow the newest run's Inspect link on the Runs page; the Inspect page must draw
    and stay drawn while the Runs panel's 2 s refresh would have fired."""
    link = page.locator('[data-testid="stMain"] [data-testid="stPageLink-NavLink"]').filter(
        has_text="Inspect"
    )
    link.first.wait_for(timeout=timeout)
    link.first.click()
    heading = page.get_by_text("Items by anomaly score")
    heading.wait_for()
    page.wait_for_timeout(5000)  # two refresh periods of the Runs panel
    assert heading.is_visible(), "the Inspect page went blank after the switch from Runs"


def no_exceptions(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
