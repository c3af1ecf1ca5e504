"""PatchCore's inference graph: uint8 RGB images → (image score, smoothed full-resolution map).

The same steps as :meth:`deepad.models.patchcore.PatchCore.infer` and ``explain``: ImageNet
normalisation, backbone stages, locally averaged patch embeddings, squared distances to every
bank entry as matrix products (``|x|² − 2 x·yᵀ + |y|²``, which every ONNX runtime has), the
``min`` over the bank and the ``max`` over patches (with the paper's re-weighting when the
detector uses it), the map placed on the image by the grid's geometry and Gaussian-smoothed
(two constant matrices). The graph holds the frozen backbone and the memory bank as constants.
"""

from __future__ import annotations

import copy

import torch

from deepad.features import IMAGENET_MEAN, IMAGENET_STD, pretrained_backbone
from deepad.features.detectors import stage_list
from deepad.models.base import Detector
from deepad.models.inference import InferenceGraph
from deepad.models.patchcore.anomaly_map import map_matrix
from deepad.models.patchcore.config import SMOOTHED_MAP
from deepad.models.patchcore.torch_model import patch_embeddings


class PatchCoreInference(InferenceGraph):
    def __init__(self, detector: Detector) -> None:
        cfg = detector.config
        size = int(detector.image_size_)
        super().__init__((3, size, size))
        self.size = size
        self.stages = stage_list(cfg.stages)
        self.pool = int(cfg.pool)
        self.pool_border = str(cfg.pool_border)
        self.pool_each_stage = bool(cfg.pool_each_stage)
        self.stage_align = str(cfg.stage_align)
        self.smoothed_score = cfg.image_score == SMOOTHED_MAP
        network = pretrained_backbone()
        self.network = copy.deepcopy(network).cpu().to(memory_format=torch.contiguous_format)
        self.geometry = network.geometry(self.size)
        self.bank_model = detector.model_
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        side = detector.grid_.cells(self.size)
        rows = map_matrix(self.size, side, detector.grid_, float(cfg.sigma), cfg.upsample)
        self.register_buffer("to_pixels", torch.tensor(rows))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (images.float() / 255.0 - self.mean) / self.std
        features = self.network(x, self.stages)
        embeddings, _ = patch_embeddings(
            features,
            self.geometry,
            self.stages,
            self.pool,
            border=self.pool_border,
            each_stage=self.pool_each_stage,
            align=self.stage_align,
        )
        n, d, h, w = embeddings.shape
        patches = embeddings.flatten(2).transpose(1, 2)  # (n, h·w, d)
        bank = self.bank_model.memory_bank
        # one (n, h·w, bank) product rather than the detector's chunks: a traced loop over
        # chunks would keep the example's chunk count for every batch size. Its memory is
        # n · h·w · bank · 4 bytes (49 MB per 224-px image against a 15,680-entry bank), so
        # the exported model is best run on small batches.
        squared = patches.pow(2).sum(2, keepdim=True) - 2.0 * patches @ bank.T + bank.pow(2).sum(1)
        nearest_sq, nearest = squared.min(dim=2)
        distance = nearest_sq.clamp_min(0.0).sqrt()
        best, where = distance.max(dim=1)
        score = best
        if self.bank_model.reweight:
            worst = patches.gather(1, where[:, None, None].expand(-1, 1, d))[:, 0]
            entry = nearest.gather(1, where[:, None])[:, 0]
            score = best * self.bank_model._weights(worst, entry)
        low = distance.reshape(-1, h, w)
        full = self.to_pixels @ low @ self.to_pixels.T
        if self.smoothed_score:
            peak = full.amax(dim=(1, 2))
            score = peak * (score / best.clamp_min(1e-12)) if self.bank_model.reweight else peak
        return score, full
