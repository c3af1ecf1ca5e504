"""Shallow baselines on scikit-learn: KDE, one-class SVM, PCA and isolation forest.

All four work on standardised feature vectors (table rows, or flattened pixels of images
resized to ``image_size``). Fitted models are kept as plain arrays, and scores are computed
from those arrays both after ``fit`` and after ``load``, so a saved detector scores exactly
as the fitted one did and nothing is pickled.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM

from deepad.data.overlap import shared_regions
from deepad.data.types import DataKind, Dataset
from deepad.models.base import Detector
from deepad.models.registry import register
from deepad.models.shallow.config import (
    BandwidthRule,
    IForestConfig,
    KDEConfig,
    OCSVMConfig,
    PCAConfig,
)
from deepad.models.shallow.features import FeatureMap
from deepad.models.shallow.iforest_arrays import check_forest, forest_arrays, forest_scores
from deepad.models.threshold import ThresholdSource
from deepad.results import FeatureWeights, ImageMaps, Scores
from deepad.train.progress import ProgressCallback, RunContext

SCORE_CHUNK = 2048  # rows per block of pairwise distances, to bound memory
NU_FLOOR = 1e-3  # OC-SVM nu from a contamination of 0 would leave no support vectors


class ShallowDetector(Detector):
    """Common part: standardised features, array state, chunked scoring. Cheap to fit, so
    the threshold comes from out-of-fold scores and the model is refitted on all items."""

    threshold_from = ThresholdSource.CROSS_FIT

    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        self.features_ = FeatureMap()
        x = self.features_.fit(train, image_size=self.config.image_size)
        self.model_ = self._fit_model(x)

    def _score(self, data: Dataset) -> Scores:
        x = self.features_.transform(data)
        return Scores(score=self._score_features(x).astype(np.float64))

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors, meta = self.features_.state()
        tensors.update({f"model.{k}": np.asarray(v) for k, v in self.model_.items()})
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        arrays = {k: np.asarray(v) for k, v in tensors.items()}
        self.features_ = FeatureMap.from_state(arrays, meta)
        self.model_ = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
        self._check_model(self.features_.dimension)

    # (name, shape) of each model array: an int is that size, "d" the feature count, another
    # letter a size shared by the arrays naming it (at least 1)
    _MODEL_SHAPES: ClassVar[tuple[tuple[str, tuple[int | str, ...]], ...]] = ()

    def _check_model(self, d: int) -> None:
        """The loaded arrays have the shapes this method saves, so a damaged or tampered
        model is refused on load instead of scoring garbage or failing half-way."""
        sizes: dict[str, int] = {"d": d}
        for name, shape in self._MODEL_SHAPES:
            array = self.model_.get(name)
            if array is None:
                raise ValueError(f"the model has no array {name!r}")
            if array.dtype.kind not in "fiu" or array.ndim != len(shape):
                raise ValueError(f"model array {name!r} is not a {len(shape)}-D numeric array")
            for axis, (want, got) in enumerate(zip(shape, array.shape, strict=True)):
                if isinstance(want, str):
                    want = sizes.setdefault(want, got)
                    if got < 1:
                        raise ValueError(f"model array {name!r} is empty")
                if got != want:
                    raise ValueError(
                        f"model array {name!r} has {got} entries on axis {axis}, expected {want}"
                    )

    @abstractmethod
    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Fit on standardised features; return the arrays that :meth:`_score_features` uses."""

    @abstractmethod
    def _score_features(self, x: np.ndarray) -> np.ndarray: ...


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


# --------------------------------------------------------------------------- KDE
# the thesis grid 2^0.5..2^5, extended down for low-dimensional standardised tables
BANDWIDTH_GRID = tuple(2.0**p for p in np.arange(-4.0, 5.01, 0.5))


