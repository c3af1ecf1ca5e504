"""Kernel PCA: the reconstruction error of a point's RBF feature map in the principal
subspace of the training feature maps (Hoffmann, 2007)."""

from __future__ import annotations

import numpy as np

from deepad.models.registry import register
from deepad.models.shallow.config import KernelPCAConfig
from deepad.models.shallow.detectors import (
    SCORE_CHUNK,
    ShallowDetector,
    _squared_distances,
)


@register
class KernelPCA(ShallowDetector):
    """Kernel PCA reconstruction error with an RBF kernel: a non-linear subspace model of the
    standardised features; higher error = more anomalous.
    """

    name = "kernel_pca"
    config: KernelPCAConfig
    _MODEL_SHAPES = (
        ("points", ("n", "d")),
        ("alphas", ("n", "k")),
        ("column_mean", ("n",)),
        ("total_mean", (1,)),
        ("gamma", (1,)),
    )

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        chosen = np.sort(rng.permutation(len(x))[: cfg.max_rows])
        points = x[chosen].astype(np.float64)
        gamma = cfg.gamma
        if gamma is None:
            variance = float(points.var())
            gamma = 1.0 / (points.shape[1] * variance) if variance > 0 else 1.0
        model = self._fit_points(points, gamma)
        self.n_components_ = int(model["alphas"].shape[1])
        return model

    def _fit_points(self, points: np.ndarray, gamma: float) -> dict[str, np.ndarray]:
        """The kernel PCA of ``points`` with the RBF kernel of width ``gamma``."""
        cfg = self.config
        kernel = np.exp(-gamma * _squared_distances(points, points))
        column_mean = kernel.mean(0)
        total_mean = float(kernel.mean())
        centred = kernel - column_mean[None, :] - column_mean[:, None] + total_mean
        eigenvalues, eigenvectors = np.linalg.eigh(centred)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
        positive = eigenvalues > 1e-10 * max(float(eigenvalues[0]), 1e-300)
        eigenvalues, eigenvectors = eigenvalues[positive], eigenvectors[:, positive]
        if cfg.components is not None:
            k = min(cfg.components, len(eigenvalues))
        else:
            ratio = np.cumsum(eigenvalues) / max(float(eigenvalues.sum()), 1e-300)
            k = min(int(np.searchsorted(ratio, cfg.variance - 1e-9) + 1), len(eigenvalues))
        # unit-norm principal axes in feature space: alpha_j = v_j / sqrt(lambda_j)
        # C order, as after loading, so saved and fitted detectors multiply alike
        alphas = np.ascontiguousarray(eigenvectors[:, :k] / np.sqrt(eigenvalues[:k]))
        return {
            "points": points,
            "alphas": alphas,
            "column_mean": column_mean,
            "total_mean": np.asarray([total_mean]),
            "gamma": np.asarray([gamma]),
        }

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        return _reconstruction_errors(self.model_, x)


def _reconstruction_errors(m: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Squared distance of each row's feature map from the principal subspace of ``m``."""
    gamma, total_mean = float(m["gamma"][0]), float(m["total_mean"][0])
    out = np.empty(len(x))
    for s in range(0, len(x), SCORE_CHUNK):
        k = np.exp(-gamma * _squared_distances(x[s : s + SCORE_CHUNK], m["points"]))
        row_mean = k.mean(1, keepdims=True)
        centred = k - m["column_mean"][None, :] - row_mean + total_mean
        # |phi~(x)|^2 = k(x, x) - 2 mean_i k(x, x_i) + mean K, with k(x, x) = 1
        norm = 1.0 - 2.0 * row_mean[:, 0] + total_mean
        projections = centred @ m["alphas"]
        out[s : s + SCORE_CHUNK] = np.maximum(norm - (projections**2).sum(1), 0.0)
    return out
