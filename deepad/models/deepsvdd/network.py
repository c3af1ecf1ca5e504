"""Networks of the hypersphere methods (thesis chapter 2): bias-free encoders and their centre.

Deep SVDD, Deep SAD and HSC share one feature map φ. Every layer is bias-free and batch
normalisation has no affine parameters, so φ cannot learn a constant map onto the centre by
setting its weights to zero and a bias to c (Proposition 2 of the thesis); every non-linearity
is an ``nn.Module``, so an explainer that walks the modules (LRP) sees each of them.

- Images: the LeNet-type encoder of :class:`deepad.models.ae.network.ConvAutoencoder`
  (5×5 convolutions, BatchNorm without affine, LeakyReLU(0.1), 2×2 max-pooling, then one
  bias-free linear layer). The autoencoder is what pre-training trains; its encoder half is φ.
- Tables: an MLP of bias-free linear layers, BatchNorm without affine and LeakyReLU(0.1).

:class:`Hypersphere` wraps φ with the input standardisation and the centre c; its forward
pass returns the per-feature squared distance ``(φ(x) − c)²``, whose sum over features is the
anomaly score. That module is where an LRP explainer starts its relevance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepad.data.transforms import to_float
from deepad.models.ae.network import LEAKY_SLOPE, BatchNorm1d, ConvAutoencoder

BN_EPS = 1e-4


def mlp(widths: Sequence[int]) -> nn.Sequential:
    """``widths[0] -> ... -> widths[-1]``: bias-free linear layers with BatchNorm (no affine)
    and LeakyReLU between them; the last layer is linear only."""
    layers: list[nn.Module] = []
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    for i, (a, b) in enumerate(pairs):
        layers.append(nn.Linear(a, b, bias=False))
        if i < len(pairs) - 1:
            layers += [BatchNorm1d(b, eps=BN_EPS, affine=False), nn.LeakyReLU(LEAKY_SLOPE)]
    return nn.Sequential(*layers)


class DenseAutoencoder(nn.Module):
    """Bias-free MLP autoencoder whose encoder is the tabular φ; the decoder mirrors it."""

    def __init__(self, *, features: int, hidden: Sequence[int], code_size: int) -> None:
        super().__init__()
        widths = [features, *hidden, code_size]
        self.encoder = mlp(widths)
        self.decoder = mlp(widths[::-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def conv_encoder(autoencoder: ConvAutoencoder) -> nn.Sequential:
    """φ of a LeNet-type autoencoder: its convolutional modules, flattened, then the code
    layer (the modules are shared, so pre-trained weights carry over as they are)."""
    return nn.Sequential(autoencoder.encoder, nn.Flatten(1), autoencoder.to_code)


def standardise(raw: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images to [0, 1], then ``(x − mean) / std`` with the training statistics."""
    x = to_float(raw) if raw.dtype == torch.uint8 else raw.float()
    return (x - mean) / std


class SquaredDistance(nn.Module):
    """``(z − c)²`` per feature, with c a buffer (saved with the weights)."""

    def __init__(self, code_size: int) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(code_size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z.float() - self.center) ** 2


class Hypersphere(nn.Module):
    """Raw inputs → standardised → φ → ``(φ(x) − c)²`` per output feature.

    ``radius_sq`` is the soft-boundary radius R² (0 for the other objectives); as a buffer it
    is saved, checkpointed and resumed with the weights.
    """

    def __init__(
        self, encoder: nn.Module, code_size: int, mean: torch.Tensor, std: torch.Tensor
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.encoder = encoder
        self.distance = SquaredDistance(code_size)
        self.register_buffer("radius_sq", torch.zeros(()))

    def embed(self, raw: torch.Tensor) -> torch.Tensor:
        """φ(x) of raw inputs."""
        return self.encoder(standardise(raw, self.mean, self.std))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.distance(self.embed(raw))


class Reconstruction(nn.Module):
    """Autoencoder pre-training: per-element squared error on the standardised scale."""

    def __init__(self, autoencoder: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.autoencoder = autoencoder

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        x = standardise(raw, self.mean, self.std)
        return (self.autoencoder(x).view_as(x) - x) ** 2


def push_from_zero(center: torch.Tensor, eps: float) -> torch.Tensor:
    """Coordinates of c closer than ``eps`` to zero are moved to ``±eps`` (sign kept, 0 → +):
    a zero coordinate is reached by zero weights of a bias-free unit, a trivial solution."""
    small = center.abs() < eps
    sign = torch.where(center < 0, -1.0, 1.0).to(center.dtype)
    return torch.where(small, sign * eps, center)
