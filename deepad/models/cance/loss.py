"""CANCE's losses: the latent covariance penalty and noise-contrastive estimation.

NCE (Gutmann and Hyvärinen): for a density estimate f = -log p and nu noise samples per data
sample, the log-odds that u is data rather than noise is G(u) = -f(u) - log p_n(u) - log nu,
and the loss is

    L = mean_x softplus(-G(x)) + nu * mean_y softplus(G(y)),

i.e. -log sigma(G) on data and -log(1 - sigma(G)) on noise. The noise scale s maximises the
same loss with the density estimate under a stop-gradient (the adversarial, stop-gradient
form): its gradient reaches s only through log p_n and the reparametrised noise samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def covariance_penalty(z: torch.Tensor) -> torch.Tensor:
    """Mean of the squared off-diagonal entries of the (unbiased) covariance of ``z``."""
    n, k = z.shape
    if k < 2 or n < 2:
        return z.new_zeros(())
    centred = z - z.mean(0, keepdim=True)
    covariance = centred.T @ centred / (n - 1)
    off = covariance * (1.0 - torch.eye(k, device=z.device, dtype=z.dtype))
    return (off**2).sum() / (k * (k - 1))


def nce_loss(
    score_data: torch.Tensor,
    score_noise: torch.Tensor,
    log_noise_data: torch.Tensor,
    log_noise_noise: torch.Tensor,
    ratio: float,
) -> torch.Tensor:
    """The NCE loss from negative log-density estimates ``score_*`` and noise log-densities."""
    log_ratio = math.log(ratio)
    g_data = -score_data - log_noise_data - log_ratio
    g_noise = -score_noise - log_noise_noise - log_ratio
    return F.softplus(-g_data).mean() + ratio * F.softplus(g_noise).mean()
