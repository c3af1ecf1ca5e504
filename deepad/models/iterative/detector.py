"""Iterative clustering + autoencoder (paper 001, Algorithm 1) for contaminated training data.

No labels are used. An initial training subset is the members of the lowest-variance clusters
of the inputs (standardised table columns, [0, 1] pixels): a GMM on tables, k-means on flattened image pixels (``auto``),
accepting clusters below the (100 - p0)-th percentile of cluster variance. A tanh autoencoder
trains on that subset in deepad's one training loop; every ``reselect_every`` epochs a hook
computes z = [bottleneck code; cosine reconstruction error] for *all* training items, fits a
GMM on z and keeps the members of clusters below the (100 - p)-th percentile. Training ends
when the selected set no longer changes (or after ``epochs``). The score is the cosine
dissimilarity 1 - cos(x, x') between a standardised input and its reconstruction (eq. 9).

Each selection round is kept in ``rounds_`` (and the saved meta): the epoch, the size of the
selected set and, when the training data carry labels, how many labeled anomalies it holds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from deepad.data.transforms import Standardizer
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.device import select_device
from deepad.models.base import Detector
from deepad.models.iterative.config import InitialClustering, IterativeAEConfig, TableScaling
from deepad.models.iterative.network import TanhAutoencoder, cosine_dissimilarity
from deepad.models.iterative.selection import Clustering, select
from deepad.models.registry import register
from deepad.models.shallow.features import FeatureMap
from deepad.results import Scores
from deepad.train.loop import LoopState, fit_network
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)


def _reconstruction_loss(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    _, reconstruction = module(batch[0])
    return ((reconstruction - batch[0]) ** 2).mean()


@torch.no_grad()
def _code_and_error(module: nn.Module, inputs: torch.Tensor, chunk: int) -> np.ndarray:
    """z = [code; cosine error] for every row, as float64 on the CPU."""
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    out = []
    for part in inputs.split(chunk):
        x = part.to(device)
        code, reconstruction = module(x)
        error = cosine_dissimilarity(x, reconstruction)
        out.append(torch.cat([code, error[:, None]], 1).float().cpu())
    module.train(was_training)
    return torch.cat(out).double().numpy()


class _Reselection:
    """Loop hook: every r epochs re-select the training subset from z; stop once it settles."""

    def __init__(
        self,
        inputs: torch.Tensor,
        selected: np.ndarray,
        cfg: IterativeAEConfig,
        anomalous: np.ndarray | None,
    ) -> None:
        self.inputs = inputs
        self.selected = selected
        self.cfg = cfg
        self.anomalous = anomalous
        self.rounds: list[dict[str, Any]] = []
        self.converged = False
        self.record(0)

    def record(self, epoch: int) -> None:
        entry: dict[str, Any] = {"epoch": epoch, "selected": int(self.selected.sum())}
        if self.anomalous is not None:
            entry["anomalies"] = int(self.anomalous[self.selected].sum())
        self.rounds.append(entry)
        log.info("selection after epoch %d: %s", epoch, entry)

    def on_epoch_start(self, state: LoopState) -> None:
        done = state.epoch - 1
        if done == 0 or done % self.cfg.reselect_every:
            return
        z = _code_and_error(state.module, self.inputs, 4 * self.cfg.batch_size)
        chosen = select(
            z,
            Clustering.GMM,
            self.cfg.clusters,
            self.cfg.share,
            seed=self.cfg.seed + done,
            max_rows=self.cfg.cluster_rows,
            over=self.cfg.percentile_of,
        )
        unchanged = bool(np.array_equal(chosen, self.selected))
        self.selected = chosen
        self.record(done)
        if unchanged:
            self.converged = True
            state.stop = True

    def batches(self, epoch: int, generator: torch.Generator) -> list[tuple[torch.Tensor]]:
        del epoch
        index = torch.from_numpy(np.flatnonzero(self.selected))
        index = index[torch.randperm(len(index), generator=generator)]
        size = self.cfg.batch_size
        return [(self.inputs[index[s : s + size]],) for s in range(0, len(index), size)]


@register
class IterativeAE(Detector):
    """The right choice when your normal data may contain anomalies that nobody labeled: an
    autoencoder that trains only on the low-variance clusters of the data (on clean data the
    plain autoencoder is simpler).

    Every ``reselect_every`` epochs it re-clusters [code, cosine error] of all training items
    and keeps the members of the low-variance clusters.
    """

    name = "iterative_ae"
    config: IterativeAEConfig

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
        self.features_ = FeatureMap()
        x = self.features_.fit(train, image_size=cfg.image_size)
        if train.kind == DataKind.IMAGE:
            # images stay [0, 1] pixels, as in the paper: standardising a pixel that is almost
            # always dark blows up the few images where it is lit, and the cosine score then
            # follows those pixels alone
            dim = x.shape[1]
            identity = {"mean": np.zeros(dim, np.float32), "std": np.ones(dim, np.float32)}
            self.features_.standardizer_ = Standardizer.from_state(identity)
            x = self.features_.transform(train)
        elif cfg.table_scaling == TableScaling.MINMAX:
            # the standardiser's state as (minimum, range): x -> (x - min) / range
            scaler = self.features_.standardizer_
            raw = x * scaler.std_ + scaler.mean_
            low, span = raw.min(0), raw.max(0) - raw.min(0)
            span = np.where(span > 1e-8, span, 1.0)
            state = {"mean": low.astype(np.float32), "std": span.astype(np.float32)}
            self.features_.standardizer_ = Standardizer.from_state(state)
            x = self.features_.transform(train)
        on_images = train.kind == DataKind.IMAGE
        kmeans = cfg.initial_clustering == InitialClustering.KMEANS or (
            cfg.initial_clustering == InitialClustering.AUTO and on_images
        )
        selected = select(
            x,
            Clustering.KMEANS if kmeans else Clustering.GMM,
            cfg.clusters,
            cfg.initial_share,
            seed=cfg.seed,
            max_rows=cfg.cluster_rows,
            over=cfg.percentile_of,
        )
        anomalous = None
        if train.labels is not None and train.has_labels:
            anomalous = np.asarray(train.labels) == ANOMALOUS
        inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        torch.manual_seed(cfg.seed)
        self.module_ = self._module(x.shape[1])
        hook = _Reselection(inputs, selected, cfg, anomalous)
        self.history_ = fit_network(
            self.module_,
            _reconstruction_loss,
            hook.batches,
            cfg,
            hooks=(hook,),
            progress=progress,
            context=context,
        )
        self.rounds_ = hook.rounds
        self.converged_ = hook.converged
        self.selected_ = hook.selected

    def _module(self, features: int) -> TanhAutoencoder:
        cfg = self.config
        return TanhAutoencoder(features=features, hidden=cfg.hidden, code_size=cfg.code_size)

    @torch.no_grad()
    def _score(self, data: Dataset) -> Scores:
        x = torch.from_numpy(np.ascontiguousarray(self.features_.transform(data)))
        device = select_device(self.config.device)
        module = self.module_.to(device).eval()
        scores = []
        for part in x.split(4 * self.config.batch_size):
            xs = part.to(device)
            scores.append(cosine_dissimilarity(xs, module(xs)[1]).float().cpu())
        score = torch.cat(scores).numpy() if scores else np.zeros(0)
        return Scores(score=score.astype(np.float64))

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors, meta = self.features_.state()
        tensors.update(
            {f"module.{k}": v.detach().cpu() for k, v in self.module_.state_dict().items()}
        )
        tensors["selected"] = np.asarray(self.selected_, dtype=np.int8)
        meta = {**meta, "rounds": self.rounds_, "converged": self.converged_}
        return tensors, meta

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        arrays = {k: v for k, v in tensors.items() if not k.startswith("module.")}
        self.features_ = FeatureMap.from_state({k: np.asarray(v) for k, v in arrays.items()}, meta)
        state = {
            k[len("module.") :]: torch.as_tensor(v)
            for k, v in tensors.items()
            if k.startswith("module.")
        }
        self.module_ = self._module(int(self.features_.standardizer_.mean_.shape[0]))
        self.module_.load_state_dict(state)
        self.module_.eval()
        self.selected_ = np.asarray(tensors["selected"]).astype(bool)
        self.rounds_ = list(meta.get("rounds", []))
        self.converged_ = bool(meta.get("converged", False))
