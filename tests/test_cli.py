import csv
import json

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from PIL import Image

from deepad.cli import main
from deepad.runs import workflow
from deepad.runs.store import DONE, INTERRUPTED, RUNS, RunStore
from deepad.runs.workflow import execute
from tests.runs.fakes import MemoryRegistry, blob_images


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    monkeypatch.setenv("DEEPAD_PLUGINS", "tests.runs.fakes")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread beats several contended ones
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    data = blob_images(24, anomalies=4)
    for name, image in zip(data.names, data.items, strict=True):
        Image.fromarray(image).save(folder / name)
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def run(home, *argv):
    return main(["--home", str(home), *argv])


def test_ingest_prints_id_counts_and_skipped_files(home, image_folder, capsys):
    assert run(home, "ingest", str(image_folder), "--kind", "image", "--name", "blobs") == 0
    out = capsys.readouterr().out
    assert "blobs" in out and "24 items" in out
    assert "broken.png" in out and "skipped 1 file" in out
    dataset_id = out.split()[1]
    assert len(dataset_id) == 16


def test_train_on_a_folder_then_score_gives_the_stored_scores(home, image_folder, tmp_path, capsys):
    settings = ["--set", "epochs=2", "--set", "image_size=8", "--set", "device=cpu"]
    assert run(home, "train", "--method", "ae", "--data", str(image_folder), *settings) == 0
    out = capsys.readouterr().out
    assert "run 1 done" in out and "threshold" in out
    assert "explanations of its top-scored items are prepared as job 2" in out
    store = RunStore(home)
    record = store.get(1)
    assert record.status == DONE and record.metrics["scored_on"] == "train"
    stored = store.scores(1)
    store.set_threshold(1, float(np.median(stored.score)))

    output = tmp_path / "scores.csv"
    assert run(home, "score", "1", str(image_folder), "--output", str(output)) == 0
    rows = list(csv.DictReader(output.open()))
    assert [r["name"] for r in rows] == list(stored.name)
    np.testing.assert_allclose([float(r["score"]) for r in rows], stored.score, rtol=1e-6)
    flagged = [int(r["flagged"]) for r in rows]
    assert flagged == list((stored.score > np.median(stored.score)).astype(int))
    assert list(rows[0]) == ["id", "name", "score", "flagged", "label", *stored.components]
    for name, values in stored.components.items():
        np.testing.assert_allclose([float(r[name]) for r in rows], values, rtol=1e-6)


def test_runs_list_show_delete(home, capsys):
    store = RunStore(home)
    registry = MemoryRegistry()
    registry.add(blob_images(16), "train")
    run_id = store.create_run("tiny", {"epochs": 1, "device": "cpu"}, "train")
    execute(store, run_id, registry=registry)
    assert run(home, "runs", "list") == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "done" in out and "blobs" in out
    assert run(home, "runs", "show", str(run_id)) == 0
    out = capsys.readouterr().out
    assert "threshold" in out and '"epochs": 1' in out and "last epochs: 1:" in out
    assert run(home, "runs", "delete", str(run_id)) == 0
    assert store.list_runs() == []


