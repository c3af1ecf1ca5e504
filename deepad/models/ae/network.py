"""Autoencoder networks: a LeNet-type convolutional one for images and a dense one.

The convolutional autoencoder follows the Deep SVDD thesis (chapter 2): modules of a 5x5
convolution, batch normalisation without affine parameters, leaky ReLU (slope 0.1) and 2x2
max-pooling, then a fully connected bottleneck; the decoder mirrors it with upsampling and
5x5 (de)convolutions. Layers are bias-free as in the reference networks, so a constant
output is not a trivial solution. The number of pooling stages grows with the image size,
so 28x28 gray and 128x128 RGB images both end at a small (at most 8x8) feature map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.1


def pooling_sizes(image_size: int, stages: int) -> list[int]:
    """Spatial sides after each pooling stage, starting with the input side.

    At least ``stages`` stages; more while the side is above 8, so large images end at a
    small map before the fully connected bottleneck.
    """
    sizes = [image_size]
    while (len(sizes) - 1 < stages or sizes[-1] > 8) and sizes[-1] >= 4:
        sizes.append(sizes[-1] // 2)
    return sizes


class BatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation that uses its running statistics for a training batch of one.

    The shared training loop keeps a last, partial batch; with a single item the batch
    statistics are undefined, so that step normalises as in evaluation instead of failing.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class ConvAutoencoder(nn.Module):
    """LeNet-type convolutional autoencoder; ``filters`` repeats its last entry for deeper nets."""

    def __init__(
        self, *, channels: int, image_size: int, filters: Sequence[int], code_size: int
    ) -> None:
        super().__init__()
        self.sizes = pooling_sizes(image_size, len(filters))
        stages = len(self.sizes) - 1
        widths = [filters[min(i, len(filters) - 1)] for i in range(stages)]
        self.widths = widths
        encoder: list[nn.Module] = []
        in_ch = channels
        for w in widths:
            encoder += [
                nn.Conv2d(in_ch, w, 5, padding=2, bias=False),
                nn.BatchNorm2d(w, eps=1e-4, affine=False),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.MaxPool2d(2),
            ]
            in_ch = w
        self.encoder = nn.Sequential(*encoder)
        flat = widths[-1] * self.sizes[-1] ** 2
        self.to_code = nn.Linear(flat, code_size, bias=False)
        self.from_code = nn.Linear(code_size, flat, bias=False)
        self.code_norm = BatchNorm1d(flat, eps=1e-4, affine=False)
        self.code_activation = nn.LeakyReLU(LEAKY_SLOPE)
        self.deconvs = nn.ModuleList()
        self.norms = nn.ModuleList()
        # activations as modules (no parameters), so LRP sees every non-linearity
        self.activations = nn.ModuleList(nn.LeakyReLU(LEAKY_SLOPE) for _ in range(stages - 1))
        outs = [*widths[:-1][::-1], channels]
        in_ch = widths[-1]
        for i, out_ch in enumerate(outs):
            self.deconvs.append(nn.ConvTranspose2d(in_ch, out_ch, 5, padding=2, bias=False))
            last = i == len(outs) - 1
            self.norms.append(
                nn.Identity() if last else nn.BatchNorm2d(out_ch, eps=1e-4, affine=False)
            )
            in_ch = out_ch

    def batch_norm_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(layer, the BatchNorm right after it), for merging before LRP: the decoder's
        layers are not registered in the order they run."""
        pairs = [
            (self.encoder[i - 1], layer)
            for i, layer in enumerate(self.encoder)
            if isinstance(layer, nn.BatchNorm2d)
        ]
        pairs.append((self.from_code, self.code_norm))
        pairs += [
            (deconv, norm)
            for deconv, norm in zip(self.deconvs, self.norms, strict=True)
            if isinstance(norm, nn.BatchNorm2d)
        ]
        return pairs

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.encoder(x).flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        x = self.code_activation(self.code_norm(self.from_code(code)))
        x = x.view(code.shape[0], self.widths[-1], self.sizes[-1], self.sizes[-1])
        targets = self.sizes[:-1][::-1]
        for i, (deconv, norm) in enumerate(zip(self.deconvs, self.norms, strict=True)):
            # interpolate to the encoder's recorded size, so odd sides (7 -> 14 -> 28) round-trip
            x = deconv(F.interpolate(x, size=(targets[i], targets[i]), mode="nearest"))
            if i < len(self.deconvs) - 1:
                x = self.activations[i](norm(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class DenseAutoencoder(nn.Module):
    """Fully connected autoencoder: ``features -> hidden... -> code -> reversed -> features``."""

    def __init__(
        self, *, features: int, hidden: Sequence[int], code_size: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        widths = [features, *hidden, code_size]
        self.encoder = self._stack(widths, dropout)
        self.decoder = self._stack(widths[::-1], dropout)

    @staticmethod
    def _stack(widths: list[int], dropout: float) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers += [BatchNorm1d(b), nn.ReLU()]
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        return nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).view_as(x)
