"""LRP for attention-pooled cosine distances (CVDD): per-word relevance of a document's
distance to its contexts.

CVDD pools the frozen word vectors ``h_t`` of a document with attention ``A`` into one
embedding per context, ``m_k = Σ_t A_tk h_t``, and scores ``d_k = ½(1 − cos(c_k, m_k))``.
Relevance follows the LRP treatment of transformers by Ali et al. (2022, "XAI for
Transformers: Better Explanations through Conservative Propagation"):

- the attention weights ``A_tk`` are held constant (their AH-rule): relevance flows through the
  values ``h_t``, not through the softmax that chose them, so ``m_k`` is linear in the words;
- the normalisation of the cosine is held constant like a LayerNorm's (their LN-rule). With the
  identity ``m_k · m̂_k = ‖m_k‖`` the distance is ``d_k = ½ m_k · (m̂_k − ĉ_k) / ‖m_k‖``, and with
  ``m̂_k``, ``ĉ_k`` and ``‖m_k‖`` constants it is linear in ``m_k``. Word ``t`` gets

      R_tk = A_tk h_t · (m̂_k − ĉ_k) / (2 ‖m_k‖),      Σ_t R_tk = d_k exactly,

  positive where the word pulls the pooled embedding away from the context, negative where it
  pulls it towards it.

The document's relevance is that of its score: the mean over contexts ``R_t = (1/r) Σ_k R_tk``
(score ``mean``) or the closest context's ``R_t,k*`` (score ``min``). Attention shows what the
model looked at to place a document in a context (what looks normal); relevance shows which
words make the distance large (what makes it anomalous).
"""

from __future__ import annotations

import torch


def context_word_relevance(
    words: torch.Tensor, mask: torch.Tensor, attention: torch.Tensor, contexts: torch.Tensor
) -> torch.Tensor:
    """``R_tk`` of the module docstring: ``(batch, length, r)`` from ``(batch, length, d)``
    word vectors, their ``(batch, length)`` mask, the attention ``(batch, length, r)`` and the
    ``(r, d)`` contexts. Padding gets zero relevance."""
    words = words.float() * mask[..., None]
    attention = attention.float()
    pooled = torch.einsum("blr,bld->brd", attention, words)  # m_k
    norm = pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # ‖m_k‖
    direction = pooled / norm - torch.nn.functional.normalize(contexts.float(), dim=-1)[None]
    return 0.5 * attention * torch.einsum("bld,brd->blr", words, direction / norm)


def score_word_relevance(relevance: torch.Tensor, distances: torch.Tensor, aggregation: str):
    """Per-word relevance ``(batch, length)`` of the overall score: the mean of the contexts'
    relevance (``mean``), or the closest context's (``min``)."""
    if aggregation == "min":
        closest = distances.argmin(1)
        return relevance[torch.arange(len(relevance)), :, closest]
    return relevance.mean(-1)
