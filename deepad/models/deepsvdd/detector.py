"""Deep SVDD, Deep SAD and HSC (thesis sections 2.2, 2.3.2 and 2.3.5) on one shared network.

All three map inputs through a bias-free network φ (see :mod:`.network`) and score an item by
its squared distance ‖φ(x) − c‖² to a centre c:

- **Deep SVDD** (unsupervised): c is the mean of the initial outputs on the training data, with
  coordinates near zero pushed to ±ε; one-class (2.11) or soft-boundary (2.10) objective, the
  radius R of the latter solved after each epoch past the warm-up as the (1 − ν)-quantile of
  the training distances.
- **Deep SAD** (semi-supervised): the same centre; labeled normal items are pulled in, labeled
  anomalies pushed out by the inverse distance (2.13).
- **HSC**: c = 0 and a binary cross-entropy with the radial function exp(−h(φ(x))), h the
  pseudo-Huber distance (2.20); needs labeled anomalies or outlier exposure to be meaningful.

Deep SVDD and Deep SAD can start from the encoder of an autoencoder pre-trained on the
normal data, as in the thesis; both phases run through the shared training loop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deepad.data.transforms import image_channels, stack_images, to_float
from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset, as_dataset
from deepad.device import select_device
from deepad.explain.declare import LRPModel, squared_distance_relevance
from deepad.models.ae.network import ConvAutoencoder
from deepad.models.base import Detector
from deepad.models.deepsvdd.config import (
    MINUS_RADIUS,
    RADIUS_SQ,
    DeepSVDDConfig,
    HypersphereConfig,
    Objective,
    SemiSupervisedConfig,
)
from deepad.models.deepsvdd.inference import HypersphereInference
from deepad.models.deepsvdd.loss import (
    LABELED_ANOMALY,
    LABELED_NORMAL,
    UNLABELED,
    deep_sad_loss,
    hsc_loss,
    one_class_loss,
    soft_boundary_loss,
)
from deepad.models.deepsvdd.network import (
    DenseAutoencoder,
    Hypersphere,
    Reconstruction,
    conv_encoder,
    push_from_zero,
    standardise,
)
from deepad.models.registry import register
from deepad.results import FeatureWeights, ImageMaps, Scores
from deepad.train.loop import LoopState, fit_network
from deepad.train.progress import Progress, ProgressCallback, RunContext

log = logging.getLogger(__name__)

STD_FLOOR = 1e-3  # on [0, 1] pixels: a constant pixel is not divided by ~0
SCORE_CHUNK = 1024


# --------------------------------------------------------------------- sizing from the data
def image_architecture(channels: int, size: int) -> tuple[tuple[int, ...], int]:
    """(filters, code size) of the thesis' LeNet-type networks: MNIST-size or CIFAR-size."""
    if channels == 1 and size <= 28:
        return (8, 4), 32
    return (32, 64, 128), 128


def table_architecture(features: int) -> tuple[tuple[int, ...], int]:
    """(hidden widths, code size) of the thesis' MLPs: arrhythmia (274 columns) 128-64-32,
    cardio and satellite 32-16-8, thyroid (6 columns) 32-16-4."""
    if features >= 100:
        return (128, 64), 32
    return (32, 16), (8 if features >= 16 else 4)


