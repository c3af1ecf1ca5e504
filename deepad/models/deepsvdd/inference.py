"""The inference graph of Deep SVDD, Deep SAD and HSC: uint8 images → ``Σ (φ(x) − c)²``.

Their explanation is a gradient, not a map of the forward pass, so the graph returns the
score only."""

from __future__ import annotations

import torch

from deepad.models.base import Detector
from deepad.models.inference import SCORE_ONLY, InferenceGraph


class HypersphereInference(InferenceGraph):
    outputs = SCORE_ONLY

    def __init__(self, detector: Detector) -> None:
        side = int(detector.image_size_)
        super().__init__((int(detector.channels_), side, side))
        self.module = detector.module_

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images).sum(1)
