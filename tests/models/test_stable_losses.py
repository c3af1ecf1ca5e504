"""The pseudo-Huber h and the anomaly term −log(1 − exp(−s)) against float64 references.

Both are used by FCDD, HSC and the pseudo-Huber Deep SAD variants, under bfloat16 autocast on a
GPU: each must keep the input's relative precision at small, medium and large arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepad.models.deepsvdd.loss import LABELED_ANOMALY, LABELED_NORMAL, UNLABELED, hsc_loss
from deepad.models.fcdd.loss import anomaly_map, anomaly_term, pseudo_huber

# squared norms from 1e-8 (where sqrt(q + 1) − 1 cancels completely in float32) to 1e6
SQUARED = np.concatenate([10.0 ** np.arange(-8, 7), [0.37, 2.5, 42.0]])
# scores s > 0 of the anomaly term, both sides of log 2 and far out (where 1 − exp(−s) → 1)
SCORES = np.concatenate([10.0 ** np.arange(-5, 2, 0.5), [np.log(2.0), 20.0, 40.0]])
TOLERANCE = {torch.float32: 1e-6, torch.bfloat16: 1e-2}


def _reference_huber(q: np.ndarray) -> np.ndarray:
    q = q.astype(np.float64)
    return q / (np.sqrt(q + 1.0) + 1.0)  # exact in float64 for these q


def _reference_term(s: np.ndarray) -> np.ndarray:
    """−log(1 − e^(−s)) in float64: directly for s ≤ 1, else its series Σ e^(−ks)/k (60
    terms, converged to float64 for s > 1), where 1 − e^(−s) rounds to 1 at s ≳ 37."""
    s = s.astype(np.float64)
    series = sum(np.exp(-k * s) / k for k in range(1, 61))
    return np.where(s <= 1.0, -np.log(-np.expm1(-np.minimum(s, 1.0))), series)


def _rounded(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """The inputs as ``dtype`` holds them, so only the function's own error is measured."""
    return torch.tensor(values, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pseudo_huber_keeps_relative_precision(dtype):
    q = _rounded(SQUARED, dtype)
    got = pseudo_huber(q).double().numpy()
    expected = _reference_huber(q.double().numpy())
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype] * 4, atol=0)


def test_the_naive_form_cancels_where_the_stable_one_does_not():
    q = _rounded(np.array([1e-4, 1e-3]), torch.bfloat16)
    naive = (torch.sqrt(q + 1.0) - 1.0).double().numpy()
    expected = _reference_huber(q.double().numpy())
    assert np.max(np.abs(naive / expected - 1)) > 0.02  # the failure this module guards
    np.testing.assert_allclose(pseudo_huber(q).double().numpy(), expected, rtol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_anomaly_term_keeps_relative_precision(dtype):
    s = _rounded(SCORES, dtype)
    got = anomaly_term(s).double().numpy()
    expected = _reference_term(s.double().numpy())
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype] * 4, atol=0)


def test_anomaly_term_gradient_matches_the_derivative():
    """Autograd through both branches against d/ds −log(1 − e^(−s)) = −1 / (e^s − 1)."""
    s32 = torch.tensor(SCORES, dtype=torch.float32, requires_grad=True)
    anomaly_term(s32).sum().backward()
    s64 = torch.tensor(SCORES, dtype=torch.float64, requires_grad=True)
    anomaly_term(s64).sum().backward()
    derivative = -1.0 / np.expm1(SCORES.astype(np.float32).astype(np.float64))
    assert torch.isfinite(s32.grad).all()
    np.testing.assert_allclose(s64.grad.numpy(), derivative, rtol=1e-6)
    np.testing.assert_allclose(s32.grad.double().numpy(), derivative, rtol=1e-5)


def test_anomaly_map_is_the_pseudo_huber_of_phi_squared():
    phi = torch.tensor([1e-4, 0.5, -3.0, 1e3])
    expected = _reference_huber(phi.double().numpy() ** 2)
    np.testing.assert_allclose(anomaly_map(phi).double().numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_hsc_loss_against_float64(dtype):
    dist = _rounded(np.array([1e-6, 0.01, 0.8, 3.0, 50.0, 1e-3]), dtype)
    semi = torch.tensor(
        [UNLABELED, LABELED_NORMAL, LABELED_ANOMALY, UNLABELED, LABELED_ANOMALY, LABELED_ANOMALY]
    )
    eta = 0.5
    h = _reference_huber(dist.double().numpy())
    terms = np.where(semi.numpy() == LABELED_ANOMALY, eta * _reference_term(h), h)
    terms = np.where(semi.numpy() == LABELED_NORMAL, eta * h, terms)
    got = float(hsc_loss(dist, semi, eta).double())
    assert got == pytest.approx(terms.mean(), rel=TOLERANCE[dtype])
