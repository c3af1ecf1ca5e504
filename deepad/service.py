"""The operations the dashboard and the CLI offer, on top of deepad.data, deepad.runs and
deepad.metrics.

Pages and ``deepad`` commands call a :class:`Service` (one per deepad home) and render what it
returns; user errors come back as one :class:`ServiceError` with a one-line message. Nothing
here draws or imports streamlit, so the same calls work from a notebook or a test. Results that
never change (a registered dataset, the scores of a finished run) are kept in small in-memory
caches; anything that can change (run status, threshold) is read from the store every time.

What results become for the front ends (ranked, thresholded, curves, CSV and zip files) is in
:mod:`deepad.run_results`; where a run's files are, in :mod:`deepad.runs.layout`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepad import metrics, scoring
from deepad.config import ConfigError, ParamSpec, describe, to_json, with_overrides
from deepad.data.summary import DataSummary
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.errors import DeepadError
from deepad.models.recommend import AUTO as AUTO  # the method name asking for a recommendation
from deepad.run_results import (
    Explanations,
    ItemExplanation,
    RunResults,
    ScoredData,
    at_threshold,
    comparison_rows,
    explanations_of,
    results_from_table,
    scored_results,
)

if TYPE_CHECKING:
    from deepad.models.recommend import Recommendation
    from deepad.models.registry import MethodInfo
    from deepad.runs.layout import RunFolder

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
THRESHOLD_ENTRY = "threshold.json"  # the saved threshold beside the model files in a model zip


class ServiceError(DeepadError, RuntimeError):
    """A user-facing failure with a one-line message (bad upload, bad setting, missing run)."""


@dataclass(frozen=True)
class TrainingEstimate:
    """How long a training run will take on this machine, before it starts."""

    seconds: float
    text: str  # "about 3 minutes"
    long: bool  # over ten minutes: the Train page warns


@dataclass
class Ingested:
    """A registered upload or path. An MVTec-AD category read whole as the training set comes
    back as two datasets: its ``train/`` images (``record``) and its ``test/`` images.
    ``kind_reason`` says why the data was read as its kind when the kind was inferred."""

    record: Any
    dataset: Dataset
    test_record: Any | None = None
    test_dataset: Dataset | None = None
    kind_reason: str = ""
    # the name the same content was stored under before (None: stored now); ``record`` then
    # still reports this upload: its name and the files it skipped
    known_as: str | None = None


# --------------------------------------------------------------------------- the service
@dataclass(frozen=True)
class DemoSelection:
    """Registry ids of a demo set's parts."""

    name: str
    train: str
    test: str | None
    labeled: str | None