def test_resume_continues_an_interrupted_run_in_the_foreground(home, capsys, monkeypatch):
    store = RunStore(home)
    registry = MemoryRegistry()
    registry.add(blob_images(16), "train")
    run_id = store.create_run(
        "tiny", {"epochs": 3, "device": "cpu", "checkpoint_every": 1, "fail_at_epoch": 2}, "train"
    )
    execute(store, run_id, registry=registry)
    # as if the process had died after the first checkpoint
    config = {"epochs": 3, "device": "cpu", "checkpoint_every": 1}
    with store._write() as con:
        con.execute(
            sa.update(RUNS).where(RUNS.c.id == run_id),
            {"status": INTERRUPTED, "config": json.dumps(config)},
        )
    monkeypatch.setattr(workflow, "default_registry", lambda store: registry)
    assert run(home, "train", "--resume", str(run_id)) == 0
    assert store.get(run_id).status == DONE
    assert [h["epoch"] for h in store.history(run_id)] == [1, 2, 3]
    assert "resuming run" in store.folder(run_id).log.read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--method", "nope", "--data", "x"], "unknown method 'nope'"),
        (["train", "--method", "ae", "--data", "/no/such/path"], "no such file"),
        (["train", "--method", "ae", "--data", "demo:nope"], "no demo set 'nope'"),
        (["train", "--method", "ae", "--data", "0123456789abcdef"], "no dataset"),
        (["train", "--method", "ae", "--data", "x", "--set", "epochs=0"], "epochs must be"),
        (["train", "--method", "ae", "--data", "x", "--set", "bogus=1"], "unknown setting"),
        (["train", "--method", "ae", "--data", "x", "--set", "noequals"], "key=value"),
        (["train", "--resume", "42"], "no run 42"),
        (["runs", "show", "42"], "no run 42"),
        (["runs", "cancel"], "needs a run id"),
        (["score", "42", "."], "no run 42"),
        (["bench", "nope"], "unknown benchmark"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(home, argv, message, capsys):
    assert run(home, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepad: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_training_on_the_wrong_kind_of_data_is_refused(home, image_folder, capsys):
    assert (
        run(home, "train", "--method", "cvdd", "--data", str(image_folder), "--kind", "image") == 2
    )
    assert "works on text data" in capsys.readouterr().err
    assert RunStore(home).list_runs() == []


def test_failed_run_reports_its_reason(home, image_folder, capsys):
    argv = ["--data", str(image_folder), "--set", "fail_at_epoch=1", "--set", "device=cpu"]
    assert run(home, "train", "--method", "tiny", *argv) == 1
    err = capsys.readouterr().err
    assert "run 1 failed: synthetic failure in epoch 1" in err and "Traceback" not in err


def test_foreground_training_shows_preparation_stages(home, image_folder, capsys):
    argv = ["--data", str(image_folder), "--set", "prepare_steps=3", "--set", "epochs=1"]
    assert run(home, "train", "--method", "tiny", *argv, "--set", "device=cpu") == 0
    err = capsys.readouterr().err
    assert "preparing: 100%" in err and "3/3" in err


def test_methods_demo_and_bench_lists(home, capsys):
    assert run(home, "methods") == 0
    out = capsys.readouterr().out
    assert "ae: Autoencoder" in out and "tiny: Tiny AE (tests)" in out
    assert "epoch_sleep=0.0 [0, 60]" in out and "epochs=30 [1, 10000]" in out
    assert "(advanced)" not in out and "advanced settings:" in out
    assert run(home, "methods", "tiny") == 0
    out = capsys.readouterr().out
    assert "optimizer=adam {adam, adamw, sgd} (advanced)" in out and "lr_milestones= [1, ]" in out
    assert "ae:" not in out
    assert run(home, "demo", "list") == 0
    assert run(home, "bench", "list") == 0


def test_train_on_a_demo_set_uses_its_test_part(home, capsys):
    from deepad.data.demo import list_demos

    if "fashion" not in {d.name for d in list_demos()}:
        pytest.skip("the fashion demo set is not there")
    assert run(home, "train", "--method", "pca", "--data", "demo:fashion") == 0
    record = RunStore(home).get(1)
    assert record.status == DONE and record.metrics["scored_on"] == "test"
    assert record.labeled_dataset is None  # PCA does not use labeled anomalies
    assert record.metrics["auroc"] > 0.9


def test_an_mvtec_category_trains_on_train_and_tests_on_test(home, tmp_path, capsys):
    category = _mvtec_category(tmp_path / "bottle")
    settings = ["--set", "image_size=8", "--set", "components=2"]
    assert run(home, "train", "--method", "pca", "--data", str(category), *settings) == 0
    assert "(train/ part)" in capsys.readouterr().out
    record = RunStore(home).get(1)
    assert record.metrics["scored_on"] == "test"
    assert record.metrics["train_items"] == 6 and record.metrics["items"] == 8


def _mvtec_category(folder, *, broken: bool = False):
    data = blob_images(14, anomalies=4)
    for i, (image, label) in enumerate(zip(data.items, data.labels, strict=True)):
        part = folder / ("test/broken" if label else ("train/good" if i < 6 else "test/good"))
        part.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(part / f"{i:03d}.png")
    if broken:
        (folder / "train" / "good" / "broken.png").write_bytes(b"not an image")
    return folder


def test_ingesting_an_mvtec_category_keeps_the_skip_notes(home, tmp_path, capsys):
    category = _mvtec_category(tmp_path / "bottle", broken=True)
    assert run(home, "ingest", str(category)) == 0
    out = capsys.readouterr().out
    assert out.startswith("read as image data (15 image files); pass --kind to choose\n")
    assert "bottle (train)" in out and "bottle (test)" in out
    assert "skipped 1 file(s):" in out and "train/good/broken.png" in out


def test_ingest_and_train_infer_the_kind_of_a_table(home, tmp_path, capsys):
    table = tmp_path / "sensors.csv"
    rows = np.random.default_rng(0).normal(size=(12, 3))
    table.write_text("a,b,c\n" + "".join(",".join(f"{v:.3f}" for v in r) + "\n" for r in rows))
    assert run(home, "ingest", str(table)) == 0
    out = capsys.readouterr().out
    assert "read as table data (numeric columns a, b, c); pass --kind to choose" in out
    assert "(table, 12 items)" in out
    assert run(home, "train", "--method", "pca", "--data", str(table), "--set", "components=2") == 0
    assert "read as table data" in capsys.readouterr().out
    assert RunStore(home).get(1).status == DONE
    # a method of one kind reads the data as that kind, with no guess in between
    assert run(home, "train", "--method", "cvdd", "--data", str(table)) == 2
    assert "choose a text column from a, b, c" in capsys.readouterr().err


def test_background_train_and_resume_wait_in_the_queue_and_start_in_order(
    home, image_folder, capsys, monkeypatch
):
    """``train --background`` and ``--resume --background`` go through the Train page's queue:
    with one slot taken, both wait as ``queued`` and start oldest first as slots free."""
    import os
    from types import SimpleNamespace

    from deepad.runs import jobs

    monkeypatch.setenv("DEEPAD_MAX_RUNS", "1")
    spawned: list[list[str]] = []

    def spawn(command, log_path, *rest):  # record the worker command instead of starting it
        spawned.append(command)
        return SimpleNamespace(pid=4242)

    monkeypatch.setattr(jobs, "_spawn", spawn)
    # this test process stands in for the busy run's worker, which reconcile must see alive
    monkeypatch.setattr(jobs, "_is_worker_process", lambda pid: pid == os.getpid())
    settings = ["--set", "epochs=1", "--set", "image_size=8", "--set", "device=cpu"]
    store = RunStore(home)
    assert run(home, "train", "--method", "ae", "--data", str(image_folder), *settings) == 0
    interrupted = store.list_runs()[0].id
    # the run ended by queuing its stored explanations, which the command started at once
    (prepare,) = store.list_runs(kind="precompute", parent=interrupted)
    assert spawned == [[*spawned[0][:3], "--home", str(home), str(prepare.id)]]
    assert spawned[0][1:3] == ["-m", "deepad.tasks"]
    store.update(prepare.id, status=DONE)
    spawned.clear()
    store.update(interrupted, status=INTERRUPTED, pid=None)
    busy = store.create_run(
        "ae", store.get(interrupted).config, store.get(interrupted).train_dataset
    )
    store.update(busy, status="running", pid=os.getpid(), heartbeat=1e12)  # holds the slot
    capsys.readouterr()

    assert run(home, "train", "--method", "ae", "--data", str(image_folder), *settings,
               "--background") == 0  # fmt: skip
    fresh = max(r.id for r in store.list_runs())
    assert f"run {fresh} is queued (position 1 of 1)" in capsys.readouterr().out
    assert run(home, "train", "--resume", str(interrupted), "--background") == 0
    # the resumed run is the older one: it goes first
    assert f"run {interrupted} is queued (position 1 of 2)" in capsys.readouterr().out
    assert store.get(fresh).status == store.get(interrupted).status == "queued"
    assert store.get(fresh).pid is None and store.get(interrupted).pid is None
    assert spawned == []

    # the busy run ends: the resumed one starts, from its checkpoint; then the fresh one
    store.update(busy, status=DONE)
    assert jobs.start_queued(store) == [interrupted]
    assert spawned[-1][-2:] == [str(interrupted), "--resume"]
    assert jobs.queue_positions(store) == {fresh: 1}
    store.update(interrupted, status=DONE)
    assert jobs.start_queued(store) == [fresh]
    assert spawned[-1][-1] == str(fresh)


def test_train_without_a_method_trains_the_recommended_one_on_real_photos(home, tmp_path, capsys):
    pytest.importorskip("skimage")
    from deepad.data.benchmarks.photos import make_category, write_mvtec
    from deepad.models.recommend import MEASURED
    from deepad.service import Service

    train, test = make_category("coffee", n_train=8, n_test_good=2, n_per_defect=1)
    folder = write_mvtec(train, test, tmp_path / "coffee")
    assert run(home, "train", "--data", str(folder)) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("method auto: "))
    assert line.startswith("method auto: 8 grey images, 192 px, ")
    record = RunStore(home).get(1)
    assert record.status == DONE and record.metrics["scored_on"] == "test"
    choice = Service(home).recommend(record.train_dataset, record.test_dataset)
    assert record.method == choice.method and line == f"method auto: {choice.reason}"
    assert record.method in MEASURED["image"]["unlabeled"]


def test_train_auto_on_a_table_picks_what_the_measured_table_says(home, tmp_path, capsys):
    from deepad.models.recommend import MEASURED

    table = tmp_path / "sensors.csv"
    rows = np.random.default_rng(0).normal(size=(40, 3))
    table.write_text("a,b,c\n" + "".join(",".join(f"{v:.3f}" for v in r) + "\n" for r in rows))
    assert run(home, "train", "--method", "auto", "--data", str(table)) == 0
    out = capsys.readouterr().out
    assert "method auto: 40 rows × 3 columns, " in out and " → " in out
    record = RunStore(home).get(1)
    assert record.status == DONE and record.method in MEASURED["table"]["unlabeled"]


def test_runs_live_on_a_shared_artifact_root_given_by_flag(home, tmp_path, capsys, monkeypatch):
    from deepad.runs.layout import ARTIFACTS_ENV

    monkeypatch.setenv(ARTIFACTS_ENV, "")  # restored after the test: main sets it
    monkeypatch.delenv(ARTIFACTS_ENV)
    mount = tmp_path / "mount"
    assert run(home, "--artifacts", str(mount), "runs", "list") == 2
    assert "shared artifact root" in capsys.readouterr().err  # one line, nothing created
    assert not mount.exists()
    mount.mkdir()
    store = RunStore(home, artifacts=mount)
    registry = MemoryRegistry()
    registry.add(blob_images(16), "train")
    run_id = store.create_run("tiny", {"epochs": 1, "device": "cpu"}, "train")
    execute(store, run_id, registry=registry)
    assert run(home, "--artifacts", str(mount), "runs", "show", str(run_id)) == 0
    out = capsys.readouterr().out
    assert f"folder {mount / str(run_id)}" in out and "last epochs: 1:" in out
    assert (mount / str(run_id) / "model").is_dir() and not (home / "runs" / str(run_id)).exists()


def test_worker_carries_out_queued_runs_and_stops_when_idle(home, capsys, monkeypatch):
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    store = RunStore(home)
    wanted = store.create_run("tiny", {"epochs": 1, "device": "cpu"}, "no-such-dataset")
    on_gpu = store.create_run("tiny", {"epochs": 1, "device": "cuda"}, "no-such-dataset")
    assert run(home, "worker", "--until-idle", "--cpu-only") == 0
    captured = capsys.readouterr()
    # carried out once (it fails: its data is not registered), the GPU run left queued
    assert f"train job {wanted}: failed" in captured.out
    assert "worker done: 1 job(s)" in captured.err
    assert store.get(wanted).attempts == 1 and store.get(on_gpu).status == "queued"
    big = store.create_run("tiny", {"epochs": 1, "device": "cpu"}, "x", memory_mb=10**9)
    assert run(home, "worker", "--until-idle", "--cpu-only", "--memory-mb", "1000") == 0
    assert store.get(big).status == "queued" and store.get(big).attempts == 0  # too big here


def test_train_says_how_large_photos_go_into_the_backbone(home, tmp_path, capsys):
    folder = tmp_path / "large"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = rng.integers(0, 256, (1000, 1000), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    argv = ["train", "--data", str(folder), "--method", "embedding_knn", "--set", "tiling=off"]
    assert run(home, *argv) == 0
    assert "input: 1,000 px images → resized to 224 px" in capsys.readouterr().out


def test_runs_list_shows_the_jobs_of_finished_runs_with_jobs(home, capsys, monkeypatch):
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")  # the jobs wait: nothing starts them here
    store = RunStore(home)
    registry = MemoryRegistry()
    registry.add(blob_images(16), "train")
    run_id = store.create_run("tiny", {"epochs": 1, "device": "cpu"}, "train")
    execute(store, run_id, registry=registry)
    score = store.create_job("score", run_id, {"dataset": "train"})
    prepare = store.create_job("precompute", run_id)
    store.update(prepare, status="running", epoch=3, epochs=16, host="gpu-7")
    assert run(home, "runs", "list") == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "2 job(s) of finished runs waiting or running" in out
    assert "prepare explanations" not in out  # the runs only, without --jobs
    assert run(home, "runs", "list", "--jobs") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "tiny" in out and "jobs of finished runs:" in out
    row = next(line for line in lines if line.split()[:1] == [str(prepare)])
    assert "prepare explanations" in row and "running on gpu-7" in row and "3/16" in row
    row = next(line for line in lines if line.split()[:1] == [str(score)])
    assert "score new data" in row and "queued" in row
    assert run(home, "runs", "list", str(run_id + 99), "--jobs") != 0  # no such run
