"""The mathematics of DSEBM: eq. 6-10 against hand computations and finite differences."""

import pytest
import torch
from torch.nn import functional as F

from deepad.models.dsebm import (
    ConvolutionalEnergy,
    FullyConnectedEnergy,
    RecurrentEnergy,
    denoising_score_matching_loss,
    energy_and_gradient,
    reconstruct,
)


def _finite_difference_gradient(energy_sum, x, eps=1e-6):
    grad = torch.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        up = energy_sum(x).item()
        flat[i] = old - eps
        down = energy_sum(x).item()
        flat[i] = old
        out[i] = (up - down) / (2 * eps)
    return grad


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module


@pytest.mark.parametrize(
    "module, shape",
    [
        (FullyConnectedEnergy(5, (7, 3)), (4, 5)),
        (
            ConvolutionalEnergy((2, 8, 8), channels=(3,), kernel=3, pool=2, hidden=(4,)),
            (3, 2, 8, 8),
        ),
    ],
)
def test_reconstruction_is_x_minus_energy_gradient(module, shape):
    module = _randomise(module.double())
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    f = reconstruct(module, x)
    expected = x - _finite_difference_gradient(lambda z: module(z).sum(), x.clone())
    torch.testing.assert_close(f, expected, atol=1e-6, rtol=1e-6)


def test_one_layer_reconstruction_is_eq7_autoencoder():
    module = _randomise(FullyConnectedEnergy(6, (4,)), seed=3)
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(2))
    layer = module.layers[0]
    w = layer.weight.T  # (d, K): the paper's W
    expected = torch.sigmoid(x @ w + layer.bias) @ w.T + module.prior_center
    torch.testing.assert_close(reconstruct(module, x), expected, atol=1e-6, rtol=1e-6)


def test_energy_is_prior_minus_sum_of_last_layer():
    module = _randomise(FullyConnectedEnergy(3, (4, 2)), seed=4)
    x = torch.randn(5, 3)
    h = F.softplus(module.layers[1](F.softplus(module.layers[0](x))))
    expected = 0.5 * ((x - module.prior_center) ** 2).sum(1) - h.sum(1)
    torch.testing.assert_close(module(x), expected)


def _recurrent(seed=0):
    return _randomise(RecurrentEnergy(3, rnn_hidden=4, hidden=(5,)).double(), seed)


def test_recurrent_biases_only_see_previous_steps():
    module = _recurrent()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    changed = x.clone()
    changed[:, 3] += 1.0
    before, after = module.step_energies(x), module.step_energies(changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])
    # step 4's energy changes only through x⁴ itself when the context is fixed
    fixed = module.step_energies(changed, context=x)
    torch.testing.assert_close(fixed[:, 4:], before[:, 4:])


def test_recurrent_per_step_gradient_holds_biases_constant():
    module = _recurrent(1)
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    per_step = energy_and_gradient(module, x, full_gradient=False).gradient
    context = x.clone()
    expected = _finite_difference_gradient(
        lambda z: module.step_energies(z, context=context).sum(), x.clone()
    )
    torch.testing.assert_close(per_step, expected, atol=1e-6, rtol=1e-6)
    full = energy_and_gradient(module, x, full_gradient=True).gradient
    expected_full = _finite_difference_gradient(lambda z: module(z).sum(), x.clone())
    torch.testing.assert_close(full, expected_full, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(per_step, full)
    # the last step influences no bias, so both gradients agree there
    torch.testing.assert_close(per_step[:, -1], full[:, -1])


def test_padding_steps_add_no_energy_and_no_gradient():
    module = _recurrent(2)
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    padded = energy_and_gradient(module, x, mask=mask)
    short = energy_and_gradient(module, x[:, :4])
    torch.testing.assert_close(padded.energy, short.energy)
    torch.testing.assert_close(padded.gradient[:, :4], short.gradient)
    assert torch.all(padded.gradient[:, 4:] == 0)


def test_score_matching_loss_is_the_denoising_error():
    module = _randomise(FullyConnectedEnergy(4, (3,)), seed=6)
    x = torch.randn(8, 4)
    torch.manual_seed(0)
    loss = denoising_score_matching_loss(module, x, 0.3)
    torch.manual_seed(0)
    noisy = x + 0.3 * torch.randn_like(x)
    expected = ((x - reconstruct(module, noisy)) ** 2).sum(1).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()  # double backprop reaches every parameter
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())


def test_loss_runs_in_fp32_inside_bf16_autocast():
    module = _randomise(FullyConnectedEnergy(4, (8,)), seed=7)
    x = torch.randn(16, 4)
    torch.manual_seed(1)
    plain = denoising_score_matching_loss(module, x, 0.2)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = denoising_score_matching_loss(module, x.bfloat16(), 0.2)
    assert mixed.dtype == torch.float32
    # the only difference left is the bf16 rounding of the input
    torch.testing.assert_close(mixed, plain, rtol=2e-2, atol=1e-3)
