"""The explain job and the one-item subprocess, on a run trained in the test."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from deepad.explain.job import explain_job
from deepad.explain.precompute import precompute, read_item, read_manifest
from deepad.service import Service
from tests.pages.helpers import SIZE, finished_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Service, int]:
    svc = Service(tmp_path_factory.mktemp("explain") / "home")
    return svc, finished_run(svc, epochs=1)


def test_one_item_in_a_subprocess(trained):
    svc, run_id = trained
    found = svc.explain_item(run_id, 0, saved=False)
    assert found.source == "computed"
    assert set(found.maps) == {"default", "lrp", "gradient", "gradient_x_input"}
    assert found.maps["lrp"].shape == (SIZE, SIZE)
    np.testing.assert_allclose(found.relevance_sum + found.absorbed, found.score, rtol=0.01)
    assert found.seconds > 0  # its latency is ``deepad bench explain-latency``'s figure


def test_the_run_precomputed_what_the_subprocess_computes(trained):
    svc, run_id = trained
    manifest = read_manifest(svc.run_folder(run_id).explainer_items)
    assert manifest["complete"] and manifest["count"] == 20
    assert manifest["methods"] == ["lrp", "gradient", "gradient_x_input"]
    for item in (13,):
        saved = svc.explain_item(run_id, item)
        fresh = svc.explain_item(run_id, item, saved=False)
        assert saved.source == "precomputed"
        assert set(saved.maps) == set(fresh.maps)
        for method, values in fresh.maps.items():
            limit = float(np.abs(values).max())
            # float16 storage: about three significant digits of the largest value
            np.testing.assert_allclose(saved.maps[method], values, atol=2e-3 * limit, rtol=2e-3)
        assert saved.score == pytest.approx(fresh.score, rel=1e-6)
        assert saved.relevance_sum == pytest.approx(fresh.relevance_sum, rel=1e-4)
        assert saved.absorbed == pytest.approx(fresh.absorbed, rel=1e-3, abs=1e-6)


def test_past_the_time_budget_only_the_top_scored_items_are_stored(trained, tmp_path):
    svc, run_id = trained
    detector = svc.model(run_id)
    results = svc.results(run_id)
    data = svc.dataset(results.dataset_id)
    folder = tmp_path / "items"
    manifest = precompute(detector, data, folder, results.scores, seconds=0.0, chunk=4)
    assert manifest["count"] == 4 and not manifest["complete"]
    top = np.sort(np.argsort(-results.scores, kind="stable")[:4])
    np.testing.assert_array_equal(np.load(folder / "index.npy"), top)
    assert read_item(folder, int(top[0]))["maps"]["lrp"].shape == (SIZE, SIZE)
    left_out = int(np.argsort(-results.scores, kind="stable")[-1])
    assert read_item(folder, left_out) is None


def queued_explain_job(svc: Service, run_id: int) -> int:
    """An explain job in the run queue, as the Explain page queues it (nothing starts it
    here: DEEPAD_RUNNER=workers is set by the tests below)."""
    return svc.start_explain_job(run_id)


def test_the_job_is_a_row_of_the_run_queue_with_progress_and_a_summary(trained, monkeypatch):
    from deepad.runs.lifecycle import run_job

    svc, run_id = trained
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")  # left waiting, carried out here
    job_id = queued_explain_job(svc, run_id)
    assert svc.queue()[job_id] == 1  # waiting in the one queue, for the same slots
    assert svc.start_explain_job(run_id) == job_id  # a second click queues nothing more
    # beside it, the precompute job the run queued when it ended (carried out by the fixture)
    assert [(j.id, j.kind) for j in svc.jobs(run_id)][0] == (job_id, "explain")
    assert svc.explain_job(run_id)["status"] == "queued"
    record = run_job(svc.store, job_id, explain_job)
    assert record.status == "done" and record.attempts == 1
    progress = svc.explain_job(run_id)
    assert progress["status"] == "done" and progress["done"] == progress["total"] == 20
    folder = svc.run_folder(run_id)
    assert json.loads(folder.explain_summary.read_text())["rows"] == []  # no masks here
    assert not (folder.explainers / "progress.json").exists()  # its state is the row's alone
    assert svc.explainer_table(run_id) == []


def test_a_cancelled_job_stops(trained, monkeypatch):
    from deepad.runs.lifecycle import run_job

    svc, run_id = trained
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    import deepad.explain.job as job

    monkeypatch.setattr(job, "_CHUNK", 4)
    job_id = queued_explain_job(svc, run_id)

    def cancel_after_first(context) -> None:
        real_progress = context.progress

        def progress(done: int, total: int) -> None:
            if done >= 4:
                svc.cancel_explain_job(run_id)  # the page's Cancel: the row's cancel flag
            real_progress(done, total)

        context.progress = progress
        explain_job(context)

    record = run_job(svc.store, job_id, cancel_after_first)
    assert record.status == "cancelled"
    assert svc.explain_job(run_id)["status"] == "cancelled"
    assert 4 <= svc.explain_job(run_id)["done"] < 20


def test_a_cancel_stops_storing_between_chunks(trained, tmp_path):
    svc, run_id = trained
    results = svc.results(run_id)
    data = svc.dataset(results.dataset_id)
    asked = []

    def cancelled_after_one_chunk() -> bool:
        asked.append(True)
        return len(asked) > 1

    manifest = precompute(
        svc.model(run_id), data, tmp_path / "items", results.scores,
        chunk=4, should_stop=cancelled_after_one_chunk,
    )  # fmt: skip
    assert manifest["count"] == 4 and not manifest["complete"]


def _dead_worker_took(svc: Service, job_id: int) -> None:
    """What a worker killed while carrying out ``job_id`` leaves in its row: running, on
    another machine, its heartbeat long silent."""
    assert svc.store.claim(job_id, host="gone", pid=4242, stale_before=0.0)
    svc.store.update(job_id, status="running", heartbeat=1.0, started=1.0, attempts=1)


def test_the_run_queues_its_explanations_as_a_job_of_its_own(trained, monkeypatch):
    from deepad.runs.store import PRECOMPUTE

    svc, run_id = trained
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    queued = [j for j in svc.jobs(run_id) if j.kind == PRECOMPUTE]
    assert len(queued) == 1 and queued[0].status == "done" and queued[0].attempts == 1
    assert queued[0].metrics["count"] == 20 and queued[0].metrics["complete"]
    assert svc.run(run_id).status == "done" and "explain_seconds" not in svc.run(run_id).metrics
    assert svc.explanations_pending(run_id) is None
    # another one waits in the same queue as every job, and is cancelled as every job is
    job_id = svc.store.create_job(PRECOMPUTE, run_id)
    assert svc.queue()[job_id] >= 1
    pending = svc.explanations_pending(run_id)
    assert pending["job"] == str(job_id) and pending["status"] == "queued"
    assert svc.cancel(job_id).status == "cancelled"
    assert svc.explanations_pending(run_id) is None
    # what the finished one stored is still read
    assert svc.explain_item(run_id, 13).source == "precomputed"


def test_a_released_precompute_job_starts_over_and_half_written_items_are_never_read(
    trained, monkeypatch
):
    import shutil

    from deepad.runs.store import PRECOMPUTE
    from deepad.runs.worker import carry_out
    from deepad.tasks import JOB_BODIES

    svc, run_id = trained
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    folder = svc.run_folder(run_id)
    job_id = svc.store.create_job(PRECOMPUTE, run_id)
    _dead_worker_took(svc, job_id)
    # killed while writing: the items in their staging folder, manifest and all, none in place
    shutil.rmtree(folder.explainer_items_partial, ignore_errors=True)
    shutil.copytree(folder.explainer_items, folder.explainer_items_partial)
    shutil.rmtree(folder.explainer_items)
    assert read_item(folder.explainer_items, 13) is None
    assert svc.explanations_pending(run_id)["status"] == "running"
    assert svc.store.release_stale(stale_before=2.0) == [job_id]
    assert svc.explanations_pending(run_id)["status"] == "queued"
    assert read_item(folder.explainer_items, 13) is None  # still nothing that reads as done
    record = carry_out(svc.store, job_id, bodies=JOB_BODIES)
    assert record.status == "done" and record.attempts == 2, record.error
    assert not folder.explainer_items_partial.exists()
    assert read_manifest(folder.explainer_items)["complete"]
    assert svc.explain_item(run_id, 13).source == "precomputed"


def test_a_precompute_job_stopped_half_way_leaves_no_items(trained, tmp_path):
    svc, run_id = trained
    results = svc.results(run_id)
    data = svc.dataset(results.dataset_id)
    final, staging = tmp_path / "items", tmp_path / "items.partial"

    def killed(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as SIGINT / Ray's cancel arrive, between chunks

    with pytest.raises(KeyboardInterrupt):
        precompute(
            svc.model(run_id), data, final, results.scores,
            chunk=4, progress=killed, staging=staging,
        )  # fmt: skip
    assert not final.exists() and not staging.exists()


def test_a_released_score_job_starts_over_and_its_half_written_scores_are_refused(
    trained, monkeypatch
):
    from deepad.runs.worker import carry_out
    from deepad.service import ServiceError
    from deepad.tasks import JOB_BODIES

    svc, run_id = trained
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    dataset_id = svc.results(run_id).dataset_id
    job = svc.start_score_job(run_id, dataset_id)
    _dead_worker_took(svc, int(job))
    scored = svc.run_folder(run_id).score_job(job)
    scored.path.mkdir(parents=True)
    complete = io.BytesIO()
    np.savez(complete, score=np.zeros(20))
    scored.scores.write_bytes(complete.getvalue()[:100])  # cut off as the worker was killed
    scored.scores_partial.write_bytes(b"PK")
    for status in ("running", "queued"):
        if status == "queued":
            assert svc.store.release_stale(stale_before=2.0) == [int(job)]
        assert svc.score_jobs(run_id)[0]["status"] == status
        with pytest.raises(ServiceError, match=f"is {status}"):
            svc.scored_results(run_id, job)
    record = carry_out(svc.store, int(job), bodies=JOB_BODIES)
    assert record.status == "done" and record.attempts == 2, record.error
    assert not scored.scores_partial.exists()
    results, _ = svc.scored_results(run_id, job)
    np.testing.assert_allclose(results.scores, svc.results(run_id).scores, rtol=1e-6)
