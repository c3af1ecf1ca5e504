"""FCDD's inference graph: uint8 images → (mean of the low-resolution map, full heatmap)."""

from __future__ import annotations

import torch

from deepad.models.base import Detector
from deepad.models.fcdd.loss import anomaly_map
from deepad.models.fcdd.upsample import receptive_field_upsample
from deepad.models.inference import InferenceGraph


class FCDDInference(InferenceGraph):
    """Input scaling, the network, the map's mean as score and its Gaussian upsampling."""

    def __init__(self, detector: Detector) -> None:
        size = int(detector.image_size_)
        super().__init__((int(detector.channels_), size, size))
        self.network = detector.network_
        self.receptive_field = detector.receptive_field_
        self.sigma = float(detector.sigma_)
        self.size = size
        self.register_buffer("mean", torch.as_tensor(detector.mean_).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(detector.std_).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (images.float() / 255.0 - self.mean) / self.std
        low = anomaly_map(self.network(x))[:, 0]
        full = receptive_field_upsample(low, self.receptive_field, self.sigma, size=self.size)
        return low.flatten(1).mean(1), full