class Service:
    """Everything the dashboard and the CLI do, for one deepad home folder (plugin methods
    named in ``$DEEPAD_PLUGINS`` included)."""

    # days a deleted run stays restorable (the store's own figure, for the pages to show)
    trash_days: float = 7.0

    def __init__(self, home: str | Path | None = None) -> None:
        from deepad.data.registry import DatasetRegistry, home_dir
        from deepad.plugins import load_plugins
        from deepad.runs import RunStore

        try:
            load_plugins()  # so plugin methods are listed and trained like the built-in ones
        except ImportError as error:
            raise ServiceError(f"a plugin in $DEEPAD_PLUGINS did not load: {error}") from error
        self.home = Path(home) if home is not None else home_dir()
        self.registry = DatasetRegistry(self.home)
        self.store = RunStore(self.home)
        self._lock = threading.Lock()
        self._datasets: OrderedDict[str, Dataset] = OrderedDict()
        self._results: OrderedDict[int, RunResults] = OrderedDict()
        self._demos: dict[str, DemoSelection] = {}

    # ------------------------------------------------------------------ data
    def demos(self) -> list[Any]:
        from deepad.data.demo import list_demos

        return list_demos()

    def use_demo(self, name: str) -> DemoSelection:
        """Register a demo set's parts in the dataset registry (once) and return their ids."""
        with self._lock:
            if name in self._demos:
                return self._demos[name]
        from deepad.data.demo import list_demos, load_demo

        try:
            demo = load_demo(name)
        except KeyError:
            known = ", ".join(d.name for d in list_demos()) or "none"
            raise ServiceError(f"no demo set {name!r}; demo sets: {known}") from None
        except ValueError as error:  # a damaged demo folder
            raise ServiceError(f"demo set {name!r}: {error}") from error
        title = getattr(demo.info, "title", name)

        def add(part: Dataset | None, role: str) -> str | None:
            if part is None:
                return None
            return self.registry.add(part, name=f"{title} ({role})", source=f"demo:{name}").id

        selection = DemoSelection(
            name=name,
            train=add(demo.train, "train"),
            test=add(demo.test, "test"),
            labeled=add(demo.labeled, "labeled"),
        )
        with self._lock:
            self._demos[name] = selection
        return selection

    def columns(self, uploads: Sequence[tuple[str, bytes]]) -> list[str]:
        """Column names of an uploaded csv/jsonl, for the column pickers."""
        from deepad.data import Upload, read_columns

        if not uploads:
            return []
        name, data = uploads[0]
        try:
            return list(read_columns(Upload(name=name, data=data)))
        except Exception as error:
            raise ServiceError(_about(name, error)) from error

    def ingest(
        self,
        uploads: Sequence[tuple[str, bytes]],
        kind: DataKind | str | None,
        *,
        name: str = "",
        split_test: bool = False,
        **options: Any,
    ) -> Ingested:
        """Read uploaded files as one dataset and register it.

        Files that cannot be read are listed in ``dataset.skipped``; if nothing could be read
        the upload fails with the reasons. With ``split_test``, an MVTec-AD category (its
        ``train/`` and ``test/`` folders together) is registered as two datasets, so the test
        anomalies never end up in the training set. Without ``kind`` it is inferred from the
        files (:func:`deepad.data.ingest.infer_kind`).
        """
        import hashlib

        from deepad.data.sources import Upload
        from deepad.data.types import Skipped

        if not uploads:
            raise ServiceError("no files were uploaded")
        # the same file twice (one archive added again) would double every item in it: each
        # content is read once, and the copies are listed as skipped
        files, copies, seen = [], [], {}
        for n, d in uploads:
            digest = hashlib.sha256(d).hexdigest()
            if digest in seen:
                copies.append(Skipped(n, f"same content as {seen[digest]}; read once"))
                continue
            seen[digest] = n
            files.append(Upload(name=n, data=d))
        done = self._ingest(
            files if len(files) > 1 else files[0],
            kind,
            label=name or (files[0].name if len(files) == 1 else f"{len(files)} files"),
            origin="upload",
            where=files[0].name if len(files) == 1 else f"the upload ({len(files)} files)",
            split_test=split_test,
            options=options,
            copies=copies,
        )
        return done

    def ingest_path(
        self,
        path: str | Path,
        kind: DataKind | str | None = None,
        *,
        name: str = "",
        split_test: bool = False,
        kinds: frozenset[DataKind] | None = None,
        **options: Any,
    ) -> Ingested:
        """Read a file, folder or zip archive on disk as one dataset and register it, as
        :meth:`ingest` does with uploads (the name defaults to the file or folder's).

        ``kinds`` are the kinds the caller can use: with one, the data is read as that kind;
        with several, an inferred kind must be one of them.
        """
        return self._ingest(
            _existing(path),
            kind,
            label=name,
            origin=str(path),
            where=str(path),
            split_test=split_test,
            kinds=kinds,
            options=options,
        )

    def _ingest(
        self,
        source: Any,
        kind: DataKind | str | None,
        *,
        label: str,
        origin: str,
        where: str,
        split_test: bool,
        options: dict[str, Any],
        kinds: frozenset[DataKind] | None = None,
        copies: Sequence[Any] = (),
    ) -> Ingested:
        from deepad.data.images import split_train_test

        options = _given(options)
        kind, reason = _kind_of(source, kind, kinds, where, options)
        dataset = _load(source, kind, where, options)
        dataset.skipped = [*copies, *dataset.skipped]
        label = label or dataset.name or Path(origin).name
        parts = split_train_test(dataset) if split_test else None
        if parts is None:
            record, known_as = self._register(dataset, label, origin)
            return Ingested(record, dataset, kind_reason=reason, known_as=known_as)
        train, test = parts
        train.skipped = dataset.skipped  # reported once, with the training part
        train_record, known_as = self._register(train, f"{label} (train)", origin)
        return Ingested(
            train_record,
            train,
            self._register(test, f"{label} (test)", origin)[0],
            test,
            kind_reason=reason,
            known_as=known_as,
        )

    def _register(self, dataset: Dataset, name: str, source: str) -> tuple[Any, str | None]:
        """The registry record of ``dataset`` as this upload made it, and the earlier name
        when the same content was stored before. The content's id is shared, but the report
        is this upload's: its name and the files it skipped, not the earlier upload's."""
        record, known = self.registry.add_or_find(dataset, name=name, source=source)
        with self._lock:
            self._datasets[record.id] = dataset
        if not known:
            return record, None
        manifest = dict(record.manifest)
        manifest["skipped"] = [{"name": s.name, "reason": s.reason} for s in dataset.skipped]
        return dataclasses.replace(record, name=name, manifest=manifest), record.name

    def datasets(self, kind: DataKind | str | None = None) -> list[Any]:
        records = self.registry.list()
        if kind is not None:
            records = [r for r in records if str(r.kind) == str(DataKind(kind))]
        return records

    def record(self, dataset_id: str) -> Any:
        try:
            return self.registry.record(dataset_id)
        except KeyError as error:
            raise ServiceError(error.args[0]) from None

    def dataset(self, dataset_id: str) -> Dataset:
        """A registered dataset; kept in memory (content-addressed, so it never goes stale)."""
        with self._lock:
            if dataset_id in self._datasets:
                self._datasets.move_to_end(dataset_id)
                return self._datasets[dataset_id]
        dataset = self.registry.get(dataset_id)
        with self._lock:
            self._datasets[dataset_id] = dataset
            while len(self._datasets) > 8:
                self._datasets.popitem(last=False)
        return dataset

    # ------------------------------------------------------------------ methods
    @staticmethod
    def methods(kind: DataKind | str | None = None) -> list[MethodInfo]:
        """The catalogue entries of the methods that work on ``kind`` data (all without it):
        name, title, kinds, typed ``Config``, summary. No detector (nor torch) is imported."""
        from deepad.models.registry import catalog

        return catalog(kind)

    @staticmethod
    def method(name: str) -> MethodInfo:
        """The catalogue entry of method ``name``; its detector class is
        :func:`deepad.models.get_method`'s, for the processes that train and score."""
        from deepad.models.registry import method_info

        try:
            return method_info(name)
        except KeyError as error:
            raise ServiceError(error.args[0]) from None

    @staticmethod
    def method_title(name: str) -> str:
        """The method's title, from the catalogue (no detector is imported)."""
        from deepad.models.registry import method_title

        return method_title(name)

    def config_fields(self, method: str, dataset_id: str | None = None) -> list[ParamSpec]:
        """The method's settings for a form; defaults suggested for this machine and, given the
        training set ``dataset_id``, for its data (image size, network type) replace the
        config's own."""
        from deepad.hardware import device_type

        config = self.method(method).Config
        device = device_type()
        machine = config.suggested_defaults(device)
        suggested = dict(machine)
        if dataset_id is not None:
            suggested = config.suggested_defaults(device, self.data_summary(dataset_id))
        from_data = [k for k, v in suggested.items() if k not in machine or machine[k] != v]
        specs = describe(config, suggested=suggested, from_data=from_data)
        if dataset_id is None:
            return specs
        # only the fields that apply to this data (DSEBM's convolution settings are for
        # images, its recurrent ones for sequences); the others keep their defaults
        kind = str(self.record(dataset_id).kind)
        return [s for s in specs if s.kinds is None or kind in s.kinds]

    def suggested_settings(self, method: str, dataset_id: str | None = None) -> dict[str, Any]:
        """The settings :meth:`config_fields` suggests instead of the config's defaults (for
        this machine and, given ``dataset_id``, its data), by name: what the Train form sends
        when nothing is changed, and what ``deepad train`` starts from."""
        return {s.name: s.default for s in self.config_fields(method, dataset_id) if s.suggested}

    def training_estimate(
        self, method: str, values: dict[str, Any], dataset_id: str
    ) -> TrainingEstimate | None:
        """How long training ``method`` with the form's ``values`` on ``dataset_id`` will take
        on this machine (:mod:`deepad.models.cost`; no torch): None where no cost was
        measured (a GPU, tables, text, methods without a training loop) or the values are
        not valid settings."""
        from deepad.hardware import device_type
        from deepad.models.cost import (
            WARN_SECONDS,
            describe_estimate,
            estimate_fit_seconds,
            machine_speed,
        )

        try:
            settings = self.build_config(method, values)
            data = self.data_summary(dataset_id)
        except (ServiceError, KeyError, ValueError):
            return None
        seconds = estimate_fit_seconds(
            method,
            settings,
            data,
            device_type=device_type(),
            speed=machine_speed(self.home),
        )
        if seconds is None:
            return None
        return TrainingEstimate(seconds, describe_estimate(seconds), seconds > WARN_SECONDS)

    def input_plan(self, method: str, values: dict[str, Any], dataset_id: str) -> str | None:
        """How the training set's images go into ``method`` with the form's ``values``, for
        methods on a pretrained backbone that can tile: "1,600 px images → tiled into 8×8
        tiles of 224 px", or "1,600 px images → resized to 224 px" where large images are
        resized whole; None for other methods, images no larger than the input, or invalid
        values (no torch: :func:`deepad.data.tiling.plan_from_settings`)."""
        from deepad.data.tiling import plan_from_settings
        from deepad.models.cost import PRETRAINED_SIDES

        try:
            settings = self.build_config(method, values)
            data = self.data_summary(dataset_id)
            if "tiling" not in settings or data.kind != DataKind.IMAGE or not data.side:
                return None
            plan = plan_from_settings(settings, data.side)
        except (ServiceError, KeyError, ValueError, TypeError):
            return None
        if plan is not None:
            return plan.describe()
        low, high = PRETRAINED_SIDES
        side = settings.get("image_size") or min(max(data.side, low), high)
        if data.side <= side:
            return None
        return f"{data.side:,} px images → resized to {side} px"

    def recommend(
        self,
        train: str,
        test: str | None = None,
        labeled: str | None = None,
        *,
        gpu: bool | None = None,
    ) -> Recommendation:
        """The method ``auto`` stands for on the training set ``train`` (registry id), with
        the one line that says why (:func:`deepad.models.recommend.recommend`): from its kind
        and size, whether labeled anomalies (``labeled``) and defect masks in ``test`` are
        there, and whether this machine trains on a GPU (``gpu``; found without torch when
        None). Every method stays selectable; this only says where to start."""
        from deepad.hardware import device_type
        from deepad.models.recommend import recommend

        data = self.data_summary(train)
        masks = False
        if test is not None:
            masks = bool(self.record(test).manifest.get("has_masks"))
        entries = self.methods(data.kind)
        if not entries:
            raise ServiceError(f"no method works on {data.kind.value} data yet")

        def estimate(method: str) -> float | None:
            found = self.training_estimate(method, self.suggested_settings(method, train), train)
            return found.seconds if found is not None else None

        return recommend(
            data,
            available=[e.name for e in entries],
            titles={e.name: e.title for e in entries},
            labeled=labeled is not None and self.record(labeled).count > 0,
            test_masks=masks,
            gpu=device_type() == "cuda" if gpu is None else gpu,
            estimate=estimate,
        )

    def data_summary(self, dataset_id: str) -> DataSummary:
        """Kind, size, image side and channels of a registered dataset, from its manifest."""
        return DataSummary.from_manifest(self.record(dataset_id).manifest)

    @staticmethod
    def device_name() -> str:
        from deepad.hardware import describe_device

        try:
            return describe_device()
        except Exception as error:  # a broken CUDA install should not break the page
            return f"unknown ({error})"

    def build_config(self, method: str, values: dict[str, Any]) -> dict[str, Any]:
        """Validate form values against the method's typed config; return its JSON form."""
        cls = self.method(method)
        try:
            config = with_overrides(cls.Config(), values)
        except (ConfigError, TypeError, ValueError) as error:
            raise ServiceError(f"invalid setting: {error}") from error
        return to_json(config)

    # ------------------------------------------------------------------ runs
    def reconcile(self) -> None:
        """Mark runs whose worker is gone as interrupted, then start waiting runs while
        slots are free. Housekeeping only: a store that cannot be written (a full disk, a
        read-only home) is logged and reading goes on."""
        from deepad.runs import jobs
        from deepad.runs.store import StoreError

        try:
            jobs.reconcile(self.store)
            jobs.start_queued(self.store)
            self.store.purge_trash(self.trash_days)
        except StoreError as error:
            log.warning("run states not updated: %s", error)

    def start(
        self,
        method: str,
        values: dict[str, Any],
        train: str,
        test: str | None = None,
        labeled: str | None = None,
    ) -> int:
        """Create a run and start it as a background process, or leave it waiting in the
        queue while :func:`deepad.runs.jobs.max_runs` runs are active; returns the run id."""
        run_id = self.create_run(method, self.build_config(method, values), train, test, labeled)
        self.submit(run_id)
        return run_id

    def submit(self, run_id: int) -> bool:
        """Start queued runs, oldest first (``run_id`` among them), while slots are free;
        True when ``run_id`` started now, False when it waits for a slot."""
        from deepad.runs import jobs

        with _run_errors():
            return run_id in jobs.start_queued(self.store)

    def queue(self) -> dict[int, int]:
        """Waiting run id -> its place in the queue (1 starts next)."""
        from deepad.runs import jobs

        return jobs.queue_positions(self.store)

    @staticmethod
    def max_runs() -> int:
        from deepad.runs import jobs

        return jobs.max_runs()

    def create_run(
        self,
        method: str,
        config: dict[str, Any],
        train: str,
        test: str | None = None,
        labeled: str | None = None,
        *,
        memory_mb: int | None = None,
    ) -> int:
        """Record a queued run of ``method`` with ``config`` (from :meth:`build_config`) once
        every dataset is of a kind the method works on; returns the run id. ``memory_mb``:
        what the worker that takes it must have free (``deepad worker``)."""
        cls = self.method(method)
        for role, dataset_id in (("training", train), ("test", test), ("labeled", labeled)):
            if dataset_id is None:
                continue
            kind = DataKind(self.record(dataset_id).kind)
            if kind not in cls.kinds:
                names = ", ".join(sorted(k.value for k in cls.kinds))
                raise ServiceError(f"{cls.title} works on {names} data; the {role} set is {kind}")
        for role, dataset_id in (("test set", test), ("labeled anomalies", labeled)):
            problem = self.mismatch(train, dataset_id)
            if problem:
                raise ServiceError(f"the {role} does not fit the training set: {problem}")
        if memory_mb is not None and memory_mb <= 0:
            raise ServiceError("the memory a run needs must be a positive number of MiB")
        return self.store.create_run(method, config, train, test, labeled, memory_mb=memory_mb)

    def mismatch(self, train: str, other: str | None) -> str:
        """Why the dataset ``other`` cannot be scored beside the training set ``train`` (its
        kind, image size or colour, or table columns differ), or "" when it can."""
        if not other:
            return ""
        mine, theirs = self.data_summary(train), self.data_summary(other)
        if mine.kind != theirs.kind:
            return f"it holds {theirs.kind} data, the training set {mine.kind} data"
        if mine.kind == DataKind.IMAGE and (mine.side, mine.channels) != (
            theirs.side,
            theirs.channels,
        ):
            return f"{theirs.describe()} against {mine.describe()}"
        if mine.kind == DataKind.TABLE and mine.features and theirs.features:
            if mine.features != theirs.features:
                return f"{theirs.features} columns against {mine.features}"
        return ""

    def execute(self, run_id: int, *, resume: bool = False, **callbacks: Any) -> Any:
        """Run ``run_id`` to its end in this process (the foreground ``deepad train``);
        ``callbacks`` are :func:`deepad.runs.workflow.execute`'s. Returns the final record."""
        from deepad.runs.workflow import execute

        if resume:
            self._check_resumable(run_id)
        with _run_errors():
            return execute(self.store, run_id, resume=resume, **callbacks)

    def execute_replica(self, run_id: int, *, resume: bool = False) -> None:
        """Another process's share of ``run_id``'s training under ``torchrun`` (rank 0 runs
        :meth:`execute`); it reads the run and its data and writes nothing."""
        from deepad.runs.workflow import execute_replica

        with _run_errors():
            execute_replica(self.store, run_id, resume=resume)

    def runs(
        self, *, with_trash: bool = False, damaged: list[tuple[int, str]] | None = None
    ) -> list[Any]:
        """Every run but those in the trash (all of them ``with_trash``), newest first; runs
        whose stored row cannot be read are left out and, given a list ``damaged``, added to
        it as ``(id, reason)``."""
        found = self.store.list_runs(damaged=damaged)
        if with_trash:
            return found
        return [r for r in found if self.store.trashed_at(r.id) is None]
    def jobs(self, run_id: int | None = None) -> list[Any]:
        """Jobs of finished runs (scoring, explaining, preparing the stored explanations,
        exporting; rows of the same queue as training runs), newest first; only
        ``run_id``'s with it."""
        from deepad.runs.store import JOB_KINDS, TRAIN

        kinds = tuple(k for k in JOB_KINDS if k != TRAIN)
        return self.store.list_runs(kind=kinds, parent=run_id)

    @property
    def store_location(self) -> str:
        """Where the run store is, in words (no password)."""
        return str(self.store.location)

    @staticmethod
    def worker_name() -> str:
        from deepad.runs.store import this_host

        return f"{this_host()}:{os.getpid()}"

    def serve_jobs(
        self,
        *,
        until_idle: bool = False,
        max_jobs: int | None = None,
        stale_after: float | None = None,
        cpu_only: bool = False,
        memory_mb: int | None = None,
        on_job: Callable[[Any], None] | None = None,
        bodies: Mapping[str, Callable[[Any], None]] | None = None,
    ) -> int:
        """Be a worker of the store (``deepad worker``): claim queued jobs that fit this
        machine and carry them out here, until stopped (:func:`deepad.runs.worker.serve`);
        returns how many were carried out. ``bodies``: the functions of the jobs of
        finished runs, by kind (:data:`deepad.tasks.JOB_BODIES`; without them a worker takes
        training runs only)."""
        from deepad.runs.worker import serve, this_capacity

        capacity = this_capacity(memory_mb)
        if cpu_only:
            capacity = dataclasses.replace(capacity, gpu=False)
        with _run_errors():
            return serve(
                self.store, capacity=capacity, stale_after=stale_after, until_idle=until_idle,
                max_jobs=max_jobs, on_job=on_job, bodies=bodies,
            )  # fmt: skip


    def trashed_runs(self) -> list[tuple[Any, float]]:
        """The runs in the trash with when each was deleted, most recently deleted first."""
        found = []
        for record in self.store.list_runs():
            when = self.store.trashed_at(record.id)
            if when is not None:
                found.append((record, when))
        return sorted(found, key=lambda pair: -pair[1])

    def restore(self, run_id: int) -> None:
        """Take a deleted run out of the trash."""
        with _run_errors():
            self.store.restore(run_id)

    def empty_trash(self, older_than_days: float | None = None) -> list[int]:
        """Delete the runs in the trash for good (only those deleted more than
        ``older_than_days`` ago, when given); returns their ids."""
        with _run_errors():
            purged = self.store.purge_trash(older_than_days)
        with self._lock:
            for run_id in purged:
                self._results.pop(run_id, None)
        return purged

    def retry(self, run_id: int) -> int:
        """A new run with the settings and data of ``run_id`` (e.g. a failed one), started
        or queued as :meth:`start` does; returns its id."""
        record = self.run(run_id)
        new_id = self.create_run(
            record.method,
            dict(record.config),
            record.train_dataset,
            record.test_dataset,
            record.labeled_dataset,
        )
        self.submit(new_id)
        return new_id

    # ------------------------------------------------------------------ best runs
    def best_runs(self) -> dict[str, int]:
        """Training-set id -> the run marked best for it (runs in the trash left out)."""
        found = self.store.best_runs()
        return {k: v for k, v in found.items() if self.store.trashed_at(v) is None}

    def mark_best(self, run_id: int, best: bool = True) -> None:
        """Mark a finished run the best of its training set (the one before loses the
        mark), or take the mark off with ``best=False``."""
        if best and self.run(run_id).status != "done":
            raise ServiceError(f"run {run_id} is not finished; only finished runs can be best")
        with _run_errors():
            self.store.set_best(run_id, best)

    def default_run(self, train: str | None = None) -> int | None:
        """The run to score new data with: the best run of ``train`` (or of the newest
        training set that has one), else the newest finished run of ``train`` (or at all)."""
        done = [r for r in self.runs() if r.status == "done"]
        if train is not None:
            done = [r for r in done if r.train_dataset == train]
        ids = {r.id for r in done}
        best = self.best_runs()
        marked = [v for k, v in best.items() if v in ids and (train is None or k == train)]
        if marked:
            return max(marked)
        return max(ids) if ids else None

    def run(self, run_id: int) -> Any:
        with _run_errors():
            return self.store.get(run_id)

    def run_folder(self, run_id: int) -> RunFolder:
        """Where the run's files are (:class:`deepad.runs.layout.RunFolder`)."""
        return self.store.folder(run_id)

    def log_path(self, run_id: int) -> Path:
        """The run's log file (its worker's output, tracebacks of failures included)."""
        return self.run_folder(run_id).log

    def recorded_dataset(self, dataset_id: str) -> dict[str, Any] | None:
        """The name, kind and item count the run store recorded of a dataset a run used
        (there also when the dataset has left the registry), or None."""
        return self.store.dataset_summary(dataset_id)

    def metrics_at(self, run_id: int, threshold: float) -> dict[str, Any]:
        """A finished run's flagged count and, with labels, precision, recall and F1 of its
        stored scores at ``threshold`` (:func:`deepad.metrics.summary`)."""
        table = self.store.scores(run_id)
        labels = getattr(table, "label", None)
        return metrics.summary(
            None if labels is None else np.asarray(labels),
            np.asarray(table.score, dtype=np.float64),
            threshold,
        )

    def _check_resumable(self, run_id: int) -> None:
        record = self.run(run_id)
        if not record.resumable:
            raise ServiceError(
                f"run {run_id} is {record.status}; only interrupted, cancelled or failed runs "
                "can be resumed"
            )

    def history(self, run_id: int) -> list[dict]:
        return self.store.history(run_id)

    def cancel(self, run_id: int, *, wait: bool = False) -> Any:
        """Ask a run to stop; with ``wait``, return once it has. Returns its record."""
        from deepad.runs import jobs

        with _run_errors():
            return jobs.cancel_run(self.store, run_id, wait=wait)

    def resume(self, run_id: int) -> bool:
        """Put an interrupted, cancelled or failed run back in the queue to continue from its
        last checkpoint, and start it if a slot is free (True) or leave it waiting (False)."""
        from deepad.runs import jobs

        self._check_resumable(run_id)
        with _run_errors():
            jobs.enqueue_resume(self.store, run_id)
        return self.submit(run_id)

    def delete(self, run_id: int, *, wait: bool = False, trash: bool = False) -> None:
        """Delete a run and its files, cancelling it first if it is active (with ``wait``,
        until it has stopped). With ``trash`` it goes to the trash instead: hidden from
        :meth:`runs`, restorable with :meth:`restore` until the trash is emptied."""
        if self.run(run_id).status in ACTIVE:
            self.cancel(run_id, wait=wait)
        for job in self.store.list_runs(status=ACTIVE, kind=None, parent=run_id):
            # its jobs (scoring, explaining, exporting) would only fail without it
            with contextlib.suppress(ServiceError):
                self.cancel(job.id, wait=wait)
        with _run_errors():
            if trash:
                self.store.trash(run_id)
            else:
                self.store.delete(run_id)
        with self._lock:
            self._results.pop(run_id, None)

    # ------------------------------------------------------------------ results
    def results(self, run_id: int) -> RunResults:
        """Scores, labels and names of a finished run (cached: they never change)."""
        with self._lock:
            if run_id in self._results:
                return self._results[run_id]
        record = self.run(run_id)
        if record.status != "done":
            raise ServiceError(f"run {run_id} is {record.status}, not finished")
        table = self.store.scores(run_id)
        kind = DataKind(self.record(record.test_dataset or record.train_dataset).kind)
        results = results_from_table(record, table, kind)
        with self._lock:
            self._results[run_id] = results
            while len(self._results) > 8:
                self._results.popitem(last=False)
        return results

    def threshold(self, run_id: int) -> float:
        """The run's saved threshold (the detector's default until someone moves it)."""
        record = self.run(run_id)
        value = getattr(record, "threshold", None)
        if value is None or not np.isfinite(value):
            return self.results(run_id).default_threshold
        return float(value)

    def set_threshold(self, run_id: int, value: float, source: str = "manual") -> None:
        """Save the threshold ``deepad score`` and the dashboard use, with where it came from
        (``contamination``, ``best F1``, ``target FPR``, ``manual``), both in the run's row."""
        self.store.set_threshold(run_id, float(value), str(source))

    def threshold_source(self, run_id: int) -> str:
        """Where the run's saved threshold came from, in words."""
        record = self.run(run_id)
        if record.threshold_source and record.threshold is not None:
            return str(record.threshold_source)
        config = record.config
        share = float(config.get("contamination", 0.05))
        return f"contamination (top {share:.1%} of the training scores)"

    def explanations(self, run_id: int) -> Explanations | None:
        """The run's saved maps / token weights / feature weights, or None if it has none."""
        from deepad.runs.artifacts import load_explanations, read_manifest

        folder = self.run_folder(run_id).explain
        try:
            loaded = load_explanations(folder)
        except (OSError, ValueError, KeyError) as error:
            log.warning("explanations of run %d unreadable: %s", run_id, error)
            return None
        if loaded is None:
            return None
        return explanations_of(loaded, len(self.results(run_id)), read_manifest(folder))

    def defect_table(self, run_id: int, threshold: float) -> list[dict[str, Any]]:
        """Per defect type of a labeled test set: count, image AUROC (that type against the
        normals), pixel AUROC (computed when the run ended) and recall at ``threshold``;
        empty without labeled anomalies that have a type."""
        results = self.results(run_id)
        if not results.has_labels or results.classes is None:
            return []
        fixed = getattr(results, "_defects", None)  # counts and AUROCs never change
        if fixed is None:
            fixed = metrics.by_defect(results.labels, results.scores, results.classes, np.inf)
            path = self.run_folder(run_id).defects
            try:
                pixel = json.loads(path.read_text())
            except (OSError, ValueError):
                pixel = {}
            for row in fixed:
                row["pixel AUROC"] = pixel.get(row["defect"])
            results._defects = fixed
        classes = np.asarray(results.classes)
        above = metrics.flagged(results.scores, threshold)
        rows = []
        for row in fixed:
            defect = "" if row["defect"] == "(no type)" else row["defect"]
            mine = (results.labels == ANOMALOUS) & (classes == defect)
            rows.append({**row, "recall": float(above[mine].mean()) if mine.any() else np.nan})
        return rows

    def model_meta(self, run_id: int) -> dict[str, Any]:
        """The JSON metadata a run's detector saved (e.g. FCDD's receptive field, CVDD's top
        words per context), read without loading the network."""
        from deepad.errors import ModelFileError
        from deepad.models.checksum import MODEL_FILES, read_model_json

        path = self.run_folder(run_id).model / MODEL_FILES[0]
        if not path.exists():
            return {}
        try:
            header = read_model_json(path)
        except ModelFileError as error:  # a damaged file: the views show no extras
            log.warning("%s", error)
            return {}
        meta = header.get("meta", {}) if isinstance(header, dict) else {}
        return meta if isinstance(meta, dict) else {}

    def model(self, run_id: int) -> Any:
        """The run's fitted detector (for re-scoring and method views), after checking that
        its files are the ones the run saved (their checksum in the run store) and that it
        is the run's method for the run's kind of data."""
        from deepad.errors import ModelFileError
        from deepad.models.base import Detector
        from deepad.models.checksum import model_checksum

        record = self.run(run_id)
        folder = self.run_folder(run_id).model
        if record.model_checksum is not None:
            if model_checksum(folder) != record.model_checksum:
                raise ModelFileError(
                    f"{folder}: the model files differ from those run {run_id} saved (checksum "
                    "mismatch); they were changed or damaged, so they are not used"
                )
        detector = Detector.load(folder)
        if detector.name != record.method:
            raise ModelFileError(
                f"{folder}: holds a {detector.name} model, but run {run_id} trained {record.method}"
            )
        kind = self._run_kind(record)
        if kind is not None and detector.kind_.value != kind:
            raise ModelFileError(
                f"{folder}: the model is for {detector.kind_.value} data, but run {run_id} "
                f"trained on {kind} data"
            )
        return detector

    def _run_kind(self, record: Any) -> str | None:
        """The data kind of a run's training set, None when it is no longer known."""
        try:
            kind = self.registry.record(record.train_dataset).kind
        except (KeyError, OSError, ValueError):
            return None
        return getattr(kind, "value", kind)

    def score_path(
        self,
        run_id: int,
        path: str | Path,
        *,
        progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> ScoredData:
        """Score the data at ``path`` with a finished run's detector, against the run's
        threshold (:meth:`threshold`). ``options`` go to the loader of the run's data kind;
        ``progress(done, total)`` follows a large set scored in chunks."""
        source = _existing(path)
        detector = self._finished_model(run_id, "score")
        data = _load(source, detector.kind_, str(path), _given(options))
        return self._score(run_id, detector, data, str(path), progress)

    def _finished_model(self, run_id: int, action: str) -> Any:
        record = self.run(run_id)
        if record.status != "done":
            raise ServiceError(f"run {run_id} is {record.status}; only finished runs can {action}")
        try:
            return self.model(run_id)
        except (OSError, ValueError, KeyError) as error:
            raise ServiceError(f"the model of run {run_id} could not be loaded: {error}") from error

    def export(self, run_id: int, *, format: str = "onnx", output: str | Path | None = None) -> Any:
        """Write a finished run's image network with its score head as an ONNX file (default:
        ``model.onnx`` beside the run's model) and check ONNX Runtime's scores against the
        detector's on sample images; returns :class:`deepad.export.Exported`."""
        from deepad import export

        if format != "onnx":
            raise ServiceError(f"unknown export format {format!r}; known: onnx")
        detector = self._finished_model(run_id, "be exported")
        path = Path(output) if output else self.run_folder(run_id).onnx
        try:
            done = export.export_onnx(detector, path)
        except export.ExportError as error:
            raise ServiceError(str(error)) from error
        except ModuleNotFoundError as error:
            raise ServiceError(
                f"ONNX export needs {error.name}: pip install deepad[scale]"
            ) from error
        try:
            done.max_score_error = export.check_parity(
                detector, path, export.sample_images(detector)
            )
        except ModuleNotFoundError:
            log.warning("onnxruntime is not installed: the exported scores were not checked")
        return done

    def compare(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        """One row per run: method, data, settings that differ, metrics."""
        records = [self.run(i) for i in run_ids]
        best = set(self.best_runs().values())
        return comparison_rows(records, best, [self._at_saved_threshold(r) for r in records])

    def _at_saved_threshold(self, record: Any) -> dict[str, Any]:
        """P/R/F1 and the flagged count at the threshold saved for scoring (when one was
        saved), so Compare shows what ``deepad score`` would do, not the default's numbers."""
        if record.status != "done" or record.threshold is None:
            return {}
        try:
            results = self.results(record.id)
        except Exception:  # a run without scores: its recorded metrics stand
            return {}
        return at_threshold(results, record.threshold)

    # ------------------------------------------------------------------ the model, in use
    def model_archive(self, run_id: int) -> bytes:
        """A finished run's model as one zip: its weights (safetensors), its JSON metadata
        and the threshold saved for scoring (``threshold.json``)."""
        if self.run(run_id).status != "done":
            raise ServiceError(f"run {run_id} is not finished; it has no model to download")
        folder = self.run_folder(run_id).model
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        if not files:
            raise ServiceError(f"run {run_id} kept no model files")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, f"run{run_id}_model/{path.relative_to(folder).as_posix()}")
            threshold = {
                "threshold": self.threshold(run_id),
                "source": self.threshold_source(run_id),
            }
            archive.writestr(f"run{run_id}_model/{THRESHOLD_ENTRY}", json.dumps(threshold))
        return buffer.getvalue()

    @staticmethod
    def exportable(method: str) -> bool:
        """Whether ``deepad export`` writes this method's runs as ONNX (image data only)."""
        from deepad.models.registry import method_info

        try:
            return method_info(method).exports
        except KeyError:
            return False

    def export_in_background(self, run_id: int, *, timeout: float = 600.0) -> dict[str, Any]:
        """:meth:`export` as a job of the run queue (the app process never imports torch),
        waited for: ``{"path", "input_shape", "outputs", "max_score_error"}`` of the ONNX
        file written beside the run's model."""
        from deepad.runs import jobs
        from deepad.runs.store import EXPORT

        self._finished_model_record(run_id, "be exported")
        with _run_errors():
            job = self.store.create_job(EXPORT, run_id)
            jobs.start_queued(self.store)
        deadline = time.monotonic() + timeout
        record = self.store.get(job)
        while record.active and time.monotonic() < deadline:
            time.sleep(0.2)
            record = self.store.get(job)
        if record.active:
            with contextlib.suppress(ServiceError):
                self.cancel(job)
            where = "waited in the queue" if record.status == "queued" else "took"
            raise ServiceError(f"exporting run {run_id} {where} over {timeout:.0f} s")
        if record.status != "done":
            raise ServiceError(record.error or f"exporting run {run_id} was {record.status}")
        return dict(record.metrics)

    def _finished_model_record(self, run_id: int, action: str) -> Any:
        record = self.run(run_id)
        if record.status != "done":
            raise ServiceError(f"run {run_id} is {record.status}; only finished runs can {action}")
        return record

    def score_dataset(
        self,
        run_id: int,
        dataset_id: str,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ScoredData:
        """Score the registered dataset ``dataset_id`` with a finished run's detector, against
        the run's saved threshold: :meth:`score_path` for data already ingested."""
        detector = self._finished_model(run_id, "score")
        return self._score(run_id, detector, self.dataset(dataset_id), dataset_id, progress)

    def _score(
        self,
        run_id: int,
        detector: Any,
        data: Dataset,
        where: str,
        progress: Callable[[int, int], None] | None,
    ) -> ScoredData:
        """The one scoring step of ``deepad score`` and the score jobs of the dashboard."""
        if DataKind(detector.kind_) != data.kind:
            raise ServiceError(f"run {run_id} scores {detector.kind_} data; {where} is {data.kind}")
        try:
            scores = score_in_chunks(detector, data, progress=progress)
        except ValueError as error:  # e.g. a table with other columns than the training set
            raise ServiceError(f"could not score {where}: {error}") from error
        return ScoredData(data, scores, self.threshold(run_id))

    def start_score_job(self, run_id: int, dataset_id: str) -> str:
        """Score the registered dataset ``dataset_id`` with a finished run in a background
        process (:func:`deepad.runs.jobs.start_scoring`); returns the job's id."""
        from deepad.runs.jobs import start_scoring

        self._finished_model_record(run_id, "score")
        record = self.run(run_id)
        problem = self.mismatch(record.train_dataset, dataset_id)
        if problem:
            raise ServiceError(f"run {run_id} cannot score this data: {problem}")
        with _run_errors():
            return start_scoring(self.store, run_id, dataset_id)

    def score_jobs(self, run_id: int) -> list[dict[str, Any]]:
        """The run's score jobs, newest first: ``{job, dataset, status, done, total[,
        error, flagged, threshold]}`` from their rows of the run queue."""
        from deepad.runs.store import SCORE

        return [_job_state(r) for r in self.store.list_runs(kind=SCORE, parent=run_id)]

    def scored_results(self, run_id: int, job: str) -> tuple[RunResults, Explanations | None]:
        """A finished score job's items as :class:`RunResults` (ranked, flagged, exported
        like a run's test set) at the run's saved threshold, and its heatmaps if any."""
        from deepad.runs.artifacts import load_explanations, read_manifest
        from deepad.runs.store import SCORE

        try:
            folder = self.run_folder(run_id).score_job(job)
            record = self.store.get(int(job))
        except (ValueError, KeyError):
            raise ServiceError(f"run {run_id} has no score job {job}") from None
        if record.kind != SCORE or record.parent != run_id:
            raise ServiceError(f"run {run_id} has no score job {job}")
        if record.status != "done":
            raise ServiceError(f"score job {job} of run {run_id} is {record.status}")
        state = _job_state(record)
        try:
            saved = np.load(folder.scores)
        except (OSError, ValueError) as error:
            raise ServiceError(f"score job {job} of run {run_id} has no results: {error}") from None
        dataset_id = str(state["dataset"])
        data = self.dataset(dataset_id)
        with saved:
            arrays = {k: np.asarray(saved[k]) for k in saved.files}
        results = scored_results(
            run_id, self.run(run_id).method, dataset_id, data, arrays, self.threshold(run_id)
        )
        try:
            loaded = load_explanations(folder.explain)
        except (OSError, ValueError, KeyError):
            loaded = None
        if loaded is None:
            return results, None
        return results, explanations_of(loaded, len(results), read_manifest(folder.explain))

    # ------------------------------------------------------------------ explainers
    def explain_item(
        self, run_id: int, item: int, *, timeout: float = 300.0, saved: bool = True
    ) -> ItemExplanation:
        """Every available explainer's map for one item of a finished run: read from what the
        run's precompute job stored (:mod:`deepad.explain.precompute`), else (or with
        ``saved=False``) computed in a short-lived subprocess (the app process never imports
        torch)."""
        if saved:
            started = time.perf_counter()
            found = self._precomputed_item(run_id, int(item))
            if found is not None:
                return replace(found, seconds=time.perf_counter() - started)
        import subprocess
        import sys
        import tempfile

        from deepad.runs.jobs import _worker_env

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "item.npz"
            command = [
                sys.executable, "-m", "deepad.explain.job", "--home", str(self.store.home),
                "--run", str(run_id), "--item", str(int(item)), "--out", str(out),
            ]  # fmt: skip
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=_worker_env()
            )
            if done.returncode != 0 or not out.exists():
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise ServiceError(f"explaining item {item} of run {run_id} failed: {tail[0]}")
            with np.load(out) as saved:
                found = {k: np.asarray(saved[k]) for k in saved.files}
        maps = {k[4:]: v for k, v in found.items() if k.startswith("map.")}
        number = {k: float(v) for k, v in found.items() if not k.startswith("map.")}
        return ItemExplanation(
            maps=maps,
            score=number["score"],
            relevance_sum=number.get("relevance_sum"),
            absorbed=number.get("absorbed"),
            seconds=number.get("seconds", float("nan")),
        )

    def _precomputed_item(self, run_id: int, item: int) -> ItemExplanation | None:
        from deepad.explain.precompute import read_item

        try:
            found = read_item(self.run_folder(run_id).explainer_items, item)
        except (OSError, ValueError, KeyError) as error:
            log.warning("precomputed explanations of run %d unreadable: %s", run_id, error)
            return None
        if found is None:
            return None
        maps = dict(found["maps"])
        own = self.explanations(run_id)
        if own is not None and own.has(item):
            row = own.row[item]
            explanation = own.explanation
            if own.kind == "image":
                maps = {"default": np.asarray(explanation.maps[row], np.float32), **maps}
            else:
                maps = {"default": np.asarray(explanation.weights[row], np.float32), **maps}
        elif not maps:
            return None  # nothing stored for this item: compute it
        return ItemExplanation(
            maps=maps,
            score=float(self.results(run_id).scores[item]),
            relevance_sum=found.get("relevance_sum"),
            absorbed=found.get("absorbed"),
            source="precomputed",
        )

    def explanations_pending(self, run_id: int) -> dict[str, Any] | None:
        """The run's precompute job while it waits or runs (``job``, ``status``, ``done``,
        ``total``): its stored explanations are being prepared, and until they are an item's
        are computed on demand. None when there is none (finished, failed or never queued)."""
        from deepad.runs.store import PRECOMPUTE

        found = self.store.list_runs(status=ACTIVE, kind=PRECOMPUTE, parent=run_id)
        return _job_state(found[0]) if found else None

    def start_explain_job(self, run_id: int) -> int:
        """Queue the job explaining every item of a finished run (a row of the run queue,
        started when a slot is free); returns its id."""
        from deepad.runs.jobs import start_explain

        if self.run(run_id).status != "done":
            raise ServiceError(f"run {run_id} is not finished")
        with _run_errors():
            return start_explain(self.store, run_id)

    def explain_job(self, run_id: int) -> dict[str, Any] | None:
        """The run's newest explain job (``job``, ``status``, ``done``, ``total``[,
        ``error``]) from its row of the run queue, or None if never queued."""
        from deepad.runs.store import EXPLAIN

        found = self.store.list_runs(kind=EXPLAIN, parent=run_id)
        return _job_state(found[0]) if found else None

    def cancel_explain_job(self, run_id: int) -> None:
        """Cancel the run's explain job that waits or runs, as any run is cancelled."""
        from deepad.runs.store import EXPLAIN

        for record in self.store.list_runs(status=ACTIVE, kind=EXPLAIN, parent=run_id):
            with contextlib.suppress(ServiceError):
                self.cancel(record.id)

    def explainer_table(self, run_id: int) -> list[dict[str, Any]]:
        """The explain job's comparison rows (pixel AUROC, cosine, Clever Hans score per
        explainer and defect kind); empty until it has finished or without masks."""
        path = self.run_folder(run_id).explain_summary
        try:
            return list(json.loads(path.read_text()).get("rows", []))
        except (OSError, ValueError):
            return []


SCORE_CHUNK = scoring.SCORE_CHUNK


def score_in_chunks(
    detector: Any, data: Dataset, *, progress: Callable[[int, int], None] | None = None
) -> Any:
    """:func:`deepad.scoring.score_in_chunks` in chunks of :data:`SCORE_CHUNK` items."""
    return scoring.score_in_chunks(detector, data, chunk=SCORE_CHUNK, progress=progress)


def _job_state(record: Any) -> dict[str, Any]:
    """A job's row as the pages show it: ``job`` (its id), ``status``, ``done``, ``total``,
    what it was given (e.g. ``dataset``) and what it found (e.g. ``flagged``)."""
    state = {
        "job": str(record.id),
        "status": record.status,
        "done": int(record.epoch),
        "total": int(record.epochs),
        "started": record.started,
        "finished": record.finished,
        "host": record.host,
        **record.params,
        **record.metrics,
    }
    if record.error:
        state["error"] = record.error
    return state


def _existing(path: str | Path) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise ServiceError(f"{path}: no such file or folder")
    return found


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The loader options that were set (forms send empty strings for unset ones)."""
    return {k: v for k, v in options.items() if v not in (None, "")}


def _kind_of(
    source: Any,
    kind: DataKind | str | None,
    kinds: frozenset[DataKind] | None,
    where: str,
    options: dict[str, Any],
) -> tuple[DataKind, str]:
    """The kind to read ``source`` as, and the reason when it was inferred."""
    from deepad.data.ingest import infer_kind

    if kind is not None:
        return DataKind(kind), ""
    if kinds is not None and len(kinds) == 1:
        return next(iter(kinds)), ""
    try:
        inferred = infer_kind(
            source, text_column=options.get("text_column"), id_column=options.get("id_column")
        )
    except (ValueError, OSError) as error:
        raise ServiceError(f"cannot tell what kind of data {where} holds: {error}") from error
    if kinds is not None and inferred.kind not in kinds:
        names = " or ".join(sorted(k.value for k in kinds))
        raise ServiceError(
            f"{where} reads as {inferred.kind} data ({inferred.reason}); only {names} data "
            "fits here, so give the kind"
        )
    return inferred.kind, inferred.reason


def _load(source: Any, kind: DataKind, where: str, options: dict[str, Any]) -> Dataset:
    """``source`` read as ``kind`` data; a failed read, or nothing readable, is a
    :class:`ServiceError` with the reasons."""
    from deepad.data.ingest import load_any

    try:
        dataset = load_any(source, kind, **options)
    except Exception as error:
        raise ServiceError(f"could not read {_about(where, error)}") from error
    if len(dataset) == 0:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in dataset.skipped[:5])
        empty = "" if reasons else " (no files in it)"
        raise ServiceError(f"no usable items in {where}{empty}{': ' + reasons if reasons else ''}")
    return dataset


def _about(where: str, error: BaseException) -> str:
    """``where: error``, without naming the file twice when the error already starts with
    it ("zero.csv: empty file", not "zero.csv: zero.csv: empty file")."""
    text = str(error)
    return text if text.startswith(f"{where}:") else f"{where}: {text}"


@contextlib.contextmanager
def _run_errors() -> Iterator[None]:
    """A missing run or a run in the wrong state, as a :class:`ServiceError`."""
    from deepad.runs.store import RunNotFound, RunStateError

    try:
        yield
    except (RunNotFound, RunStateError) as error:
        raise ServiceError(str(error)) from error
