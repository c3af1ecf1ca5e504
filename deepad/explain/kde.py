"""Neuralized kernel density estimation (thesis §4.4, Figure 4.4, after Kauffmann et al.).

The Gaussian KDE score of the :class:`deepad.models.shallow.KDE` detector, with centres
``u_1..u_m`` (the standardised training items), bandwidth ``h`` and ``γ = 1 / (2h²)``, is

    score(x) = −log( (1/m) Σ_j exp(−γ d_j) ) + (D/2) log(2πh²),   d_j = ‖x − u_j‖²,

written as a three-layer network: (i) the feature map (identity on standardised pixels or
columns, or a deep feature network φ), (ii) a distance layer ``d_j`` to every centre and
(iii) soft-min pooling ``o(x) = −(1/γ) log((1/m) Σ_j exp(−γ d_j))``, so that
``score = γ·o(x) + (D/2) log(2πh²)``. The constant is no evidence about ``x``; what is
explained is ``E(x) = γ·o(x) = score − (D/2) log(2πh²)``, which is ≥ 0 (log-mean-exp ≤ max).

Relevance flows top-down as in the paper's description of LRP on the pooled model:

- to the kernel centres, by the soft-min weights (the "winners" in the pool):
  ``R_j = E(x) · exp(−γ d_j) / Σ_k exp(−γ d_k)``;
- to the input dimensions, by each dimension's share of the squared distance:
  ``R_i = Σ_j R_j (x_i − u_{j,i})² / d_j``.

Both steps conserve relevance exactly: ``Σ_i R_i = Σ_j R_j = E(x)``. For KDE on deep features
the same two steps give the relevance of each feature of φ(x), which LRP then carries down
through φ (:func:`deep_kde_model`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from deepad.data.types import DataKind
from deepad.explain.declare import LRPModel


def kde_relevance(
    centres: torch.Tensor, bandwidth: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(features (n, D), inputs) -> R (n, D)`` with ``Σ_i R_i = E(x)`` (see the module)."""
    gamma = 1.0 / (2.0 * bandwidth * bandwidth)
    u = centres.float().flatten(1)
    u_sq = (u * u).sum(1)

    def relevance(features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        del inputs
        x = features.flatten(1)
        # |x|² − 2x·uᵀ + |u|²: products, not cdist (see the style notes on distances)
        d = ((x * x).sum(1, keepdim=True) - 2.0 * x @ u.T + u_sq).clamp_min(0.0)
        log_mean = torch.logsumexp(-gamma * d, dim=1) - math.log(len(u))
        explained = -log_mean  # E(x) = γ·o(x)
        weights = torch.softmax(-gamma * d, dim=1)  # soft-min pooling weights
        a = explained[:, None] * weights / d.clamp_min(1e-12)  # R_j / d_j
        # Σ_j a_j (x_i − u_ji)² = x_i² Σ_j a_j − 2 x_i (a @ u)_i + (a @ u²)_i
        rel = x * x * a.sum(1, keepdim=True) - 2.0 * x * (a @ u) + a @ (u * u)
        return rel.view_as(features)

    return relevance


def kde_normaliser(dim: int, bandwidth: float) -> float:
    """The constant ``(D/2) log(2πh²)`` of the KDE score that carries no relevance."""
    return 0.5 * dim * math.log(2.0 * math.pi * bandwidth * bandwidth)


def deep_kde_model(
    features: nn.Module,
    centres: torch.Tensor,
    bandwidth: float,
    inputs: torch.Tensor,
    *,
    kind: DataKind = DataKind.IMAGE,
    low: torch.Tensor | float | None = 0.0,
    high: torch.Tensor | float | None = 1.0,
) -> LRPModel:
    """KDE on deep features φ(x) (``centres`` = φ of the training items), continued by LRP
    through φ; give the result to :func:`deepad.explain.lrp.attribute`."""
    return LRPModel(
        network=features,
        inputs=inputs,
        relevance=kde_relevance(centres, bandwidth),
        kind=kind,
        low=low if kind == DataKind.IMAGE else None,
        high=high if kind == DataKind.IMAGE else None,
    )
