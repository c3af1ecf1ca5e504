"""The iterative clustering autoencoder's settings and catalogue entry (no torch: the
dashboard renders them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from deepad.config import param
from deepad.data.types import DataKind
from deepad.models.config import NetworkConfig
from deepad.models.registry import MethodInfo


class TableScaling(enum.StrEnum):
    STANDARD = "standard"  # zero mean, unit variance per column
    MINMAX = "minmax"  # [0, 1] per column over the training rows


class Percentile(enum.StrEnum):
    """What the (100 - p)-th variance percentile is taken over."""

    CLUSTERS = "clusters"  # one value per cluster: keep that share of the clusters
    ROWS = "rows"  # each row carries its cluster's variance: keep about that share of the rows


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
    percentile_of: Percentile = param(
        Percentile.CLUSTERS,
        help="What the variance percentile is taken over: clusters (keep the clusters below "
        "it) or rows (keep the lowest-variance clusters holding at most 100 - p % of the rows).",
    )
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
    table_scaling: TableScaling = param(
        TableScaling.STANDARD,
        help="Table columns: standardised, or min-max scaled to [0, 1] over the training rows "
        "(as images keep [0, 1] pixels). The cosine score of a standardised row near the "
        "column means, which has a small norm, turns on noise; min-max rows never are near 0.",
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
        summary="The right choice when your normal data may contain anomalies that nobody "
        "labeled: an autoencoder that trains only on the low-variance clusters of the data (on "
        "clean data the plain autoencoder is simpler).",
    ),
)
