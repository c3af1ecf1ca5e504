"""Training-set selection by clustering: keep the members of the low-variance clusters.

Paper 001 (eq. 2 and 7): cluster the data, compute each cluster's variance, and accept the
clusters whose variance is below the (100 - p)-th percentile of the cluster variances; large-
variance clusters are assumed to hold the anomalies. A cluster's variance here is the mean
over features of its members' variance (the trace of its covariance over the dimension).
"""

from __future__ import annotations

import enum

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from deepad.models.iterative.config import Percentile


class Clustering(enum.StrEnum):
    GMM = "gmm"
    KMEANS = "kmeans"


def cluster(
    features: np.ndarray,
    method: Clustering,
    n_clusters: int,
    *,
    seed: int,
    max_rows: int,
) -> np.ndarray:
    """Hard cluster labels for every row; the model is fitted on at most ``max_rows`` rows."""
    features = np.asarray(features, dtype=np.float64)
    n_clusters = max(1, min(n_clusters, len(features)))
    rng = np.random.default_rng(seed)
    sample = features
    if len(features) > max_rows:
        sample = features[rng.choice(len(features), size=max_rows, replace=False)]
    if method == Clustering.KMEANS:
        model = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(sample)
    else:
        model = GaussianMixture(
            n_components=n_clusters, covariance_type="full", reg_covar=1e-4, random_state=seed
        ).fit(sample)
    return model.predict(features)


def cluster_variances(features: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean per-feature variance of each cluster's members; NaN for a cluster with none."""
    features = np.asarray(features, dtype=np.float64)
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    sums = np.zeros((n_clusters, features.shape[1]))
    squares = np.zeros_like(sums)
    np.add.at(sums, labels, features)
    np.add.at(squares, labels, features**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts[:, None]
        variance = (squares / counts[:, None] - mean**2).clip(min=0.0).mean(1)
    variance[counts == 0] = np.nan
    return variance


def low_variance_members(
    labels: np.ndarray,
    variances: np.ndarray,
    percent: float,
    over: Percentile = Percentile.CLUSTERS,
) -> np.ndarray:
    """Boolean mask of the rows in clusters whose variance is below the (100 - percent)-th
    percentile of the (non-empty) cluster variances; at least the lowest-variance cluster.

    With ``over = ROWS`` the percentile is of the rows' cluster variances, so the accepted
    clusters are the lowest-variance ones that together hold at most (100 - percent) % of the
    rows: ``percent`` then reads as the share of rows (the anomaly ratio) left out.
    """
    present = np.flatnonzero(np.isfinite(variances))
    if over == Percentile.ROWS:
        order = present[np.argsort(variances[present], kind="stable")]
        sizes = np.bincount(labels, minlength=len(variances))[order]
        covered = np.cumsum(sizes) <= (100.0 - percent) / 100.0 * len(labels)
        accepted = order[covered]
    else:
        threshold = np.percentile(variances[present], 100.0 - percent)
        accepted = present[variances[present] < threshold]
    if accepted.size == 0:
        accepted = present[[int(np.argmin(variances[present]))]]
    return np.isin(labels, accepted)


def select(
    features: np.ndarray,
    method: Clustering,
    n_clusters: int,
    percent: float,
    *,
    seed: int,
    max_rows: int,
    over: Percentile = Percentile.CLUSTERS,
) -> np.ndarray:
    """Cluster ``features`` and return the mask of the low-variance clusters' members."""
    labels = cluster(features, method, n_clusters, seed=seed, max_rows=max_rows)
    n = int(labels.max()) + 1
    return low_variance_members(labels, cluster_variances(features, labels, n), percent, over)
