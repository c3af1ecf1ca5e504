"""DSEBM: deep structured energy-based models trained by denoising score matching.

Zhai, Cheng, Lu and Zhang, "Deep Structured Energy Based Models for Anomaly Detection",
ICML 2016. One detector covers the three energies of the paper: fully connected for tables,
convolutional for images and recurrent for sequences (``architecture = auto`` picks by the
kind of the training data). Both decision criteria are computed for every item:

- ``energy`` (DSEBM-e): ``E(x)``, i.e. ``−log p(x)`` up to the constant ``log Z``;
- ``reconstruction`` (DSEBM-r): ``‖x − f(x)‖² = ‖∇ₓE(x)‖²``.

For sequences both are sums over the steps. ``criterion`` picks the primary score; the other
is always in ``Scores.components``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from deepad.data.transforms import Standardizer, image_channels, stack_images, to_float
from deepad.data.types import DataKind, Dataset
from deepad.device import select_device
from deepad.explain.declare import LRPModel
from deepad.models.base import Detector
from deepad.models.dsebm.config import Architecture, Criterion, DSEBMConfig, Scaling
from deepad.models.dsebm.energy import ConvolutionalEnergy, FullyConnectedEnergy, RecurrentEnergy
from deepad.models.dsebm.loss import denoising_score_matching_loss, energy_and_gradient
from deepad.models.registry import register
from deepad.results import FeatureWeights, ImageMaps, Scores
from deepad.train.loop import fit_network
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)


@dataclass
class SequenceSteps:
    """Per-step values of both criteria, one ``(T_i,)`` array per sequence."""

    energy: list[np.ndarray]
    reconstruction: list[np.ndarray]


class _MinMax:
    """Min-max scaling to [0, 1] fitted on training rows (constant columns map to 0)."""

    def fit(self, table: np.ndarray) -> _MinMax:
        low = table.min(axis=0)
        span = table.max(axis=0) - low
        self.mean_ = low.astype(np.float32)
        self.std_ = np.where(span > 1e-8, span, 1.0).astype(np.float32)
        return self


def _fit_scaler(values: np.ndarray, scaling: Scaling) -> Standardizer:
    """A Standardizer whose (offset, scale) implement the chosen scaling."""
    values = np.asarray(values, dtype=np.float64)
    if scaling == Scaling.STANDARD:
        return Standardizer().fit(values)
    scaler = Standardizer()
    if scaling == Scaling.MINMAX:
        fitted = _MinMax().fit(values)
        scaler.mean_, scaler.std_ = fitted.mean_, fitted.std_
    else:
        scaler.mean_ = np.zeros(values.shape[1], np.float32)
        scaler.std_ = np.ones(values.shape[1], np.float32)
    return scaler


AUTO_IMAGE_CAP = 128  # the largest side image_size = 0 picks


def auto_image_size(train: Dataset) -> int:
    """The image side for ``image_size = 0``: the median side of all training images,
    halved until it is at most :data:`AUTO_IMAGE_CAP` (one huge image, first or not, does
    not decide it)."""
    from deepad.data.summary import nearest_image_size

    sides = [max(np.shape(image)[:2]) for image in train.items]
    return nearest_image_size(int(np.median(sides)), cap=AUTO_IMAGE_CAP)


@register
class DSEBM(Detector):
    """Deep structured energy-based model (fully connected, convolutional or recurrent)."""

    name = "dsebm"

    config: DSEBMConfig

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
        self.architecture_ = self._resolve_architecture(train.kind)
        self._fit_preprocessing(train)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.module_ = self._build_module()
        self._init_prior_center(train)
        loop_cfg = cfg
        if cfg.compile:
            # compiled graphs do not support the double backward that score matching needs
            log.info("DSEBM trains uncompiled: torch.compile has no double backward")
            loop_cfg = dataclasses.replace(cfg, compile=False)
        device = select_device(cfg.device)
        full = cfg.full_gradient
        if self.architecture_ == Architecture.RECURRENT:
            x, mask = self._sequence_tensor(train, device)

            def loss_fn(module: nn.Module, batch: Any) -> torch.Tensor:
                xb, mb = batch
                return denoising_score_matching_loss(
                    module, xb, cfg.noise_std, mask=mb, full_gradient=full
                )

            data = self._batches((x, mask), cfg.batch_size)
        else:
            x = self._tensor(train, device)

            def loss_fn(module: nn.Module, batch: Any) -> torch.Tensor:
                return denoising_score_matching_loss(module, batch, cfg.noise_std)

            data = self._batches((x,), cfg.batch_size, single=True)
        held = None
        if validation is not None:
            if self.architecture_ == Architecture.RECURRENT:
                held = self._batches(self._sequence_tensor(validation, device), cfg.batch_size)
            else:
                held = self._batches((self._tensor(validation, device),), cfg.batch_size, True)
        self.history_ = fit_network(
            self.module_,
            loss_fn,
            data,
            loop_cfg,
            progress=progress,
            context=context,
            validation=held,
        )
        self.module_.eval()

    def _resolve_architecture(self, kind: DataKind) -> Architecture:
        arch = Architecture(self.config.architecture)
        default = {
            DataKind.TABLE: Architecture.FULLY_CONNECTED,
            DataKind.IMAGE: Architecture.CONVOLUTIONAL,
            DataKind.SEQUENCE: Architecture.RECURRENT,
        }[kind]
        if arch == Architecture.AUTO:
            return default
        allowed = {
            DataKind.TABLE: {Architecture.FULLY_CONNECTED},
            DataKind.IMAGE: {Architecture.CONVOLUTIONAL, Architecture.FULLY_CONNECTED},
            DataKind.SEQUENCE: {Architecture.RECURRENT},
        }[kind]
        if arch not in allowed:
            raise ValueError(f"the {arch.value} energy does not apply to {kind.value} data")
        return arch

    def _fit_preprocessing(self, train: Dataset) -> None:
        cfg = self.config
        if train.kind == DataKind.IMAGE:
            self.image_size_ = cfg.image_size or auto_image_size(train)
            self.channels_ = image_channels(train)
            pixels = to_float(stack_images(train, self.image_size_, self.channels_)).numpy()
            std = float(pixels.std())
            self.scaler_ = Standardizer.from_state(
                {"mean": np.float32([pixels.mean()]), "std": np.float32([std if std > 1e-8 else 1])}
            )
            self.input_shape_ = (self.channels_, self.image_size_, self.image_size_)
        elif train.kind == DataKind.TABLE:
            table = np.asarray(train.items, dtype=np.float32)
            if table.ndim != 2:
                raise ValueError(f"a table must be 2-D, got shape {table.shape}")
            self.scaler_ = _fit_scaler(table, Scaling(cfg.scaling))
            self.input_shape_ = (table.shape[1],)
        else:
            steps = np.concatenate([np.asarray(s, dtype=np.float32) for s in train.items])
            if steps.ndim != 2:
                raise ValueError("each sequence must be a (steps, features) array")
            self.scaler_ = _fit_scaler(steps, Scaling(cfg.scaling))
            self.input_shape_ = (steps.shape[1],)

    def _build_module(self) -> nn.Module:
        cfg = self.config
        if self.architecture_ == Architecture.CONVOLUTIONAL:
            return ConvolutionalEnergy(
                self.input_shape_,
                channels=cfg.conv_channels,
                kernel=cfg.conv_kernel,
                pool=cfg.conv_pool,
                hidden=cfg.conv_hidden,
            )
        if self.architecture_ == Architecture.RECURRENT:
            return RecurrentEnergy(
                self.input_shape_[0], rnn_hidden=cfg.rnn_hidden, hidden=cfg.hidden
            )
        return FullyConnectedEnergy(int(np.prod(self.input_shape_)), cfg.hidden)

    def _init_prior_center(self, train: Dataset) -> None:
        """Start ``b′`` at the training mean, where the Gaussian prior should sit."""
        if train.kind == DataKind.SEQUENCE:
            return  # scaled steps have mean 0 (standard) or the centre is learned quickly
        x = self._tensor(train, torch.device("cpu"))
        with torch.no_grad():
            center = x.mean(0)
            self.module_.prior_center.copy_(center.reshape(self.module_.prior_center.shape))

    # ----------------------------------------------------------------- tensors
    def _tensor(self, data: Dataset, device: torch.device) -> torch.Tensor:
        """Scaled items as one float tensor: ``(n, d)`` rows or ``(n, c, s, s)`` images."""
        mean, std = self.scaler_.mean_, self.scaler_.std_
        if data.kind == DataKind.IMAGE:
            images = to_float(stack_images(data, self.image_size_, self.channels_))
            x = (images - float(mean[0])) / float(std[0])
            if self.architecture_ == Architecture.FULLY_CONNECTED:
                x = x.flatten(1)
            return x.to(device)
        table = np.asarray(data.items, dtype=np.float32)
        if table.ndim != 2 or table.shape[1] != self.input_shape_[0]:
            raise ValueError(f"expected rows of {self.input_shape_[0]} features, got {table.shape}")
        return torch.from_numpy(self.scaler_.transform(table)).to(device)

    def _sequence_tensor(
        self, data: Dataset, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled, zero-padded ``(n, T_max, d)`` sequences and their ``(n, T_max)`` step mask."""
        d = self.input_shape_[0]
        lengths = [len(s) for s in data.items]
        if min(lengths, default=0) < 1:
            raise ValueError("every sequence needs at least one step")
        x = torch.zeros(len(data), max(lengths), d)
        mask = torch.zeros(len(data), max(lengths), dtype=torch.bool)
        for i, seq in enumerate(data.items):
            seq = np.asarray(seq, dtype=np.float32)
            if seq.ndim != 2 or seq.shape[1] != d:
                raise ValueError(f"sequence {i} has shape {seq.shape}; expected (steps, {d})")
            x[i, : len(seq)] = torch.from_numpy(self.scaler_.transform(seq))
            mask[i, : len(seq)] = True
        return x.to(device), mask.to(device)

    @staticmethod
    def _batches(tensors: tuple[torch.Tensor, ...], batch_size: int, single: bool = False):
        """A batch source for ``fit_network`` over tensors already on their device."""
        n = tensors[0].shape[0]

        def source(epoch: int, generator: torch.Generator) -> list[Any]:
            order = torch.randperm(n, generator=generator).to(tensors[0].device)
            out = []
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                parts = tuple(t[idx] for t in tensors)
                if len(parts) == 2:
                    parts = _trim_padding(*parts)
                out.append(parts[0] if single else parts)
            return out

        return source

    # ----------------------------------------------------------------- scoring
    def _criteria(self, data: Dataset) -> Iterator[tuple[Any, torch.Tensor | None, Any]]:
        """Batches of (energy output, mask, input) for ``data``."""
        device = next(self.module_.parameters()).device
        size = self.config.score_batch_size
        if self.architecture_ == Architecture.RECURRENT:
            for start in range(0, len(data), size):
                part = data.subset(range(start, min(len(data), start + size)))
                x, mask = self._sequence_tensor(part, device)
                out = energy_and_gradient(
                    self.module_, x, mask=mask, full_gradient=self.config.full_gradient
                )
                yield out, mask, x
        else:
            x_all = self._tensor(data, torch.device("cpu"))
            for start in range(0, len(data), size):
                x = x_all[start : start + size].to(device)
                yield energy_and_gradient(self.module_, x), None, x

    def _score(self, data: Dataset) -> Scores:
        energies, errors = [], []
        for out, _, _ in self._criteria(data):
            energies.append(out.energy.detach().double().cpu().numpy())
            errors.append(out.gradient.detach().double().pow(2).flatten(1).sum(1).cpu().numpy())
        energy = np.concatenate(energies) if energies else np.zeros(0)
        error = np.concatenate(errors) if errors else np.zeros(0)
        primary = energy if Criterion(self.config.criterion) == Criterion.ENERGY else error
        return Scores(score=primary, components={Criterion.ENERGY.value: energy, Criterion.RECONSTRUCTION.value: error})

    def step_scores(self, items: Any) -> SequenceSteps:
        """Per-step energy ``E(xᵗ; θᵗ)`` and ``‖∇_{xᵗ}E‖²`` of each sequence (sequences only).

        The sequence scores are the sums of these over the steps.
        """
        self._check_fitted()
        if self.kind_ != DataKind.SEQUENCE:
            raise ValueError("step_scores is for detectors fitted on sequences")
        from deepad.data.types import as_dataset

        data = self._check_kind(as_dataset(items, self.kind_))
        energy: list[np.ndarray] = []
        recon: list[np.ndarray] = []
        for out, mask, _ in self._criteria(data):
            lengths = mask.sum(1).cpu().numpy()
            steps = out.step_energy.detach().cpu().numpy()
            grads = out.gradient.detach().pow(2).sum(-1).cpu().numpy()
            for i, n in enumerate(lengths):
                energy.append(steps[i, :n].astype(np.float32))
                recon.append(grads[i, :n].astype(np.float32))
        return SequenceSteps(energy, recon)

    def _explain(self, data: Dataset) -> ImageMaps | FeatureWeights:
        """Images: per-pixel ``‖∇ₓE‖`` over channels; tables: per-feature ``(∂E/∂x_j)²``;
        sequences: per-step energy ``E(xᵗ; θᵗ)`` (see :meth:`step_scores` for both criteria).
        """
        if self.kind_ == DataKind.SEQUENCE:
            return FeatureWeights(weights=self.step_scores(data).energy, feature_names=None)
        grads = [out.gradient.detach().cpu() for out, _, _ in self._criteria(data)]
        grad = torch.cat(grads) if grads else torch.zeros(0, *self.input_shape_)
        if self.kind_ == DataKind.IMAGE:
            grad = grad.reshape(len(grad), *self.input_shape_)
            maps = grad.pow(2).sum(1).sqrt().numpy().astype(np.float32)
            return ImageMaps(maps=maps)
        rows = grad.pow(2).numpy().astype(np.float32)
        return FeatureWeights(weights=list(rows), feature_names=data.columns)

    def explanation_methods(self) -> list[str]:
        methods = super().explanation_methods()
        if self.kind_ == DataKind.SEQUENCE:  # no LRP through the recurrent energy (yet)
            methods = [m for m in methods if m == "default"]
        return methods

    def lrp_model(self, data: Dataset) -> LRPModel:
        """The energy ``E(x) = ½‖x − b′‖² − Σ_j h_{L,j}`` on the scaled inputs, for LRP.

        The prior term is a sum over input elements, so element ``i`` gets ``½(x_i − b′_i)²``
        directly (``direct``); the network's last layer ``h_L`` is the output, each unit with
        relevance ``−h_{L,j}``, propagated back through the softplus layers with the
        documented composite (ε on dense layers, z^B / γ on the convolutional energy of
        images, flat on the first layer of tables). Relevance then adds up to the energy less
        what the biases absorb (:func:`deepad.explain.lrp.conservation`). Images are bounded
        by the scaled values of black and white. Sequences have no LRP."""
        self._check_fitted()
        if self.architecture_ == Architecture.RECURRENT:
            raise NotImplementedError("DSEBM has no LRP through the recurrent energy")
        module = self.module_.cpu().eval()
        inputs = self._tensor(data, torch.device("cpu")).float()
        image = self.kind_ == DataKind.IMAGE
        if image:
            inputs = inputs.reshape(len(inputs), *self.input_shape_)
        center = module.prior_center.detach()

        def prior(x: torch.Tensor) -> torch.Tensor:
            return 0.5 * (x - center.reshape(x.shape[1:])) ** 2

        def relevance(hidden: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            del x
            return -hidden

        mean, std = float(self.scaler_.mean_[0]), float(self.scaler_.std_[0])
        return LRPModel(
            network=_LastHidden(module),
            inputs=inputs,
            relevance=relevance,
            kind=self.kind_,
            low=(0.0 - mean) / std if image else None,
            high=(1.0 - mean) / std if image else None,
            direct=prior,
        )

    # ----------------------------------------------------------------- state
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {
            "module": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
            "scaler_mean": self.scaler_.mean_,
            "scaler_std": self.scaler_.std_,
        }
        meta = {
            "architecture": self.architecture_.value,
            "input_shape": list(self.input_shape_),
            "image_size": getattr(self, "image_size_", 0),
            "channels": getattr(self, "channels_", 0),
        }
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.architecture_ = Architecture(meta["architecture"])
        self.input_shape_ = tuple(int(v) for v in meta["input_shape"])
        if meta["image_size"]:
            self.image_size_ = int(meta["image_size"])
            self.channels_ = int(meta["channels"])
        self.scaler_ = Standardizer.from_state(
            {"mean": np.asarray(tensors["scaler_mean"]), "std": np.asarray(tensors["scaler_std"])}
        )
        self.module_ = self._build_module()
        self.module_.load_state_dict(tensors["module"])
        self.module_.to(select_device(self.config.device)).eval()


class _LastHidden(nn.Module):
    """The energy network up to ``h_L``: what LRP propagates through."""

    def __init__(self, energy: nn.Module) -> None:
        super().__init__()
        self.energy = energy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy.last_hidden(x)


def _trim_padding(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing steps that are padding for every sequence of the batch."""
    longest = int(mask.sum(1).max())
    return x[:, :longest], mask[:, :longest]
