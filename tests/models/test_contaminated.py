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
from deepad.models.cance import CANCE
from deepad.models.cance.detector import _BestOnHeldOut, lognormal_mode, truncated_normal
from deepad.models.cance.loss import covariance_penalty, nce_loss
from deepad.models.iterative import IterativeAE
from deepad.models.iterative.selection import (
    Percentile,
    cluster_variances,
    low_variance_members,
)
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


def test_percentile_over_rows_keeps_at_most_that_share_of_the_rows():
    # five clusters of variances 1..5 holding 60, 10, 10, 10, 10 rows: the 70th percentile of
    # the cluster variances (3.8) keeps three clusters, 80 % of the rows; over rows, only the
    # lowest-variance clusters that together hold at most 70 % of them
    variances = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    labels = np.repeat(np.arange(5), [60, 10, 10, 10, 10])
    by_clusters = low_variance_members(labels, variances, 30.0, Percentile.CLUSTERS)
    by_rows = low_variance_members(labels, variances, 30.0, Percentile.ROWS)
    assert by_clusters.sum() == 80  # clusters 0-2: 80 % of the rows
    assert by_rows.sum() == 70  # clusters 0 and 1: the most that stays within 70 %
    assert by_rows[:70].all() and not by_rows[70:].any()
    # never empty: the lowest-variance cluster even when it alone is over the share
    assert low_variance_members(labels, variances, 90.0, Percentile.ROWS)[:60].all()


def test_best_on_held_out_restores_the_epoch_of_lowest_loss():
    module = torch.nn.Linear(1, 1, bias=False)
    losses = {1: 3.0, 2: 1.0, 3: 2.0}
    hook = _BestOnHeldOut(lambda m: abs(m.weight.item() - 2.0))
    for epoch in (1, 2, 3):
        with torch.no_grad():
            module.weight.fill_(2.0 + losses[epoch])
        if epoch < 3:
            hook.check(module, epoch)
    assert hook.restore(module, 3) == 2
    assert module.weight.item() == pytest.approx(3.0)


def test_cance_picks_epochs_on_held_out_rows_and_separates_an_obvious_anomaly(tmp_path):
    rng = np.random.default_rng(0)
    normal = _table(rng.normal(0, 1, (300, 4)), "n")
    test_items = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(7, 1, (6, 4))])
    test = _table(test_items, "t", labels=np.r_[np.zeros(60), np.ones(6)].astype(np.int8))
    detector = CANCE(
        epochs=6, decoder_epochs=3, nce_epochs=6, batch_size=64, device="cpu",
        checkpoint_every=0, validation_share=0.2,
    ).fit(normal)  # fmt: skip
    chosen = detector.chosen_epochs_
    assert set(chosen) == {"autoencoder", "decoder", "estimator"}
    assert 1 <= chosen["autoencoder"] <= 6 and 1 <= chosen["estimator"] <= 6
    assert metrics.auroc(test.labels, detector.decision_function(test)) > 0.95
    detector.save(tmp_path / "m")
    assert Detector.load(tmp_path / "m").chosen_epochs_ == chosen
    last = CANCE(epochs=2, decoder_epochs=0, nce_epochs=2, batch_size=64, device="cpu",
                 checkpoint_every=0, validation_share=0.0).fit(normal)  # fmt: skip
    assert last.chosen_epochs_ == {}


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
        device="cpu", checkpoint_every=0, threshold_holdout=0.0,  # selection over every row
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
    # the model's own scores of the rows it was fitted on (decision_scores_ are cross-fitted)
    scores = detector.decision_function(data)
    np.testing.assert_allclose(scores, np.maximum(expected, 0), atol=1e-6)


def test_ocsvm_nu_follows_the_contamination_when_empty():
    rng = np.random.default_rng(3)
    detector = OCSVM(nu=None, contamination=0.2).fit(_table(rng.normal(size=(300, 3)), "r"))
    outside = float(np.mean(detector.decision_scores_ > 0))
    assert outside == pytest.approx(0.2, abs=0.05)


@pytest.mark.parametrize("cls", [IterativeAE, CANCE, Gaussian])
def test_train_page_summary_says_when_the_method_is_right_for_contaminated_data(cls):
    # the Train page shows the first paragraph of the detector's docstring
    summary = " ".join(cls.__doc__.strip().split("\n\n")[0].split())
    assert "your normal data may contain" in summary


def test_iterative_minmax_scaling_maps_training_columns_to_unit_range(tmp_path):
    normal, anomalies = _planted()
    mixed = contaminate(normal, anomalies, 0.1, seed=0)
    detector = IterativeAE(
        hidden=(8,), code_size=3, epochs=30, reselect_every=5, clusters=6, batch_size=64,
        device="cpu", checkpoint_every=0, table_scaling="minmax",
    ).fit(mixed)  # fmt: skip
    x = detector.features_.transform(mixed)
    np.testing.assert_allclose(x.min(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(x.max(0), 1.0, atol=1e-6)
    assert metrics.auroc(mixed.labels, detector.decision_scores_) > 0.8
    detector.save(tmp_path / "m")
    loaded = Detector.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.decision_function(mixed), detector.decision_scores_)
