"""One run end to end in the current process: fit, save, score (with the method's own maps),
measure; then it queues the job that precomputes its other explainers (a ``precompute`` row of
the run queue), so its slot is free as soon as it is done.

Used by the background worker (:mod:`deepad.runs.worker`) and by ``deepad train`` in the
foreground, so both record exactly the same things in the run store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from deepad import metrics
from deepad.config import from_json, validate
from deepad.data.types import Dataset
from deepad.models import Detector, Explanation, ImageMaps, Scores, get_method
from deepad.models.checksum import model_checksum
from deepad.models.config import NetworkConfig
from deepad.models.threshold import describe_source
from deepad.plugins import load_plugins
from deepad.runs.artifacts import load_explanations, write_explanations
from deepad.runs.layout import RunFolder
from deepad.runs.store import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    PRECOMPUTE,
    QUEUED,
    RESUMABLE,
    RUNNING,
    RUNS,
    RunNotFound,
    RunRecord,
    RunStateError,
    RunStore,
    private_dir,
    private_file,
    this_host,
)
from deepad.scoring import concatenate_scores, score_in_chunks
from deepad.train.checkpoint import has_checkpoint, load_checkpoint, remove_checkpoint
from deepad.train.progress import Cancelled, Progress, RunContext

log = logging.getLogger(__name__)
# Tracebacks go only to the run's log file, never to the console or the app.
trace_log = logging.getLogger("deepad.runs.trace")
trace_log.propagate = False

# how often a working process stamps its heartbeat ($DEEPAD_HEARTBEAT_SECONDS: shared-store
# workers judging each other sooner, and tests)
HEARTBEAT_SECONDS = float(os.environ.get("DEEPAD_HEARTBEAT_SECONDS") or 5.0)
STORE_WRITE_SECONDS = 1.0  # at most one progress write per second per run
CANCEL_POLL_SECONDS = 0.5
PIXEL_AUROC_MAX_PIXELS = metrics.PIXEL_AUROC_MAX_PIXELS

# Share of the progress bar spent training; scoring and explaining fill the rest.
TRAIN_SHARE = 0.9

PhaseCallback = Callable[[str], None]
StageCallback = Callable[[str, int, int], None]  # (what, done, total), as RunContext.stage


class DatasetSource(Protocol):
    def get(self, dataset_id: str) -> Dataset: ...


def default_registry(store: RunStore) -> DatasetSource:
    from deepad.data.registry import DatasetRegistry

    return DatasetRegistry(store.home)


def one_line(error: BaseException) -> str:
    """The reason a run failed, as one line for the UI (the traceback goes to the log)."""
    text = str(error).strip()
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]
    first = text.splitlines()[0] if text else ""
    return first or type(error).__name__


class _Heartbeat:
    """Stamps the run's heartbeat every few seconds while this process works on it, so
    ``reconcile`` can tell a live run from one whose process vanished."""

    def __init__(self, store: RunStore, run_id: int, interval: float = HEARTBEAT_SECONDS):
        self.store, self.run_id, self.interval = store, run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="deepad-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.store.update(self.run_id, heartbeat=time.time())
                except Exception:  # a busy or vanished database must not kill the run
                    log.debug("heartbeat write failed", exc_info=True)
        finally:
            self.store.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)


class _StoreProgress:
    """Training progress into the store: the run row at most once a second, and each
    finished epoch's loss, rate and throughput for the live curve."""

    def __init__(self, store: RunStore, run_id: int, forward: Callable[[Progress], None] | None):
        self.store, self.run_id, self.forward = store, run_id, forward
        self.pending: list[dict[str, Any]] = []
        self.last_write = 0.0
        self.last: Progress | None = None
        self.epoch_started = time.monotonic()

    def __call__(self, report: Progress) -> None:
        self.last = report
        now = time.monotonic()
        if report.epoch_end:
            self.pending.append(
                {
                    "epoch": report.epoch,
                    "loss": report.loss,
                    "lr": report.lr,
                    "items_per_second": report.items_per_second,
                    # wall time between epoch ends, hooks and checkpoints included
                    "seconds": now - self.epoch_started,
                }
            )
            self.epoch_started = now
        final = report.epoch_end and report.epoch == report.epochs
        if now - self.last_write >= STORE_WRITE_SECONDS or final:
            self.flush()
        if self.forward is not None:
            self.forward(report)

    def flush(self) -> None:
        report = self.last
        if report is None:
            return
        self.last_write = time.monotonic()
        self.store.add_history(self.run_id, self.pending)
        self.pending = []
        self.store.update(
            self.run_id,
            phase="training",  # after any preparation stage that came first
            progress=TRAIN_SHARE * report.fraction,
            epoch=report.epoch,
            epochs=report.epochs,
            loss=report.loss if math.isfinite(report.loss) else None,
            items_per_second=report.items_per_second,
            eta=report.eta,
            heartbeat=time.time(),
        )


