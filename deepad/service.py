"""The operations the dashboard and the CLI offer, on top of deepad.data, deepad.runs and
deepad.metrics.

Pages and ``deepad`` commands call a :class:`Service` (one per deepad home) and render what it
returns; user errors come back as one :class:`ServiceError` with a one-line message. Nothing
here draws or imports streamlit, so the same calls work from a notebook or a test. Results that
never change (a registered dataset, the scores of a finished run) are kept in small in-memory
caches; anything that can change (run status, threshold) is read from the store every time.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from deepad import metrics, scoring
from deepad.config import ConfigError, ParamSpec, describe, to_json, with_overrides
from deepad.data.summary import DataSummary
from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset
from deepad.errors import DeepadError
from deepad.models.recommend import AUTO as AUTO  # the method name asking for a recommendation
from deepad.receptive_field import ReceptiveField, upsample_numpy
from deepad.results import DEFECTS_FILE, Explanation, explanation_kind

if TYPE_CHECKING:
    from deepad.models.recommend import Recommendation
    from deepad.models.registry import MethodInfo

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
# the methods `deepad export` writes as ONNX (deepad.export.exportable_methods, which needs
# torch; a test keeps the two equal)
EXPORTABLE = ("ae", "deepsad", "deepsvdd", "fcdd", "hsc", "patchcore")
THRESHOLD_SOURCE_FILE = "threshold.json"  # in the run's folder: where its threshold came from
FILTERS = ("all", "flagged", "unflagged", "labeled normal", "labeled anomalous")


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


@dataclass(frozen=True)
class ScoredData:
    """New data scored by a finished run's detector, with the run's current threshold."""

    dataset: Dataset
    scores: Any  # deepad.models.Scores: score and components per item
    threshold: float

    @property
    def flagged(self) -> int:
        return int(metrics.flagged(self.scores.score, self.threshold).sum())


# --------------------------------------------------------------------------- results
@dataclass
class RunResults:
    """The scored items of a finished run, ready to rank, threshold and plot."""

    run_id: int
    method: str
    dataset_id: str
    kind: DataKind
    names: list[str]
    scores: np.ndarray
    labels: np.ndarray | None
    classes: list[str] | None
    components: dict[str, np.ndarray] = field(default_factory=dict)
    default_threshold: float = float("nan")
    contamination: float = 0.05

    def __len__(self) -> int:
        return int(self.scores.size)

    @property
    def has_labels(self) -> bool:
        """Both normal and anomalous labels are present (needed for curves and best F1)."""
        if self.labels is None:
            return False
        return bool(np.any(self.labels == NORMAL)) and bool(np.any(self.labels == ANOMALOUS))

    @property
    def order(self) -> np.ndarray:
        """Item indices by descending score (computed once)."""
        cached = getattr(self, "_order", None)
        if cached is None:
            cached = np.argsort(-self.scores, kind="stable")
            self._order = cached
        return cached


@dataclass(frozen=True)
class Explanations:
    """A run's saved explanations and where each scored item's row is.

    ``explanation`` is an ``ImageMaps`` (memory-mapped float16), ``TokenWeights`` or
    ``FeatureWeights``; ``row[i]`` is item ``i``'s row in it, or -1 when the item was not
    explained (large runs keep maps of the top-scored items only).
    """

    explanation: Explanation
    row: np.ndarray
    partial: bool = False

    def has(self, item: int) -> bool:
        return 0 <= item < self.row.size and self.row[item] >= 0

    @property
    def kind(self) -> str:
        """ "image", "tokens" or "features" (see :func:`deepad.results.explanation_kind`)."""
        return explanation_kind(self.explanation)


def ranked(
    results: RunResults,
    threshold: float,
    which: str = "all",
    *,
    by: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of items passing the filter ``which``, most anomalous first.

    ``by`` ranks by another per-item value (e.g. one score component) instead of the score.
    Work is a few vectorised passes over the arrays, so 10,000 items take well under a millisecond.
    """
    if which not in FILTERS:
        raise ValueError(f"unknown filter {which!r}; choose one of {', '.join(FILTERS)}")
    order = results.order if by is None else np.argsort(-np.asarray(by), kind="stable")
    if which == "all":
        return order
    if which in ("flagged", "unflagged"):
        flagged = metrics.flagged(results.scores[order], threshold)
        return order[flagged if which == "flagged" else ~flagged]
    if results.labels is None:
        return order[:0]
    wanted = NORMAL if which == "labeled normal" else ANOMALOUS
    return order[results.labels[order] == wanted]


