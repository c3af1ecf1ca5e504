"""Autoencoder detector: the anomaly score is the mean squared reconstruction error.

Inputs are standardised with statistics fitted on the training set (per pixel for images,
per feature for tables) and the error is measured on that standardised scale, so a pixel
that barely varies among normal images counts as much as one that varies a lot. The
statistics are buffers of the module, so they are saved and loaded with its weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from deepad.data.transforms import image_channels, stack_images, to_float
from deepad.data.types import DataKind, Dataset
from deepad.device import select_device
from deepad.explain.declare import LRPModel
from deepad.models.ae.config import AEConfig, Architecture, Normalization
from deepad.models.ae.inference import AutoencoderInference
from deepad.models.ae.network import ConvAutoencoder, DenseAutoencoder
from deepad.models.base import Detector
from deepad.models.registry import register
from deepad.results import FeatureWeights, ImageMaps, Scores
from deepad.train.loop import fit_network
from deepad.train.progress import ProgressCallback, RunContext

STD_FLOOR = 1e-3  # on [0, 1] pixels: a constant pixel is not divided by ~0


class _Reconstructor(nn.Module):
    """Standardises raw inputs and returns the per-element squared reconstruction error."""

    def __init__(self, network: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        x = to_float(raw) if raw.dtype == torch.uint8 else raw.float()
        x = (x - self.mean) / self.std
        return (self.network(x) - x) ** 2


def _reconstruction_loss(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return module(batch[0]).mean()


@register
class Autoencoder(Detector):
    """Reconstruction-error detector with a convolutional or dense autoencoder."""

    name = "ae"
    config: AEConfig

    # ----------------------------------------------------------------- fitting
    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        cfg = self.config
        if train.kind == DataKind.IMAGE:
            self.channels_ = image_channels(train)
            self.shape_ = (self.channels_, cfg.image_size, cfg.image_size)
        else:
            self.channels_ = 0
            self.shape_ = (int(np.asarray(train.items).shape[1]),)
        self.columns_ = list(train.columns) if train.columns else None
        inputs = self._tensor(train)
        torch.manual_seed(cfg.seed)  # weight initialisation is part of the seeded run
        mean, std = self._statistics(inputs)
        self.module_ = _Reconstructor(self._network(train.kind), mean, std)
        self.history_ = fit_network(
            self.module_,
            _reconstruction_loss,
            TensorDataset(inputs),
            cfg,
            progress=progress,
            context=context,
            validation=None if validation is None else TensorDataset(self._tensor(validation)),
        )

    def _statistics(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # float64 sums over uint8 images: exact and cheap in memory, batch by batch
        total = torch.zeros(inputs.shape[1:], dtype=torch.float64)
        square = torch.zeros_like(total)
        for chunk in inputs.split(4096):
            x = to_float(chunk).double() if chunk.dtype == torch.uint8 else chunk.double()
            total += x.sum(0)
            square += (x * x).sum(0)
        n = inputs.shape[0]
        if self.config.normalization == Normalization.CHANNEL and inputs.ndim == 4:
            pixels = n * inputs.shape[2] * inputs.shape[3]
            total = total.sum((1, 2), keepdim=True).expand_as(square) * (n / pixels)
            square = square.sum((1, 2), keepdim=True).expand_as(total) * (n / pixels)
        mean = total / n
        var = (square / n - mean**2).clamp_min(0.0)
        floor = STD_FLOOR if inputs.dtype == torch.uint8 else 1e-6
        std = var.sqrt().clamp_min(floor)
        return mean.float().contiguous(), std.float().contiguous()

    def _network(self, kind: DataKind) -> nn.Module:
        cfg = self.config
        if kind == DataKind.IMAGE and cfg.architecture == Architecture.CONV:
            return ConvAutoencoder(
                channels=self.channels_,
                image_size=cfg.image_size,
                filters=cfg.filters,
                code_size=cfg.code_size,
            )
        return DenseAutoencoder(
            features=int(np.prod(self.shape_)),
            hidden=cfg.hidden,
            code_size=cfg.code_size,
            dropout=cfg.dropout,
        )

    def _tensor(self, data: Dataset) -> torch.Tensor:
        if data.kind == DataKind.IMAGE:
            return stack_images(data, self.config.image_size, self.channels_)
        table = np.asarray(data.items, dtype=np.float32)
        if table.ndim != 2 or table.shape[1] != self.shape_[0]:
            raise ValueError(
                f"expected a table with {self.shape_[0]} columns, got shape {table.shape}"
            )
        return torch.from_numpy(np.ascontiguousarray(table))

    # ----------------------------------------------------------------- scoring
    @torch.no_grad()
    def _errors(self, data: Dataset) -> torch.Tensor:
        """Per-element squared errors on the standardised scale, on the CPU."""
        inputs = self._tensor(data)
        device = select_device(self.config.device)
        module = self.module_.to(device).eval()
        out = [
            module(chunk.to(device)).float().cpu()
            for chunk in inputs.split(max(1, self.config.batch_size) * 4)
        ]
        return torch.cat(out) if out else torch.zeros((0, *self.shape_))

    def _score(self, data: Dataset) -> Scores:
        errors = self._errors(data)
        score = errors.flatten(1).mean(1).numpy().astype(np.float64)
        return Scores(score=score)

    def _explain(self, data: Dataset) -> ImageMaps | FeatureWeights:
        errors = self._errors(data)
        if data.kind == DataKind.IMAGE:
            return ImageMaps(maps=errors.mean(1).numpy().astype(np.float32))
        return FeatureWeights(
            weights=list(errors.numpy().astype(np.float32)), feature_names=self.columns_
        )

    def lrp_model(self, data: Dataset) -> LRPModel:
        """The reconstruction ``x̂`` as output neurons, each with relevance ``(x̂ᵢ − xᵢ)² / D``
        (its share of the mean squared error), on the standardised scale; the error compares
        each output with its own input, so part of the relevance takes the skip straight to
        that input (``residual``). Images are bounded by the standardised values of black and
        white."""
        module = self.module_.cpu().eval()
        raw = self._tensor(data)
        x = to_float(raw) if raw.dtype == torch.uint8 else raw.float()
        inputs = (x - module.mean) / module.std
        size = float(np.prod(self.shape_))

        def relevance(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return (reconstruction.view_as(x) - x) ** 2 / size

        image = data.kind == DataKind.IMAGE
        return LRPModel(
            network=module.network,
            inputs=inputs,
            relevance=relevance,
            kind=data.kind,
            low=(0.0 - module.mean) / module.std if image else None,
            high=(1.0 - module.mean) / module.std if image else None,
            residual=True,
        )

    # ----------------------------------------------------------------- persistence
    def inference_graph(self) -> AutoencoderInference | None:
        self._check_fitted()
        if len(self.shape_) != 3:  # a table: no image network
            return None
        return AutoencoderInference(self).cpu().eval()

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        meta = {"channels": self.channels_, "shape": list(self.shape_), "columns": self.columns_}
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.channels_ = int(meta["channels"])
        self.shape_ = tuple(int(s) for s in meta["shape"])
        self.columns_ = meta.get("columns")
        mean, std = tensors["mean"], tensors["std"]
        self.module_ = _Reconstructor(self._network(self.kind_), mean, std)
        self.module_.load_state_dict(tensors)
        self.module_.eval()
