"""Energy functions of deep structured EBMs (Zhai et al., 2016, eq. 8, 10, 11-14).

Every energy has the form ``E(x) = ½‖x − b′‖² − Σ_j h_{L,j}`` where ``h_L`` is the last layer of
a network with softplus units, and returns one energy per item (per step for the recurrent one).
The quadratic term is a Gaussian prior centred on ``b′``, a single learned vector shaped like one
item: it makes the density normalisable and lets ``f(x) = x − ∇E(x)`` reconstruct around ``b′``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class FullyConnectedEnergy(nn.Module):
    """Eq. 8: ``h_l = softplus(W_lᵀ h_{l−1} + b_l)`` for static vectors."""

    def __init__(self, dim: int, hidden: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the fully connected energy needs at least one hidden layer")
        sizes = [dim, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        # one module per non-linearity, so LRP sees each (they hold no parameters)
        self.activations = nn.ModuleList(nn.Softplus() for _ in hidden)
        self.prior_center = nn.Parameter(torch.zeros(dim))

    def last_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``h_L``, the units whose sum the energy subtracts."""
        h = x.flatten(1)
        for layer, activation in zip(self.layers, self.activations, strict=True):
            h = activation(layer(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prior = 0.5 * (x.flatten(1) - self.prior_center).pow(2).sum(1)
        return prior - self.last_hidden(x).sum(1)


class ConvolutionalEnergy(nn.Module):
    """Eq. 11-14: ``h_L`` from valid convolutions, max pooling and fully connected layers.

    The paper's image model is one convolution, one pooling and one fully connected layer,
    the default here.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        channels: Sequence[int] = (32,),
        kernel: int = 3,
        pool: int = 2,
        hidden: Sequence[int] = (128,),
    ) -> None:
        super().__init__()
        c, h, w = shape
        convs = []
        for out in channels:
            convs.append(nn.Conv2d(c, out, kernel))  # "valid" convolution as in eq. 11
            c, h, w = out, h - kernel + 1, w - kernel + 1
            if pool > 1:
                h, w = h // pool, w // pool
            if h < 1 or w < 1:
                raise ValueError(f"images of shape {shape} are too small for these layers")
        self.convs = nn.ModuleList(convs)
        self.pool = pool
        sizes = [c * h * w, *hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        # one module per non-linearity and pooling, so LRP sees each (no parameters)
        self.conv_activations = nn.ModuleList(nn.Softplus() for _ in convs)
        self.pools = nn.ModuleList(nn.MaxPool2d(pool) if pool > 1 else nn.Identity() for _ in convs)
        self.fc_activations = nn.ModuleList(nn.Softplus() for _ in hidden)
        self.prior_center = nn.Parameter(torch.zeros(shape))

    def last_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``h_L``, the units whose sum the energy subtracts."""
        h = x
        for conv, activation, pool in zip(
            self.convs, self.conv_activations, self.pools, strict=True
        ):
            h = pool(activation(conv(h)))
        h = h.flatten(1)
        for fc, activation in zip(self.fcs, self.fc_activations, strict=True):
            h = activation(fc(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prior = 0.5 * (x - self.prior_center).pow(2).flatten(1).sum(1)
        return prior - self.last_hidden(x).flatten(1).sum(1)


class RecurrentEnergy(nn.Module):
    """Eq. 10: a per-step energy whose biases come from an RNN over the previous steps.

    ``E(xᵗ; θᵗ) = ½‖xᵗ − b′ᵗ‖² − Σ softplus(Wᵀxᵗ + bᵗ)`` with ``bᵗ = W_bh sᵗ + b`` and
    ``b′ᵗ = W_b′h sᵗ + b′``, where ``sᵗ`` is the GRU state after ``x¹…x^{t−1}`` (a learned
    initial state for ``t = 1``). Conditioning on the previous steps only keeps ``p(xᵗ | x^{<t})``
    a proper factor of ``p(x)``; feeding ``xᵗ`` into its own biases would not.
    Further ``hidden`` layers on top of the first one keep fixed biases.
    """

    def __init__(self, dim: int, *, rnn_hidden: int = 64, hidden: Sequence[int] = (64,)) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the recurrent energy needs at least one hidden layer")
        self.rnn = nn.GRU(dim, rnn_hidden, batch_first=True)
        self.initial_state = nn.Parameter(torch.zeros(rnn_hidden))
        self.first = nn.Linear(dim, hidden[0])  # W and the static part of bᵗ
        self.bias_from_state = nn.Linear(rnn_hidden, hidden[0], bias=False)  # W_bh
        self.center_from_state = nn.Linear(rnn_hidden, dim, bias=False)  # W_b′h
        self.prior_center = nn.Parameter(torch.zeros(dim))  # b′
        sizes = list(hidden)
        self.rest = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        # zero state weights: training starts from a static EBM and learns the dynamics
        nn.init.zeros_(self.bias_from_state.weight)
        nn.init.zeros_(self.center_from_state.weight)

    def states(self, context: torch.Tensor) -> torch.Tensor:
        """``sᵗ`` for every step: the GRU state having seen only the steps before ``t``."""
        n = context.shape[0]
        h0 = self.initial_state.expand(1, n, -1).contiguous()
        seen, _ = self.rnn(context[:, :-1], h0) if context.shape[1] > 1 else (None, None)
        first = h0.transpose(0, 1)
        return first if seen is None else torch.cat([first, seen], dim=1)

    def step_energies(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``(n, T)`` energies of ``x`` ``(n, T, d)`` with biases from ``context`` (default ``x``).

        Passing ``context = x.detach()`` treats ``θᵗ`` as a constant of ``x``: the gradient of
        the sum is then the paper's per-step gradient ``[∇_{xᵗ} E(xᵗ; θᵗ)]_t``.
        """
        s = self.states(x if context is None else context)
        center = self.prior_center + self.center_from_state(s)
        h = F.softplus(self.first(x) + self.bias_from_state(s))
        for layer in self.rest:
            h = F.softplus(layer(h))
        return 0.5 * (x - center).pow(2).sum(-1) - h.sum(-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sequence energies ``Σ_t E(xᵗ; θᵗ)`` over the steps where ``mask`` is true."""
        steps = self.step_energies(x)
        if mask is not None:
            steps = steps * mask
        return steps.sum(1)