def threshold_presets(
    results: RunResults, *, contamination: float | None = None, target_fpr: float = 0.05
) -> dict[str, float]:
    """Named thresholds: the run's default, contamination quantile, and with labels best F1 and
    a target false-positive rate."""
    presets = {}
    if np.isfinite(results.default_threshold):
        presets["default (from training scores)"] = float(results.default_threshold)
    share = results.contamination if contamination is None else contamination
    presets[f"top {share:.1%}"] = metrics.threshold_for_contamination(results.scores, share)
    if results.has_labels:
        presets["best F1 (uses labels)"] = metrics.best_f1_threshold(
            results.labels, results.scores
        )[0]
        presets[f"FPR ≤ {target_fpr:.0%} (uses labels)"] = metrics.threshold_for_fpr(
            results.labels, results.scores, target_fpr
        )
    return presets


@dataclass(frozen=True)
class Curves:
    fpr: np.ndarray
    tpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auroc: float
    auprc: float


def curves(results: RunResults) -> Curves | None:
    """ROC and precision-recall curves, or None without both labels."""
    if not results.has_labels:
        return None
    fpr, tpr, _ = metrics.roc_points(results.labels, results.scores)
    precision, recall, _ = metrics.pr_points(results.labels, results.scores)
    return Curves(
        fpr=fpr,
        tpr=tpr,
        precision=precision,
        recall=recall,
        auroc=metrics.auroc(results.labels, results.scores),
        auprc=metrics.auprc(results.labels, results.scores),
    )


def write_scores_csv(
    out: TextIO,
    order: Sequence[int] | np.ndarray,
    names: Sequence[str],
    scores: np.ndarray,
    threshold: float,
    *,
    labels: np.ndarray | None = None,
    components: dict[str, np.ndarray] | None = None,
) -> None:
    """Items ``order`` as CSV: id (position in the scored set), name, score, flagged (1 above
    ``threshold``), label (1 anomalous, 0 normal, empty if unknown) and one column per score
    component (e.g. DSEBM's energy and reconstruction, CVDD's per-context scores)."""
    components = components or {}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "name", "score", "flagged", "label", *components])
    above = metrics.flagged(np.asarray(scores, dtype=np.float64), threshold)
    for i in np.asarray(order, dtype=np.int64):
        label = "" if labels is None or labels[i] == UNKNOWN else int(labels[i])
        writer.writerow(
            [int(i), names[i], repr(float(scores[i])), int(above[i]), label]
            + [repr(float(values[i])) for values in components.values()]
        )


def flagged_csv(results: RunResults, threshold: float) -> bytes:
    """CSV of the flagged items, most anomalous first (columns: :func:`write_scores_csv`)."""
    buffer = io.StringIO()
    write_scores_csv(
        buffer,
        ranked(results, threshold, "flagged"),
        results.names,
        results.scores,
        threshold,
        labels=results.labels,
        components=results.components,
    )
    return buffer.getvalue().encode()


def zip_pngs(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip archive of (file name, PNG bytes) pairs; PNGs are stored, not recompressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def safe_stem(name: str) -> str:
    stem = Path(name).stem or "item"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]


