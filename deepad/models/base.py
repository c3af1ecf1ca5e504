"""The detector contract every method follows, and the registry of methods.

Every detector:

- takes keyword-only parameters (the fields of its ``Config`` dataclass) and only stores them;
- ``fit(train, y=None, *, labeled=None, validation=None, progress=None, context=None)``
  returns ``self`` (``y`` is ignored, for scikit-learn);
- ``decision_function(items)`` gives one score per item, higher = more anomalous;
- ``score(items)`` gives the same score plus named components (e.g. both DSEBM criteria);
- ``prepare(items, context=...)`` optionally does ahead of scoring the slow per-item work
  (CVDD: embedding documents), reporting it as a stage; scoring does it itself otherwise;
- ``explain(items, method=...)`` gives per-item maps where the method has them (``explains``
  is True), and LRP or gradient maps for network detectors that declare ``lrp_model``;
  ``score_and_explain(items)`` gives both, from one forward pass where the method can;
- tables and sequences are matched to the training columns by name wherever items come in;
- after ``fit``: ``decision_scores_`` (training scores, leave-one-out where a method keeps
  its training items), ``threshold_`` (the ``1 - contamination`` quantile of scores of
  normal items the model did not fit: held out, out-of-fold or leave-one-out, see
  :mod:`deepad.models.threshold`) and ``threshold_source_`` (which of them, saved with the
  model); ``predict`` compares with ``threshold_``;
- ``save(directory)`` / ``Detector.load(directory)``: safetensors plus JSON, never pickle.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from deepad.config import ConfigError, from_json, to_json, validate
from deepad.data.types import DataKind, Dataset, as_dataset
from deepad.errors import ModelFileError
from deepad.models.config import DetectorConfig
from deepad.models.threshold import (
    ThresholdSource,
    cross_fit_folds,
    holdout_split,
    normal_positions,
    source_record,
    threshold_at,
)
from deepad.results import Explanation, Scores
from deepad.train.progress import ProgressCallback, RunContext

FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """A detector was used before ``fit`` (or ``load``)."""


class Detector(ABC):
    """Base class of every anomaly detector in deepad.

    ``decision_function`` is higher for more anomalous items (PyOD's convention). That is the
    opposite sign of ``decision_function`` and ``score_samples`` of scikit-learn's own outlier
    detectors (``IsolationForest``, ``OneClassSVM``), which are higher for more normal items;
    so ``roc_auc_score(y, detector.decision_function(X))`` with ``y`` = 1 for anomalies
    measures a detector directly.

    Detectors also follow scikit-learn's estimator protocol: ``get_params``/``set_params``
    work on the fields of ``Config`` (and any other constructor argument), and ``fit(X, y)``
    accepts (and ignores) ``y``, so ``sklearn.base.clone``, ``Pipeline`` and ``GridSearchCV``
    work on tables (numpy arrays). ``score`` is deepad's (per-item scores with components),
    not scikit-learn's ``score(X, y)``; give a search a scorer, e.g.
    ``make_scorer(roc_auc_score, response_method="decision_function")`` with labeled
    validation folds.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[DetectorConfig]]
    kinds: ClassVar[frozenset[DataKind]]
    explains: ClassVar[bool] = False
    uses_labeled: ClassVar[bool] = False  # makes use of labeled anomalies in fit
    # where the default threshold's scores come from when the method has no leave-one-out
    # scores (deepad.models.threshold): held_out (train on the rest; networks) or cross_fit
    # (refit on all; only for methods cheap enough to fit six times)
    threshold_from: ClassVar[ThresholdSource] = ThresholdSource.HELD_OUT
    # training items the last leave-one-out scoring also scored without their near-duplicates
    _without_duplicates: int = 0
    _estimator_type: ClassVar[str] = "outlier_detector"  # scikit-learn < 1.6 reads this

    def __init__(self, *, config: DetectorConfig | None = None, **params: Any) -> None:
        base = config if config is not None else self.Config()
        self.config = dataclasses.replace(base, **params) if params else base

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # ----------------------------------------------------------------- scikit-learn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The configuration fields by name; ``deep`` changes nothing (no nested estimators)."""
        del deep
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def set_params(self, **params: Any) -> Self:
        """Replace parameters by name; they take effect at the next ``fit``."""
        valid = self.get_params()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"invalid parameter(s) {', '.join(unknown)} for {type(self).__name__}; "
                f"valid ones are {', '.join(valid)}"
            )
        self.config = dataclasses.replace(self.config, **params)
        return self

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn's meta-estimators and scorers ask: an outlier detector whose
        ``fit`` needs no ``y``."""
        from sklearn.utils import Tags, TargetTags  # only scikit-learn calls this

        return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False))

    # ----------------------------------------------------------------- public API
    def fit(
        self,
        train: Any,
        y: Any = None,
        *,
        labeled: Any = None,
        validation: Any = None,
        progress: ProgressCallback | None = None,
        context: RunContext | None = None,
    ) -> Self:
        """Learn normality from ``train``; ``labeled`` adds known anomalies where supported.

        ``y`` is ignored by every method and only there for scikit-learn, which passes the
        labels of a split as the second argument (e.g. in ``GridSearchCV``); labeled anomalies
        for a semi-supervised method go to ``labeled``.

        The default threshold comes from normal items the model did not fit
        (:mod:`deepad.models.threshold`): a ``validation`` set's normal items when one is
        given; else leave-one-out scores where the method has them; else, for methods cheap
        to fit (``threshold_from = cross_fit``), out-of-fold scores, the model then refitted
        on all of ``train``; else ``threshold_holdout`` of the normal items is held out, the
        model is trained on the rest (not refitted: training a network twice costs twice) and
        the held-out items are the training loop's validation set.
        """
        from deepad.train.loop import forked_rng  # torch: only once something is trained

        del y
        validate(self.config)
        train = self._check_kind(as_dataset(train))
        if len(train) == 0:
            raise ValueError("the training set is empty")
        check_finite_items(train, "training")
        self.columns_ = list(train.columns) if train.columns else None
        labeled = self._like_train(labeled, train)
        validation = self._like_train(validation, train)
        context = context or RunContext()
        with forked_rng():  # seeding inside must not change the caller's random draws
            scores, held_scores, source = self._fit_for_threshold(
                train, labeled, validation, progress, context
            )
        self.decision_scores_ = check_finite_scores(scores, train.names).score.astype(np.float64)
        if held_scores is None:
            held_scores = self.decision_scores_
        self.threshold_ = threshold_at(held_scores, self.config.contamination)
        self.threshold_source_ = source
        self.kind_ = train.kind
        return self

    def threshold_strategy(self) -> ThresholdSource:
        """How :meth:`fit` gets scores of normal items the model did not fit: leave-one-out
        where the method overrides :meth:`_training_scores`, else ``threshold_from``."""
        if type(self)._training_scores is not Detector._training_scores:
            return ThresholdSource.LEAVE_ONE_OUT
        return self.threshold_from

    def _fit_for_threshold(
        self,
        train: Dataset,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> tuple[Scores, np.ndarray | None, dict[str, Any]]:
        """Fit, and return the training scores, the scores the threshold is read from (None:
        the training scores themselves) and where they came from (see
        :mod:`deepad.models.threshold`)."""
        cfg = self.config
        n = len(train)
        strategy = self.threshold_strategy()
        seed = int(getattr(cfg, "seed", 0))
        share = float(cfg.threshold_holdout)

        def fit(part: Dataset, held: Dataset | None) -> None:
            self._fit(part, labeled=labeled, validation=held, progress=progress, context=context)

        if validation is not None:
            normal = validation.subset(normal_positions(validation.labels, len(validation)))
            if len(normal):
                fit(train, normal)
                held = self._checked_scores(normal)
                return (
                    self._training_scores(train),
                    held,
                    source_record(ThresholdSource.VALIDATION, len(normal), len(normal)),
                )
        if strategy == ThresholdSource.LEAVE_ONE_OUT or share <= 0:
            fit(train, None)
            kind = (
                ThresholdSource.LEAVE_ONE_OUT
                if strategy == ThresholdSource.LEAVE_ONE_OUT
                else ThresholdSource.TRAINING
            )
            scores = self._training_scores(train)
            left_out = self._without_duplicates  # set by the leave-one-out scoring, if any
            return scores, None, source_record(kind, n, n, without_duplicates=left_out)
        if strategy == ThresholdSource.CROSS_FIT:
            folds = cross_fit_folds(train.labels, n, share, seed)
            if folds is not None:
                out_of_fold = []
                for done, held_positions in enumerate(folds):
                    context.stage("fitting folds for the threshold", done, len(folds))
                    other = type(self)(config=cfg)
                    other.columns_ = self.columns_
                    rest = np.setdiff1d(np.arange(n), held_positions)
                    other._fit(
                        train.subset(rest),
                        labeled=labeled,
                        validation=None,
                        progress=None,
                        context=context,
                    )
                    out_of_fold.append(other._checked_scores(train.subset(held_positions)))
                fit(train, None)
                held = np.concatenate(out_of_fold)
                return (
                    self._training_scores(train),
                    held,
                    source_record(ThresholdSource.CROSS_FIT, len(held), len(held)),
                )
        else:
            split = holdout_split(train.labels, n, share, seed)
            if split is not None:
                fit_positions, held_positions = split
                held_set = train.subset(held_positions)
                fit(train.subset(fit_positions), held_set)
                normals = len(normal_positions(train.labels, n))
                return (
                    self._score(train),
                    self._checked_scores(held_set),
                    source_record(ThresholdSource.HELD_OUT, len(held_positions), normals),
                )
        fit(train, None)  # too few normal items to hold any out
        return self._training_scores(train), None, source_record(ThresholdSource.TRAINING, n, n)

    def _checked_scores(self, data: Dataset) -> np.ndarray:
        return check_finite_scores(self._score(data), data.names).score.astype(np.float64)

    def score(self, items: Any) -> Scores:
        """The primary score and its named components for each item; a NaN or infinite
        score is a ``ValueError`` naming the item, never a result."""
        data = self._checked(items)
        loaded_from = getattr(self, "_loaded_from", None)
        try:
            scores = self._score(data)
        except (RuntimeError, IndexError, KeyError, TypeError, MemoryError, OverflowError) as exc:
            if loaded_from is None:
                raise
            # a loaded model whose parts do not fit together (checked on load where it can be)
            text = str(exc).strip().splitlines()
            raise ModelFileError(
                f"{loaded_from}: the saved model cannot score ({text[0] if text else type(exc).__name__}); "
                "its files are damaged or were changed"
            ) from None
        return check_finite_scores(scores, data.names, loaded_from)

    def prepare(self, items: Any, *, context: RunContext | None = None) -> None:
        """Do the slow per-item work that scoring ``items`` needs, reporting it through
        ``context.stage`` (so a run shows it and can be cancelled during it). Scoring works
        without this call; methods with nothing slow to prepare do nothing."""
        self._prepare(self._checked(items), context or RunContext())

    def decision_function(self, items: Any) -> np.ndarray:
        """One anomaly score per item; higher means more anomalous."""
        return self.score(items).score

    def predict(self, items: Any) -> np.ndarray:
        """1 for items scored above ``threshold_``, else 0."""
        return (self.decision_function(items) > self.threshold_).astype(np.int8)

    def explain(self, items: Any, *, method: str = "default") -> Explanation:
        """Per-item explanation maps (pixels, tokens or features).

        ``method``: ``default`` is the method's own map (FCDD's heatmap, the autoencoder's
        error); ``lrp``, ``gradient`` (``|∂score/∂x|``) and ``gradient_x_input`` work for
        every detector whose :meth:`lrp_model` declares its network
        (:mod:`deepad.explain.lrp`).
        """
        data = self._checked(items)
        if method != "default":
            from deepad.explain.lrp import explain_network  # torch: only for these methods

            if type(self).lrp_model is Detector.lrp_model:
                raise NotImplementedError(f"{self.title} declares no network for {method}")
            return explain_network(self, data, method)
        if not self.explains:
            raise NotImplementedError(f"{self.title} has no explanation maps")
        return self._explain(data)

    def explanation_methods(self) -> list[str]:
        """The ``method`` values :meth:`explain` accepts for this detector."""
        own = ["default"] if self.explains else []
        if type(self).lrp_model is not Detector.lrp_model:
            own += ["lrp", "gradient", "gradient_x_input"]
        return own

    def lrp_model(self, data: Dataset) -> Any:
        """The score written as the last layers of the network, for LRP and gradients
        (a :class:`deepad.explain.lrp.LRPModel`); network detectors override this."""
        raise NotImplementedError(f"{self.title} declares no network for LRP")

    def score_and_explain(self, items: Any) -> tuple[Scores, Explanation]:
        """:meth:`score` and :meth:`explain` of the same items, in one pass over the network
        where the method's maps come from the same forward pass as its scores (FCDD)."""
        data = self._checked(items)
        if not self.explains:
            raise NotImplementedError(f"{self.title} has no explanation maps")
        return self._score_and_explain(data)

    def training_scores(self) -> Scores | None:
        """The training items' scores as the default threshold saw them: the leave-one-out
        scores of a method whose model holds its training items (scored with the full
        model, each would find itself there and none would reach the threshold). None where
        the threshold came from other items (held out, out of fold): the model's own scores
        of its training items then stand."""
        source = getattr(self, "threshold_source_", None) or {}
        scores = getattr(self, "decision_scores_", None)
        if source.get("source") != ThresholdSource.LEAVE_ONE_OUT.value or scores is None:
            return None
        return Scores(np.asarray(scores, dtype=np.float64))

    def training_explanation(self, positions: np.ndarray) -> Explanation | None:
        """The explanations of the training items at ``positions`` that go with
        :meth:`training_scores`, where the method kept them from its fit (in the process
        that fitted; they are not saved); None otherwise."""
        del positions
        return None

    def map_upsampling(self) -> dict[str, Any] | None:
        """How this method's full-resolution maps follow from its ``low_res`` maps
        (receptive field, σ, image size), so a run stores only ``low_res``; None where the
        maps are stored as they are."""
        return None

    def inference_graph(self) -> Any:
        """The fitted detector's whole inference, raw pixels to score (and map), as one CPU
        :class:`deepad.models.inference.InferenceGraph` in eval mode, for export; None where
        the method (or the kind of data it was fitted on) has no image network."""
        return None

    def save(self, directory: str | Path) -> Path:
        """Write ``detector.json`` and ``detector.safetensors`` into ``directory``."""
        from deepad.train.checkpoint import save_state  # torch: only to save or load a model

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tensors, meta = self._state()
        save_state(
            directory / "detector",
            {
                "format": FORMAT_VERSION,
                "method": self.name,
                "config": to_json(self.config),
                "kind": self.kind_.value,
                "columns": self.columns_,
                "threshold": self.threshold_,
                "threshold_source": getattr(self, "threshold_source_", None),
                "decision_scores": self.decision_scores_,
                "meta": meta,
                "tensors": tensors,
            },
        )
        return directory

    @staticmethod
    def load(directory: str | Path, *, device: str = "cpu") -> Detector:
        """Rebuild a fitted detector saved by :meth:`save` (any registered method)."""
        from deepad.models.registry import get_method
        from deepad.train.checkpoint import load_state, read_json

        directory = Path(directory)
        path = directory / "detector.json"
        if not directory.is_dir():
            raise ModelFileError(f"{directory}: no model folder")
        header = read_json(path)
        if not isinstance(header, dict):
            raise ModelFileError(f"{path}: holds a JSON {type(header).__name__}, not an object")
        method = header.get("method")
        try:
            cls = get_method(method) if isinstance(method, str) else None
        except KeyError:
            cls = None
        if cls is None:
            raise ModelFileError(f"{path}: 'method' is not a known method ({method!r})")
        saved = load_state(directory / "detector", device="cpu")
        _check_saved(saved, path)
        _check_sizes(saved, path)
        try:
            config = from_json(cls.Config, saved["config"])
            validate(config)
        except (ConfigError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: bad config: {exc}") from None
        if hasattr(config, "device") and device != "cpu":
            config = dataclasses.replace(config, device=device)
        detector = cls(config=config)
        detector._loaded_from = directory  # named when its scores come out non-finite
        detector.kind_ = DataKind(saved["kind"])
        detector.columns_ = saved.get("columns")
        detector.threshold_ = float(saved["threshold"])
        source = saved.get("threshold_source")  # absent in models saved before it was kept
        detector.threshold_source_ = source if isinstance(source, dict) else None
        detector.decision_scores_ = np.asarray(saved["decision_scores"], dtype=np.float64)
        try:
            detector._restore(saved["tensors"], saved["meta"])
        except Exception as exc:  # e.g. torch's "size mismatch", a missing key in meta
            text = str(exc).strip().splitlines()
            reason = text[0] if text else type(exc).__name__
            raise ModelFileError(
                f"{directory}: the saved state does not fit {cls.title}: {reason}"
            ) from None
        return detector

    # ----------------------------------------------------------------- for subclasses
    @abstractmethod
    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None: ...

    @abstractmethod
    def _score(self, data: Dataset) -> Scores: ...

    def _explain(self, data: Dataset) -> Explanation:
        raise NotImplementedError

    def _score_and_explain(self, data: Dataset) -> tuple[Scores, Explanation]:
        return self._score(data), self._explain(data)

    def _prepare(self, data: Dataset, context: RunContext) -> None:
        del data, context  # nothing to prepare by default

    def _training_scores(self, train: Dataset) -> Scores:
        """Scores of the training set that set ``threshold_``; a method whose model holds
        the training items themselves (a memory bank) scores each one without itself, so
        the threshold matches what unseen normal items score."""
        return self._score(train)

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fitted state as (tensors/arrays by name, JSON-ready metadata)."""

    @abstractmethod
    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Inverse of :meth:`_state`."""

    # ----------------------------------------------------------------- helpers
    def _checked(self, items: Any) -> Dataset:
        """``items`` as a dataset of the fitted kind, its columns matched to the training ones."""
        self._check_fitted()
        return self._align_columns(self._check_kind(as_dataset(items, self.kind_)))

    def _like_train(self, items: Any, train: Dataset) -> Dataset | None:
        """Labeled or validation data in the training set's kind and columns."""
        if items is None:
            return None
        return self._align_columns(self._check_kind(as_dataset(items, train.kind)))

    def _align_columns(self, data: Dataset) -> Dataset:
        """Tables and sequences are matched to the training columns by name: columns in
        another order are put back in order and extra ones are left out (e.g. an id or a
        numeric label column); a missing training column is an error."""
        wanted = getattr(self, "columns_", None)
        if not wanted or not data.columns or list(data.columns) == wanted:
            return data
        missing = [c for c in wanted if c not in data.columns]
        if missing:
            raise ValueError(
                f"the data lacks the training column(s) {', '.join(missing)} "
                f"(it has {', '.join(data.columns)})"
            )
        position = [data.columns.index(c) for c in wanted]
        if data.kind == DataKind.TABLE:
            items: Any = np.asarray(data.items)[:, position]
        else:
            items = [np.asarray(steps)[:, position] for steps in data.items]
        return dataclasses.replace(data, items=items, columns=list(wanted))

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def _check_kind(self, data: Dataset) -> Dataset:
        if data.kind not in self.kinds:
            kinds = ", ".join(sorted(k.value for k in self.kinds))
            raise ValueError(f"{self.title} works on {kinds} data, not {data.kind.value}")
        return data


# Top-level keys of detector.json and the types their values must have.
_SAVED_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "config": (dict,),
    "kind": (str,),
    "columns": (list, type(None)),
    "threshold": (int, float),
    "decision_scores": (np.ndarray,),
    "meta": (dict,),
    "tensors": (dict,),
}


