"""The CVDD network: multi-head self-attention over frozen word embeddings plus context vectors."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class CVDDOutput(NamedTuple):
    embeddings: torch.Tensor  # M: (batch, r, d), one attention-weighted embedding per head
    attention: torch.Tensor  # A: (batch, length, r), each column sums to one over real words
    distances: torch.Tensor  # d_k = ½(1 − cos(c_k, m_k)): (batch, r)


class CVDDNet(nn.Module):
    """``A = softmax_tokens(tanh(Hᵀ W1) W2)`` (eq. 3.2), ``M = H A`` (eq. 3.3) and the context
    vectors ``C`` (stored as rows, ``(r, d)``) that each head's embedding is pulled towards."""

    def __init__(self, dim: int, attention_size: int, n_contexts: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, attention_size, bias=False)
        self.w2 = nn.Linear(attention_size, n_contexts, bias=False)
        self.contexts = nn.Parameter(torch.randn(n_contexts, dim) / dim**0.5)

    @property
    def n_contexts(self) -> int:
        return self.contexts.shape[0]

    def attention(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(batch, length, d)`` word vectors and a ``(batch, length)`` bool mask of real words
        to ``(batch, length, r)`` attention weights; padding gets exactly zero weight."""
        logits = self.w2(torch.tanh(self.w1(words))).float()
        logits = logits.masked_fill(~mask[..., None], float("-inf"))
        return torch.softmax(logits, dim=1)

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> CVDDOutput:
        attention = self.attention(words, mask)
        embeddings = torch.einsum("blr,bld->brd", attention, words.float())
        return CVDDOutput(embeddings, attention, cosine_distance(self.contexts, embeddings))


def cosine_distance(contexts: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """``½(1 − cos(c_k, m_k))`` (eq. 3.6) for ``(r, d)`` contexts and ``(batch, r, d)``
    embeddings, giving ``(batch, r)``."""
    c = nn.functional.normalize(contexts.float(), dim=-1)
    m = nn.functional.normalize(embeddings.float(), dim=-1)
    return 0.5 * (1.0 - (m * c[None]).sum(-1))
