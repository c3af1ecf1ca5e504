"""The autoencoder's inference graph: uint8 images → (mean squared reconstruction error, its
per-pixel mean over channels)."""

from __future__ import annotations

import torch

from deepad.models.base import Detector
from deepad.models.inference import InferenceGraph


class AutoencoderInference(InferenceGraph):
    def __init__(self, detector: Detector) -> None:
        super().__init__(tuple(int(s) for s in detector.shape_))
        self.reconstructor = detector.module_

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        errors = self.reconstructor(images)
        return errors.flatten(1).mean(1), errors.mean(1)
