"""CANCE (paper 003): composite autoencoder features and noise-contrastive density estimation.

1. An autoencoder with batch normalisation right before its latent code is trained on
   reconstruction error plus ``cov_weight`` times the mean squared off-diagonal latent
   covariance, so the code neither collapses nor correlates (stage 1, ``epochs``).
2. Decoupled training: the encoder is frozen and the decoder trains on alone, on the frozen
   codes (stage 2, ``decoder_epochs``).
3. Each item's composite feature is u = [z, e, c]: the code, the squared error normalised by
   the dimension e = |x - x'|^2 / d and the cosine dissimilarity c = 1 - cos(x, x').
4. An estimation network learns the log-odds G(u) of data against Gaussian noise p_n =
   N(mu, S Sigma S) by NCE
   (mu, Sigma: the training features' moments; S = diag(s), s = 1 + softplus(a) >= 1), while
   s maximises the NCE loss in its stop-gradient form (stage 3, ``nce_epochs``). Both updates
   happen in the same optimiser step (simultaneous, not alternating, gradient descent-ascent).
   Each data batch is doubled by copies whose e and c are redrawn from normals with the
   features' mean and standard deviation truncated to [0, mode], the mode of a log-normal with
   the features' mean and variance: artificially low reconstruction errors count as normal.
5. The score is the estimated negative log-density -log p(u) = -G(u) - log p_n(u) - log nu
   (at the NCE optimum G = log p - log(nu p_n)), with the final noise scale.

With ``encoder = pca`` the code and reconstruction come from a principal subspace of the
standardised inputs instead (the paper's variant on PCA of pretrained features; here of the
inputs themselves, until a shared pretrained backbone is wired in) and stages 1-2 are skipped.
Model selection follows the paper: held-out normal rows (those :meth:`Detector.fit` holds out
for the threshold, else ``validation_share`` of the training rows, a seeded draw), and each stage keeps the epoch whose loss on those rows is lowest (the
autoencoder's loss, the decoder's, and the NCE loss against a fixed draw of noise). No labels
are read; ``validation_share = 0`` trains every stage for its configured epochs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from deepad.data.types import Dataset
from deepad.device import select_device
from deepad.models.base import Detector
from deepad.models.cance.config import CANCEConfig, Encoder
from deepad.models.cance.loss import covariance_penalty, nce_loss
from deepad.models.cance.network import EstimationNetwork, LatentNormAutoencoder, ScaledGaussian
from deepad.models.registry import register
from deepad.models.shallow.features import FeatureMap
from deepad.results import Scores
from deepad.train.loop import fit_network
from deepad.train.progress import ProgressCallback, RunContext

EPS = 1e-8


class _BestOnHeldOut:
    """Loop hook: after every epoch, the loss on held-out rows; :meth:`restore` loads the
    weights of the epoch where it was lowest."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None

    def check(self, module: nn.Module, epoch: int) -> None:
        was_training = module.training
        module.eval()
        with torch.no_grad():
            value = float(self.loss(module))
        module.train(was_training)
        if math.isfinite(value) and (self.best is None or value < self.best[0]):
            state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            self.best = (value, epoch, state)

    def on_epoch_start(self, state: Any) -> None:
        if state.epoch > 1:
            self.check(state.module, state.epoch - 1)

    def restore(self, module: nn.Module, last_epoch: int) -> int:
        """Check the last epoch too, load the best weights; the chosen epoch."""
        self.check(module, last_epoch)
        assert self.best is not None
        module.load_state_dict(self.best[2])
        return self.best[1]


