"""Helpers of the page tests: tiny datasets, finished runs and the app under AppTest.

Pages are tested on runs written straight into the store (:func:`scored_run`,
:func:`fake_run`, :func:`large_run`), so they need no training; :func:`finished_run` trains
one in the test process with ``workflow.execute`` where a test needs a real trained run.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from deepad import metrics
from deepad.data.types import DataKind, Dataset
from deepad.service import Service

ROOT = Path(__file__).resolve().parents[2]
SIZE = 16


def blob(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    cy, cx = SIZE / 2 + rng.normal(0, 1.0, 2)
    image = 230.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2))
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def noise(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def image_sets(seed: int = 0, n_train: int = 32, n_each: int = 10) -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(seed)
    train = Dataset(
        DataKind.IMAGE,
        [blob(rng) for _ in range(n_train)],
        [f"train_{i:03d}.png" for i in range(n_train)],
        name="blobs",
    )
    items = [blob(rng) for _ in range(n_each)] + [noise(rng) for _ in range(n_each)]
    test = Dataset(
        DataKind.IMAGE,
        items,
        [f"normal/{i:03d}.png" for i in range(n_each)]
        + [f"anomalous/noise/{i:03d}.png" for i in range(n_each)],
        labels=np.array([0] * n_each + [1] * n_each),
        classes=["good"] * n_each + ["noise"] * n_each,
        name="blobs test",
    )
    return train, test


def finished_run(svc: Service, *, epochs: int = 2, seed: int = 0, test: bool = True) -> int:
    """Register tiny image sets and train the autoencoder on them in this process."""
    from deepad.runs import workflow

    train, test_set = image_sets(seed)
    train_id = svc.registry.add(train, name="blobs").id
    test_id = svc.registry.add(test_set, name="blobs test").id if test else None
    config = svc.build_config(
        "ae", {"epochs": epochs, "image_size": SIZE, "batch_size": 16, "checkpoint_every": 0}
    )
    run_id = svc.store.create_run("ae", config, train_id, test_id)
    record = workflow.execute(svc.store, run_id, registry=svc.registry)
    assert record.status == "done", record.error
    prepare_explanations(svc, run_id)
    return run_id


def prepare_explanations(svc: Service, run_id: int) -> None:
    """Carry out, in this process, the precompute job the run queued when it ended."""
    from deepad.runs.store import PRECOMPUTE
    from deepad.runs.worker import carry_out
    from deepad.tasks import JOB_BODIES

    for job in svc.store.list_runs(status=("queued",), kind=PRECOMPUTE, parent=run_id):
        done = carry_out(svc.store, job.id, bodies=JOB_BODIES)
        assert done.status == "done", done.error


def scored_run(svc: Service, *, epochs: int = 2, seed: int = 0, test: bool = True) -> int:
    """What :func:`finished_run` makes, without training: an autoencoder run over the same
    sets whose maps (and scores, their means) are each pixel's distance from the mean
    training image, written straight into the store. The noise images score highest."""
    from deepad.results import ImageMaps

    train, test_set = image_sets(seed)
    scored = test_set if test else train
    mean = np.mean(np.stack(train.items), axis=0, dtype=np.float32)
    maps = np.abs(np.stack(scored.items).astype(np.float32) - mean) / 255.0
    return fake_run(
        svc, "ae", scored, maps.mean(axis=(1, 2)).astype(np.float64),
        explanation=lambda positions: ImageMaps(maps=maps[positions]), train=train,
        values={"epochs": epochs, "image_size": SIZE, "batch_size": 16, "checkpoint_every": 0},
    )  # fmt: skip


class NoWorkers(Service):
    """The service with its background jobs replaced: ``cancel`` and ``resume`` are recorded
    in ``calls`` and move the run's status in the store as its worker would, and nothing is
    reconciled, so a test can set a run to any status without a process behind it."""

    def __init__(self, home: str | Path | None = None) -> None:
        super().__init__(home)
        self.calls: list[tuple[str, int]] = []

    def reconcile(self) -> None:
        self.calls.append(("reconcile", 0))

    def cancel(self, run_id: int) -> None:
        self.calls.append(("cancel", run_id))
        self.store.update(run_id, status="cancelled")

    def resume(self, run_id: int) -> None:
        self.calls.append(("resume", run_id))
        self.store.update(run_id, status="queued")


def app(page: str | None = None, **state) -> AppTest:
    """The app at ``page`` with ``state`` put into the session first."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def large_run(svc: Service, n: int = 10_000, seed: int = 0) -> int:
    """A finished run with ``n`` scored 8×8 images and their maps, written straight into the
    store (no training), for checking the pages stay fast on big runs."""
    from deepad.results import ImageMaps
    from deepad.runs.artifacts import write_explanations

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    scores = rng.normal(size=n) + 2.0 * labels
    maps = rng.random((n, 8, 8)).astype(np.float32)
    data = Dataset(DataKind.IMAGE, list(images), [f"img_{i:05d}.png" for i in range(n)], labels)
    dataset_id = svc.registry.add(data, name="big").id
    config = svc.build_config("ae", {"epochs": 1})
    run_id = svc.store.create_run("ae", config, dataset_id, dataset_id)
    svc.store.write_scores(run_id, names=data.names, scores=scores, labels=labels)
    write_explanations(
        svc.store.artifacts_dir(run_id) / "explain",
        lambda positions: ImageMaps(maps=maps[positions]),
        np.arange(n),
    )
    threshold = float(np.quantile(scores, 0.9))
    svc.store.update(
        run_id, status="done", progress=1.0, threshold=threshold,
        metrics=metrics.summary(labels, scores, threshold),
    )  # fmt: skip
    return run_id


def fake_run(
    svc: Service,
    method: str,
    data: Dataset,
    scores: np.ndarray,
    *,
    components: dict | None = None,
    explanation=None,
    meta: dict | None = None,
    train: Dataset | None = None,
    values: dict | None = None,
) -> int:
    """A finished ``method`` run (settings ``values``) over ``data`` with the given scores,
    score components, explanation and saved model metadata, written straight into the store
    (no training). ``data`` is the test set, trained on as well unless ``train`` is given;
    with ``train=data`` the run has no test set and scored its training items."""
    import json

    from deepad.runs.artifacts import write_explanations

    dataset_id = svc.registry.add(data, name=data.name or method).id
    train_id = dataset_id if train is None else svc.registry.add(train, name=train.name).id
    test_id = None if train is data else dataset_id
    config = svc.build_config(method, values or {})
    run_id = svc.store.create_run(method, config, train_id, test_id)
    svc.store.write_scores(
        run_id, names=data.names, scores=scores, labels=data.labels, classes=data.classes,
        components=components,
    )  # fmt: skip
    if explanation is not None:
        write_explanations(
            svc.store.artifacts_dir(run_id) / "explain",
            lambda positions: explanation(np.asarray(positions)),
            np.arange(len(data)),
        )
    model = svc.store.artifacts_dir(run_id) / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "detector.json").write_text(json.dumps({"method": method, "meta": meta or {}}))
    threshold = float(np.quantile(scores, 0.8))
    svc.store.update(
        run_id, status="done", progress=1.0, threshold=threshold,
        metrics=metrics.summary(data.labels, scores, threshold),
    )  # fmt: skip
    return run_id
