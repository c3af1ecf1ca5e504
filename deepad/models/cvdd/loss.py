"""The CVDD objective (thesis eq. 3.7-3.11) and its α annealing schedule."""

from __future__ import annotations

import torch
from torch import nn

LOG_ALPHAS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)


def context_weights(distances: torch.Tensor, alpha: float) -> torch.Tensor:
    """``σ_k = softmax_k(−α d_k)`` (eq. 3.11): α = 0 weighs contexts equally, large α picks
    the closest context."""
    return torch.softmax(-alpha * distances, dim=1)


def orthogonality_penalty(contexts: torch.Tensor) -> torch.Tensor:
    """``‖CᵀC − I‖²_F`` (eq. 3.8) on unit-length context vectors."""
    c = nn.functional.normalize(contexts.float(), dim=-1)
    gram = c @ c.T
    eye = torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)
    return ((gram - eye) ** 2).sum()


def cvdd_loss(
    distances: torch.Tensor, contexts: torch.Tensor, *, alpha: float, penalty: float
) -> torch.Tensor:
    """Mean over documents of ``Σ_k σ_k d_k`` plus ``λ ‖CᵀC − I‖²_F`` (eq. 3.9)."""
    weighted = (context_weights(distances, alpha) * distances).sum(dim=1).mean()
    return weighted + penalty * orthogonality_penalty(contexts)


def annealed_alpha(epoch: int, epochs: int, values: tuple[float, ...] = LOG_ALPHAS) -> float:
    """α for a 1-based ``epoch``: ``values`` in turn, each for ``epochs / len(values)`` epochs
    (the thesis steps 0, 1e-4, 1e-3, 1e-2, 1e-1 every 20 of 100 epochs)."""
    step = (epoch - 1) * len(values) // max(epochs, 1)
    return values[min(max(step, 0), len(values) - 1)]