def heatmap_file_name(rank: int, name: str) -> str:
    """The zip entry of the heatmap of the item ``name`` at ``rank``: the item's path kept
    (``hole/011.png`` -> ``hole/00001_011.png``), so items of different folders with one file
    name stay apart; every part made safe for a file system."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    folders = [safe_stem(p + ".x") for p in parts[:-1]]
    return "/".join([*folders, f"{rank:05d}_{safe_stem(parts[-1] if parts else '')}.png"])


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
        from deepad.data.ingest import Upload, read_columns

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

        from deepad.data.ingest import Upload
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
        return recommend(
            data,
            available=[e.name for e in entries],
            titles={e.name: e.title for e in entries},
            labeled=labeled is not None and self.record(labeled).count > 0,
            test_masks=masks,
            gpu=device_type() == "cuda" if gpu is None else gpu,
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
    ) -> int:
        """Record a queued run of ``method`` with ``config`` (from :meth:`build_config`) once
        every dataset is of a kind the method works on; returns the run id."""
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
        return self.store.create_run(method, config, train, test, labeled)

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

    def runs(self) -> list[Any]:
        """Every run but those in the trash, newest first."""
        return [r for r in self.store.list_runs() if self.store.trashed_at(r.id) is None]

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
        with _run_errors():
            if trash:
                self.store.trash(run_id)
            else:
                self.store.delete(run_id)
        with self._lock:
            self._results.pop(run_id, None)

    def log_tail(self, run_id: int, lines: int = 40) -> str:
        """The end of a run's log file (the full story behind a one-line failure reason)."""
        path = self.store.log_path(run_id)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

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
        scores = np.asarray(_column(table, "score"), dtype=np.float64)
        labels = _column(table, "label")
        labels = None if labels is None else np.asarray(labels, dtype=np.int8)
        if labels is not None and not np.any(labels != UNKNOWN):
            labels = None
        names = [str(n) for n in _column(table, "name")]
        classes = _column(table, "class")
        if classes is None:
            classes = _column(table, "classes")
        components = _column(table, "components") or {}
        config = record.config if isinstance(record.config, dict) else json.loads(record.config)
        dataset_id = record.test_dataset or record.train_dataset
        results = RunResults(
            run_id=run_id,
            method=record.method,
            dataset_id=dataset_id,
            kind=DataKind(self.record(dataset_id).kind),
            names=names,
            scores=scores,
            labels=labels,
            classes=None if classes is None else [str(c) for c in classes],
            components={k: np.asarray(v, dtype=np.float64) for k, v in components.items()},
            default_threshold=_default_threshold(record, scores),
            contamination=float(config.get("contamination", 0.05)),
        )
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
        (``contamination``, ``best F1``, ``target FPR``, ``manual``)."""
        self.store.set_threshold(run_id, float(value))
        path = self.store.artifacts_dir(run_id) / THRESHOLD_SOURCE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"value": float(value), "source": str(source)}))

    def threshold_source(self, run_id: int) -> str:
        """Where the run's saved threshold came from, in words."""
        path = self.store.artifacts_dir(run_id) / THRESHOLD_SOURCE_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = None
        if saved and np.isclose(float(saved.get("value", np.nan)), self.threshold(run_id)):
            return str(saved.get("source", "manual"))
        record = self.run(run_id)
        config = record.config if isinstance(record.config, dict) else json.loads(record.config)
        share = float(config.get("contamination", 0.05))
        return f"contamination (top {share:.1%} of the training scores)"

    def explanations(self, run_id: int) -> Explanations | None:
        """The run's saved maps / token weights / feature weights, or None if it has none."""
        from deepad.runs.artifacts import load_explanations, read_manifest

        folder = self.store.artifacts_dir(run_id) / "explain"
        try:
            loaded = load_explanations(folder)
        except (OSError, ValueError, KeyError) as error:
            log.warning("explanations of run %d unreadable: %s", run_id, error)
            return None
        if loaded is None:
            return None
        index, explanation = loaded
        n = len(self.results(run_id))
        row = np.full(n, -1, dtype=np.int64)
        keep = (index >= 0) & (index < n)
        row[index[keep]] = np.flatnonzero(keep)
        manifest = read_manifest(folder) or {}
        return Explanations(explanation, row, partial=bool(manifest.get("partial")))

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
            path = self.store.artifacts_dir(run_id) / DEFECTS_FILE
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
        from deepad.models.checksum import read_model_json

        path = self.store.artifacts_dir(run_id) / "model" / "detector.json"
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
        folder = self.store.artifacts_dir(run_id) / "model"
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
        path = Path(output) if output else self.store.artifacts_dir(run_id) / "model.onnx"
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
        configs = [
            r.config if isinstance(r.config, dict) else json.loads(r.config) for r in records
        ]
        keys = sorted({k for c in configs for k in c})
        differing = [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]
        rows = []
        best = set(self.best_runs().values())
        for record, config in zip(records, configs, strict=True):
            found = dict(record.metrics) if isinstance(record.metrics, dict) else {}
            found.update(self._at_saved_threshold(record))
            # metrics first: with several methods the differing settings are many
            row = {
                "run": record.id,
                "best": "★" if record.id in best else "",
                "method": record.method,
                "status": record.status,
            }
            row.update({k: found.get(k) for k in METRIC_ORDER if k in found})
            row.update({k: v for k, v in found.items() if k not in METRIC_ORDER})
            row.update({f"set {k}": _setting_text(config.get(k)) for k in differing})
            rows.append(row)
        return rows

    def _at_saved_threshold(self, record: Any) -> dict[str, Any]:
        """P/R/F1 and the flagged count at the threshold saved for scoring (when one was
        saved), so Compare shows what ``deepad score`` would do, not the default's numbers."""
        if record.status != "done" or record.threshold is None:
            return {}
        try:
            results = self.results(record.id)
        except Exception:  # a run without scores: its recorded metrics stand
            return {}
        point = metrics.operating_point(results.labels, results.scores, record.threshold)
        out: dict[str, Any] = {"threshold": float(record.threshold), "flagged": point.flagged}
        if results.has_labels:
            out.update(precision=point.precision, recall=point.recall, f1=point.f1)
        return out

    # ------------------------------------------------------------------ the model, in use
    def model_archive(self, run_id: int) -> bytes:
        """A finished run's model as one zip: its weights (safetensors), its JSON metadata
        and the threshold saved for scoring (``threshold.json``)."""
        if self.run(run_id).status != "done":
            raise ServiceError(f"run {run_id} is not finished; it has no model to download")
        folder = self.store.model_dir(run_id)
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
            archive.writestr(f"run{run_id}_model/threshold.json", json.dumps(threshold))
        return buffer.getvalue()

    @staticmethod
    def exportable(method: str) -> bool:
        """Whether ``deepad export`` writes this method's runs as ONNX (image data only)."""
        return method in EXPORTABLE

    def export_in_background(self, run_id: int, *, timeout: float = 600.0) -> dict[str, Any]:
        """:meth:`export` in a short-lived process (the app process never imports torch):
        ``{"path", "input_shape", "outputs", "max_score_error"}`` of the ONNX file written
        beside the run's model."""
        import subprocess
        import sys

        from deepad.runs.jobs import _worker_env

        self._finished_model_record(run_id, "be exported")
        out = self.store.artifacts_dir(run_id) / "export.json"
        out.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "deepad.tasks", "--home", str(self.store.home),
            str(run_id), "--export", str(out),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=_worker_env()
            )
        except subprocess.TimeoutExpired:
            raise ServiceError(f"exporting run {run_id} took over {timeout:.0f} s") from None
        try:
            found = json.loads(out.read_text())
        except (OSError, ValueError):
            tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"exporting run {run_id} failed: {tail[0]}") from None
        if "error" in found:
            raise ServiceError(found["error"])
        return found

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
        error]}``."""
        from deepad.runs.jobs import score_job_folders

        found = []
        for folder in score_job_folders(self.store, run_id):
            try:
                state = json.loads((folder / "progress.json").read_text())
            except (OSError, ValueError):
                continue
            found.append({"job": folder.name, **state})
        return found

    def scored_results(self, run_id: int, job: str) -> tuple[RunResults, Explanations | None]:
        """A finished score job's items as :class:`RunResults` (ranked, flagged, exported
        like a run's test set) at the run's saved threshold, and its heatmaps if any."""
        from deepad.runs.artifacts import load_explanations, read_manifest
        from deepad.runs.jobs import score_job_folder

        folder = score_job_folder(self.store, run_id, job)
        try:
            state = json.loads((folder / "progress.json").read_text())
            saved = np.load(folder / "scores.npz")
        except (OSError, ValueError) as error:
            raise ServiceError(f"score job {job} of run {run_id} has no results: {error}") from None
        if state.get("status") != "done":
            raise ServiceError(f"score job {job} of run {run_id} is {state.get('status')}")
        dataset_id = str(state["dataset"])
        data = self.dataset(dataset_id)
        with saved:
            scores = np.asarray(saved["score"], np.float64)
            components = {
                k[len("component.") :]: np.asarray(saved[k], np.float64)
                for k in saved.files
                if k.startswith("component.")
            }
        labels = None
        if data.labels is not None and np.any(np.asarray(data.labels) != UNKNOWN):
            labels = np.asarray(data.labels, np.int8)
        threshold = self.threshold(run_id)
        results = RunResults(
            run_id=run_id,
            method=self.run(run_id).method,
            dataset_id=dataset_id,
            kind=data.kind,
            names=list(data.names),
            scores=scores,
            labels=labels,
            classes=None if data.classes is None else [str(c) for c in data.classes],
            components=components,
            default_threshold=threshold,
        )
        explanations = None
        try:
            loaded = load_explanations(folder / "explain")
        except (OSError, ValueError, KeyError):
            loaded = None
        if loaded is not None:
            index, explanation = loaded
            row = np.full(len(results), -1, dtype=np.int64)
            keep = (index >= 0) & (index < len(results))
            row[index[keep]] = np.flatnonzero(keep)
            manifest = read_manifest(folder / "explain") or {}
            explanations = Explanations(explanation, row, partial=bool(manifest.get("partial")))
        return results, explanations

    # ------------------------------------------------------------------ explainers
    def explain_item(
        self, run_id: int, item: int, *, timeout: float = 300.0, saved: bool = True
    ) -> ItemExplanation:
        """Every available explainer's map for one item of a finished run: read from what the
        run precomputed when it scored (:mod:`deepad.explain.precompute`), else (or with
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
        from deepad.explain.precompute import FOLDER, read_item

        try:
            found = read_item(self.store.artifacts_dir(run_id) / FOLDER, item)
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

    def start_explain_job(self, run_id: int) -> int:
        """Start the background job explaining every item of a finished run."""
        from deepad.runs.jobs import start_explain

        if self.run(run_id).status != "done":
            raise ServiceError(f"run {run_id} is not finished")
        return start_explain(self.store, run_id)

    def explain_job(self, run_id: int) -> dict[str, Any] | None:
        """The explain job's progress (``status``, ``done``, ``total``) or None if never run."""
        path = self.store.artifacts_dir(run_id) / "explainers" / "progress.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def cancel_explain_job(self, run_id: int) -> None:
        folder = self.store.artifacts_dir(run_id) / "explainers"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cancel").touch()

    def explainer_table(self, run_id: int) -> list[dict[str, Any]]:
        """The explain job's comparison rows (pixel AUROC, cosine, Clever Hans score per
        explainer and defect kind); empty until it has finished or without masks."""
        path = self.store.artifacts_dir(run_id) / "explainers" / "summary.json"
        try:
            return list(json.loads(path.read_text()).get("rows", []))
        except (OSError, ValueError):
            return []


@dataclass(frozen=True)
class ItemExplanation:
    """One item's explanations by explainer (``default`` = the method's own map), its score,
    and for LRP the relevance that reached the input and what biases absorbed."""

    maps: dict[str, np.ndarray]
    score: float
    relevance_sum: float | None = None
    absorbed: float | None = None
    seconds: float = float("nan")
    source: str = "computed"  # or "precomputed": read from what the run stored when scoring


SCORE_CHUNK = scoring.SCORE_CHUNK


def score_in_chunks(
    detector: Any, data: Dataset, *, progress: Callable[[int, int], None] | None = None
) -> Any:
    """:func:`deepad.scoring.score_in_chunks` in chunks of :data:`SCORE_CHUNK` items."""
    return scoring.score_in_chunks(detector, data, chunk=SCORE_CHUNK, progress=progress)


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


METRIC_ORDER = ("auroc", "auprc", "pixel_auroc", "aupro", "f1", "precision", "recall", "flagged")


def _setting_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _column(table: Any, name: str) -> Any:
    if isinstance(table, dict):
        return table.get(name)
    return getattr(table, name, None)


def _default_threshold(record: Any, scores: np.ndarray) -> float:
    found = record.metrics if isinstance(record.metrics, dict) else {}
    value = found.get("threshold")
    if value is None:
        value = getattr(record, "threshold", None)
    return float(value) if value is not None else float(np.quantile(scores, 0.95))


def fcdd_upsample(low_res: np.ndarray, meta: dict[str, Any], sigma: float) -> np.ndarray:
    """FCDD's Gaussian receptive-field upsampling of stored low-resolution maps with ``sigma``
    (numpy only, so the dashboard re-upsamples without torch)."""
    rf = ReceptiveField.from_json(meta["receptive_field"])
    return upsample_numpy(low_res, rf, sigma, size=int(meta["image_size"]))
