"""Each data type's flow in a real browser, driven the way a person does: upload on the Data
page, train a method briefly, open the run in Inspect and check what it shows.

Images: FCDD on uploaded zips with masks (per-defect table, threshold slider, CSV download);
text: CVDD on a CSV whose columns are picked in the form (highlights on the text as written);
tables: DSEBM on a CSV with a label column (energy against reconstruction error).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
from pathlib import Path

from deepad.data.synthetic import defect_benchmark, write_labeled_layout
from deepad.run_results import ranked
from deepad.service import Service
from tests.browser_support import (
    MARKS,
    STEP_MS,
    choose,
    go_to,
    ingest,
    no_exceptions,
    open_inspect,
    set_number,
    train_and_inspect,
    upload,
    visible_tab,
)

pytestmark = MARKS

TEST_TAB = "Labeled test set (optional)"


def zipped(folder: Path) -> Path:
    return Path(shutil.make_archive(str(folder), "zip", folder))


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}"))
    )
    return box.first.locator('[data-testid="stMetricValue"]').inner_text()


def wait_until(condition, what: str, timeout_s: float = STEP_MS / 1000) -> None:
    """Poll ``condition`` (the page reruns in place, so its text changes without a load)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def drag_slider(page, label: str, share: float) -> None:
    """Drag the thumb of the slider labelled ``label`` to ``share`` of its track."""
    slider = page.locator('[data-testid="stSlider"]').filter(has=page.get_by_text(label)).first
    thumb = slider.get_by_role("slider")
    track = slider.bounding_box()  # the track spans the widget's width
    box = thumb.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + share * track["width"], box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()


def test_runs_inspect_link_opens_the_run_and_it_stays_drawn(live_app, chromium_page):
    """Runs → Inspect on a big run (a slow first paint) with a loss curve on the card: the
    Runs panel refreshes every 2 s, and a refresh landing during the switch used to blank
    Inspect. Each of three tries must show the run and still show it 5 s later."""
    from tests.pages.helpers import large_run

    url, home = live_app
    page = chromium_page
    svc = Service(home)
    run_id = large_run(svc, n=100_000)
    svc.store.add_history(
        run_id, [{"epoch": e, "loss": 1.0 / e, "items_per_second": 900.0} for e in (1, 2, 3)]
    )
    page.goto(url)
    for _ in range(3):
        go_to(page, "Runs")
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        open_inspect(page)
        assert f"run={run_id}" in page.url
        no_exceptions(page)


def test_images_fcdd_in_browser(live_app, chromium_page, tmp_path):
    url, home = live_app
    page = chromium_page
    data = defect_benchmark(
        "fabric", size=32, n_train=20, n_test_normal=6, n_test_per_defect=2, n_labeled_per_defect=0
    )
    train_zip = zipped(write_labeled_layout(data.train, tmp_path / "fabric_train"))
    test_zip = zipped(write_labeled_layout(data.test, tmp_path / "fabric_test"))

    page.goto(url)
    upload(page, "Training set", [train_zip])
    ingest(page, expect="Selected training set:")
    upload(page, TEST_TAB, [test_zip])
    ingest(page, expect="Selected labeled test set:")

    go_to(page, "Train")
    choose(page, "Method", "FCDD")
    set_number(page, "epochs", 1)
    train_and_inspect(page)

    page.get_by_text("Results per defect type").wait_for()
    table = page.locator('[data-testid="stTable"]').first.inner_text()
    for defect in ("scratch", "hole", "stain", "missing", "contamination"):
        assert defect in table

    def point() -> tuple[str, str, str, str]:
        return tuple(metric(page, name) for name in ("flagged", "precision", "recall", "F1"))

    page.get_by_text("precision", exact=True).first.wait_for()
    before = point()
    # stops are score quantiles: 40 % along the track flags about 60 % of the items; where
    # the run's own threshold flags about as many, a second place must differ
    for share in (0.4, 0.9):
        drag_slider(page, "Threshold on the anomaly score", share)
        try:
            wait_until(lambda: point()[1:] != before[1:], "P/R/F1 to follow the slider", 30)
            break
        except AssertionError:
            continue
    # the page reruns once more after the drag settles; read the numbers when they hold
    time.sleep(2)
    after = point()
    assert after[1:] != before[1:]

    # saving the threshold lets the service say which items it flags
    page.get_by_role("button", name="Use this threshold for scoring").click()
    page.get_by_text("used for scoring").first.wait_for()
    svc = Service(home)
    run_id = svc.runs()[0].id
    results = svc.results(run_id)
    expected = [results.names[i] for i in ranked(results, svc.threshold(run_id), "flagged")]
    assert len(expected) == int(metric(page, "flagged").replace(",", ""))
    assert 0 < len(expected) < len(results)

    button = page.get_by_role("button", name=re.compile(r"Flagged items as CSV"))
    assert f"({len(expected)})" in button.inner_text()
    with page.expect_download() as download:
        button.click()
    text = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == expected
    assert all(r["flagged"] in ("1", "True", "true") for r in rows)
    no_exceptions(page)


