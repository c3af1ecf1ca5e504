"""FCDD: Fully Convolutional Data Description with explanation heatmaps (thesis section 3.1)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from deepad.data.transforms import image_channels, stack_images, stack_masks, to_float
from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset, as_dataset
from deepad.device import select_device
from deepad.explain.declare import LRPModel
from deepad.features.backbone import IMAGENET_MEAN, IMAGENET_STD
from deepad.models.base import Detector
from deepad.models.fcdd.anomalies import (
    confetti_noise,
    random_hflip,
    random_shift,
    sample_rows,
)
from deepad.models.fcdd.config import AnomalySource, FCDDConfig, PixelLoss
from deepad.models.fcdd.inference import FCDDInference
from deepad.models.fcdd.loss import anomaly_map, fcdd_loss, fcdd_pixel_loss
from deepad.models.fcdd.network import Backbone, FCDDNet, choose_backbone
from deepad.models.fcdd.upsample import receptive_field_upsample
from deepad.models.registry import register
from deepad.receptive_field import ReceptiveField, UpsampledMaps, default_sigma
from deepad.results import ImageMaps, Scores
from deepad.train.loop import autocast, fit_network
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)


@register
class FCDD(Detector):
    """Fully convolutional one-class classifier whose output is a low-resolution heatmap."""

    name = "fcdd"

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
        cfg: FCDDConfig = self.config  # type: ignore[assignment]
        if len(cfg.confetti_size) != 2 or cfg.confetti_size[0] > cfg.confetti_size[1]:
            raise ValueError("confetti_size must be two fractions (low, high) with low ≤ high")
        device = select_device(cfg.device)
        size = cfg.image_size or _common_side(train)
        backbone = choose_backbone(size) if cfg.backbone == Backbone.AUTO else cfg.backbone
        channels = image_channels(train)
        if labeled is not None:
            channels = max(channels, image_channels(labeled))
        if backbone != Backbone.NONE:
            channels = 3  # gray images are repeated to RGB for the pretrained trunk

        normal_sets, anomalous_sets = _split_by_label(train, labeled, cfg.eta)
        if not normal_sets:
            raise ValueError("FCDD needs normal (or unlabeled) training images")
        normals = torch.cat([stack_images(d, size, channels) for d, _ in normal_sets])
        normal_weight = torch.cat(
            [torch.full((len(d),), w, dtype=torch.float32) for d, w in normal_sets]
        )
        known = _concat([d for d in anomalous_sets])
        outliers = self._outlier_pool(context, size, channels)

        uses_confetti = cfg.anomalies in (AnomalySource.CONFETTI, AnomalySource.CONFETTI_AND_OE)
        uses_oe = cfg.anomalies in (AnomalySource.OUTLIER_EXPOSURE, AnomalySource.CONFETTI_AND_OE)
        if uses_oe and outliers is None:
            raise ValueError("outlier exposure needs oe_dataset, the id of a dataset of images")
        if not uses_confetti and not uses_oe and known is None:
            raise ValueError("anomalies=none needs labeled anomalies to train against")

        pixel = cfg.pixel_loss == PixelLoss.ON or (
            cfg.pixel_loss == PixelLoss.AUTO and known is not None and known.has_masks
        )
        known_images = None if known is None else stack_images(known, size, channels)
        known_masks = None
        if known is not None and pixel:
            masks = stack_masks(known, size)
            # an anomaly without a mask counts as anomalous everywhere (the image-level term)
            known_masks = (
                torch.ones((len(known), 1, size, size), dtype=torch.int8)
                if masks is None
                else torch.where(masks < 0, torch.ones_like(masks), masks)
            )

        if backbone == Backbone.NONE:
            floats = to_float(normals)
            mean = floats.mean(dim=(0, 2, 3))
            std = floats.std(dim=(0, 2, 3)).clamp_min(1e-3)
        else:  # the statistics the trunk was trained with
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.mean_, self.std_ = mean.numpy(), std.numpy()
        self.image_size_, self.channels_ = size, channels

        torch.manual_seed(cfg.seed)  # weight initialisation is part of the seeded run
        network = FCDDNet(
            cfg.architecture,
            channels,
            image_size=size,
            width=cfg.width,
            backbone=backbone,
            backbone_stage=cfg.backbone_stage,
        )
        self.network_ = network
        self.receptive_field_ = network.receptive_field
        self.sigma_ = (
            cfg.sigma if cfg.sigma is not None else default_sigma(network.receptive_field.size)
        )
        log.info(
            "FCDD %s (width %g) on %d normal images of %d×%d, receptive field %d, %s",
            network.description,
            network.width,
            len(normals),
            size,
            size,
            network.receptive_field.size,
            "pixel loss" if pixel else "image loss",
        )

        def batch_sampler(images: torch.Tensor, weight: torch.Tensor) -> _BatchSampler:
            return _BatchSampler(
                normals=images.to(device),
                normal_weight=weight.to(device),
                known=None if known_images is None else known_images.to(device),
                known_masks=None if known_masks is None else known_masks.to(device),
                outliers=None if outliers is None else outliers.to(device),
                confetti=uses_confetti,
                oe=uses_oe,
                cfg=cfg,
                pixel=pixel,
                mean=mean.to(device),
                std=std.to(device),
            )

        sampler = batch_sampler(normals, normal_weight)
        # the held-out normal images with the same kinds of anomalies, drawn alike each epoch
        held = None
        if validation is not None and len(validation):
            held_images = stack_images(validation, size, channels)
            held = batch_sampler(held_images, torch.ones(len(held_images)))
        rf, sigma = network.receptive_field, self.sigma_

        def loss_fn(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            maps = anomaly_map(module(batch["images"]))
            if "masks" in batch:
                full = receptive_field_upsample(maps, rf, sigma, size=size)
                return fcdd_pixel_loss(full, batch["masks"], batch["weight"])
            return fcdd_loss(maps, batch["anomalous"], batch["weight"])

        if cfg.channels_last and device.type == "cpu":
            # the shared loop does this on CUDA only; oneDNN convolutions on the CPU are
            # faster in channels_last too (compare the two CPU rows of fcdd-speed)
            network.to(memory_format=torch.channels_last)
            sampler.channels_last = True
            if held is not None:
                held.channels_last = True
        self.history_ = fit_network(
            network,
            loss_fn,
            sampler,
            cfg,
            progress=progress,
            context=context,
            parameters=network.trainable_parameters(),
            validation=held,
        )
        network.to(memory_format=torch.contiguous_format)

    def _outlier_pool(self, context: RunContext, size: int, channels: int) -> torch.Tensor | None:
        cfg: FCDDConfig = self.config  # type: ignore[assignment]
        if not cfg.oe_dataset:
            return None
        datasets = context.datasets
        if datasets is None:
            from deepad.data.registry import DatasetRegistry

            datasets = DatasetRegistry()
        data = datasets.get(cfg.oe_dataset)
        if data is None:  # a plain mapping of ids to datasets answers None
            raise KeyError(f"outlier-exposure dataset {cfg.oe_dataset} is not known")
        data = as_dataset(data, DataKind.IMAGE)
        if len(data) == 0:
            raise ValueError("the outlier-exposure set is empty")
        return stack_images(data, size, channels)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def _forward(self, data: Dataset) -> tuple[Scores, np.ndarray]:
        """One pass of the network: the scores and the low-resolution maps they come from."""
        cfg: FCDDConfig = self.config  # type: ignore[assignment]
        device = select_device(cfg.device)
        network = self.network_.to(device).eval()
        mean = torch.as_tensor(self.mean_, device=device).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std_, device=device).view(1, -1, 1, 1)
        chunk = max(1, cfg.batch_size)
        channels_last = cfg.channels_last and device.type in ("cpu", "cuda")
        if channels_last:
            network.to(memory_format=torch.channels_last)
        out = []
        for first in range(0, len(data), chunk):
            part = data.subset(np.arange(first, min(first + chunk, len(data))))
            images = stack_images(part, self.image_size_, self.channels_).to(device)
            x = (to_float(images) - mean) / std
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, cfg.precision):
                maps = anomaly_map(network(x))
            out.append(maps[:, 0].float().cpu().numpy())
        if out:
            low = np.concatenate(out).astype(np.float32)
        else:
            side = network.output_size(self.image_size_)
            low = np.zeros((0, side, side), dtype=np.float32)
        flat = low.reshape(len(low), -1)
        scores = Scores(
            score=flat.mean(axis=1).astype(np.float64),
            components={"max_pixel": flat.max(axis=1, initial=0.0).astype(np.float64)},
        )
        return scores, low

    def _score(self, data: Dataset) -> Scores:
        return self._forward(data)[0]

    def _explain(self, data: Dataset) -> ImageMaps:
        low = self._forward(data)[1]
        return ImageMaps(maps=self.upsample(low).astype(np.float32, copy=False), low_res=low)

    def _score_and_explain(self, data: Dataset) -> tuple[Scores, ImageMaps]:
        # the full maps are upsampled as they are read: a run stores only low_res
        scores, low = self._forward(data)
        return scores, ImageMaps(maps=UpsampledMaps(low, self.map_upsampling()), low_res=low)

    def upsample(self, low_res: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Full-resolution heatmaps (``image_size_`` square) from low-resolution maps ``(n, u, v)`` (``low_res`` of an explanation)."""
        self._check_fitted()
        return receptive_field_upsample(
            np.asarray(low_res, np.float32),
            self.receptive_field_,
            self.sigma_ if sigma is None else sigma,
            size=self.image_size_,
        )

    def map_upsampling(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "receptive_field": self.receptive_field_.to_json(),
            "sigma": self.sigma_,
            "image_size": self.image_size_,
        }

    def lrp_model(self, data: Dataset) -> LRPModel:
        """φ's output pixels as output neurons, each with relevance ``A(x)ᵤᵥ / (u·v)`` (the
        score is the mean of the map A = sqrt(φ² + 1) − 1); the input is bounded by the
        standardised values of black and white per channel."""
        mean = torch.as_tensor(self.mean_).view(-1, 1, 1)
        std = torch.as_tensor(self.std_).view(-1, 1, 1)
        images = stack_images(data, self.image_size_, self.channels_)
        inputs = (to_float(images) - mean) / std

        def relevance(phi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            del x
            return anomaly_map(phi) / float(phi[0].numel())

        return LRPModel(
            network=self.network_.cpu().eval(),
            inputs=inputs,
            relevance=relevance,
            kind=DataKind.IMAGE,
            low=(0.0 - mean) / std,
            high=(1.0 - mean) / std,
        )

    # ----------------------------------------------------------------- persistence
    def inference_graph(self) -> FCDDInference:
        self._check_fitted()
        return FCDDInference(self).cpu().eval()

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        # the frozen trunk is not saved: it is the pretrained weights, loaded again
        tensors = {
            f"net.{k}": v
            for k, v in self.network_.state_dict().items()
            if not k.startswith("backbone.")
        }
        tensors["mean"] = self.mean_
        tensors["std"] = self.std_
        meta = {
            "architecture": self.network_.architecture.value,
            "backbone": self.network_.backbone_kind.value,
            "backbone_stage": self.network_.backbone_stage,
            "image_size": self.image_size_,
            "channels": self.channels_,
            "width": self.network_.width,
            "receptive_field": self.receptive_field_.to_json(),
            "sigma": self.sigma_,
        }
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        network = FCDDNet(
            meta["architecture"],
            int(meta["channels"]),
            image_size=int(meta["image_size"]),
            width=float(meta["width"]),
            backbone=meta.get("backbone", Backbone.NONE.value),
            backbone_stage=meta.get("backbone_stage", "s8"),
        )
        state = {k[4:]: torch.as_tensor(v) for k, v in tensors.items() if k.startswith("net.")}
        if network.backbone is not None:
            state.update({f"backbone.{k}": v for k, v in network.backbone.state_dict().items()})
        network.load_state_dict(state)
        self.network_ = network.eval()
        self.mean_ = np.asarray(tensors["mean"], dtype=np.float32)
        self.std_ = np.asarray(tensors["std"], dtype=np.float32)
        self.image_size_ = int(meta["image_size"])
        self.channels_ = int(meta["channels"])
        self.receptive_field_ = ReceptiveField.from_json(meta["receptive_field"])
        self.sigma_ = float(meta["sigma"])


# --------------------------------------------------------------------- batches
class _BatchSampler:
    """``(epoch, generator) -> batches``: normals plus about ``anomaly_fraction`` anomalies.

    One epoch shows every normal image once; the anomalous part of each batch is drawn anew
    (confetti on other normal images, outlier images, labeled anomalies), on the device.
    """

    def __init__(
        self,
        *,
        normals: torch.Tensor,
        normal_weight: torch.Tensor,
        known: torch.Tensor | None,
        known_masks: torch.Tensor | None,
        outliers: torch.Tensor | None,
        confetti: bool,
        oe: bool,
        cfg: FCDDConfig,
        pixel: bool,
        mean: torch.Tensor,
        std: torch.Tensor,
    ) -> None:
        self.normals, self.normal_weight = normals, normal_weight
        self.known, self.known_masks = known, known_masks
        self.outliers = outliers
        self.confetti, self.oe = confetti, oe
        self.cfg, self.pixel = cfg, pixel
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        b = cfg.batch_size
        self.n_anomalous = min(b - 1, max(1, round(b * cfg.anomaly_fraction))) if b > 1 else 1
        self.n_normal = max(1, b - self.n_anomalous)
        self.channels_last = False

    def __call__(self, epoch: int, generator: torch.Generator) -> _Epoch:
        device = self.normals.device
        dev_gen = torch.Generator(device=device)
        dev_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        return _Epoch(self, dev_gen)

    def _split(self) -> dict[str, int]:
        """How many anomalies each source contributes to one batch."""
        total = self.n_anomalous
        synthetic = [name for name, on in (("confetti", self.confetti), ("oe", self.oe)) if on]
        counts = {"known": 0, "confetti": 0, "oe": 0}
        if self.known is not None:
            counts["known"] = total if not synthetic else round(total * self.cfg.labeled_share)
        rest = total - counts["known"]
        for i, name in enumerate(synthetic):
            counts[name] = rest // len(synthetic) + (1 if i < rest % len(synthetic) else 0)
        return counts

    def batch(self, normal_index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        parts = [self.normals[normal_index]]
        weights = [self.normal_weight[normal_index]]
        size = self.normals.shape[-1]
        masks = [
            torch.zeros((len(normal_index), 1, size, size), dtype=torch.int8, device=gen.device)
        ]
        counts = self._split()
        eta = float(cfg.eta)
        if counts["confetti"]:
            base = self.normals[sample_rows(self.normals, counts["confetti"], gen)]
            blobs, blob_masks = confetti_noise(
                base,
                gen,
                max_blobs=cfg.confetti_blobs,
                size_range=(cfg.confetti_size[0], cfg.confetti_size[1]),
            )
            parts.append(blobs)
            masks.append(blob_masks.to(torch.int8))
        if counts["oe"]:
            assert self.outliers is not None
            parts.append(self.outliers[sample_rows(self.outliers, counts["oe"], gen)])
            masks.append(
                torch.ones((counts["oe"], 1, size, size), dtype=torch.int8, device=gen.device)
            )
        if counts["known"]:
            assert self.known is not None
            rows = sample_rows(self.known, counts["known"], gen)
            parts.append(self.known[rows])
            if self.known_masks is not None:
                masks.append(self.known_masks[rows])
            else:
                masks.append(
                    torch.ones((len(rows), 1, size, size), dtype=torch.int8, device=gen.device)
                )
        n_anom = counts["confetti"] + counts["oe"] + counts["known"]
        weights.append(torch.full((n_anom,), eta, device=gen.device))
        images = torch.cat(parts)
        mask = torch.cat(masks)
        if cfg.augment:
            images, mask = random_hflip(images, mask, gen)
        if cfg.shift:
            images, mask = random_shift(images, mask, gen, max_shift=cfg.shift)
        x = (to_float(images) - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        anomalous = torch.zeros(len(images), dtype=torch.bool, device=gen.device)
        anomalous[len(normal_index) :] = True
        batch = {"images": x, "anomalous": anomalous, "weight": torch.cat(weights)}
        if self.pixel:
            batch["masks"] = mask
        return batch


class _Epoch:
    def __init__(self, sampler: _BatchSampler, gen: torch.Generator) -> None:
        self.sampler, self.gen = sampler, gen
        n = sampler.normals.shape[0]
        self.order = torch.randperm(n, generator=gen, device=gen.device)
        self.steps = math.ceil(n / sampler.n_normal)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        step = self.sampler.n_normal
        for i in range(self.steps):
            yield self.sampler.batch(self.order[i * step : (i + 1) * step], self.gen)


# --------------------------------------------------------------------- helpers
def _common_side(data: Dataset) -> int:
    sides = Counter(max(np.shape(im)[:2]) for im in data.items)
    return int(sides.most_common(1)[0][0])


def _split_by_label(
    train: Dataset, labeled: Dataset | None, eta: float
) -> tuple[list[tuple[Dataset, float]], list[Dataset]]:
    """Normal pools with their weight (1 unlabeled, η labeled) and anomalous sets."""
    normals: list[tuple[Dataset, float]] = []
    anomalous: list[Dataset] = []
    labels = train.labels if train.labels is not None else np.full(len(train), -1)
    keep = np.flatnonzero(labels != ANOMALOUS)
    if keep.size:
        normals.append((train.subset(keep), 1.0))
    if np.any(labels == ANOMALOUS):
        anomalous.append(train.subset(np.flatnonzero(labels == ANOMALOUS)))
    if labeled is not None and labeled.labels is not None:
        normal_rows = np.flatnonzero(labeled.labels == NORMAL)
        anomalous_rows = np.flatnonzero(labeled.labels == ANOMALOUS)
        if normal_rows.size:
            normals.append((labeled.subset(normal_rows), eta))
        if anomalous_rows.size:
            anomalous.append(labeled.subset(anomalous_rows))
    return normals, anomalous


def _concat(sets: list[Dataset]) -> Dataset | None:
    if not sets:
        return None
    items: list[np.ndarray] = []
    names: list[str] = []
    masks: list[np.ndarray | None] = []
    for d in sets:
        items += list(d.items)
        names += list(d.names)
        masks += list(d.masks) if d.masks is not None else [None] * len(d)
    return Dataset(
        DataKind.IMAGE,
        items,
        names,
        labels=np.full(len(items), ANOMALOUS),
        masks=masks if any(m is not None for m in masks) else None,
    )