@register
class KDE(ShallowDetector):
    """Gaussian kernel density; score = negative log-density."""

    name = "kde"
    config: KDEConfig
    _MODEL_SHAPES = (("points", ("n", "d")), ("bandwidth", (1,)))

    def _check_model(self, d: int) -> None:
        super()._check_model(d)
        if not float(self.model_["bandwidth"][0]) > 0:
            raise ValueError("the bandwidth is not positive")

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        bandwidth = cfg.bandwidth
        if bandwidth is None and cfg.bandwidth_rule == BandwidthRule.SCOTT:
            n, d = x.shape
            bandwidth = float(n ** (-1.0 / (d + 4)))
        elif bandwidth is None:
            rng = np.random.default_rng(cfg.seed)
            sample = x[rng.permutation(len(x))[: cfg.cv_max_rows]]
            folds = min(5, len(sample))
            if folds >= 2:
                search = GridSearchCV(
                    KernelDensity(kernel="gaussian"), {"bandwidth": BANDWIDTH_GRID}, cv=folds
                )
                search.fit(sample)
                bandwidth = float(search.best_params_["bandwidth"])
            else:
                bandwidth = 1.0
        self.bandwidth_ = bandwidth
        return {"points": x.astype(np.float32), "bandwidth": np.asarray([bandwidth])}

    def lrp_model(self, data: Dataset) -> Any:
        """The neuralized KDE (:mod:`deepad.explain.kde`) on the standardised features; its
        relevance sums to the score less the constant ``(D/2) log(2πh²)``."""
        import torch
        from torch import nn

        from deepad.explain.declare import LRPModel
        from deepad.explain.kde import kde_relevance

        x = torch.from_numpy(self.features_.transform(data))
        if data.kind == DataKind.IMAGE:
            side = self.features_.image_size_
            x = x.view(len(x), -1, side, side)
        return LRPModel(
            network=nn.Flatten(),
            inputs=x,
            relevance=kde_relevance(
                torch.from_numpy(self.model_["points"]), float(self.model_["bandwidth"][0])
            ),
            kind=data.kind,
        )

    def _score_features(
        self, x: np.ndarray, *, leave_out: bool = False, shared: list[np.ndarray] | None = None
    ) -> np.ndarray:
        """Negative log-density; with ``leave_out``, ``x`` are the model's own points and
        each is scored by the density of the others (its own kernel left out, and those of
        the points ``shared[i]`` names for point ``i``)."""
        points = self.model_["points"]
        h = float(self.model_["bandwidth"][0])
        n, d = points.shape
        others = np.full(len(x), n - 1 if leave_out else n)
        if leave_out and shared is not None:
            others -= np.array([len(found) for found in shared])
        log_norm = np.log(np.maximum(others, 1)) + 0.5 * d * np.log(2.0 * np.pi * h * h)
        out = np.empty(len(x))
        for s in range(0, len(x), SCORE_CHUNK):
            sq = _squared_distances(x[s : s + SCORE_CHUNK], points)
            if leave_out and n > 1:
                rows = np.arange(len(sq))
                sq[rows, s + rows] = np.inf
                if shared is not None:
                    for row in rows:
                        sq[row, shared[s + row]] = np.inf
            out[s : s + SCORE_CHUNK] = log_norm[s : s + SCORE_CHUNK] - logsumexp(
                -0.5 * sq / (h * h), axis=1
            )
        return out

    def _training_scores(self, train: Dataset) -> Scores:
        """Leave-one-out: each training row is scored by the density of the other rows, as
        an unseen normal row would be. Scored by the density that includes its own kernel,
        a training row looks far more normal than new normal rows do, and the threshold
        from ``contamination`` then flagged most new normal rows (84 % instead of 5 % on
        8-D Gaussian rows). A training image is also scored without the images that share a
        region with it (:func:`deepad.data.overlap.shared_regions`: overlapping crops of one
        picture), whose kernels would stand in for its own; where that would leave no
        kernel, only its own is left out."""
        points = self.model_["points"]  # the training rows, in order
        shared = None
        if train.kind == DataKind.IMAGE and len(train) == len(points):
            shared = [
                found if len(found) < len(points) - 1 else found[:0]
                for found in shared_regions(train.items)
            ]
        return Scores(
            score=self._score_features(points, leave_out=True, shared=shared).astype(np.float64)
        )


