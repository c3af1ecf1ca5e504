"""The FCDD objective (thesis eq. 3.1), per image and per pixel."""

from __future__ import annotations

import torch

# Keeps -log(1 - exp(-s)) finite when a score s reaches 0 (it diverges like -log s there).
_EPS = 1e-6


def anomaly_map(phi: torch.Tensor) -> torch.Tensor:
    """A(x) = sqrt(φ(x)² + 1) − 1 element-wise (pseudo-Huber): ≥ 0, 0 only at the centre."""
    return torch.sqrt(phi.float() ** 2 + 1.0) - 1.0


def anomaly_term(score: torch.Tensor) -> torch.Tensor:
    """−log(1 − exp(−s)), computed as −log(−expm1(−s)) for accuracy, with s guarded above 0."""
    return -torch.log(-torch.expm1(-score.clamp_min(_EPS)))


def fcdd_loss(
    maps: torch.Tensor,
    anomalous: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of eq. 3.1's per-image terms.

    ``maps`` are anomaly maps A (any shape ``(n, ...)``); a normal image adds mean(A), an
    anomalous one −log(1 − exp(−mean(A))). ``weight`` (e.g. η for labeled images) scales each
    image's term; the result is divided by the batch size, as in eq. 3.1's ``1/(n+m)``.
    """
    score = maps.flatten(1).mean(1)
    anomalous = anomalous.bool()
    terms = torch.where(anomalous, anomaly_term(score), score)
    if weight is not None:
        terms = terms * weight
    return terms.mean()


def fcdd_pixel_loss(
    full_maps: torch.Tensor,
    masks: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 3.1 on upsampled maps A′ with ground-truth masks (semi-supervised FCDD).

    ``masks`` holds 0 (normal pixel), 1 (defect pixel) or -1 (unknown, ignored), shaped like
    ``full_maps``. Per image: the mean of A′ over its normal pixels plus −log(1 − exp(−mean of
    A′ over its defect pixels)); a term is left out where an image has no such pixels.
    """
    flat = full_maps.float().flatten(1)
    m = masks.flatten(1)
    normal = (m == 0).float()
    defect = (m == 1).float()
    n_normal = normal.sum(1)
    n_defect = defect.sum(1)
    normal_score = (flat * normal).sum(1) / n_normal.clamp_min(1.0)
    defect_score = (flat * defect).sum(1) / n_defect.clamp_min(1.0)
    terms = torch.where(n_normal > 0, normal_score, torch.zeros_like(normal_score))
    terms = terms + torch.where(
        n_defect > 0, anomaly_term(defect_score), torch.zeros_like(defect_score)
    )
    if weight is not None:
        terms = terms * weight
    return terms.mean()
