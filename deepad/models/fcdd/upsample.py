"""Gaussian receptive-field upsampling (thesis Algorithm 1) and pixel-level decisions.

The numpy implementation, the receptive-field arithmetic and σ's default live in
:mod:`deepad.receptive_field` (torch-free, so the dashboard can use them); this module adds the
differentiable torch path and the literal transposed-convolution check.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deepad.receptive_field import (
    ReceptiveField,
    axis_matrix,
    checked_sigma,
    crop_offset,
    default_sigma,
    gaussian_kernel,
    output_size,
    upsample_numpy,
)


def receptive_field_upsample(
    low_res: np.ndarray | torch.Tensor,
    rf: ReceptiveField,
    sigma: float | None = None,
    *,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Full-resolution maps ``A′`` from low-resolution maps ``A`` (Algorithm 1).

    ``low_res`` is ``(u, v)``, ``(n, u, v)`` or ``(n, 1, u, v)``, numpy or torch (the result has
    the same type, device and leading dimensions). ``size`` is the input image side (default
    ``u · jump``, which holds for the published networks); ``sigma`` defaults to
    :func:`default_sigma`. Differentiable when given a tensor.
    """
    if isinstance(low_res, np.ndarray):
        return upsample_numpy(low_res, rf, sigma, size=size)
    sigma = checked_sigma(rf, sigma)
    maps = low_res if low_res.is_floating_point() else low_res.float()
    h, w = output_size(maps.shape[-2:], rf, size)
    my = torch.tensor(
        axis_matrix(maps.shape[-2], h, rf.size, rf.jump, rf.start, sigma),
        dtype=maps.dtype,
        device=maps.device,
    )
    mx = torch.tensor(
        axis_matrix(maps.shape[-1], w, rf.size, rf.jump, rf.start, sigma),
        dtype=maps.dtype,
        device=maps.device,
    )
    return my @ maps @ mx.T


def receptive_field_upsample_conv(
    low_res: torch.Tensor, rf: ReceptiveField, sigma: float | None = None, *, size: int
) -> torch.Tensor:
    """Algorithm 1 literally, as a strided transposed convolution (``(n, 1, u, v)`` input).

    Slower than :func:`receptive_field_upsample`; kept as its independent check.
    """
    sigma = default_sigma(rf.size) if sigma is None else float(sigma)
    kernel = torch.as_tensor(gaussian_kernel(rf, sigma), dtype=low_res.dtype)[None, None]
    full = F.conv_transpose2d(low_res, kernel.to(low_res.device), stride=rf.jump)
    offset = crop_offset(rf)
    pad_after = size + offset - full.shape[-1]
    if offset < 0 or pad_after > 0:
        before = max(0, -offset)
        full = F.pad(full, (before, max(0, pad_after), before, max(0, pad_after)))
        offset += before
    return full[..., offset : offset + size, offset : offset + size]


def defect_mask(full_res: np.ndarray, threshold: float) -> np.ndarray:
    """Binary defect mask (``uint8``, 1 = defect) of pixels whose score is above ``threshold``."""
    return (np.asarray(full_res) > threshold).astype(np.uint8)


def pixel_threshold(normal_maps: np.ndarray, *, false_positive_rate: float = 0.01) -> float:
    """Threshold flagging ``false_positive_rate`` of the pixels of maps of normal images."""
    if not 0.0 <= false_positive_rate <= 1.0:
        raise ValueError("false_positive_rate must be in [0, 1]")
    values = np.asarray(normal_maps, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no normal maps to set a pixel threshold from")
    return float(np.quantile(values, 1.0 - false_positive_rate))
