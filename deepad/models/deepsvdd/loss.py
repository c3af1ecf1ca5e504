"""The objectives of Deep SVDD (thesis eqs. 2.10, 2.11), Deep SAD (2.13) and HSC (2.20).

Every function takes ``dist``, the squared distances ‖φ(x) − c‖² of a batch, and returns the
batch mean of the per-item terms (the ``1/n`` or ``1/(n+m)`` of the equations); the weight decay
term λ/2 Σ‖ω‖² is the optimiser's. ``semi`` marks each item: 0 unlabeled, +1 labeled normal,
−1 labeled anomaly (or an outlier-exposure sample).
"""

from __future__ import annotations

import torch

from deepad.models.fcdd.loss import anomaly_term, pseudo_huber

# Added to the distance of labeled items in Deep SAD, so 1/dist stays finite near the centre.
SAD_EPS = 1e-6

UNLABELED, LABELED_NORMAL, LABELED_ANOMALY = 0, 1, -1


def one_class_loss(dist: torch.Tensor) -> torch.Tensor:
    """One-Class Deep SVDD (2.11): the mean squared distance to the centre."""
    return dist.mean()


def soft_boundary_loss(dist: torch.Tensor, radius_sq: torch.Tensor, nu: float) -> torch.Tensor:
    """Soft-boundary Deep SVDD (2.10): R² + 1/(νn) Σ max(0, ‖φ(x) − c‖² − R²)."""
    return radius_sq + torch.relu(dist - radius_sq).mean() / nu


def deep_sad_loss(
    dist: torch.Tensor, semi: torch.Tensor, eta: float, eps: float = SAD_EPS
) -> torch.Tensor:
    """Deep SAD (2.13): ‖φ(x) − c‖² for unlabeled items, η (‖φ(x̃) − c‖² + ε)^ỹ for labeled ones
    (ỹ = +1 normal, −1 anomalous: anomalies are pushed away by the inverse distance)."""
    semi = semi.to(dist.dtype)
    labeled = eta * (dist + eps) ** semi
    return torch.where(semi == UNLABELED, dist, labeled).mean()


def hsc_loss(dist: torch.Tensor, semi: torch.Tensor, eta: float) -> torch.Tensor:
    """HSC (2.20) with the pseudo-Huber h: h(φ(x)) for unlabeled items, η h(φ(x̃)) for labeled
    normal ones and −η log(1 − exp(−h(φ(x̃)))) for labeled anomalies (c = 0, so ``dist`` is
    ‖φ(x)‖²). h(z) = sqrt(‖z‖² + 1) − 1 is quadratic near 0 and linear far out; it is computed
    from ``dist`` without cancellation (:func:`~deepad.models.fcdd.loss.pseudo_huber`)."""
    h = pseudo_huber(dist)
    terms = torch.where(semi == LABELED_ANOMALY, eta * anomaly_term(h), h)
    terms = torch.where(semi == LABELED_NORMAL, eta * h, terms)
    return terms.mean()