def reconstruction_features(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """``(n, 2)``: the squared error normalised by the dimension, |x - x'|^2 / d, and
    1 - cos(x, x'). (Dividing by |x|^2 instead would hide the anomalies of standardised
    tables, which lie far from the mean and so have a large |x|.)"""
    x, reconstruction = x.flatten(1), reconstruction.flatten(1)
    error = ((x - reconstruction) ** 2).mean(1)
    cosine = 1.0 - F.cosine_similarity(x, reconstruction, dim=1, eps=EPS)
    return torch.stack([error, cosine], 1)


def lognormal_mode(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Mode of the log-normal with this mean and variance: mean / (1 + var / mean^2)^(3/2)."""
    mean = mean.clamp_min(EPS)
    return mean / (1.0 + var / mean**2) ** 1.5


def truncated_normal(
    n: int, mean: torch.Tensor, std: torch.Tensor, low: torch.Tensor, high: torch.Tensor
) -> torch.Tensor:
    """``(n, len(mean))`` draws of N(mean, std^2) truncated to [low, high], by inverse CDF."""
    std = std.clamp_min(EPS)
    a = torch.special.ndtr((low - mean) / std)
    b = torch.special.ndtr((high - mean) / std)
    u = a + (b - a) * torch.rand(n, len(mean), device=mean.device)
    u = u.clamp(1e-7, 1.0 - 1e-7)
    return (mean + std * torch.special.ndtri(u)).clamp(min=low, max=high)


class _Estimator(nn.Module):
    """Estimation network (log-odds of data against noise), noise distribution and the
    augmentation's statistics (buffers)."""

    def __init__(self, features: int, hidden: tuple[int, ...], ratio: float) -> None:
        super().__init__()
        self.log_ratio = math.log(ratio)
        self.network = EstimationNetwork(features=features, hidden=hidden)
        self.noise = ScaledGaussian(features)
        self.register_buffer("recon_mean", torch.zeros(2))
        self.register_buffer("recon_std", torch.ones(2))
        self.register_buffer("recon_mode", torch.ones(2))

    def fit_statistics(self, u: torch.Tensor) -> None:
        u = u.double()
        mean = u.mean(0)
        centred = u - mean
        covariance = centred.T @ centred / max(1, len(u) - 1)
        self.network.mean.copy_(mean)
        self.network.std.copy_(covariance.diagonal().sqrt().clamp_min(1e-6))
        self.noise.set_moments(mean, covariance)
        recon = u[:, -2:]
        self.recon_mean.copy_(recon.mean(0))
        self.recon_std.copy_(recon.std(0) if len(u) > 1 else torch.ones(2))
        self.recon_mode.copy_(lognormal_mode(self.recon_mean, self.recon_std**2))

    def negative_log_density(self, u: torch.Tensor) -> torch.Tensor:
        """-log p(u) = -G(u) - log p_n(u) - log nu, from the NCE optimum G = log p - log nu p_n."""
        return -self.network(u) - self.noise.log_prob(u) - self.log_ratio

    def augmented(self, u: torch.Tensor) -> torch.Tensor:
        """Copies of ``u`` whose reconstruction features are redrawn below the mode."""
        low = torch.zeros_like(self.recon_mode)
        redrawn = truncated_normal(len(u), self.recon_mean, self.recon_std, low, self.recon_mode)
        return torch.cat([u[:, :-2], redrawn], 1)


def _nce_training_loss(ratio: float, augment: bool):
    log_ratio = math.log(ratio)

    def loss_fn(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        estimator: _Estimator = module
        data = batch[0]
        if augment:
            data = torch.cat([data, estimator.augmented(data)])
        noise = estimator.noise.sample(max(1, round(ratio * len(data))))
        log_pn_data = estimator.noise.log_prob(data)
        log_pn_noise = estimator.noise.log_prob(noise)
        # the network outputs the log-odds G; the score -log p = -G - log p_n - log nu then
        # grows with the noise's quadratic tails far from the data, where G has no signal.
        # The network descends with the noise fixed ...
        network_loss = nce_loss(
            -estimator.network(data) - log_pn_data.detach() - log_ratio,
            -estimator.network(noise.detach()) - log_pn_noise.detach() - log_ratio,
            log_pn_data.detach(),
            log_pn_noise.detach(),
            ratio,
        )
        # ... and the noise scale ascends with the density estimate -log p under stop-gradient;
        # this term adds its gradient while the reported loss stays that of the network
        noise_loss = -nce_loss(
            (-estimator.network(data) - log_pn_data - log_ratio).detach(),
            -_frozen(estimator.network, noise) - log_pn_noise.detach() - log_ratio,
            log_pn_data,
            log_pn_noise,
            ratio,
        )
        return network_loss + noise_loss - noise_loss.detach()

    return loss_fn


def _held_out_nce_loss(u: torch.Tensor, eps: torch.Tensor, ratio: float):
    """The network's NCE loss on held-out features ``u`` against noise from fixed standard
    normal draws ``eps`` (reparametrised with the current noise scale): a deterministic
    criterion to compare epochs by."""

    def loss_fn(module: nn.Module) -> torch.Tensor:
        estimator: _Estimator = module
        device = estimator.noise.mu.device
        data, white = u.to(device), eps.to(device)
        noise = estimator.noise.mu + estimator.noise.scale() * (white @ estimator.noise.cholesky.T)
        return nce_loss(
            estimator.negative_log_density(data),
            estimator.negative_log_density(noise),
            estimator.noise.log_prob(data),
            estimator.noise.log_prob(noise),
            ratio,
        )

    return loss_fn


def _hold_out(x: torch.Tensor, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A seeded split of rows into (training, held out); no held-out rows when too few."""
    n_held = int(round(share * len(x)))
    if n_held < 2 or len(x) - n_held < 2:
        return x, None
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return x[order[n_held:]], x[order[:n_held]]


def _frozen(network: nn.Module, u: torch.Tensor) -> torch.Tensor:
    """``network(u)`` with gradients to ``u`` but none to the network's parameters."""
    params = dict(network.named_parameters())
    buffers = dict(network.named_buffers())
    detached = {k: v.detach() for k, v in params.items()}
    return torch.func.functional_call(network, {**detached, **buffers}, (u,))


def _ae_loss(cov_weight: float):
    def loss_fn(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = batch[0]
        code = module.encode(x)
        reconstruction = module.decoder(code)
        loss = ((reconstruction - x) ** 2).mean()
        return loss + cov_weight * covariance_penalty(code) if cov_weight else loss

    return loss_fn


def _decoder_loss(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    x, code = batch
    return ((module(code) - x) ** 2).mean()


@register
class CANCE(Detector):
    """The right choice for mostly clean normal tables or small images whose anomalies the
    autoencoder reconstructs well (if your normal data may contain many anomalies, use the
    iterative clustering autoencoder).

    Score: the negative log-density of [autoencoder code, reconstruction error, cosine
    dissimilarity], learned by noise-contrastive estimation.
    """

    name = "cance"
    config: CANCEConfig

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
        x_all = torch.from_numpy(
            np.ascontiguousarray(self.features_.fit(train, image_size=cfg.image_size))
        )
        torch.manual_seed(cfg.seed)
        if validation is not None and len(validation) and cfg.validation_share > 0:
            # the normal items Detector.fit held out for the threshold serve here too
            x = x_all
            held = torch.from_numpy(np.ascontiguousarray(self.features_.transform(validation)))
        else:
            x, held = _hold_out(x_all, cfg.validation_share, cfg.seed)
        self.history_ = []
        self.chosen_epochs_: dict[str, int] = {}
        if cfg.encoder == Encoder.AE:
            self.autoencoder_ = self._autoencoder(x.shape[1])
            ae_loss = _ae_loss(cfg.cov_weight)
            self.history_ += self._stage(
                "autoencoder",
                self.autoencoder_,
                ae_loss,
                TensorDataset(x),
                cfg,
                None if held is None else (lambda m: ae_loss(m, (held,))),
                progress,
                context,
            )
            if cfg.decoder_epochs:
                codes = self._codes(x)
                held_codes = None if held is None else self._codes(held)
                self.history_ += self._stage(
                    "decoder",
                    self.autoencoder_.decoder,
                    _decoder_loss,
                    TensorDataset(x, codes),
                    dataclasses.replace(cfg, epochs=cfg.decoder_epochs),
                    None if held is None else (lambda m: _decoder_loss(m, (held, held_codes))),
                    progress,
                    context,
                )
            self.autoencoder_.eval()
        else:
            self.pca_ = self._fit_pca(x)
        u = self._composite(x)
        self.estimator_ = _Estimator(u.shape[1], cfg.estimator_hidden, cfg.noise_ratio)
        self.estimator_.fit_statistics(u)
        held_loss = None
        if held is not None:
            held_u = self._composite(held)
            draws = torch.Generator().manual_seed(cfg.seed)
            eps = torch.randn(
                max(1, round(cfg.noise_ratio * len(held_u))), u.shape[1], generator=draws
            )
            held_loss = _held_out_nce_loss(held_u, eps, cfg.noise_ratio)
        self.history_ += self._stage(
            "estimator",
            self.estimator_,
            _nce_training_loss(cfg.noise_ratio, cfg.augment),
            TensorDataset(u),
            dataclasses.replace(cfg, epochs=cfg.nce_epochs, lr=cfg.nce_lr),
            held_loss,
            progress,
            context,
        )
        self.estimator_.eval()

    def _stage(
        self,
        name: str,
        module: nn.Module,
        loss_fn: Any,
        data: TensorDataset,
        cfg: CANCEConfig,
        held_loss: Any,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> list[Any]:
        """Train one stage; with held-out rows keep its epoch of lowest held-out loss."""
        hook = None if held_loss is None else _BestOnHeldOut(held_loss)
        history = fit_network(
            module,
            loss_fn,
            data,
            cfg,
            hooks=() if hook is None else (hook,),
            progress=progress,
            context=context,
        )
        if hook is not None:
            self.chosen_epochs_[name] = hook.restore(module, len(history))
        return history

    # ----------------------------------------------------------------- features
    def _autoencoder(self, features: int) -> LatentNormAutoencoder:
        cfg = self.config
        return LatentNormAutoencoder(features=features, hidden=cfg.hidden, code_size=cfg.code_size)

    def _fit_pca(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x64 = x.double()
        mean = x64.mean(0)
        _, _, vh = torch.linalg.svd(x64 - mean, full_matrices=False)
        k = min(self.config.code_size, vh.shape[0])
        return {"mean": mean.float(), "components": vh[:k].float().contiguous()}

    @torch.no_grad()
    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        device = select_device(self.config.device)
        encoder = self.autoencoder_.to(device).eval().encoder
        return torch.cat([encoder(p.to(device)).float().cpu() for p in self._chunks(x)])

    def _chunks(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x.split(max(1, 4 * self.config.batch_size))

    @torch.no_grad()
    def _composite(self, x: torch.Tensor) -> torch.Tensor:
        """u = [code, normalised squared error, cosine dissimilarity] for standardised rows."""
        if self.config.encoder == Encoder.PCA:
            centred = x - self.pca_["mean"]
            code = centred @ self.pca_["components"].T
            reconstruction = code @ self.pca_["components"]
            return torch.cat([code, reconstruction_features(centred, reconstruction)], 1)
        device = select_device(self.config.device)
        ae = self.autoencoder_.to(device).eval()
        parts = []
        for part in self._chunks(x):
            part = part.to(device)
            code = ae.encode(part)
            recon = reconstruction_features(part, ae.decoder(code))
            parts.append(torch.cat([code, recon], 1).float().cpu())
        return torch.cat(parts) if parts else torch.zeros((0, self.config.code_size + 2))

    # ----------------------------------------------------------------- scoring
    @torch.no_grad()
    def _score(self, data: Dataset) -> Scores:
        x = torch.from_numpy(np.ascontiguousarray(self.features_.transform(data)))
        u = self._composite(x)
        device = select_device(self.config.device)
        estimator = self.estimator_.to(device).eval()
        score = torch.cat(
            [estimator.negative_log_density(p.to(device)).float().cpu() for p in self._chunks(u)]
        )
        return Scores(
            score=score.numpy().astype(np.float64),
            components={
                "error": u[:, -2].numpy().astype(np.float64),
                "cosine": u[:, -1].numpy().astype(np.float64),
            },
        )

    # ----------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors, meta = self.features_.state()
        parts = {"estimator": self.estimator_.state_dict()}
        if self.config.encoder == Encoder.AE:
            parts["autoencoder"] = self.autoencoder_.state_dict()
        else:
            parts["pca"] = self.pca_
        for prefix, state in parts.items():
            tensors.update({f"{prefix}.{k}": v.detach().cpu() for k, v in state.items()})
        scale = self.estimator_.noise.scale().detach().cpu().tolist()
        return tensors, {**meta, "noise_scale": scale, "chosen_epochs": self.chosen_epochs_}

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            n = len(prefix) + 1
            return {k[n:]: torch.as_tensor(v) for k, v in tensors.items() if k.startswith(prefix)}

        features = {k: np.asarray(v) for k, v in tensors.items() if k.startswith("features.")}
        self.features_ = FeatureMap.from_state(features, meta)
        dim = int(self.features_.standardizer_.mean_.shape[0])
        if self.config.encoder == Encoder.AE:
            self.autoencoder_ = self._autoencoder(dim)
            self.autoencoder_.load_state_dict(part("autoencoder"))
            self.autoencoder_.eval()
        else:
            self.pca_ = part("pca")
        estimator = part("estimator")
        self.estimator_ = _Estimator(
            int(estimator["network.mean"].shape[0]),
            self.config.estimator_hidden,
            self.config.noise_ratio,
        )
        self.estimator_.load_state_dict(estimator)
        self.estimator_.eval()
        self.chosen_epochs_ = dict(meta.get("chosen_epochs", {}))
