import json

import numpy as np
import pytest
import sqlalchemy as sa

from deepad.models import Detector
from deepad.models.threshold import describe_source
from deepad.runs import workflow
from deepad.runs.artifacts import load_explanations
from deepad.runs.store import (
    CANCELLED,
    DONE,
    FAILED,
    RUNS,
    RunNotFound,
    RunStateError,
    RunStore,
)
from deepad.runs.workflow import execute
from tests.runs.fakes import MemoryRegistry, blob_images, gaussian_table

FAST = {"batch_size": 16, "lr": 0.01, "device": "cpu", "checkpoint_every": 1}


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


@pytest.fixture
def registry():
    reg = MemoryRegistry()
    reg.add(blob_images(48), "train")
    reg.add(blob_images(30, seed=1, anomalies=6), "test")
    reg.add(gaussian_table(120), "table")
    reg.add(gaussian_table(80, seed=1, anomalies=8), "table-test")
    return reg


def test_image_run_records_scores_history_maps_and_metrics(store, registry):
    run_id = store.create_run("tiny", {**FAST, "epochs": 4}, "train", "test")
    phases, reports = [], []
    record = execute(
        store, run_id, registry=registry, progress=reports.append, on_phase=phases.append
    )
    assert record.status == DONE, record.error
    assert record.progress == 1.0 and record.epoch == 4 and record.epochs == 4
    assert phases == ["training", "saving", "scoring", "metrics"]
    assert [r.epoch for r in reports if r.epoch_end] == [1, 2, 3, 4]
    history = store.history(run_id)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert all(h["seconds"] > 0 and h["items_per_second"] > 0 for h in history)

    model = Detector.load(store.folder(run_id).model)
    test = registry.get("test")
    table = store.scores(run_id)
    np.testing.assert_allclose(table.score, model.decision_function(test))
    np.testing.assert_array_equal(table.label, test.labels)
    assert list(table.name) == test.names and list(table["class"]) == test.classes
    assert set(table.components) == {"max"}
    assert record.threshold == pytest.approx(model.threshold_)

    m = record.metrics
    assert m["scored_on"] == "test" and m["items"] == 30 and m["train_items"] == 48
    assert m["auroc"] > 0.9  # the bright squares are obvious
    assert 0.5 < m["pixel_auroc"] <= 1.0
    assert 0.0 <= m["aupro"] <= 1.0  # shown beside it in Inspect
    # each defect type's pixel AUROC is computed once here, for the Inspect page's table
    by_defect = json.loads(store.folder(run_id).defects.read_text())
    assert set(by_defect) <= set(test.classes) and by_defect
    assert {"threshold", "flagged", "auprc", "f1", "fit_seconds", "auroc_max"} <= set(m)
    # where the saved threshold came from, said in words for the pages
    assert m["threshold_from"] == describe_source(model.threshold_source_)
    assert model.threshold_source_["source"] == "held_out"

    index, maps = load_explanations(store.artifacts_dir(run_id) / "explain")
    np.testing.assert_array_equal(index, np.arange(30))
    assert maps.maps.shape == (30, 8, 8) and maps.maps.dtype == np.float16
    assert (store.artifacts_dir(run_id) / "last.safetensors").exists()
    assert f"run {run_id} done" in store.folder(run_id).log.read_text()
    assert store.dataset_summary("test")["count"] == 30


def test_fcdd_run_scores_and_explains_in_one_pass_and_stores_low_res_maps_only(store, registry):
    settings = {"epochs": 1, "batch_size": 16, "width": 0.25, "image_size": 28, "device": "cpu"}
    run_id = store.create_run("fcdd", {**settings, "checkpoint_every": 0}, "train", "test")
    record = execute(store, run_id, registry=registry)
    assert record.status == DONE, record.error
    model = Detector.load(store.folder(run_id).model)
    test = registry.get("test")
    np.testing.assert_allclose(store.scores(run_id).score, model.decision_function(test))
    explain_dir = store.artifacts_dir(run_id) / "explain"
    assert (explain_dir / "low_res.npy").exists() and not (explain_dir / "maps.npy").exists()
    _, loaded = load_explanations(explain_dir)
    assert loaded.maps.shape == (30, 28, 28)
    # the stored maps are the model's own, upsampled from float16 low-resolution maps
    np.testing.assert_allclose(
        loaded.maps[29], model.explain(test.subset([29])).maps[0], rtol=1e-2, atol=1e-3
    )
    assert 0.0 <= record.metrics["pixel_auroc"] <= 1.0


