"""Anomalies to train FCDD against: confetti noise, outlier exposure, flips.

Everything here works on ``uint8`` image batches ``(n, c, h, w)`` already on the training
device, so building a half-normal, half-anomalous batch never leaves the GPU.
"""

from __future__ import annotations

import math

import torch


def confetti_noise(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    max_blobs: int = 4,
    size_range: tuple[float, float] = (0.05, 0.2),
    noise: float = 12.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste 1…``max_blobs`` randomly coloured, rotated ellipses or rectangles into each image.

    Blob axes are drawn from ``size_range`` (fractions of the image side); each blob gets one
    random colour plus per-pixel Gaussian noise of ``noise`` grey levels, so it is not a flat
    patch the network could learn to spot by flatness alone. Returns the new ``uint8`` images
    and their masks ``(n, 1, h, w)`` (``uint8``, 1 where a blob was pasted).
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("confetti_noise expects uint8 images shaped (n, c, h, w)")
    if max_blobs < 1:
        raise ValueError("max_blobs must be at least 1")
    low, high = size_range
    if not 0.0 < low <= high <= 1.0:
        raise ValueError("size_range must satisfy 0 < low ≤ high ≤ 1")
    n, c, h, w = images.shape
    dev = images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev)

    k = max_blobs
    active = torch.arange(k, device=dev)[None, :] < torch.randint(
        1, k + 1, (n, 1), generator=generator, device=dev
    )
    side = float(min(h, w))
    # half axes at least one pixel so every active blob covers something
    half_a = ((low + (high - low) * rand(n, k)) * side / 2).clamp_min(1.0)
    half_b = ((low + (high - low) * rand(n, k)) * side / 2).clamp_min(1.0)
    cy, cx = rand(n, k) * (h - 1), rand(n, k) * (w - 1)
    theta = rand(n, k) * math.pi
    ellipse = rand(n, k) < 0.5

    ys = torch.arange(h, device=dev, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, 1, w)
    dy, dx = ys - cy[..., None, None], xs - cx[..., None, None]
    cos, sin = theta.cos()[..., None, None], theta.sin()[..., None, None]
    along = (dx * cos + dy * sin) / half_a[..., None, None]
    across = (-dx * sin + dy * cos) / half_b[..., None, None]
    inside = torch.where(
        ellipse[..., None, None],
        along**2 + across**2 <= 1.0,
        (along.abs() <= 1.0) & (across.abs() <= 1.0),
    )
    # a blob centred near a corner still shows at least its centre pixel
    centre = (dy.abs() <= 0.5) & (dx.abs() <= 0.5)
    inside = (inside | centre) & active[..., None, None]  # (n, k, h, w)

    colours = torch.randint(0, 256, (n, k, c), generator=generator, device=dev).float()
    out = images.float()
    for blob in range(k):
        region = inside[:, blob : blob + 1]  # (n, 1, h, w)
        fill = colours[:, blob, :, None, None]
        if noise > 0:
            fill = fill + noise * torch.randn(
                (n, c, h, w), generator=generator, device=dev, dtype=torch.float32
            )
        out = torch.where(region, fill, out)
    mask = inside.any(dim=1, keepdim=True).to(torch.uint8)
    return out.clamp_(0, 255).round_().to(torch.uint8), mask


def random_hflip(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mirror a random half of the batch left–right (masks follow their images)."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    flip = flip.view(-1, 1, 1, 1)
    images = torch.where(flip, images.flip(-1), images)
    if masks is not None:
        masks = torch.where(flip, masks.flip(-1), masks)
    return images, masks


def random_shift(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    *,
    max_shift: int = 0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Translate each image by up to ``max_shift`` pixels in each direction, filling with
    zeros: a random crop of the zero-padded image, as the FCDD reference does for
    Fashion-MNIST (masks follow their images)."""
    if max_shift <= 0:
        return images, masks
    n, _, h, w = images.shape
    dev = images.device
    s = int(max_shift)
    dy = torch.randint(0, 2 * s + 1, (n, 1), generator=generator, device=dev)
    dx = torch.randint(0, 2 * s + 1, (n, 1), generator=generator, device=dev)
    rows = (torch.arange(h, device=dev)[None, :] + dy)[:, None, :, None]  # (n, 1, h, 1)
    cols = (torch.arange(w, device=dev)[None, :] + dx)[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=dev)[:, None, None, None]

    def crop(x: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(x, (s, s, s, s))
        channel = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        return padded[batch, channel, rows, cols]

    return crop(images), None if masks is None else crop(masks)


def sample_rows(
    pool: torch.Tensor, count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``count`` rows drawn uniformly with replacement (indices on the pool's device)."""
    return torch.randint(0, pool.shape[0], (count,), generator=generator, device=pool.device)