# --------------------------------------------------------------------- the shared detector
class HypersphereDetector(Detector):
    """What the three methods share: network, centre, training set-up, scores, maps, state."""

    centered: ClassVar[bool] = True  # False: c = 0 (HSC)
    config: HypersphereConfig

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
        parts = self._training_parts(train, labeled, context)
        self._size_network(train, [d for d, _ in parts])
        inputs = torch.cat([self._tensor(d) for d, _ in parts])
        semi = torch.cat([torch.from_numpy(s) for _, s in parts])
        normal = inputs[semi != LABELED_ANOMALY]
        if len(normal) == 0:
            raise ValueError(f"{self.title} needs normal (or unlabeled) training items")
        torch.manual_seed(cfg.seed)  # weight initialisation is part of the seeded run
        mean, std = _statistics(normal)
        autoencoder, encoder = self._networks()
        self.module_ = Hypersphere(encoder, self.code_size_, mean, std)
        log.info(
            "%s on %d items (%d labeled normal, %d labeled anomalous), %s",
            self.title,
            len(inputs),
            int((semi == LABELED_NORMAL).sum()),
            int((semi == LABELED_ANOMALY).sum()),
            self._describe_network(),
        )
        if not context.resume:  # a resumed run takes weights and centre from its checkpoint
            if cfg.pretrain_epochs > 0:
                self.pretrain_history_ = self._pretrain(autoencoder, normal, mean, std, context)
            if self.centered:
                self._set_center(normal)
        loss = self._objective()
        held = None
        if validation is not None:
            held_inputs = self._tensor(validation)
            held_semi = torch.full((len(held_inputs),), UNLABELED, dtype=torch.int8)
            held = _InMemoryBatches((held_inputs, held_semi), cfg.batch_size)
        self.history_ = fit_network(
            self.module_,
            lambda module, batch: loss(module(batch[0]).sum(1), batch[1]),
            _InMemoryBatches((inputs, semi), cfg.batch_size),
            cfg,
            hooks=self._hooks(normal),
            progress=progress,
            context=context,
            validation=held,
        )
        self._after_training(normal)
        self.module_.cpu().eval()

    def _training_parts(
        self, train: Dataset, labeled: Dataset | None, context: RunContext
    ) -> list[tuple[Dataset, np.ndarray]]:
        """(items, semi-supervised targets) pairs; unsupervised methods take all as unlabeled."""
        return [(train, np.full(len(train), UNLABELED, dtype=np.int8))]

    def _objective(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``loss(squared distances, semi-supervised targets)`` of the method."""
        raise NotImplementedError

    def _hooks(self, normal: torch.Tensor) -> list[Any]:
        return []

    def _after_training(self, normal: torch.Tensor) -> None:
        """Work once the weights are final (the soft-boundary radius)."""

    def _size_network(self, train: Dataset, sets: list[Dataset]) -> None:
        cfg = self.config
        if train.kind == DataKind.IMAGE:
            self.channels_ = max(image_channels(d) for d in sets)
            self.image_size_ = cfg.image_size or _common_side(train)
            filters, code = image_architecture(self.channels_, self.image_size_)
            self.filters_ = tuple(cfg.filters) or filters
            self.hidden_: tuple[int, ...] = ()
            self.features_ = 0
        else:
            self.channels_, self.image_size_ = 0, 0
            self.features_ = int(np.asarray(train.items).shape[1])
            hidden, code = table_architecture(self.features_)
            self.hidden_ = tuple(cfg.hidden) or hidden
            self.filters_ = ()
        self.code_size_ = cfg.code_size or code

    def _networks(self) -> tuple[nn.Module, nn.Module]:
        """(autoencoder for pre-training, φ); φ's modules are part of the autoencoder."""
        if self.features_:
            dense = DenseAutoencoder(
                features=self.features_, hidden=self.hidden_, code_size=self.code_size_
            )
            return dense, dense.encoder
        conv = ConvAutoencoder(
            channels=self.channels_,
            image_size=self.image_size_,
            filters=self.filters_,
            code_size=self.code_size_,
        )
        return conv, conv_encoder(conv)

    def _describe_network(self) -> str:
        if self.features_:
            widths = "-".join(str(w) for w in (*self.hidden_, self.code_size_))
            return f"MLP {self.features_}-{widths}"
        filters = "-".join(str(f) for f in self.filters_)
        side = self.image_size_
        return f"LeNet {filters} → {self.code_size_} on {self.channels_}×{side}×{side}"

    def _pretrain(
        self,
        autoencoder: nn.Module,
        normal: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        context: RunContext,
    ) -> list[Any]:
        """Autoencoder pre-training on the normal items; φ keeps the trained encoder."""
        cfg = self.config
        decay = cfg.weight_decay if cfg.pretrain_weight_decay is None else cfg.pretrain_weight_decay
        pre_cfg = dataclasses.replace(
            cfg,
            epochs=cfg.pretrain_epochs,
            lr=cfg.pretrain_lr,
            weight_decay=decay,
            checkpoint_every=0,
        )
        total = cfg.pretrain_epochs

        def report(p: Progress) -> None:
            if p.epoch_end:
                context.stage("pre-training the autoencoder", p.epoch, total)

        context.stage("pre-training the autoencoder", 0, total)
        history = fit_network(
            Reconstruction(autoencoder, mean, std),
            lambda module, batch: module(batch[0]).mean(),
            _InMemoryBatches((normal,), cfg.batch_size),
            pre_cfg,
            progress=report,
            context=dataclasses.replace(context, checkpoint_dir=None, resume=False),
        )
        autoencoder.cpu()  # φ shares its modules; the rest of the fit starts on the CPU
        log.info("pre-training: final reconstruction loss %.4g", history[-1].loss)
        return history

    @torch.no_grad()
    def _set_center(self, normal: torch.Tensor) -> None:
        """c = mean of φ over the normal items in evaluation mode, then the ±ε rule."""
        total = torch.zeros(self.code_size_, dtype=torch.float64)
        for z in self._embed_chunks(normal):
            total += z.double().sum(0)
        center = (total / len(normal)).float()
        self.module_.distance.center.copy_(push_from_zero(center, self.config.center_eps))

    def _embed_chunks(self, inputs: torch.Tensor):
        device = next(iter(self.module_.buffers())).device
        self.module_.eval()
        for chunk in inputs.split(SCORE_CHUNK):
            yield self.module_.embed(chunk.to(device)).float().cpu()

    # ----------------------------------------------------------------- scoring
    @torch.no_grad()
    def _squared_distances(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(n, d)`` per-feature squared distances on the CPU, the network on its device."""
        device = select_device(self.config.device)
        module = self.module_.to(device).eval()
        out = [module(chunk.to(device)).float().cpu() for chunk in inputs.split(SCORE_CHUNK)]
        return torch.cat(out) if out else torch.zeros((0, self.code_size_))

    def _score(self, data: Dataset) -> Scores:
        dist = self._squared_distances(self._tensor(data)).sum(1).numpy().astype(np.float64)
        return Scores(score=dist, components=self._components(dist))

    def _components(self, dist: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def relevance_module(self) -> nn.Module:
        """The fitted network from raw inputs to ``(φ(x) − c)²`` per output feature (their sum
        is the score): where an LRP explainer starts relevance. Inputs are uint8 images (or
        float images in [0, 1]) as ``(n, c, h, w)``, or float table rows."""
        self._check_fitted()
        return self.module_

    def lrp_model(self, data: Dataset) -> LRPModel:
        """φ on the standardised inputs, each output feature with relevance ``(φ(x) − c)²``
        (their sum is the score); images are bounded by the standardised black and white.
        φ is bias-free, so with the rules of :mod:`deepad.explain.lrp` the relevance reaching
        the input equals the score up to what the merged BatchNorm shifts absorb."""
        module = self.module_.cpu().eval()
        inputs = standardise(self._tensor(data), module.mean, module.std)
        image = data.kind == DataKind.IMAGE
        return LRPModel(
            network=module.encoder,
            inputs=inputs,
            relevance=squared_distance_relevance(module.distance.center),
            kind=data.kind,
            low=(0.0 - module.mean) / module.std if image else None,
            high=(1.0 - module.mean) / module.std if image else None,
        )

    def _explain(self, data: Dataset) -> ImageMaps | FeatureWeights:
        """|∂ score / ∂ x|: per pixel (mean over colour channels) or per table column."""
        device = select_device(self.config.device)
        module = self.module_.to(device).eval()
        maps = []
        for chunk in self._tensor(data).split(SCORE_CHUNK):
            x = to_float(chunk) if chunk.dtype == torch.uint8 else chunk.float()
            x = x.to(device).requires_grad_(True)
            (grad,) = torch.autograd.grad(module(x).sum(), x)
            maps.append(grad.abs().cpu())
        grads = torch.cat(maps) if maps else torch.zeros((0, *self._input_shape()))
        if data.kind == DataKind.IMAGE:
            return ImageMaps(maps=grads.mean(1).numpy().astype(np.float32))
        return FeatureWeights(
            weights=list(grads.numpy().astype(np.float32)), feature_names=self.columns_
        )

    # ----------------------------------------------------------------- inputs
    def _input_shape(self) -> tuple[int, ...]:
        if self.features_:
            return (self.features_,)
        return (self.channels_, self.image_size_, self.image_size_)

    def _tensor(self, data: Dataset) -> torch.Tensor:
        if data.kind == DataKind.IMAGE:
            return stack_images(data, self.image_size_, self.channels_)
        table = np.asarray(data.items, dtype=np.float32)
        if table.ndim != 2 or table.shape[1] != self.features_:
            raise ValueError(
                f"expected a table with {self.features_} columns, got shape {table.shape}"
            )
        return torch.from_numpy(np.ascontiguousarray(table))

    def inference_graph(self) -> HypersphereInference | None:
        self._check_fitted()
        if not self.image_size_:  # a table: no image network
            return None
        return HypersphereInference(self).cpu().eval()

    # ----------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        meta = {
            "channels": self.channels_,
            "image_size": self.image_size_,
            "features": self.features_,
            "filters": list(self.filters_),
            "hidden": list(self.hidden_),
            "code_size": self.code_size_,
            # R² of the soft boundary (0 otherwise), on the scale of the scores
            RADIUS_SQ: float(self.module_.radius_sq),
        }
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.channels_ = int(meta["channels"])
        self.image_size_ = int(meta["image_size"])
        self.features_ = int(meta["features"])
        self.filters_ = tuple(int(f) for f in meta["filters"])
        self.hidden_ = tuple(int(h) for h in meta["hidden"])
        self.code_size_ = int(meta["code_size"])
        _, encoder = self._networks()
        self.module_ = Hypersphere(encoder, self.code_size_, tensors["mean"], tensors["std"])
        self.module_.load_state_dict(tensors)
        self.module_.eval()


# --------------------------------------------------------------------- the three methods
@register
class DeepSVDD(HypersphereDetector):
    """Deep Support Vector Data Description: the smallest sphere around the mapped data."""

    name = "deepsvdd"
    config: DeepSVDDConfig

    def _objective(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        if self.config.objective == Objective.SOFT_BOUNDARY:
            nu = self.config.nu
            # R² is read at each step: moving the module to a device replaces its buffers
            return lambda dist, semi: soft_boundary_loss(dist, self.module_.radius_sq, nu)
        return lambda dist, semi: one_class_loss(dist)

    def _hooks(self, normal: torch.Tensor) -> list[Any]:
        if self.config.objective != Objective.SOFT_BOUNDARY:
            return []
        return [_RadiusUpdate(self, normal, self.config.warmup_epochs)]

    def _after_training(self, normal: torch.Tensor) -> None:
        if self.config.objective == Objective.SOFT_BOUNDARY:
            self.solve_radius(normal)

    @torch.no_grad()
    def solve_radius(self, inputs: torch.Tensor) -> float:
        """Set R² to the (1 − ν)-quantile of the squared distances of ``inputs`` and return it:
        the optimal radius for fixed weights (Proposition 4). The quantile is a distance that
        occurs (not one interpolated between two), so at most a share ν lies outside."""
        nu = self.config.nu
        dist = torch.cat(
            [
                ((z - self.module_.distance.center.cpu()) ** 2).sum(1)
                for z in self._embed_chunks(inputs)
            ]
        )
        radius_sq = float(np.quantile(dist.double().numpy(), 1.0 - nu, method="higher"))
        self.module_.radius_sq.fill_(radius_sq)
        return radius_sq

    @property
    def radius_sq_(self) -> float:
        """R² of the soft boundary (0 for the one-class objective)."""
        self._check_fitted()
        return float(self.module_.radius_sq)

    def _components(self, dist: np.ndarray) -> dict[str, np.ndarray]:
        if self.config.objective != Objective.SOFT_BOUNDARY:
            return {}
        # the thesis' soft-boundary score: positive outside the sphere, negative inside
        return {MINUS_RADIUS: dist - float(self.module_.radius_sq)}


class _RadiusUpdate:
    """Block coordinate descent for the soft boundary: after the warm-up, R is solved for
    at the start of every epoch from the current weights (the weights train with R fixed)."""

    def __init__(self, detector: DeepSVDD, inputs: torch.Tensor, warmup: int) -> None:
        self.detector, self.inputs, self.warmup = detector, inputs, warmup

    def on_epoch_start(self, state: LoopState) -> None:
        if state.epoch > self.warmup:
            self.detector.solve_radius(self.inputs)


class SemiSupervisedDetector(HypersphereDetector):
    """Deep SAD and HSC: labeled items and outlier exposure join the unlabeled training set."""

    config: SemiSupervisedConfig

    def _training_parts(
        self, train: Dataset, labeled: Dataset | None, context: RunContext
    ) -> list[tuple[Dataset, np.ndarray]]:
        # training items labeled anomalous are known anomalies too; the rest is unlabeled
        train_semi = np.full(len(train), UNLABELED, dtype=np.int8)
        if train.labels is not None:
            train_semi[np.asarray(train.labels) == ANOMALOUS] = LABELED_ANOMALY
        parts = [(train, train_semi)]
        if labeled is not None and labeled.labels is not None:
            labels = np.asarray(labeled.labels)
            semi = np.select(
                [labels == NORMAL, labels == ANOMALOUS],
                [LABELED_NORMAL, LABELED_ANOMALY],
                UNLABELED,
            ).astype(np.int8)
            parts.append((labeled, semi))
        exposure = self._outlier_exposure(train.kind, context)
        if exposure is not None:
            parts.append((exposure, np.full(len(exposure), LABELED_ANOMALY, dtype=np.int8)))
        return parts

    def _outlier_exposure(self, kind: DataKind, context: RunContext) -> Dataset | None:
        """The dataset named by ``outlier_exposure``, from the run's datasets when the context
        carries them, else from the dataset registry in the deepad home."""
        name = self.config.outlier_exposure
        if not name:
            return None
        datasets = getattr(context, "datasets", None)
        if datasets is None:
            from deepad.data.registry import DatasetRegistry

            datasets = DatasetRegistry()
        data = datasets.get(name)
        if data is None:
            raise KeyError(f"outlier-exposure dataset {name} is not known")
        data = self._align_columns(as_dataset(data, kind))
        if len(data) == 0:
            raise ValueError("the outlier-exposure set is empty")
        return data


@register
class DeepSAD(SemiSupervisedDetector):
    """Deep Semi-supervised Anomaly Detection: Deep SVDD plus labeled normals and anomalies."""

    name = "deepsad"

    def _objective(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        eta = self.config.eta
        return lambda dist, semi: deep_sad_loss(dist, semi, eta)


@register
class HSC(SemiSupervisedDetector):
    """Hypersphere Classifier: cross-entropy with a radial, pseudo-Huber normal class at 0."""

    name = "hsc"
    centered = False

    def _objective(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        eta = self.config.eta
        return lambda dist, semi: hsc_loss(dist, semi, eta)


# --------------------------------------------------------------------- helpers
class _InMemoryBatches:
    """``(epoch, generator) -> batches`` of tensors already in memory: a seeded shuffle and
    slices, without a DataLoader's per-item indexing, which dominates a step of these small
    networks. A last batch of one item is left out (BatchNorm needs two); the shuffle moves
    a different item there next epoch."""

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int) -> None:
        self.tensors, self.batch_size = tensors, batch_size

    def __call__(self, epoch: int, generator: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=generator)
        starts = range(0, n, self.batch_size)
        batches = [order[s : s + self.batch_size] for s in starts]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()
        return [tuple(t[index] for t in self.tensors) for index in batches]


def _statistics(normal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std per colour channel of [0, 1] images, or per column of a table."""
    if normal.ndim == 4:
        x = to_float(normal) if normal.dtype == torch.uint8 else normal.float()
        mean = x.mean(dim=(0, 2, 3), dtype=torch.float64).view(-1, 1, 1)
        std = x.double().std(dim=(0, 2, 3)).view(-1, 1, 1).clamp_min(STD_FLOOR)
    else:
        x = normal.double()
        mean = x.mean(0)
        std = (x.std(0) if len(x) > 1 else torch.ones_like(mean)).clamp_min(1e-6)
    return mean.float().contiguous(), std.float().contiguous()


def _common_side(data: Dataset) -> int:
    sides = Counter(max(np.shape(im)[:2]) for im in data.items)
    return int(sides.most_common(1)[0][0])