def test_table_run_without_test_set_scores_the_training_set(store, registry):
    run_id = store.create_run("tiny", {**FAST, "epochs": 2}, "table")
    record = execute(store, run_id, registry=registry)
    assert record.status == DONE, record.error
    assert record.metrics["scored_on"] == "train" and "auroc" not in record.metrics
    assert len(store.scores(run_id)) == 120
    index, weights = load_explanations(store.artifacts_dir(run_id) / "explain")
    assert len(weights.weights) == 120 and weights.feature_names == [f"f{j}" for j in range(5)]


def test_a_memory_bank_without_test_set_shows_its_leave_one_out_scores(store, registry):
    # scored with the full model each row finds its own kernel; the threshold was set on
    # leave-one-out scores, so shown with those about `contamination` of the rows are flagged
    run_id = store.create_run("kde", {"contamination": 0.1}, "table")
    record = execute(store, run_id, registry=registry)
    assert record.status == DONE, record.error
    model = Detector.load(store.folder(run_id).model)
    assert model.threshold_source_["source"] == "leave_one_out"
    shown = store.scores(run_id).score
    np.testing.assert_allclose(shown, model.decision_scores_)
    assert np.all(shown > model.decision_function(registry.get("table")))
    assert 0.05 <= np.mean(shown > record.threshold) <= 0.15


def test_patchcore_without_test_set_shows_each_image_without_its_own_patches(store, registry):
    settings = {"image_size": 32, "device": "cpu", "coreset_share": 1.0, "contamination": 0.1}
    run_id = store.create_run("patchcore", settings, "train")
    record = execute(store, run_id, registry=registry)
    assert record.status == DONE, record.error
    model = Detector.load(store.folder(run_id).model)
    train = registry.get("train")
    shown = store.scores(run_id).score
    np.testing.assert_allclose(shown, model.decision_scores_)
    assert 0.05 <= np.mean(shown > record.threshold) <= 0.2
    # every patch is in the bank: with it, an image's own map is about zero (distances of
    # patches to themselves); shown, it is the map of its distances to the other images'
    _, maps = load_explanations(store.artifacts_dir(run_id) / "explain")
    shown_maps, own = maps.maps.astype(np.float32), model.explain(train).maps
    assert np.all(shown_maps >= own - 2e-2)  # float16 storage
    assert shown_maps.mean() > 10 * own.mean()
    # and the map's peak goes with the image's score
    peaks = shown_maps.reshape(len(train), -1).max(axis=1)
    assert np.corrcoef(peaks, shown)[0, 1] > 0.9


def test_failing_run_is_failed_with_a_one_line_reason_and_traceback_in_the_log(store, registry):
    run_id = store.create_run("tiny", {**FAST, "epochs": 4, "fail_at_epoch": 2}, "train")
    record = execute(store, run_id, registry=registry)
    assert record.status == FAILED
    assert record.error == "synthetic failure in epoch 2"
    log_text = store.folder(run_id).log.read_text()
    assert "Traceback" in log_text and "second line" in log_text
    assert record.finished is not None


def test_bad_config_and_unknown_dataset_fail_cleanly(store, registry):
    bad = store.create_run("tiny", {"epochs": 0}, "train")
    assert "epochs must be" in execute(store, bad, registry=registry).error
    missing = store.create_run("tiny", FAST, "nope")
    assert execute(store, missing, registry=registry).error == "dataset nope is not in the registry"
    unknown = store.create_run("no-such-method", {}, "train")
    assert "unknown method" in execute(store, unknown, registry=registry).error


def test_cancel_keeps_a_checkpoint_and_resume_finishes_the_run(store, registry, monkeypatch):
    monkeypatch.setattr(workflow, "CANCEL_POLL_SECONDS", 0.0)
    run_id = store.create_run("tiny", {**FAST, "epochs": 6}, "train", "test")

    def cancel_after_epoch_2(report):
        if report.epoch_end and report.epoch == 2:
            store.request_cancel(run_id)

    record = execute(store, run_id, registry=registry, progress=cancel_after_epoch_2)
    assert record.status == CANCELLED and record.cancel_requested is None
    assert record.epoch in (2, 3)
    assert store.scores(run_id).score.size == 0
    done_before = [h["epoch"] for h in store.history(run_id)]
    assert done_before[:2] == [1, 2]

    epochs_seen = []
    record = execute(
        store,
        run_id,
        resume=True,
        registry=registry,
        progress=lambda r: r.epoch_end and epochs_seen.append(r.epoch),
    )
    assert record.status == DONE, record.error
    assert epochs_seen[0] >= 3  # continued, not restarted
    assert [h["epoch"] for h in store.history(run_id)] == [1, 2, 3, 4, 5, 6]
    assert "resuming run" in store.folder(run_id).log.read_text()


