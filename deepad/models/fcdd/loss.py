"""The FCDD objective (thesis eq. 3.1), per image and per pixel."""

from __future__ import annotations

import math

import torch

# Keeps -log(1 - exp(-s)) finite when a score s reaches 0 (it diverges like -log s there).
_EPS = 1e-6
_LN2 = math.log(2.0)


def pseudo_huber(squared: torch.Tensor) -> torch.Tensor:
    """sqrt(q + 1) − 1 of a squared norm q ≥ 0, as q / (sqrt(q + 1) + 1).

    The two are equal, but the difference cancels for small q: in float32 it loses about
    1e-6 relative, in bfloat16 (autocast on a GPU) several per cent. The quotient keeps the
    input's relative precision at every q."""
    return squared / (torch.sqrt(squared + 1.0) + 1.0)


def anomaly_map(phi: torch.Tensor) -> torch.Tensor:
    """A(x) = sqrt(φ(x)² + 1) − 1 element-wise (pseudo-Huber): ≥ 0, 0 only at the centre."""
    return pseudo_huber(phi.float() ** 2)


def anomaly_term(score: torch.Tensor) -> torch.Tensor:
    """−log(1 − exp(−s)) for s > 0, with s guarded above 0.

    Computed as −log(−expm1(−s)) for s ≤ log 2 and −log1p(−exp(−s)) beyond (Mächler's
    log1mexp): each branch is accurate where the other cancels, so the term keeps its
    relative precision from s → 0 (where it grows like −log s) to large s (where it decays
    like exp(−s))."""
    s = score.clamp_min(_EPS)
    small = s <= _LN2
    near = -torch.log(-torch.expm1(-torch.where(small, s, torch.full_like(s, _LN2))))
    far = -torch.log1p(-torch.exp(-torch.where(small, torch.full_like(s, _LN2), s)))
    return torch.where(small, near, far)


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
