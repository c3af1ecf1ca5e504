"""The upload path end to end: a zip of 50 PNGs to train on, a labeled zip to test on, a
background run, then P/R/F1 that follow the threshold and a CSV of exactly the flagged items."""

import csv
import io
import time

import numpy as np
import pytest

from deepad import metrics
from pages.components.state import INSPECT_RUN, TEST, TRAIN
from pages.components.threshold import quantile_stops
from tests.pages.helpers import app, blob, no_errors, noise, png, zip_of


def metric(at, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def ingest_zip(at, role: str, data: bytes) -> None:
    """Upload ``data`` as ``<role>.zip`` in the Data page's ``role`` tab and ingest it."""
    at.file_uploader(key=f"selected_{role}_files_image_0").set_value(
        (f"{role}.zip", data, "application/zip")
    )
    at.run()
    at.button(key=f"selected_{role}_ingest").click()
    at.run()
    no_errors(at)


@pytest.mark.slow
def test_upload_train_and_threshold(svc):
    rng = np.random.default_rng(3)
    train_zip = zip_of({f"good_{i:02d}.png": png(blob(rng)) for i in range(50)})
    test_zip = zip_of(
        {f"normal/n_{i:02d}.png": png(blob(rng)) for i in range(10)}
        | {f"anomalous/noise/a_{i:02d}.png": png(noise(rng)) for i in range(10)}
    )
    at = app("pages/data.py")
    ingest_zip(at, "train", train_zip)
    assert len(svc.dataset(at.session_state[TRAIN])) == 50

    ingest_zip(at, "test", test_zip)
    test = svc.dataset(at.session_state[TEST])
    assert sorted(test.labels.tolist()) == [0] * 10 + [1] * 10

    at.switch_page("pages/train.py")
    at.run()
    at.selectbox(key="train_method").set_value("ae").run()
    at.number_input(key="cfg_ae_epochs").set_value(3)
    at.number_input(key="cfg_ae_image_size").set_value(16)
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    no_errors(at)
    run_id = at.session_state[INSPECT_RUN]
    deadline = time.time() + 120
    while svc.run(run_id).status in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert svc.run(run_id).status == "done", svc.run(run_id).error

    at.switch_page("pages/inspect.py")
    at.run()
    no_errors(at)
    results = svc.results(run_id)
    seen = set()
    stops = quantile_stops(results.scores)
    for stop in stops[2 : len(stops) - 1 : 6]:
        at.select_slider[0].set_value(stop)
        at.run()
        point = metrics.operating_point(results.labels, results.scores, stop)
        shown = (metric(at, "precision"), metric(at, "recall"), metric(at, "F1"))
        assert shown == (f"{point.precision:.3f}", f"{point.recall:.3f}", f"{point.f1:.3f}")
        assert metric(at, "flagged") == f"{point.flagged:,}"
        seen.add(shown)
    assert len(seen) >= 3  # the numbers really move with the slider

    # the CSV export holds exactly the flagged items, in the order the page lists them
    threshold = svc.threshold(run_id)
    at.radio(key=f"filter_{run_id}").set_value("flagged")
    at.run()
    from deepad.run_results import flagged_csv, ranked

    rows = list(csv.DictReader(io.StringIO(flagged_csv(results, threshold).decode())))
    assert [r["name"] for r in rows] == [
        results.names[i] for i in ranked(results, threshold, "flagged")
    ]
    assert len(rows) == int((results.scores > threshold).sum())
