"""After training: scoring new data with a finished run, the model as a download, the best
run per training set, the trash, retries, and the rules every page shares (which items are
flagged, heatmap file names, messages about uploads)."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest

from deepad import metrics
from deepad.data.types import DataKind, Dataset
from deepad.run_results import flagged_csv, heatmap_file_name, ranked, write_scores_csv
from deepad.service import Service, ServiceError
from tests.pages.helpers import finished_run, image_sets, png, scored_run, zip_of


def test_one_flag_rule_for_counts_csv_and_ranking(tmp_path):
    svc = Service(tmp_path)
    run_id = scored_run(svc)
    results = svc.results(run_id)
    # a preset one float step below the lowest score flags every item, in every place
    lowest = float(results.scores.min())
    threshold = float(np.nextafter(lowest, -np.inf))
    n = len(results)
    assert metrics.flagged(results.scores, threshold).sum() == n
    assert metrics.operating_point(results.labels, results.scores, threshold).flagged == n
    assert len(ranked(results, threshold, "flagged")) == n
    rows = flagged_csv(results, threshold).decode().strip().splitlines()[1:]
    assert len(rows) == n
    # at the lowest score itself that item is not flagged anywhere (strictly above)
    assert len(ranked(results, lowest, "flagged")) == n - 1
    buffer = io.StringIO()
    write_scores_csv(buffer, range(n), results.names, results.scores, lowest)
    assert sum(r.split(",")[3] == "1" for r in buffer.getvalue().splitlines()[1:]) == n - 1


def test_heatmap_file_names_keep_the_item_path():
    assert heatmap_file_name(1, "hole/011.png") == "hole/00001_011.png"
    assert heatmap_file_name(2, "good/011.png") == "good/00002_011.png"
    assert heatmap_file_name(3, "../x y/a.png") == "x_y/00003_a.png"
    assert heatmap_file_name(4, "plain.png") == "00004_plain.png"


def test_the_same_archive_twice_in_one_upload_is_read_once(tmp_path):
    svc = Service(tmp_path)
    rng = np.random.default_rng(0)
    archive = zip_of(
        {f"img_{i}.png": png(rng.integers(0, 255, (8, 8), np.uint8)) for i in range(5)}
    )
    done = svc.ingest([("set.zip", archive), ("copy.zip", archive)], "image")
    assert len(done.dataset) == 5
    assert [(s.name, s.reason) for s in done.dataset.skipped] == [
        ("copy.zip", "same content as set.zip; read once")
    ]


def test_upload_messages_name_the_file_once(tmp_path):
    svc = Service(tmp_path)
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ServiceError, match="empty.zip"):
        svc.ingest([("empty.zip", empty.getvalue())], "image")
    with pytest.raises(ServiceError) as error:
        svc.ingest([("zero.csv", b"")], "table")
    assert str(error.value).count("zero.csv") == 1
    with pytest.raises(ServiceError) as error:
        svc.columns([("zero.csv", b"")])
    assert str(error.value).count("zero.csv") == 1


def test_a_text_csv_names_its_documents_by_a_chosen_column(tmp_path):
    svc = Service(tmp_path)
    data = b"id,text\npost-7,First post here\npost-9,Another one\n"
    done = svc.ingest([("posts.csv", data)], "text", text_column="text", name_column="id")
    assert done.dataset.names == ["post-7", "post-9"]
    plain = svc.ingest([("posts.csv", data)], "text", text_column="text")
    assert plain.dataset.names == ["posts.csv:2", "posts.csv:3"]


def test_a_test_set_of_another_image_size_is_refused(tmp_path):
    svc = Service(tmp_path)
    train, test = image_sets()
    big = Dataset(
        DataKind.IMAGE, [np.zeros((28, 28), np.uint8)] * 4, [f"{i}.png" for i in range(4)]
    )
    train_id = svc.registry.add(train, name="blobs").id
    test_id = svc.registry.add(test, name="blobs test").id
    big_id = svc.registry.add(big, name="other size").id
    assert svc.mismatch(train_id, test_id) == ""
    assert "28×28" in svc.mismatch(train_id, big_id)
    config = svc.build_config("ae", {"epochs": 1})
    with pytest.raises(ServiceError, match="test set does not fit the training set"):
        svc.create_run("ae", config, train_id, big_id)


def test_deleted_runs_go_to_the_trash_and_can_be_restored(tmp_path):
    svc = Service(tmp_path)
    run_id = scored_run(svc)
    svc.delete(run_id, trash=True)
    assert run_id not in [r.id for r in svc.runs()]
    assert [r.id for r, _ in svc.trashed_runs()] == [run_id]
    assert svc.store.artifacts_dir(run_id).is_dir()  # nothing is lost yet
    svc.restore(run_id)
    assert run_id in [r.id for r in svc.runs()]
    assert len(svc.results(run_id)) == 20
    svc.delete(run_id, trash=True)
    assert svc.empty_trash(older_than_days=1) == []  # deleted just now: kept
    marker = svc.store.artifacts_dir(run_id) / "deleted.json"
    marker.write_text(json.dumps({"deleted": time.time() - 8 * 86400}))
    svc.reconcile()  # purges what has been in the trash longer than a week
    with pytest.raises(ServiceError):
        svc.run(run_id)
    assert not svc.store.artifacts_dir(run_id).exists()


def test_deleting_a_run_cancels_the_jobs_that_wait_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")  # queued jobs wait: nothing starts them
    svc = Service(tmp_path)
    run_id = scored_run(svc)
    _, test = image_sets(seed=5)
    job = int(svc.start_score_job(run_id, svc.registry.add(test, name="new").id))
    other = scored_run(svc)
    kept = int(svc.start_score_job(other, svc.run(other).test_dataset))
    svc.delete(run_id, trash=True)
    assert svc.run(job).status == "cancelled"
    assert svc.run(kept).status == "queued"  # another run's job is left alone


def test_the_best_run_per_training_set_is_marked_and_used_for_scoring(tmp_path):
    svc = Service(tmp_path)
    first = scored_run(svc)
    second = scored_run(svc)  # the same sets (content-addressed): one training set
    train = svc.run(first).train_dataset
    assert svc.run(second).train_dataset == train
    assert svc.default_run(train) == second  # the newest without a mark
    svc.mark_best(first)
    assert svc.best_runs() == {train: first}
    assert svc.default_run(train) == first
    assert svc.default_run() == first
    svc.mark_best(second)
    assert svc.best_runs() == {train: second}  # one best per training set
    rows = {r["run"]: r for r in svc.compare([first, second])}
    assert rows[second]["best"] == "★" and rows[first]["best"] == ""
    svc.delete(second, trash=True)
    assert svc.best_runs() == {}
    svc.mark_best(second, False)
    assert svc.store.best_runs() == {}


def test_compare_uses_the_threshold_saved_for_scoring(tmp_path):
    svc = Service(tmp_path)
    run_id = scored_run(svc)
    results = svc.results(run_id)
    threshold = float(np.sort(results.scores)[4])  # flags 15 of 20
    svc.set_threshold(run_id, threshold)
    row = svc.compare([run_id])[0]
    point = metrics.operating_point(results.labels, results.scores, threshold)
    assert row["flagged"] == 15 == point.flagged
    assert row["precision"] == pytest.approx(point.precision)
    assert row["threshold"] == pytest.approx(threshold)


def test_retry_makes_a_new_run_with_the_same_settings(tmp_path, monkeypatch):
    svc = Service(tmp_path)
    run_id = scored_run(svc)
    svc.store.update(run_id, status="failed", error="out of memory")
    monkeypatch.setattr(svc, "submit", lambda run_id: False)  # no worker in this test
    new_id = svc.retry(run_id)
    old, new = svc.run(run_id), svc.run(new_id)
    assert new_id != run_id and new.status == "queued"
    assert (new.method, new.config, new.train_dataset, new.test_dataset) == (
        old.method,
        old.config,
        old.train_dataset,
        old.test_dataset,
    )


EXPORTED = ("ae", "deepsad", "deepsvdd", "fcdd", "hsc", "patchcore")


def test_exportable_methods_match_the_exporter():
    from deepad import export
    from deepad.models.registry import catalog

    flagged = sorted(m.name for m in catalog() if m.exports)  # the torch-free catalogue
    assert export.exportable_methods() == flagged == list(EXPORTED)


@pytest.mark.slow
def test_new_data_scored_in_a_job_like_deepad_score_and_the_model_downloads(tmp_path, monkeypatch):
    from deepad.runs.lifecycle import run_job
    from deepad.tasks import score_job

    svc = Service(tmp_path)
    run_id = finished_run(svc, epochs=1)
    _, test = image_sets(seed=5)
    new_id = svc.registry.add(test, name="new photos").id
    # queued as the Use page queues it; carried out here, as a worker does
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    job = svc.start_score_job(run_id, new_id)
    assert svc.score_jobs(run_id)[0]["status"] == "queued"
    assert run_job(svc.store, int(job), score_job).status == "done"
    jobs = svc.score_jobs(run_id)
    assert jobs[0]["status"] == "done" and jobs[0]["done"] == len(test)
    assert jobs[0]["job"] == job and jobs[0]["dataset"] == new_id
    results, explanations = svc.scored_results(run_id, job)
    direct = svc.score_dataset(run_id, new_id)
    np.testing.assert_allclose(results.scores, direct.scores.score, rtol=1e-6)
    threshold = svc.threshold(run_id)
    assert len(ranked(results, threshold, "flagged")) == direct.flagged == jobs[0]["flagged"]
    assert explanations is not None and explanations.has(int(results.order[0]))
    names = zipfile.ZipFile(io.BytesIO(svc.model_archive(run_id))).namelist()
    assert any(n.endswith(".safetensors") for n in names)
    assert any(n.endswith("detector.json") for n in names)
    assert f"run{run_id}_model/threshold.json" in names


def test_a_resumed_run_goes_on_counting_its_elapsed_time():
    from types import SimpleNamespace

    from deepad.runs.workflow import resumed_start

    cancelled = SimpleNamespace(started=100.0, finished=160.0, heartbeat=150.0)
    assert resumed_start(cancelled, now=1000.0) == 940.0  # 60 s spent before
    died = SimpleNamespace(started=100.0, finished=None, heartbeat=130.0)
    assert resumed_start(died, now=1000.0) == 970.0  # up to its last heartbeat
    never = SimpleNamespace(started=None, finished=None, heartbeat=None)
    assert resumed_start(never, now=1000.0) == 1000.0


def test_dsebm_on_a_table_offers_only_the_fields_for_tables(tmp_path):
    svc = Service(tmp_path)
    rng = np.random.default_rng(0)
    table = svc.registry.add(
        Dataset(DataKind.TABLE, rng.normal(size=(20, 3)), [str(i) for i in range(20)]), name="t"
    ).id
    images = svc.registry.add(image_sets()[0], name="blobs").id
    on_table = {s.name for s in svc.config_fields("dsebm", table)}
    on_images = {s.name for s in svc.config_fields("dsebm", images)}
    image_only = {"conv_channels", "conv_kernel", "conv_pool", "conv_hidden", "image_size"}
    sequence_only = {"rnn_hidden", "full_gradient"}
    assert not on_table & (image_only | sequence_only)
    assert image_only <= on_images and not on_images & sequence_only
    assert {"hidden", "noise_std", "epochs"} <= on_table
    # the fields left out keep their defaults: the form's values still build a valid config
    assert svc.build_config("dsebm", {"epochs": 2})["conv_kernel"] == 3


@pytest.mark.slow
def test_onnx_export_runs_outside_the_app_process_and_reports_parity(tmp_path):
    pytest.importorskip("onnx")
    svc = Service(tmp_path)
    run_id = finished_run(svc, epochs=1)
    found = svc.export_in_background(run_id)
    assert found["method"] == "ae" and found["input_shape"] == [1, 16, 16]
    assert (svc.store.artifacts_dir(run_id) / "model.onnx").stat().st_size > 0
    if found["max_score_error"] is not None:  # with onnxruntime installed
        assert found["max_score_error"] < 1e-3
    svc.store.update(run_id, status="failed")
    with pytest.raises(ServiceError, match="only finished runs"):
        svc.export_in_background(run_id)
