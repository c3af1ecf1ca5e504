"""Memory-bank building blocks: unit rows, nearest-entry distances and a greedy coreset.

Distances are matrix products over chunks of queries (cosine distance ``1 - x·yᵀ`` of unit
rows, i.e. half the squared Euclidean distance ``|x|² − 2x·yᵀ + |y|²``), so no query × bank
matrix larger than one chunk is ever held and nothing needs ``cdist``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import sparse

CHUNK = 2048  # query rows per matrix product

CoresetProgress = Callable[[int, int], None]  # (centres chosen, wanted)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_distances(
    queries: np.ndarray,
    bank: np.ndarray,
    k: int = 1,
    *,
    query_groups: np.ndarray | None = None,
    bank_groups: np.ndarray | None = None,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Cosine distance of each unit query row to its ``k`` nearest unit bank rows, ``(n, k)``
    float32, nearest first.

    With ``query_groups`` and ``bank_groups`` (e.g. document ids), a bank row of the query's
    own group is never its neighbour: leave-one-out scores of the training items.
    """
    bank_t = torch.from_numpy(np.ascontiguousarray(bank, dtype=np.float32))
    k = min(k, len(bank))
    out = np.empty((len(queries), k), dtype=np.float32)
    groups_t = None if bank_groups is None else torch.from_numpy(np.asarray(bank_groups))
    with torch.inference_mode():
        for start in range(0, len(queries), chunk):
            q = torch.from_numpy(np.ascontiguousarray(queries[start : start + chunk], np.float32))
            similarity = q @ bank_t.T
            if groups_t is not None and query_groups is not None:
                own = torch.from_numpy(np.asarray(query_groups[start : start + chunk]))
                similarity.masked_fill_(own[:, None] == groups_t[None, :], -torch.inf)
            # k = 1 is a plain max; topk only where more than one neighbour is wanted.
            if k == 1:
                best = similarity.max(dim=1, keepdim=True).values
            else:
                best = similarity.topk(k, dim=1).values
            out[start : start + len(q)] = (1.0 - best).clamp_min(0.0).numpy()
    return out


class KCenterGreedy:
    """Greedy k-centre coreset: start from one row, then repeatedly add the row farthest from
    every chosen one, so the chosen rows cover the whole set with the smallest radius (within
    a factor of two).

    Distances for the selection are taken on a random projection to ``projection_dim``
    dimensions (Johnson-Lindenstrauss), which keeps them close and makes each step cheaper.
    """

    def __init__(self, size: int, *, projection_dim: int | None = 128, seed: int = 0) -> None:
        self.size = size
        self.projection_dim = projection_dim
        self.seed = seed

    def select(self, rows: np.ndarray, progress: CoresetProgress | None = None) -> np.ndarray:
        """Indices of the chosen rows of ``rows`` (``(n, d)``), in the order chosen."""
        n = len(rows)
        if self.size >= n:
            return np.arange(n)
        rng = np.random.default_rng(self.seed)
        x = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
        if self.projection_dim and self.projection_dim < x.shape[1]:
            projection = rng.standard_normal((x.shape[1], self.projection_dim)) / np.sqrt(
                self.projection_dim
            )
            x = x @ torch.from_numpy(projection.astype(np.float32))
        squared = (x * x).sum(dim=1)
        chosen = np.empty(self.size, dtype=np.int64)
        chosen[0] = int(rng.integers(n))
        nearest = torch.full((n,), torch.inf)
        report_every = max(1, self.size // 20)
        with torch.inference_mode():
            for i in range(1, self.size + 1):
                c = int(chosen[i - 1])
                distance = torch.mv(x, x[c]).mul_(-2.0).add_(squared).add_(squared[c])
                torch.minimum(nearest, distance, out=nearest)
                if progress is not None and (i % report_every == 0 or i == self.size):
                    progress(i, self.size)
                if i < self.size:
                    chosen[i] = int(torch.argmax(nearest))
        return chosen


# ---------------------------------------------------------------------- tf-idf
def tfidf_vocabulary(tokens: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """The words of a corpus (sorted) and their smoothed idf ``log((1 + n) / (1 + df)) + 1``."""
    df = Counter(w for doc in tokens for w in set(doc))
    words = sorted(df)
    n = len(tokens)
    idf = np.array([math.log((1 + n) / (1 + df[w])) + 1.0 for w in words], dtype=np.float64)
    return words, idf


def tfidf_rows(
    tokens: Sequence[Sequence[str]], words: Sequence[str], idf: np.ndarray
) -> sparse.csr_matrix:
    """Unit-length sublinear tf-idf rows ``(1 + log tf) · idf`` of documents, over ``words``
    (words outside it are left out; a document with none of them is a zero row)."""
    index = {w: i for i, w in enumerate(words)}
    indptr, indices, data = [0], [], []
    for doc in tokens:
        counts = Counter(index[w] for w in doc if w in index)
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = np.array([1.0 + math.log(c) for c in counts.values()]) * idf[columns]
        norm = float(np.linalg.norm(values)) if len(values) else 0.0
        order = np.argsort(columns)
        indices.append(columns[order])
        data.append(values[order] / max(norm, 1e-12))
        indptr.append(indptr[-1] + len(columns))
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.array(indptr, dtype=np.int64),
        ),
        shape=(len(tokens), len(words)),
    )


def sparse_knn_distance(
    queries: sparse.csr_matrix,
    bank: sparse.csr_matrix,
    k: int,
    *,
    leave_out_own: bool = False,
    chunk: int = 512,
) -> np.ndarray:
    """Mean cosine distance of each unit (sparse) query row to its ``k`` nearest unit bank
    rows; with ``leave_out_own`` (the queries are the bank), a row is never its own
    neighbour."""
    k = min(k, bank.shape[0] - (1 if leave_out_own else 0))
    out = np.empty(queries.shape[0], dtype=np.float64)
    bank_t = bank.T.tocsc()
    for start in range(0, queries.shape[0], chunk):
        similarity = (queries[start : start + chunk] @ bank_t).toarray()
        if leave_out_own:
            rows = np.arange(similarity.shape[0])
            similarity[rows, start + rows] = -np.inf
        best = -np.partition(-similarity, k - 1, axis=1)[:, :k]
        out[start : start + similarity.shape[0]] = np.clip(1.0 - best, 0.0, None).mean(axis=1)
    return out
