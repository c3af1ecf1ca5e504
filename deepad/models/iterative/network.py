"""The dense tanh autoencoder of the iterative method, and its cosine reconstruction error."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def tanh_stack(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers of ``widths`` with tanh between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class TanhAutoencoder(nn.Module):
    """``features -> hidden... -> code`` with tanh (also on the code), decoder mirrored.

    The paper's network for static data: tanh activations, encoder widths e.g. [60, 30, 10].
    """

    def __init__(self, *, features: int, hidden: Sequence[int], code_size: int) -> None:
        super().__init__()
        widths = [features, *hidden, code_size]
        self.encoder = nn.Sequential(tanh_stack(widths), nn.Tanh())
        self.decoder = tanh_stack(widths[::-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x)
        return code, self.decoder(code)


def cosine_dissimilarity(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """``1 - cos(x, x')`` per row, in [0, 2]; the paper's reconstruction error d(x, x')."""
    return 1.0 - F.cosine_similarity(x.flatten(1), reconstruction.flatten(1), dim=1, eps=1e-8)
