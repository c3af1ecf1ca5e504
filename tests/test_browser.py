"""The main path in a real browser: demo data → train the autoencoder → inspect ranked heatmaps.

Drives Debian's Chromium with Playwright against ``streamlit run app.py`` on a free port with
a temporary deepad home (``tests/browser_support.py``).
"""

from __future__ import annotations

import time

from tests.browser_support import (
    MARKS,
    choose,
    go_to,
    no_exceptions,
    set_number,
    train_and_inspect,
)

pytestmark = MARKS


def test_demo_train_inspect_in_browser(live_app, chromium_page, tmp_path):
    url, _ = live_app
    page = chromium_page
    page.goto(url)
    page.get_by_role("button", name="Use this demo set").click()
    page.get_by_text("Demo set selected").wait_for()

    go_to(page, "Train")
    choose(page, "Method", "Autoencoder (ae)")  # by name: the default is method = auto
    set_number(page, "epochs", 3)
    train_and_inspect(page)

    images = page.locator('[data-testid="stImage"] img')
    # the page may still be rerunning (images are swapped in place), so poll
    deadline = time.time() + 120
    while images.count() < 12 and time.time() < deadline:
        page.wait_for_timeout(500)
    shown = images.count()
    assert shown >= 12, f"{shown} images; see {tmp_path / 'last.png'}"
    assert page.get_by_text("flagged (of 200)").count() >= 1
    no_exceptions(page)
