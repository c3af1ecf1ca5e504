"""How a network detector declares its score for explanation (no zennit needed): the score as
the last layers of its network (:class:`LRPModel`). :mod:`deepad.explain.lrp` propagates the
declared relevance back to the input with zennit; detectors import only this module, so the
library's core loads where zennit is not installed (e.g. a GPU machine running benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deepad.data.types import DataKind

METHODS = ("lrp", "gradient", "gradient_x_input")


@dataclass
class LRPModel:
    """A detector's score as the last layers of its network.

    ``network`` maps ``inputs`` (the items as the network sees them, ``(n, ...)``) to output
    neurons; ``relevance(outputs, inputs)`` gives each output neuron its relevance, and the
    relevances of an item sum to its score. ``low``/``high`` bound the input values (images,
    broadcastable to one item); None for tables and sequences.

    ``residual``: the score compares each output with its own input, ``e = x − f(x)`` (an
    autoencoder's error). The relevance ``R_i`` of ``e_i`` is then split by the ε rule of a
    sum over its two terms: ``R_i · x_i / e_i`` goes straight to input ``i`` (the skip) and
    ``R_i · (−f_i) / e_i`` starts the propagation through the network.

    ``direct(inputs)``: a part of the score that is a sum of terms of single input elements
    (DSEBM's Gaussian prior ``½‖x − b′‖²``), as ``(n, *input shape)``; each term is that
    element's relevance as it is, and adds to the score beside the propagated part.
    """

    network: nn.Module
    inputs: torch.Tensor
    relevance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    kind: DataKind
    low: torch.Tensor | float | None = None
    high: torch.Tensor | float | None = None
    residual: bool = False  # output neuron i is compared with input i (an autoencoder)
    direct: Callable[[torch.Tensor], torch.Tensor] | None = None


def squared_distance_relevance(
    center: torch.Tensor,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Relevance ``(φ(x) − c)²`` per output feature: the hook for hypersphere detectors
    (Deep SVDD, Deep SAD, HSC), whose score is ``‖φ(x) − c‖²``; with a bias-free φ and the
    documented rules the input relevance sums to the score."""

    def relevance(phi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        del x
        return (phi - center.to(phi)) ** 2

    return relevance
