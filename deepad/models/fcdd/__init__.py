"""FCDD: fully convolutional one-class classification with Gaussian-upsampled heatmaps."""

from deepad.models.fcdd.anomalies import confetti_noise
from deepad.models.fcdd.detector import FCDD, AnomalySource, FCDDConfig, PixelLoss
from deepad.models.fcdd.evaluate import localisation_metrics, masks_at, threshold_from_normals
from deepad.models.fcdd.loss import anomaly_map, fcdd_loss, fcdd_pixel_loss
from deepad.models.fcdd.network import (
    Architecture,
    Backbone,
    FCDDNet,
    ReceptiveField,
    receptive_field,
)
from deepad.models.fcdd.upsample import (
    default_sigma,
    defect_mask,
    pixel_threshold,
    receptive_field_upsample,
)

__all__ = [
    "FCDD",
    "AnomalySource",
    "Architecture",
    "Backbone",
    "FCDDConfig",
    "FCDDNet",
    "PixelLoss",
    "ReceptiveField",
    "anomaly_map",
    "confetti_noise",
    "default_sigma",
    "defect_mask",
    "fcdd_loss",
    "fcdd_pixel_loss",
    "localisation_metrics",
    "masks_at",
    "pixel_threshold",
    "receptive_field",
    "receptive_field_upsample",
    "threshold_from_normals",
]
