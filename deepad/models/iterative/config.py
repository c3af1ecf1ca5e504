"""The iterative clustering autoencoder's settings and catalogue entry (no torch: the
dashboard renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig
from deepad.models.registry import MethodInfo


class InitialClustering(enum.StrEnum):
    AUTO = "auto"  # GMM on tables, k-means on images
    GMM = "gmm"
    KMEANS = "kmeans"


@dataclass(frozen=True)
class IterativeAEConfig(NetworkConfig):
    epochs: int = param(
        200, low=1, high=10_000, help="Most passes over the selected set (it may stop earlier)."
    )
    batch_size: int = param(1024, low=1, high=65_536, help="Items per optimisation step.")
    hidden: tuple[int, ...] = param(
        (60, 30), low=1, help="Widths of the tanh encoder's hidden layers (decoder mirrors)."
    )
    code_size: int = param(10, low=1, high=4096, help="Width of the bottleneck code.")
    initial_share: float = param(
        35.0,
        low=0.0,
        high=99.0,
        help="p0 (%): the initial subset keeps the clusters of the inputs whose variance is "
        "below the (100 - p0)-th percentile; larger than share, so the start is clean.",
    )
    share: float = param(
        30.0,
        low=0.0,
        high=99.0,
        help="p (%): each re-selection keeps the clusters of z = [code, cosine error] below "
        "the (100 - p)-th variance percentile; about the share of anomalies you expect, or more.",
    )
    reselect_every: int = param(
        10, low=1, high=10_000, help="r: re-select the training subset every r epochs."
    )
    clusters: int = param(20, low=1, high=1000, help="Clusters (GMM components) per selection.")
    initial_clustering: InitialClustering = param(
        InitialClustering.AUTO,
        help="Clustering of the inputs for the initial subset: auto = GMM on tables, k-means "
        "on image pixels.",
    )
    cluster_rows: int = param(
        50_000,
        low=10,
        high=10_000_000,
        help="Rows (a seeded sample) each clustering is fitted on; all rows are assigned.",
        advanced=True,
    )
    image_size: int = param(
        28, low=4, high=256, help="Images are resized to this side and flattened.", advanced=True
    )


METHODS = (
    MethodInfo(
        name="iterative_ae",
        title="Iterative clustering autoencoder",
        Config=IterativeAEConfig,
        kinds=frozenset({DataKind.IMAGE, DataKind.TABLE}),
        detector="deepad.models.iterative.detector:IterativeAE",
        summary="Autoencoder for unlabeled training data that may contain anomalies: it trains "
        "only on the members of low-variance clusters and re-selects them from [code, cosine "
        "error] as it learns. The right choice when your normal data may contain anomalies and "
        "nobody labeled them; on clean data a plain autoencoder is simpler.",
    ),
)