def _check_saved(saved: dict[str, Any], path: Path) -> None:
    """The types of a loaded ``detector.json``'s top-level keys, before anything is built."""
    for key, types in _SAVED_TYPES.items():
        if key not in saved:
            raise ModelFileError(f"{path}: no {key!r}")
        value = saved[key]
        if not isinstance(value, types) or isinstance(value, bool):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ModelFileError(f"{path}: {key!r} must be {names}, not {type(value).__name__}")
    if saved["kind"] not in {k.value for k in DataKind}:
        raise ModelFileError(f"{path}: 'kind' {saved['kind']!r} is not a data kind")
    if saved["columns"] is not None and not all(isinstance(c, str) for c in saved["columns"]):
        raise ModelFileError(f"{path}: 'columns' must be a list of names")
    if not np.isfinite(saved["threshold"]):
        raise ModelFileError(f"{path}: 'threshold' is not finite")


# Sizes a method reads from its saved metadata, and their bounds: a tampered value must not
# make loading allocate terabytes (e.g. an image side of 10^9).
_META_SIZES: dict[str, tuple[int, int]] = {
    "image_size": (0, 4096),
    "channels": (0, 16),
    "features": (0, 10**6),  # 0: an image model
    "code_size": (1, 10**6),
    "dim": (1, 10**6),
    "filters": (1, 10**5),
    "hidden": (1, 10**6),
    "shape": (1, 10**6),
    "input_shape": (1, 10**6),
}
_MAX_META_ELEMENTS = 2**28  # the product of a saved shape


