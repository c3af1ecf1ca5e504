"""After training, in a real browser (issue 23): upload → train → mark the best run → score
new data on the Use page → download the model; delete with confirmation and restore; and the
defects a newcomer hit on the way (a demo's test set left selected beside a new training set,
the same archive uploaded twice, the Data page jumping back to its first tab, file chips left
in the uploader after an ingest).

Drives Debian's Chromium with Playwright against ``streamlit run app.py`` (see
``tests/browser_support.py``).
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from deepad.service import Service
from tests.browser_support import (
    MARKS,
    TRAIN_MS,
    choose,
    go_to,
    ingest,
    no_exceptions,
    set_number,
    upload,
    visible_tab,
)
from tests.pages.helpers import blob, noise, png, zip_of

pytestmark = MARKS

TEST_TAB = "Labeled test set (optional)"


def test_after_training_in_browser(live_app, chromium_page, tmp_path):
    url, home = live_app
    page = chromium_page
    rng = np.random.default_rng(0)
    train_zip = tmp_path / "gravel.zip"
    train_zip.write_bytes(zip_of({f"g_{i:02d}.png": png(blob(rng)) for i in range(24)}))
    copy = tmp_path / "gravel (1).zip"  # the same archive added a second time
    shutil.copy(train_zip, copy)
    test_zip = tmp_path / "gravel_test.zip"
    test_zip.write_bytes(
        zip_of(
            {f"normal/n_{i:02d}.png": png(blob(rng)) for i in range(8)}
            | {f"anomalous/noise/a_{i:02d}.png": png(noise(rng)) for i in range(8)}
        )
    )

    page.goto(url)
    page.get_by_role("button", name="Use this demo set").click()
    page.get_by_text("Demo set selected").wait_for()

    # defects 1 and 4: a new training set (the archive twice) after the demo
    visible_tab(page).get_by_text("Choose another training set").click()
    upload(page, "Training set", [train_zip, copy])
    ingest(page, expect="Selected training set:")
    page.get_by_text("were cleared").first.wait_for()  # the demo's test set and anomalies
    panel = visible_tab(page)
    # the skipped-files table (drawn on a canvas; its cells are in the page, hidden)
    panel.get_by_text("same content as gravel.zip").first.wait_for(state="attached")
    assert panel.locator('[data-testid="stMetricValue"]').first.inner_text() == "24"
    assert page.locator('[data-testid="stFileUploaderFile"]').count() == 0  # chips cleared
    upload(page, TEST_TAB, [test_zip])
    ingest(page, expect="Selected labeled test set:")
    tab = page.get_by_role("tab", name=TEST_TAB)
    assert tab.get_attribute("aria-selected") == "true"  # the page kept its tab

    go_to(page, "Train")
    chosen = page.locator('[data-testid="stMain"]').inner_text()
    assert "gravel_test.zip" in chosen and "Fashion" not in chosen
    choose(page, "Method", "Autoencoder (ae)")  # by name: the default is method = auto
    set_number(page, "epochs", 1)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started in the background").wait_for()

    # the best run of its training set
    go_to(page, "Runs")
    page.get_by_role("button", name="☆ Mark best").first.wait_for(timeout=TRAIN_MS)
    page.get_by_role("button", name="☆ Mark best").first.click()
    page.get_by_role("button", name="★ Best").wait_for()
    svc = Service(home)
    run_id = svc.runs()[0].id
    assert list(svc.best_runs().values()) == [run_id]

    # score new data with it, then download the model
    go_to(page, "Use")
    page.get_by_text("best run", exact=True).first.wait_for()  # it starts from the best run
    page.locator('[data-testid="stRadio"]').filter(has_text="Saved dataset").get_by_text(
        "Saved dataset"
    ).click()
    choose(page, "Saved dataset", "gravel_test.zip · image · 16 items")
    page.get_by_role("button", name="Use this dataset").click()
    page.get_by_text(re.compile(r"flagged \(of 16\)")).first.wait_for(timeout=TRAIN_MS)
    expected = svc.score_dataset(run_id, svc.score_jobs(run_id)[0]["dataset"]).flagged
    shown = page.locator('[data-testid="stMetric"]').filter(has_text="flagged (of 16)")
    assert shown.first.locator('[data-testid="stMetricValue"]').inner_text() == str(expected)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the model (zip)").click()
    names = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
    assert any(n.endswith(".safetensors") for n in names), names
    no_exceptions(page)

    # delete asks first, and a deleted run comes back from the trash
    go_to(page, "Runs")
    page.get_by_role("button", name="Delete", exact=True).first.click()
    page.get_by_text(f"Delete run {run_id}?").wait_for()
    page.get_by_role("button", name="Delete run").click()
    page.get_by_text("Deleted runs (1)").click()
    page.get_by_role("button", name="Restore").click()
    page.get_by_role("button", name="★ Best").wait_for()
    assert [r.id for r in svc.runs()] == [run_id]
    no_exceptions(page)
