"""CANCE's networks: an autoencoder with batch normalisation on its latent code, the
estimation network, and the Gaussian noise distribution with a learned scale."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from deepad.models.ae.network import BatchNorm1d, DenseAutoencoder

SCALE_INIT = -4.0  # softplus(-4) ~ 0.018: the noise starts at the data's own covariance


class LatentNormAutoencoder(DenseAutoencoder):
    """Dense autoencoder whose code is batch-normalised (no affine parameters), so the latent
    features have unit variance and the covariance penalty only acts on their correlations."""

    def __init__(self, *, features: int, hidden: Sequence[int], code_size: int) -> None:
        super().__init__(features=features, hidden=hidden, code_size=code_size)
        self.encoder.append(BatchNorm1d(code_size, affine=False))


class EstimationNetwork(nn.Module):
    """Maps a composite feature to the log-odds that it is data rather than noise.

    Inputs are standardised with the training features' mean and standard deviation (buffers),
    which only reparametrises the network. Modelling the log-odds G rather than -log p
    directly keeps the density estimate -G - log p_n - log nu growing with the noise's
    Gaussian tails far from the data, where a saturating network would flatten out.
    """

    def __init__(self, *, features: int, hidden: Sequence[int]) -> None:
        super().__init__()
        widths = [features, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Tanh()]
        layers.append(nn.Linear(widths[-1], 1))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.layers((u - self.mean) / self.std).squeeze(-1)


class ScaledGaussian(nn.Module):
    """Noise N(mu, S Sigma S) with S = diag(s), s = 1 + softplus(a) >= 1 per feature.

    ``mu`` and the Cholesky factor of ``Sigma`` are buffers (the training features' moments);
    only ``a`` is learned. Samples are reparametrised: y = mu + s * (L eps).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(features))
        self.register_buffer("cholesky", torch.eye(features))
        self.raw_scale = nn.Parameter(torch.full((features,), SCALE_INIT))

    def set_moments(self, mean: torch.Tensor, covariance: torch.Tensor) -> None:
        eye = torch.eye(len(mean), dtype=covariance.dtype)
        jitter = 1e-6 * covariance.diagonal().mean().clamp_min(1e-12)
        self.mu.copy_(mean)
        self.cholesky.copy_(torch.linalg.cholesky(covariance + jitter * eye))

    def scale(self) -> torch.Tensor:
        return 1.0 + F.softplus(self.raw_scale)

    def sample(self, n: int) -> torch.Tensor:
        eps = torch.randn(n, len(self.mu), device=self.mu.device)
        return self.mu + self.scale() * (eps @ self.cholesky.T)

    def log_prob(self, u: torch.Tensor) -> torch.Tensor:
        s = self.scale()
        white = torch.linalg.solve_triangular(self.cholesky, ((u - self.mu) / s).T, upper=False).T
        log_det = torch.log(s).sum() + torch.log(self.cholesky.diagonal()).sum()
        d = len(self.mu)
        return -0.5 * (white**2).sum(1) - log_det - 0.5 * d * math.log(2 * math.pi)
