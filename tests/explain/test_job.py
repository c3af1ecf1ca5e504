"""The explain job and the one-item subprocess, on a run trained in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepad.explain.job import run_job
from deepad.service import Service
from tests.pages.helpers import SIZE, finished_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Service, int]:
    svc = Service(tmp_path_factory.mktemp("explain") / "home")
    return svc, finished_run(svc, epochs=1)


def test_one_item_in_a_subprocess(trained):
    svc, run_id = trained
    found = svc.explain_item(run_id, 0)
    assert set(found.maps) == {"default", "lrp", "gradient", "gradient_x_input"}
    assert found.maps["lrp"].shape == (SIZE, SIZE)
    np.testing.assert_allclose(found.relevance_sum + found.absorbed, found.score, rtol=0.01)
    assert found.seconds < 30


def test_the_job_writes_progress_and_a_summary(trained):
    svc, run_id = trained
    assert run_job(svc.store.home, run_id) == 0
    progress = svc.explain_job(run_id)
    assert progress["status"] == "done" and progress["done"] == progress["total"] == 20
    folder = svc.store.artifacts_dir(run_id) / "explainers"
    assert json.loads((folder / "summary.json").read_text())["rows"] == []  # no masks here
    assert svc.explainer_table(run_id) == []


def test_a_cancelled_job_stops(trained, monkeypatch):
    svc, run_id = trained
    folder = svc.store.artifacts_dir(run_id) / "explainers"
    import deepad.explain.job as job

    monkeypatch.setattr(job, "_CHUNK", 4)
    real = job._write_progress

    def cancel_after_first(where, **fields):
        real(where, **fields)
        if fields.get("done", 0) >= 4:
            (folder / "cancel").touch()

    monkeypatch.setattr(job, "_write_progress", cancel_after_first)
    assert run_job(svc.store.home, run_id) == 1
    assert svc.explain_job(run_id)["status"] == "cancelled"
