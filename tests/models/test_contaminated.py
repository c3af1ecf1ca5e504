"""Methods for contaminated training data: CANCE's losses by hand, the iterative selection,
the contamination helper and the added shallow baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepad import metrics
from deepad.data.contamination import contaminate
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.models import Detector
from deepad.models.cance.detector import lognormal_mode, truncated_normal
from deepad.models.cance.loss import covariance_penalty, nce_loss
from deepad.models.iterative import IterativeAE
from deepad.models.iterative.selection import cluster_variances, low_variance_members
from deepad.models.shallow import OCSVM, Gaussian, KernelPCA


def _table(items: np.ndarray, prefix: str, labels=None) -> Dataset:
    columns = [f"x{j}" for j in range(items.shape[1])]
    names = [f"{prefix}{i}" for i in range(len(items))]
    return Dataset(DataKind.TABLE, items.astype(np.float32), names, labels=labels, columns=columns)


def test_covariance_penalty_matches_hand_computation():
    z = torch.tensor([[1.0, 2.0, 0.0], [3.0, 1.0, 1.0], [2.0, 0.0, 5.0], [0.0, 1.0, 2.0]])
    c = np.cov(z.numpy(), rowvar=False)  # unbiased, as the penalty
    off = [c[i, j] ** 2 for i in range(3) for j in range(3) if i != j]
    assert covariance_penalty(z).item() == pytest.approx(sum(off) / 6, rel=1e-5)
    assert covariance_penalty(torch.eye(4)[:, :1]).item() == 0.0


def test_nce_loss_matches_hand_computation():
    f_data, f_noise = np.array([0.5, -1.0]), np.array([2.0, 0.3, 1.0, -0.2])
    pn_data, pn_noise = np.array([-1.5, -2.0]), np.array([-0.7, -3.0, -1.1, -2.2])
    nu = 2.0

    def sigmoid(v):
        return 1.0 / (1.0 + math.exp(-v))

    g_data = -f_data - pn_data - math.log(nu)
    g_noise = -f_noise - pn_noise - math.log(nu)
    expected = -np.mean([math.log(sigmoid(g)) for g in g_data]) - nu * np.mean(
        [math.log(1.0 - sigmoid(g)) for g in g_noise]
    )
    got = nce_loss(*(torch.tensor(a) for a in (f_data, f_noise, pn_data, pn_noise)), nu)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_augmented_reconstruction_features_lie_below_the_lognormal_mode():
    mean, var = torch.tensor([1.0, 0.2]), torch.tensor([0.5, 0.01])
    mode = lognormal_mode(mean, var)
    sigma2 = math.log(1 + 0.5 / 1.0)  # the log-normal's own parameters, for the first feature
    assert mode[0].item() == pytest.approx(math.exp(math.log(1.0) - 1.5 * sigma2), rel=1e-5)
    torch.manual_seed(0)
    draws = truncated_normal(2000, mean, var.sqrt(), torch.zeros(2), mode)
    assert torch.all(draws >= 0) and torch.all(draws <= mode)


def test_low_variance_members_drop_the_wide_cluster():
    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2)),
                          rng.normal(0, 4.0, (10, 2))])  # fmt: skip
    labels = np.r_[np.zeros(50), np.ones(50), np.full(10, 2)].astype(int)
    variances = cluster_variances(features, labels, 3)
    assert np.argmax(variances) == 2
    kept = low_variance_members(labels, variances, percent=30.0)
    assert kept[:100].all() and not kept[100:].any()


def _planted(seed: int = 0) -> tuple[Dataset, Dataset]:
    """Three tight blobs of normal rows; anomalies spread widely over a large box."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (3, 5))
    normal = np.vstack([c + rng.normal(0, 0.3, (100, 5)) for c in centres])
    anomalies = rng.uniform(-8, 8, (60, 5))
    return _table(normal, "n"), _table(anomalies, "a")


def test_iterative_selection_drops_planted_anomalies_and_separates_them(tmp_path):
    normal, anomalies = _planted()
    mixed = contaminate(normal, anomalies, 0.1, seed=0)
    detector = IterativeAE(
        hidden=(8,), code_size=3, epochs=30, reselect_every=5, clusters=6, batch_size=64,
        device="cpu", checkpoint_every=0,
    ).fit(mixed)  # fmt: skip
    planted = int(np.sum(mixed.labels == ANOMALOUS))
    assert [r["epoch"] for r in detector.rounds_][:2] == [0, 5]
    for entry in detector.rounds_:
        assert entry["anomalies"] < planted / 2, detector.rounds_
    assert metrics.auroc(mixed.labels, detector.decision_scores_) > 0.8
    detector.save(tmp_path / "m")
    loaded = Detector.load(tmp_path / "m")
    assert loaded.rounds_ == detector.rounds_
    np.testing.assert_array_equal(loaded.decision_function(mixed), detector.decision_scores_)


def test_gaussian_scores_are_mahalanobis_distances():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0, 0, 1.0]])
    data = _table(x, "r")
    detector = Gaussian(robust=False).fit(data)
    z = (x - x.mean(0)) / x.std(0)
    precision = np.linalg.inv(np.cov(z, rowvar=False, bias=True))
    expected = np.einsum("ij,jk,ik->i", z, precision, z)
    np.testing.assert_allclose(detector.decision_scores_, expected, rtol=1e-4)


def test_kernel_pca_matches_scikit_learn_projections():
    from sklearn.decomposition import KernelPCA as SkKernelPCA

    rng = np.random.default_rng(2)
    data = _table(rng.normal(size=(80, 4)), "r")
    detector = KernelPCA(components=5, gamma=0.2).fit(data)
    x = detector.features_.transform(data).astype(np.float64)
    reference = SkKernelPCA(n_components=5, kernel="rbf", gamma=0.2).fit(x)
    projected = reference.transform(x)
    # the reconstruction error is the centred feature norm minus the projections' energy
    k = np.exp(-0.2 * ((x[:, None] - x[None]) ** 2).sum(-1))
    n = len(x)
    one = np.full((n, n), 1.0 / n)
    centred = k - one @ k - k @ one + one @ k @ one
    expected = np.diag(centred) - (projected**2).sum(1)
    np.testing.assert_allclose(detector.decision_scores_, np.maximum(expected, 0), atol=1e-6)


def test_ocsvm_nu_follows_the_contamination_when_empty():
    rng = np.random.default_rng(3)
    detector = OCSVM(nu=None, contamination=0.2).fit(_table(rng.normal(size=(300, 3)), "r"))
    outside = float(np.mean(detector.decision_scores_ > 0))
    assert outside == pytest.approx(0.2, abs=0.05)
