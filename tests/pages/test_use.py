"""The Use page: new data scored by a finished run in a background job, browsed like a test
set at the run's saved threshold; the model as a download."""

from __future__ import annotations

import time

import pytest

from deepad.run_results import ranked
from tests.pages.helpers import app, finished_run, image_sets, no_errors, scored_run


def test_use_without_runs_says_so(home):
    at = app("pages/use.py")
    no_errors(at)
    assert "No finished run" in at.info[0].value


def test_use_starts_from_the_best_run(svc):
    first, second = scored_run(svc), scored_run(svc)
    at = app("pages/use.py")
    no_errors(at)
    assert at.selectbox(key="use_run").value == second  # the newest, without a mark
    svc.mark_best(first)
    at = app("pages/use.py")
    assert at.selectbox(key="use_run").value == first
    assert at.selectbox(key="use_run").format_func(first).startswith("★ Run")
    assert "Download the model (zip)" in [b.proto.label for b in at.get("download_button")]


@pytest.mark.slow
def test_new_data_is_scored_in_the_background_and_browsable(svc):
    run_id = finished_run(svc, epochs=1)
    _, new = image_sets(seed=7)
    new_id = svc.registry.add(new, name="new photos").id
    at = app("pages/use.py")
    at.radio(key="use_source").set_value("Saved dataset").run()
    at.selectbox(key="selected_new_saved").set_value(new_id).run()
    at.button(key="selected_new_use_saved").click().run()
    no_errors(at)
    deadline = time.time() + 240
    while time.time() < deadline:
        jobs = svc.score_jobs(run_id)
        if jobs and jobs[0]["status"] not in ("queued", "running"):
            break
        time.sleep(1)
    assert jobs[0]["status"] == "done", jobs[0]
    at.run()
    no_errors(at)
    direct = svc.score_dataset(run_id, new_id)  # what `deepad score` computes
    flagged = next(m.value for m in at.metric if m.label.startswith("flagged"))
    assert flagged == f"{direct.flagged:,}"
    results, _ = svc.scored_results(run_id, jobs[0]["job"])
    assert len(ranked(results, svc.threshold(run_id), "flagged")) == direct.flagged
    assert len(at.image) >= 12  # ranked items with their heatmaps
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("Flagged items as CSV" in label for label in labels), labels
