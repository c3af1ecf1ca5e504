"""A tiny network detector and an in-memory dataset registry for the run tests.

Imported by the tests and, through ``DEEPAD_PLUGINS=tests.runs.fakes``, by worker
processes, so a background run can train it. It uses the real training loop, so progress,
checkpoints, resume and cancel behave as for any network method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from deepad.config import param
from deepad.data.transforms import stack_images, to_float
from deepad.data.types import DataKind, Dataset
from deepad.models import FeatureWeights, ImageMaps, Scores, register
from deepad.models.base import Detector
from deepad.models.config import NetworkConfig
from deepad.train.loop import fit_network

SIZE = 8


@dataclass(frozen=True)
class TinyConfig(NetworkConfig):
    hidden: int = param(4, low=1, high=64, help="Bottleneck width.")
    epoch_sleep: float = param(0.0, low=0.0, high=60.0, help="Seconds to wait per epoch.")
    fail_at_epoch: int = param(0, low=0, help="Raise at the start of this epoch (0: never).")
    prepare_steps: int = param(0, low=0, help="Preparation steps reported before training.")


class _SlowOrFailing:
    def __init__(self, cfg: TinyConfig):
        self.cfg = cfg

    def on_epoch_start(self, state) -> None:
        if self.cfg.fail_at_epoch and state.epoch == self.cfg.fail_at_epoch:
            raise RuntimeError(f"synthetic failure in epoch {state.epoch}\nsecond line")
        if self.cfg.epoch_sleep:
            time.sleep(self.cfg.epoch_sleep)


@register
class TinyAutoencoder(Detector):
    """A linear autoencoder on 8×8 gray images or table rows; score = squared error."""

    name = "tiny"
    title = "Tiny AE (tests)"
    Config = TinyConfig
    kinds = frozenset({DataKind.IMAGE, DataKind.TABLE})
    explains = True

    def _features(self, data: Dataset) -> torch.Tensor:
        if data.kind == DataKind.IMAGE:
            return to_float(stack_images(data, SIZE, 1)).flatten(1)
        return torch.as_tensor(np.asarray(data.items, dtype=np.float32))

    def _network(self, width: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(width, self.config.hidden), nn.Linear(self.config.hidden, width)
        )

    def _fit(self, train, *, labeled, validation, progress, context) -> None:
        for step in range(1, self.config.prepare_steps + 1):
            context.stage("preparing", step, self.config.prepare_steps)
        x = self._features(train)
        self.width_ = x.shape[1]
        self.net_ = self._network(self.width_)
        fit_network(
            self.net_,
            lambda m, b: ((m(b[0]) - b[0]) ** 2).mean(),
            TensorDataset(x),
            self.config,
            hooks=[_SlowOrFailing(self.config)],
            progress=progress,
            context=context,
        )
        self.net_.cpu().eval()

    def _errors(self, data: Dataset) -> torch.Tensor:
        x = self._features(data)
        with torch.no_grad():
            return (self.net_(x) - x) ** 2

    def _score(self, data: Dataset) -> Scores:
        err = self._errors(data)
        return Scores(
            score=err.mean(1).numpy().astype(np.float64),
            components={"max": err.max(1).values.numpy().astype(np.float64)},
        )

    def _explain(self, data: Dataset):
        err = self._errors(data).numpy()
        if data.kind == DataKind.IMAGE:
            return ImageMaps(maps=err.reshape(-1, SIZE, SIZE).astype(np.float32))
        return FeatureWeights(weights=list(err), feature_names=data.columns)

    def _state(self):
        return {"net": self.net_.state_dict()}, {"width": self.width_}

    def _restore(self, tensors, meta) -> None:
        self.width_ = int(meta["width"])
        self.net_ = self._network(self.width_)
        self.net_.load_state_dict(tensors["net"])
        self.net_.eval()


class MemoryRegistry:
    """The part of the dataset registry a run uses, kept in a dict."""

    def __init__(self) -> None:
        self.datasets: dict[str, Dataset] = {}

    def add(self, dataset: Dataset, name: str) -> str:
        self.datasets[name] = dataset
        return name

    def get(self, dataset_id: str) -> Dataset:
        return self.datasets[dataset_id]


def blob_images(n: int, *, seed: int = 0, anomalies: int = 0, size: int = 16) -> Dataset:
    """Dark images with a faint gradient; anomalies carry a bright square (with a mask)."""
    rng = np.random.default_rng(seed)
    images, masks, labels = [], [], []
    for i in range(n):
        image = (np.linspace(20, 60, size)[None, :] + rng.normal(0, 3, (size, size))).clip(0, 255)
        mask = np.zeros((size, size), np.uint8)
        anomalous = i >= n - anomalies
        if anomalous:
            mask[4:12, 4:12] = 1
            image[mask > 0] = 250
        images.append(image.astype(np.uint8))
        masks.append(mask if anomalous else None)
        labels.append(int(anomalous))
    return Dataset(
        DataKind.IMAGE,
        images,
        [f"img_{i:03d}.png" for i in range(n)],
        labels=np.asarray(labels) if anomalies else None,
        classes=["square" if lab else "good" for lab in labels] if anomalies else None,
        masks=masks if anomalies else None,
        name="blobs",
    )


def gaussian_table(n: int, *, seed: int = 0, anomalies: int = 0, d: int = 5) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, d)).astype(np.float32)
    x[:, 1] = x[:, 0] * 2
    labels = np.zeros(n, np.int8)
    if anomalies:
        x[-anomalies:, 1] = -x[-anomalies:, 0] * 2 + 6
        labels[-anomalies:] = 1
    return Dataset(
        DataKind.TABLE,
        x,
        [f"row_{i}" for i in range(n)],
        labels=labels if anomalies else None,
        columns=[f"f{j}" for j in range(d)],
        name="gauss",
    )