NORMAL_TEXT = [
    "The Delivery Arrived on Monday, packed well.",
    "Great service: the parcel came early!",
    "Friendly staff; the order was complete.",
    "My package arrived on time, thanks.",
    "Quick shipping, and the box was intact.",
    "The courier was polite and punctual.",
]
ODD_TEXT = [
    "Quantum Chromodynamics describes gluons & quarks.",
    "Volcanic Basalt cools into hexagonal columns!",
]


def test_text_cvdd_in_browser(live_app, chromium_page, tmp_path):
    url, _ = live_app
    page = chromium_page
    train_docs = [NORMAL_TEXT[i % 6] + f" Order {i}." for i in range(30)]
    train_csv = write_csv(
        tmp_path / "reviews_train.csv", ["review", "is_odd"], [[d, 0] for d in train_docs]
    )
    test_docs = [(d, 0) for d in NORMAL_TEXT] + [(d, 1) for d in ODD_TEXT]
    test_csv = write_csv(tmp_path / "reviews_test.csv", ["review", "is_odd"], test_docs)

    page.goto(url)
    tab = visible_tab(page)
    choose(page, "Data type", "text", scope=tab)
    page.get_by_text("A .txt with one document per line").wait_for()
    upload(page, "Training set", [train_csv])
    choose(page, "Text column", "review", scope=visible_tab(page))
    choose(page, "Label column (optional)", "is_odd", scope=visible_tab(page))
    ingest(page, expect="Selected training set:")
    upload(page, TEST_TAB, [test_csv])
    choose(page, "Text column", "review", scope=visible_tab(page))
    choose(page, "Label column (optional)", "is_odd", scope=visible_tab(page))
    ingest(page, expect="Selected labeled test set:")

    go_to(page, "Train")
    choose(page, "Method", "CVDD (context vector data description)")
    set_number(page, "epochs", 1)
    train_and_inspect(page)

    page.get_by_text("CVDD contexts").wait_for()
    documents = page.locator('[data-testid="stHtml"]')
    wait_until(lambda: documents.count() >= len(test_docs), "a document per test item")
    shown = [documents.nth(i).inner_text().strip() for i in range(documents.count())]
    # the text as written: capitals, punctuation and stop words kept around the highlights
    for text, _ in test_docs:
        assert text in shown
    highlighted = page.locator('[data-testid="stHtml"] span[title]')
    words = highlighted.all_inner_texts()
    assert words
    # highlights mark the words as written, not the lower-cased tokens the model saw
    assert any(w[:1].isupper() for w in words)
    no_exceptions(page)


def test_table_dsebm_in_browser(live_app, chromium_page, tmp_path):
    import numpy as np

    url, _ = live_app
    page = chromium_page
    rng = np.random.default_rng(0)
    header = ["x1", "x2", "x3", "x4", "label"]
    train = rng.normal(size=(60, 4))
    test = np.vstack([rng.normal(size=(16, 4)), rng.normal(loc=6.0, size=(4, 4))])
    labels = [0] * 16 + [1] * 4
    train_csv = write_csv(
        tmp_path / "sensors_train.csv", header, [[*map(float, r), 0] for r in train]
    )
    test_csv = write_csv(
        tmp_path / "sensors_test.csv",
        header,
        [[*map(float, r), y] for r, y in zip(test, labels, strict=True)],
    )

    page.goto(url)
    choose(page, "Data type", "table", scope=visible_tab(page))
    page.get_by_text("A .csv of numeric columns").wait_for()
    upload(page, "Training set", [train_csv])
    choose(page, "Label column (optional)", "label", scope=visible_tab(page))
    ingest(page, expect="Selected training set:")
    upload(page, TEST_TAB, [test_csv])
    choose(page, "Label column (optional)", "label", scope=visible_tab(page))
    ingest(page, expect="Selected labeled test set:")

    go_to(page, "Train")
    choose(page, "Method", "DSEBM")
    set_number(page, "epochs", 2)
    train_and_inspect(page)

    page.get_by_text("DSEBM: both decision criteria").wait_for()
    scatter = page.locator('[data-testid="stPlotlyChart"]').filter(
        has=page.locator("text", has_text="reconstruction error")
    )
    scatter.first.wait_for()
    assert scatter.first.locator("text", has_text="energy").count() >= 1
    # the points are drawn with WebGL; the counts beside them cover every item once
    counts = [
        int(metric(page, f"flagged by {name}").replace(",", ""))
        for name in ("energy only", "reconstruction only", "both", "neither")
    ]
    assert sum(counts) == len(labels)
    no_exceptions(page)
