"""Denoising score matching for DSEBMs (Zhai et al., 2016, eq. 4-6) and the two criteria.

Score matching with a Gaussian Parzen window turns an energy into a denoising autoencoder with
the reconstruction ``f(x) = x − ∇ₓE(x)`` (eq. 6); training minimises ``‖x − f(x + ε)‖²``.
That needs the gradient of a gradient, so the energy is always evaluated in fp32 with
autocast switched off: bf16 second derivatives are too coarse for the small residuals near
the data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from deepad.models.dsebm.energy import RecurrentEnergy


@dataclass
class EnergyOutput:
    """Per-item energy and its input gradient; per-step values for sequences.

    ``energy`` is ``(n,)``; ``gradient`` has the input's shape. For a recurrent energy,
    ``step_energy`` is ``(n, T)`` (zero on padded steps) and ``gradient`` is zero there too.
    """

    energy: torch.Tensor
    gradient: torch.Tensor
    step_energy: torch.Tensor | None = None


def _fp32(device: torch.device) -> contextlib.AbstractContextManager:
    return torch.autocast(device_type=device.type, enabled=False)


def energy_and_gradient(
    module: nn.Module,
    x: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    full_gradient: bool = False,
    create_graph: bool = False,
) -> EnergyOutput:
    """``E(x)`` and ``∇ₓE(x)`` for each item (fp32, independent of any autocast around it).

    For a :class:`RecurrentEnergy`, ``full_gradient=False`` gives the paper's per-step gradient
    ``∇_{xᵗ} E(xᵗ; θᵗ)`` with the RNN-produced ``θᵗ`` held constant; ``True`` also
    differentiates through ``θᵗ`` (the exact gradient of the sequence energy).
    ``create_graph=True`` keeps the graph for a loss on the gradient (training).
    """
    with _fp32(x.device), torch.enable_grad():
        x = _at_least_fp32(x.detach()).requires_grad_(True)
        step_energy = None
        if isinstance(_unwrap(module), RecurrentEnergy):
            energy_module = _unwrap(module)
            context = x if full_gradient else x.detach()
            step_energy = energy_module.step_energies(x, context)
            if mask is not None:
                step_energy = step_energy * mask.to(step_energy.dtype)
            energy = step_energy.sum(1)
        else:
            energy = module(x)
        (gradient,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
        if mask is not None and step_energy is not None:
            # padded steps have zero energy already; this also zeroes their full gradient
            gradient = gradient * mask.unsqueeze(-1).to(gradient.dtype)
    return EnergyOutput(energy, gradient, step_energy)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 inputs to fp32; fp64 stays (for exact tests of the mathematics)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _unwrap(module: nn.Module) -> nn.Module:
    """The module behind a ``torch.compile`` wrapper."""
    return getattr(module, "_orig_mod", module)


def reconstruct(
    module: nn.Module,
    x: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    full_gradient: bool = False,
    create_graph: bool = False,
) -> torch.Tensor:
    """Eq. 6: ``f(x) = x − ∇ₓE(x)``."""
    out = energy_and_gradient(
        module, x, mask=mask, full_gradient=full_gradient, create_graph=create_graph
    )
    return _at_least_fp32(x) - out.gradient


def denoising_score_matching_loss(
    module: nn.Module,
    x: torch.Tensor,
    noise_std: float,
    *,
    mask: torch.Tensor | None = None,
    full_gradient: bool = False,
) -> torch.Tensor:
    """Eq. 4 with eq. 6: ``mean_i ‖xᵢ − f(xᵢ + εᵢ)‖²`` with ``ε ~ N(0, σ²I)``.

    For sequences (``x`` of shape ``(n, T, d)`` with a ``(n, T)`` step ``mask``) the squared
    error is summed over the valid steps of each sequence.
    """
    with _fp32(x.device):
        x = _at_least_fp32(x)
        noisy = x + noise_std * torch.randn_like(x)
        if mask is not None:
            noisy = torch.where(mask.unsqueeze(-1), noisy, x)
        f = reconstruct(module, noisy, mask=mask, full_gradient=full_gradient, create_graph=True)
        error = (x - f).pow(2)
        if mask is not None:
            error = error * mask.unsqueeze(-1).to(error.dtype)
        return error.flatten(1).sum(1).mean()
