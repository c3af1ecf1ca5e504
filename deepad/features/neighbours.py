"""Nearest-neighbour distances written as matrix products, ``|x|² − 2 x·yᵀ + |y|²``.

No ``torch.cdist``, so a module using these exports to ONNX; ``min`` for one neighbour,
``topk`` for more. Queries are taken in chunks so the distance matrix stays small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

DEFAULT_CHUNK = 4096
# Most entries of one chunk's distance matrix (16 MB of float32): the matrix is one buffer
# reused for every chunk, so a large search no longer maps and faults in fresh pages per chunk.
CHUNK_ENTRIES = 4 * 2**20


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
    chunk: int | None = None,
    exclude: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances ``(n, k)`` from each query to its ``k`` nearest bank rows, nearest
    first, and their indices ``(n, k)``.

    ``exclude = (query_groups, bank_groups)`` leaves out, for each query, the bank rows of
    its group: ``bank_groups`` is either the group of each bank row, an integer vector (e.g.
    the training image a patch and a bank entry came from), or each group's bank columns, a
    list of index vectors indexed by group (any sets: an image with its near-duplicates).
    Queries go ``chunk`` at a time (default: as many as keep the distance matrix within
    :data:`CHUNK_ENTRIES`, at most :data:`DEFAULT_CHUNK`) through one reused buffer."""
    if k < 1 or k > len(bank):
        raise ValueError(f"k must be between 1 and the bank size {len(bank)}, got {k}")
    n = len(queries)
    if n == 0:
        return queries.new_zeros((0, k)), torch.zeros((0, k), dtype=torch.long)
    if chunk is None:
        chunk = max(64, min(DEFAULT_CHUNK, CHUNK_ENTRIES // len(bank)))
    bank_norms = bank.pow(2).sum(dim=1)
    bank_t = bank.T
    groups = _GroupColumns(*exclude) if exclude is not None else None
    buffer = queries.new_empty((min(chunk, n), len(bank)))
    distances = queries.new_empty((n, k))
    indices = torch.empty((n, k), dtype=torch.long, device=queries.device)
    for first in range(0, n, chunk):
        part = queries[first : first + chunk]
        d2 = buffer[: len(part)]
        torch.mm(part, bank_t, out=d2)
        d2.mul_(-2.0).add_(part.pow(2).sum(dim=1, keepdim=True)).add_(bank_norms)
        if groups is not None:
            groups.exclude(d2, first)
        if k == 1:
            value, index = d2.min(dim=1, keepdim=True)
        else:
            value, index = d2.topk(k, dim=1, largest=False)
        distances[first : first + len(part)] = value.clamp_min_(0.0).sqrt_()
        indices[first : first + len(part)] = index
    return distances, indices


class _GroupColumns:
    """The bank columns of each query group, to set to infinity chunk by chunk (a few
    groups per chunk) instead of comparing every query's group with every bank row's."""

    def __init__(
        self, query_groups: torch.Tensor, bank_groups: torch.Tensor | Sequence[torch.Tensor]
    ) -> None:
        self.query_groups = query_groups
        if isinstance(bank_groups, torch.Tensor):  # each bank row's group
            order = torch.argsort(bank_groups)
            counts = torch.bincount(bank_groups, minlength=int(query_groups.max()) + 1)
            bank_groups = torch.split(order, counts.tolist())
        self.columns = bank_groups

    def exclude(self, d2: torch.Tensor, first: int) -> None:
        mine = self.query_groups[first : first + len(d2)]
        for group in torch.unique(mine):
            columns = self.columns[int(group)] if int(group) < len(self.columns) else None
            if columns is not None and len(columns):
                rows = torch.nonzero(mine == group)[:, 0]
                d2[rows[:, None], columns[None, :]] = torch.inf


def near_duplicates(
    descriptors: torch.Tensor, ratio: float, *, chunk: int | None = None
) -> list[torch.Tensor]:
    """For each of ``n`` items (one descriptor row each), the other items within ``ratio``
    of its median distance to the other items: its near-duplicates (sorted indices, often
    none). A held-out score of a training item leaves these out with the item itself: left
    in, a copy stands in for the item and its score is far below an unseen item's. With
    fewer than three items there is no median to compare with, and no item has any; nor with
    ``ratio`` 0 (see :data:`deepad.models.threshold.NEAR_DUPLICATE_RATIO`)."""
    n = len(descriptors)
    none = torch.zeros(0, dtype=torch.long)
    if n < 3 or ratio <= 0:
        return [none] * n
    if chunk is None:  # rows of the distance matrix at a time, within CHUNK_ENTRIES
        chunk = max(1, CHUNK_ENTRIES // n)
    x = descriptors.double()
    norms = x.pow(2).sum(dim=1)
    out: list[torch.Tensor] = []
    for first in range(0, n, chunk):
        part = x[first : first + chunk]
        distance = squared_distances(part, x, norms).sqrt_()
        rows = torch.arange(len(part))
        distance[rows, first + rows] = torch.nan
        scale = distance.nanmedian(dim=1).values
        close = distance <= ratio * scale[:, None]  # NaN (the item itself) is never close
        out.extend(torch.nonzero(row)[:, 0] for row in close)
    return out


def image_duplicates(
    descriptors: torch.Tensor, shared: Sequence[np.ndarray] | None, ratio: float
) -> list[torch.Tensor]:
    """For each training image, the images left out with it from its leave-one-out score:
    its :func:`near_duplicates` by ``descriptors`` (copies, burst shots) and ``shared``, the
    images that share a region with it (:func:`deepad.data.overlap.shared_regions`:
    overlapping crops or tiles of one picture, whose shared pixels would stand in for its
    own). None with ``ratio`` 0 (plain leave-one-out)."""
    close = near_duplicates(descriptors, ratio)
    if ratio <= 0 or shared is None:
        return close
    return [
        torch.unique(torch.cat([mine, torch.from_numpy(extra)])) if len(extra) else mine
        for mine, extra in zip(close, shared, strict=True)
    ]


def leave_out_groups(
    owner: torch.Tensor, duplicates: list[torch.Tensor]
) -> list[tuple[int, torch.Tensor]]:
    """For each item ``i`` with near-duplicates, ``(i, groups)``: ``groups`` marks with 0 the
    rows of ``owner`` (the item each bank row came from) that belong to ``i`` or one of its
    near-duplicates and with 1 the others, as :func:`nearest_distances`' ``exclude`` takes
    it with query group 0. Items without near-duplicates are absent: their own rows are
    left out as before."""
    return [
        (i, (~torch.isin(owner, torch.cat([torch.tensor([i]), found]))).long())
        for i, found in enumerate(duplicates)
        if len(found)
    ]
