"""Nearest-neighbour distances written as matrix products, ``|x|² − 2 x·yᵀ + |y|²``.

No ``torch.cdist``, so a module using these exports to ONNX; ``min`` for one neighbour,
``topk`` for more. Queries are taken in chunks so the distance matrix stays small.
"""

from __future__ import annotations

import torch

DEFAULT_CHUNK = 4096


def squared_distances(x: torch.Tensor, y: torch.Tensor, y_norms: torch.Tensor | None = None):
    """``(n, m)`` squared Euclidean distances between the rows of ``x`` and ``y``."""
    if y_norms is None:
        y_norms = y.pow(2).sum(dim=1)
    x_norms = x.pow(2).sum(dim=1, keepdim=True)
    return (x_norms - 2.0 * (x @ y.T) + y_norms[None, :]).clamp_min_(0.0)


def nearest_distances(
    queries: torch.Tensor,
    bank: torch.Tensor,
    k: int = 1,
    *,
    chunk: int = DEFAULT_CHUNK,
    exclude: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances ``(n, k)`` from each query to its ``k`` nearest bank rows, nearest
    first, and their indices ``(n, k)``.

    ``exclude = (query_groups, bank_groups)``, two integer vectors, leaves out the bank rows
    of a query's own group (e.g. the training image a patch and a bank entry came from)."""
    if k < 1 or k > len(bank):
        raise ValueError(f"k must be between 1 and the bank size {len(bank)}, got {k}")
    bank_norms = bank.pow(2).sum(dim=1)
    distances, indices = [], []
    for first in range(0, len(queries), chunk):
        d2 = squared_distances(queries[first : first + chunk], bank, bank_norms)
        if exclude is not None:
            own = exclude[0][first : first + chunk, None] == exclude[1][None, :]
            d2.masked_fill_(own, torch.inf)
        if k == 1:
            value, index = d2.min(dim=1, keepdim=True)
        else:
            value, index = d2.topk(k, dim=1, largest=False)
        distances.append(value.sqrt_())
        indices.append(index)
    if not distances:
        return queries.new_zeros((0, k)), torch.zeros((0, k), dtype=torch.long)
    return torch.cat(distances), torch.cat(indices)
