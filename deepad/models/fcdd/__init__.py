"""FCDD: fully convolutional one-class classification with Gaussian-upsampled heatmaps."""

from deepad.models.fcdd.config import AnomalySource, Architecture, Backbone, FCDDConfig, PixelLoss
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FCDD": "detector",
        "confetti_noise": "anomalies",
        "localisation_metrics": "evaluate",
        "masks_at": "evaluate",
        "threshold_from_normals": "evaluate",
        "anomaly_map": "loss",
        "fcdd_loss": "loss",
        "fcdd_pixel_loss": "loss",
        "FCDDNet": "network",
        "ReceptiveField": "network",
        "receptive_field": "network",
        "default_sigma": "upsample",
        "defect_mask": "upsample",
        "pixel_threshold": "upsample",
        "receptive_field_upsample": "upsample",
    },
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