class _RecordedStages(workflow._StageReport):
    seen: list[str] = []

    def __call__(self, what, done, total):
        super().__call__(what, done, total)
        self.seen.append(self.store.get(self.run_id).phase)


def test_preparation_stages_show_as_the_phase_and_training_takes_over(store, registry, monkeypatch):
    monkeypatch.setattr(workflow, "STORE_WRITE_SECONDS", 0.0)
    monkeypatch.setattr(_RecordedStages, "seen", [])
    monkeypatch.setattr(workflow, "_StageReport", _RecordedStages)
    run_id = store.create_run("tiny", {**FAST, "epochs": 2, "prepare_steps": 3}, "train")
    phases_in_training = []
    record = execute(
        store,
        run_id,
        registry=registry,
        progress=lambda r: r.epoch_end and phases_in_training.append(store.get(run_id).phase),
    )
    assert record.status == DONE, record.error
    assert _RecordedStages.seen == ["preparing 1/3", "preparing 2/3", "preparing 3/3"]
    assert phases_in_training[-1] == "training"


def test_stages_move_the_progress_bar_across_their_span_and_never_back(monkeypatch):
    monkeypatch.setattr(workflow, "STORE_WRITE_SECONDS", 0.0)
    written: list[dict] = []

    class Store:
        def update(self, run_id, **fields):
            written.append(fields)

    stages = workflow._StageReport(Store(), 1)
    stages("preparing", 1, 2)  # no span (a network's epochs fill the bar): phase only
    stages.span = (0.0, 0.9)
    for what, done, total in (("extracting", 1, 3), ("extracting", 3, 3), ("coreset", 0, 1)):
        stages(what, done, total)
    assert [w.get("progress") for w in written] == [None, pytest.approx(0.3), 0.9, None]
    assert written[-1]["phase"] == "coreset 0/1"


def test_cancel_during_preparation_stops_before_training(store, registry, monkeypatch):
    monkeypatch.setattr(workflow, "CANCEL_POLL_SECONDS", 0.0)
    run_id = store.create_run("tiny", {**FAST, "epochs": 2, "prepare_steps": 5}, "train")

    class CancelAtStep2(workflow._StageReport):
        def __call__(self, what, done, total):
            super().__call__(what, done, total)
            if done == 2:
                store.request_cancel(run_id)

    monkeypatch.setattr(workflow, "_StageReport", CancelAtStep2)
    record = execute(store, run_id, registry=registry)
    assert record.status == CANCELLED
    assert not store.history(run_id)


def test_resume_without_a_checkpoint_starts_over(store, registry):
    run_id = store.create_run("tiny", {**FAST, "epochs": 2, "fail_at_epoch": 1}, "train")
    assert execute(store, run_id, registry=registry).status == FAILED
    # a failed run resumes with its recorded config; fix it as a user would in the database
    with store._write() as con:
        con.execute(
            sa.update(RUNS).where(RUNS.c.id == run_id),
            {"config": json.dumps({**FAST, "epochs": 2})},
        )
    assert execute(store, run_id, resume=True, registry=registry).status == DONE


def test_finished_run_cannot_be_executed_again(store, registry):
    run_id = store.create_run("tiny", {**FAST, "epochs": 1}, "train")
    assert execute(store, run_id, registry=registry).status == DONE
    with pytest.raises(RunStateError, match="done"):
        execute(store, run_id, registry=registry)
    with pytest.raises(RunStateError):
        execute(store, run_id, resume=True, registry=registry)


def test_deleting_a_cancelling_run_stops_its_worker_and_leaves_no_folder(
    store, registry, monkeypatch
):
    monkeypatch.setattr(workflow, "CANCEL_POLL_SECONDS", 0.0)
    run_id = store.create_run("tiny", {**FAST, "epochs": 5}, "train")

    def delete_after_epoch_1(report):
        if report.epoch_end and report.epoch == 1:
            store.request_cancel(run_id)
            store.delete(run_id)

    with pytest.raises(RunNotFound):
        execute(store, run_id, registry=registry, progress=delete_after_epoch_1)
    assert not store.artifacts_dir(run_id).exists()
    assert store.list_runs() == []