class _CancelCheck:
    """``RunContext.should_stop``: polls the store's cancel flag at most twice a second."""

    def __init__(self, store: RunStore, run_id: int):
        self.store, self.run_id = store, run_id
        self.last_poll = 0.0
        self.stop = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.stop and now - self.last_poll >= CANCEL_POLL_SECONDS:
            self.last_poll = now
            self.stop = self.store.cancel_requested(self.run_id)
        return self.stop


class _StageReport:
    """``RunContext.on_stage``: preparation progress as the run's phase, e.g.
    "embedding 320/2000", written at most once a second; every report also goes to
    ``forward`` (the CLI's progress bar).

    While ``span`` is set, a stage also moves the progress bar across that part of it, never
    back: what a method without epochs (PatchCore) does in ``fit`` is all stages, and so is
    preparing the items to score."""

    def __init__(self, store: RunStore, run_id: int, forward: StageCallback | None = None):
        self.store, self.run_id, self.forward = store, run_id, forward
        self.last_write = 0.0
        self.span: tuple[float, float] | None = None
        self.shown = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.forward is not None:
            self.forward(what, done, total)
        now = time.monotonic()
        if now - self.last_write >= STORE_WRITE_SECONDS or done >= total:
            self.last_write = now
            fields: dict[str, Any] = {"phase": f"{what} {done}/{total}", "heartbeat": time.time()}
            if self.span is not None:
                low, high = self.span
                share = low + (high - low) * (min(done, total) / total if total > 0 else 1.0)
                if share > self.shown:
                    fields["progress"] = self.shown = share
            self.store.update(self.run_id, **fields)


def _checkpoint_history(folder: RunFolder) -> tuple[int, list[dict[str, Any]]] | None:
    """The epoch of the newest usable checkpoint and the history saved with it."""
    found = load_checkpoint(folder.checkpoints)
    if found is None:
        return None
    saved = found[1]
    return int(saved["epoch"]), [dict(row) for row in saved["history"]]