def _check_sizes(saved: dict[str, Any], path: Path) -> None:
    """Bound the sizes read from metadata, and refuse double-precision network tensors
    (deepad's networks are single precision; float64 weights would fail mid-scoring)."""
    import torch  # loaded already: load_state needs it

    for key, value in saved["meta"].items():
        if key not in _META_SIZES:
            continue
        low, high = _META_SIZES[key]
        values = value if isinstance(value, list) else [value]
        if value is None and key == "image_size":
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ModelFileError(f"{path}: meta {key!r} must be whole numbers")
        if any(not low <= v <= high for v in values):
            raise ModelFileError(f"{path}: meta {key!r} = {value} is outside {low}..{high}")
        if isinstance(value, list) and int(np.prod(values, dtype=np.float64)) > _MAX_META_ELEMENTS:
            raise ModelFileError(f"{path}: meta {key!r} = {value} is too large")

    def walk(node: Any, where: str) -> None:
        if isinstance(node, torch.Tensor):
            if node.dtype == torch.float64:
                raise ModelFileError(
                    f"{path}: tensor {where} is float64; deepad's networks save float32"
                )
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                walk(v, f"{where}.{i}")

    walk(saved["tensors"], "tensors")


def check_finite_items(data: Dataset, role: str) -> None:
    """Tables and sequences must hold finite float32 values; the first bad one is named."""
    if data.kind == DataKind.TABLE:
        blocks: Any = [np.asarray(data.items)]
        names = None
    elif data.kind == DataKind.SEQUENCE:
        blocks, names = data.items, data.names
    else:
        return
    for i, block in enumerate(blocks):
        values = np.asarray(block)
        if not np.issubdtype(values.dtype, np.number):
            continue
        with np.errstate(over="ignore"):
            bad = np.argwhere(~np.isfinite(values.astype(np.float32)))
        if bad.size:
            row, col = (int(v) for v in bad[0][:2]) if values.ndim > 1 else (int(bad[0][0]), 0)
            item = data.names[row] if names is None else f"{names[i]}, step {row + 1}"
            column = data.columns[col] if data.columns and col < len(data.columns) else col + 1
            raise ValueError(
                f"{role} item {item}, column {column!r}: a value that is NaN, infinite or "
                "beyond float32's range (about ±3.4e38)"
            )


def check_finite_scores(scores: Scores, names: list[str], model: Path | None = None) -> Scores:
    """``scores`` unchanged when every value is finite; else a ``ValueError`` naming the
    items, and the model's folder when the detector was loaded from one."""
    for label, values in (("score", scores.score), *scores.components.items()):
        values = np.asarray(values)
        if values.dtype.kind not in "fc":
            continue
        bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
        if bad.size:
            shown = ", ".join(names[i] for i in bad[:3]) if len(names) == len(values) else ""
            where = f"the model files in {model} are" if model is not None else "the model is"
            raise ValueError(
                f"{bad.size} of {len(values)} items got a NaN or infinite {label} "
                f"(e.g. {shown or f'item {int(bad[0])}'}); an input value is out of range for "
                f"this model, or {where} damaged"
            )
    return scores