# --------------------------------------------------------------------------- OC-SVM
@register
class OCSVM(ShallowDetector):
    """One-class SVM with an RBF kernel; score = negative decision value."""

    name = "ocsvm"
    config: OCSVMConfig
    _MODEL_SHAPES = (
        ("support_vectors", ("m", "d")),
        ("dual_coef", ("m",)),
        ("intercept", (1,)),
        ("gamma", (1,)),
    )

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        gamma = "scale" if cfg.gamma is None else cfg.gamma
        nu = cfg.nu if cfg.nu is not None else max(cfg.contamination, NU_FLOOR)
        svm = OneClassSVM(kernel="rbf", nu=nu, gamma=gamma).fit(x)
        return {
            "support_vectors": svm.support_vectors_.astype(np.float32),
            "dual_coef": svm.dual_coef_.ravel().astype(np.float64),
            "intercept": np.asarray(svm.intercept_, dtype=np.float64),
            "gamma": np.asarray([svm._gamma], dtype=np.float64),
        }

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        sv, coef = self.model_["support_vectors"], self.model_["dual_coef"]
        gamma = float(self.model_["gamma"][0])
        out = np.empty(len(x))
        for s in range(0, len(x), SCORE_CHUNK):
            kernel = np.exp(-gamma * _squared_distances(x[s : s + SCORE_CHUNK], sv))
            out[s : s + SCORE_CHUNK] = -(kernel @ coef + self.model_["intercept"][0])
        return out


# --------------------------------------------------------------------------- PCA
@register
class PCA(ShallowDetector):
    """Principal subspace; score = mean squared reconstruction error of the standardised input."""

    name = "pca"
    config: PCAConfig
    _MODEL_SHAPES = (("mean", ("d",)), ("components", ("k", "d")))

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        mean = x.mean(0, dtype=np.float64)
        _, sing, vt = np.linalg.svd(x - mean, full_matrices=False)
        if self.config.components is not None:
            k = min(self.config.components, len(sing))
        else:
            ratio = np.cumsum(sing**2) / max(float((sing**2).sum()), 1e-12)
            k = int(np.searchsorted(ratio, self.config.variance - 1e-9) + 1)
            k = min(k, len(sing))
        self.n_components_ = k
        return {"mean": mean, "components": vt[:k].astype(np.float64)}

    def _errors(self, x: np.ndarray) -> np.ndarray:
        centred = x.astype(np.float64) - self.model_["mean"]
        comps = self.model_["components"]
        return (centred - (centred @ comps.T) @ comps) ** 2

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        return self._errors(x).mean(1)

    def _explain(self, data: Dataset) -> ImageMaps | FeatureWeights:
        errors = self._errors(self.features_.transform(data)).astype(np.float32)
        if data.kind == DataKind.IMAGE:
            c = max(1, self.features_.channels_)
            s = self.features_.image_size_
            return ImageMaps(maps=errors.reshape(len(errors), c, s, s).mean(1))
        return FeatureWeights(weights=list(errors), feature_names=data.columns)


# --------------------------------------------------------------------------- iForest
@register
class IForest(ShallowDetector):
    """Isolation forest; score = 2^(-mean path length / c(max_samples))."""

    name = "iforest"
    config: IForestConfig

    def _check_model(self, d: int) -> None:
        check_forest(self.model_, d)

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        forest = IsolationForest(
            n_estimators=cfg.n_estimators,
            max_samples=min(cfg.max_samples, len(x)),
            max_features=cfg.max_features,
            random_state=cfg.seed,
        ).fit(x)
        return forest_arrays(forest)

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        return forest_scores(self.model_, x)