def execute(
    store: RunStore,
    run_id: int,
    *,
    resume: bool = False,
    progress: Callable[[Progress], None] | None = None,
    on_phase: PhaseCallback | None = None,
    on_stage: StageCallback | None = None,
    registry: DatasetSource | None = None,
) -> RunRecord:
    """Run ``run_id`` in this process and return its final record.

    Failures and cancellation are recorded in the store (status ``failed`` with a one-line
    reason, or ``cancelled``), not raised; the traceback goes to the run's ``run.log``.
    ``resume`` continues training from the run's last checkpoint when there is one.
    ``progress``, ``on_phase`` and ``on_stage`` also receive the epochs, phases and
    preparation stages (e.g. embedding documents) as they are recorded.
    A ``KeyboardInterrupt`` marks the run cancelled and is re-raised.
    """
    record = store.get(run_id)
    allowed = (QUEUED, *RESUMABLE) if resume else (QUEUED,)
    now = time.time()
    claimed = store.transition(
        run_id,
        allowed,
        status=RUNNING,
        phase="loading",
        pid=os.getpid(),
        host=this_host(),
        heartbeat=now,
        started=resumed_start(record, now) if resume else now,
        finished=None,
        error=None,
        params={k: v for k, v in record.params.items() if k != "resume"},
        attempts=RUNS.c.attempts + 1,
        **({} if resume else {"progress": 0.0, "epoch": 0, "metrics": {}}),
    )
    if not claimed:
        raise RunStateError(f"run {run_id} is {store.get(run_id).status}; it cannot start now")
    folder = store.folder(run_id)
    private_dir(folder.path)
    handler = logging.FileHandler(private_file(folder.log), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    package_log = logging.getLogger("deepad")
    previous_level = package_log.level
    package_log.addHandler(handler)
    trace_log.addHandler(handler)
    if package_log.getEffectiveLevel() > logging.INFO:
        package_log.setLevel(logging.INFO)
    log.info("run %d (%s) started in process %d", run_id, record.method, os.getpid())
    try:
        with _Heartbeat(store, run_id):
            _execute(store, record, resume, progress, on_phase, on_stage, registry)
    except (Cancelled, KeyboardInterrupt) as stop:
        log.info("run %d cancelled: %s", run_id, stop)
        store.transition(
            run_id,
            (RUNNING, INTERRUPTED),
            status=CANCELLED,
            phase="",
            finished=time.time(),
            cancel_requested=None,
        )
        if isinstance(stop, KeyboardInterrupt):
            raise
    except Exception as error:
        trace_log.error("run %d failed", run_id, exc_info=True)
        store.transition(
            run_id,
            (RUNNING, INTERRUPTED),
            status=FAILED,
            phase="",
            error=one_line(error),
            finished=time.time(),
        )
    finally:
        package_log.removeHandler(handler)
        trace_log.removeHandler(handler)
        package_log.setLevel(previous_level)
        handler.close()
    try:
        return store.get(run_id)
    except RunNotFound:
        # deleted while it ran: take away what the last moments wrote, e.g. the checkpoint
        shutil.rmtree(folder.path, ignore_errors=True)
        raise


def _execute(
    store: RunStore,
    record: RunRecord,
    resume: bool,
    progress: Callable[[Progress], None] | None,
    on_phase: PhaseCallback | None,
    on_stage: StageCallback | None,
    registry: DatasetSource | None,
) -> None:
    run_id = record.id
    folder = store.folder(run_id)
    timings: dict[str, float] = {}
    stages = _StageReport(store, run_id, on_stage)

    def phase(name: str, share: float | None = None) -> None:
        fields: dict[str, Any] = {"phase": name, "heartbeat": time.time()}
        if share is not None:
            fields["progress"] = stages.shown = share
        store.update(run_id, **fields)
        if on_phase is not None:
            on_phase(name)
        if name not in ("loading", "training") and store.cancel_requested(run_id):
            raise Cancelled(f"cancelled before {name}")

    cls, config = _method_and_config(record)

    start = time.perf_counter()
    registry = registry if registry is not None else default_registry(store)
    train = _load(store, registry, record.train_dataset)
    test = _load(store, registry, record.test_dataset) if record.test_dataset else None
    labeled = _load(store, registry, record.labeled_dataset) if record.labeled_dataset else None
    timings["load_seconds"] = time.perf_counter() - start

    found = _checkpoint_history(folder) if resume else None
    resume_from = found[0] if found is not None else None
    if resume and resume_from is None:
        log.warning("run %d has no checkpoint yet; training starts from the beginning", run_id)
    if found is None:
        remove_checkpoint(folder.checkpoints)
        store.truncate_history(run_id, 0)
    else:
        log.info("resuming run %d after epoch %d", run_id, resume_from)
        store.truncate_history(run_id, resume_from)
        # the checkpoint holds the history up to its epoch, also rows a kill kept from the store
        store.add_history(run_id, found[1])

    phase("training")
    # a network's epochs fill the bar during fit; other methods' stages do
    stages.span = None if issubclass(cls.Config, NetworkConfig) else (0.0, TRAIN_SHARE)
    detector: Detector = cls(config=config)
    reporter = _StoreProgress(store, run_id, progress)
    context = RunContext(
        checkpoint_dir=folder.checkpoints,
        resume=resume_from is not None,
        should_stop=_CancelCheck(store, run_id),
        on_stage=stages,
        datasets=registry,  # ids in the configuration (FCDD's oe_dataset) resolve here too
    )
    start = time.perf_counter()
    try:
        detector.fit(
            train,
            labeled=labeled if cls.uses_labeled else None,
            progress=reporter,
            context=context,
        )
    finally:
        # also when stopped: the curve and epoch count should show what was trained
        with contextlib.suppress(Exception):
            reporter.flush()
    timings["fit_seconds"] = time.perf_counter() - start

    phase("saving", TRAIN_SHARE)
    shutil.rmtree(folder.model, ignore_errors=True)
    detector.save(folder.model)
    # scoring later checks the files against this, so a changed model is never used silently
    store.update(run_id, model_checksum=model_checksum(folder.model))

    phase("scoring", TRAIN_SHARE)
    stages.span = (TRAIN_SHARE, 0.99)
    # items precomputed for an earlier model of this run (resumed, restarted) are not this one's
    for stale in (folder.explainer_items, folder.explainer_items_partial):
        shutil.rmtree(stale, ignore_errors=True)
    data, scored_on = (test, "test") if test is not None else (train, "train")
    explain_dir = folder.explain
    shutil.rmtree(explain_dir, ignore_errors=True)
    start = time.perf_counter()
    # without a test set the training items are shown as the threshold saw them (a memory
    # bank's leave-one-out scores), so the threshold flags about `contamination` of them
    own = detector.training_scores() if scored_on == "train" else None
    if own is None or cls.explains:
        detector.prepare(data, context=context)  # e.g. embedding documents, as a stage
    if cls.explains:  # one pass does both: FCDD's maps come from its scoring forward pass
        scores = _score_and_explain(detector, data, explain_dir, own)
    else:
        scores = own if own is not None else score_in_chunks(detector, data)
    timings["score_seconds"] = time.perf_counter() - start
    store.write_scores(
        run_id,
        names=data.names,
        scores=scores.score,
        labels=data.labels,
        classes=data.classes,
        components=scores.components,
    )
    run_metrics: dict[str, Any] = {}

    phase("metrics", 0.99)
    threshold = float(detector.threshold_)
    run_metrics.update(metrics.summary(data.labels, scores.score, threshold))
    if data.has_labels:
        for name, values in scores.components.items():
            run_metrics[f"auroc_{name}"] = metrics.auroc(data.labels, values)
    if cls.explains and data.has_masks:
        run_metrics["pixel_auroc"], run_metrics["aupro"] = _pixel_auroc(data, folder)
    run_metrics.update(timings, scored_on=scored_on, items=len(data), train_items=len(train))
    run_metrics["threshold_from"] = describe_source(getattr(detector, "threshold_source_", None))
    store.transition(
        run_id,
        (RUNNING, INTERRUPTED),
        status=DONE,
        phase="",
        progress=1.0,
        metrics=run_metrics,
        threshold=threshold,
        threshold_source=None,  # the detector's own (run_metrics["threshold_from"])
        finished=time.time(),
        cancel_requested=None,
    )
    log.info("run %d done: %s", run_id, {k: run_metrics[k] for k in sorted(run_metrics)})
    _queue_precompute(store, run_id, detector, data, scores, folder)


def _method_and_config(record: RunRecord) -> tuple[type[Detector], Any]:
    load_plugins()
    cls = get_method(record.method)
    config = from_json(cls.Config, record.config)
    validate(config)
    return cls, config


def execute_replica(
    store: RunStore,
    run_id: int,
    *,
    resume: bool = False,
    registry: DatasetSource | None = None,
) -> None:
    """Train another process's share of ``run_id`` under ``torchrun``, next to rank 0's
    :func:`execute`: the same method, settings, data and checkpoint, and nothing written (the
    shared loop lets only rank 0 save and report)."""
    record = store.get(run_id)
    cls, config = _method_and_config(record)
    registry = registry if registry is not None else default_registry(store)
    train = registry.get(record.train_dataset)
    labeled = None
    if cls.uses_labeled and record.labeled_dataset:
        labeled = registry.get(record.labeled_dataset)
    checkpoints = store.folder(run_id).checkpoints
    context = RunContext(
        checkpoint_dir=checkpoints,
        resume=resume and has_checkpoint(checkpoints),
        datasets=registry,
    )
    cls(config=config).fit(train, labeled=labeled, context=context)


def _load(store: RunStore, registry: DatasetSource, dataset_id: str) -> Dataset:
    try:
        data = registry.get(dataset_id)
    except KeyError:
        raise KeyError(f"dataset {dataset_id} is not in the registry") from None
    store.note_dataset(
        dataset_id, name=data.name or str(dataset_id), kind=data.kind.value, count=len(data)
    )
    return data


def resumed_start(record: RunRecord, now: float) -> float:
    """The start a resumed run records: ``now`` less the time it had already run, so its
    elapsed time goes on from there instead of starting again at zero (an interrupted run's
    last heartbeat stands for its end)."""
    if record.started is None:
        return now
    end = record.finished or record.heartbeat or record.started
    return now - max(0.0, float(end) - float(record.started))


def _score_and_explain(
    detector: Detector, data: Dataset, explain_dir: Path, own: Scores | None = None
) -> Scores:
    """Score ``data`` and store its explanations, chunk by chunk in one pass; only when the
    maps would exceed the byte budget are all items scored first, to explain the top ones.
    ``own``: ``data`` is the training set, shown with these scores (as the threshold saw it,
    :meth:`Detector.training_scores`) and its own maps where the method kept them."""
    parts: list[Scores] = []
    scored_first: list[Scores] = []

    def explain(positions: np.ndarray) -> Explanation:
        kept = detector.training_explanation(positions) if own is not None else None
        if kept is not None:
            parts.append(own.subset(positions))
            return kept
        scores, explanation = detector.score_and_explain(data.subset(positions))
        parts.append(own.subset(positions) if own is not None else scores)
        return explanation

    def all_scores() -> np.ndarray:
        scored_first.append(own if own is not None else score_in_chunks(detector, data))
        return scored_first[0].score

    manifest = write_explanations(
        explain_dir,
        explain,
        np.arange(len(data)),
        scores=all_scores,
        upsampling=detector.map_upsampling(),
    )
    if manifest["partial"]:
        return scored_first[0]
    return concatenate_scores(parts)


def _queue_precompute(
    store: RunStore,
    run_id: int,
    detector: Detector,
    data: Dataset,
    scores: Scores,
    folder: RunFolder,
) -> None:
    """LRP and the gradient baselines of the top-scored items, for the Explain page
    (:mod:`deepad.explain.precompute`), as a job of its own in the run queue (kind
    :data:`PRECOMPUTE`): the run is done, and its slot free, once its model is saved and
    scored. A method with no explainer but its own map has nothing to compute: its
    (empty) items are written here at once. A failure here only costs the page its
    shortcut (it computes explanations on demand), never the run."""
    from deepad.explain.precompute import precompute

    try:
        if any(m != "default" for m in detector.explanation_methods()):
            job = store.create_job(PRECOMPUTE, run_id)
            log.info("run %d: explanations to precompute queued as job %d", run_id, job)
        else:
            precompute(
                detector, data, folder.explainer_items, scores.score,
                staging=folder.explainer_items_partial,
            )  # fmt: skip
    except Exception:
        log.exception("queuing the precomputed explanations failed; they are computed on demand")


def _pixel_auroc(data: Dataset, folder: RunFolder) -> tuple[float, float]:
    """Pixel AUROC and AUPRO over the run's explained images (see
    :func:`deepad.metrics.pixel_auroc` and :func:`deepad.metrics.aupro`); with defect types,
    each type's own pixel AUROC goes to the run's ``defects`` file (computed here once, so
    the dashboard never loads every map for it)."""
    loaded = load_explanations(folder.explain)
    if loaded is None or not isinstance(loaded[1], ImageMaps):
        return float("nan"), float("nan")
    index, explanation = loaded
    masks = metrics.pixel_masks(data, index)
    rows = [row for row, mask in enumerate(masks) if mask is not None]

    def over(chosen: list[int]) -> float:
        return metrics.pixel_auroc(
            [masks[row] for row in chosen],
            [explanation.maps[row] for row in chosen],  # FCDD's are upsampled as read
            max_pixels=PIXEL_AUROC_MAX_PIXELS,
        )

    if data.classes is not None:
        defect_of = [str(data.classes[int(index[row])]) for row in rows]
        by_defect = {
            defect: over([r for r, d in zip(rows, defect_of, strict=True) if d == defect])
            for defect in sorted(set(defect_of))
        }
        folder.defects.write_text(json.dumps(by_defect))
    aupro = metrics.aupro(
        [masks[row] for row in rows],
        [explanation.maps[row] for row in rows],
        max_pixels=PIXEL_AUROC_MAX_PIXELS,
    )
    return over(rows), aupro
