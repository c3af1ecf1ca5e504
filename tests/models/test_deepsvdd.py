"""Deep SVDD, Deep SAD and HSC: the objectives by hand, the network's guards against
hypersphere collapse, the centre and radius rules, labeled anomalies and outlier exposure.

The contract tests (test_contract.py) cover fitting, scores, maps and save/load of all three.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepad import metrics
from deepad.data.registry import DatasetRegistry
from deepad.data.types import ANOMALOUS, DataKind, Dataset
from deepad.models import Detector
from deepad.models.deepsvdd import HSC, DeepSAD, DeepSVDD, Objective
from deepad.models.deepsvdd.detector import image_architecture, table_architecture
from deepad.models.deepsvdd.loss import (
    deep_sad_loss,
    hsc_loss,
    one_class_loss,
    pseudo_huber,
    soft_boundary_loss,
)
from deepad.models.deepsvdd.network import push_from_zero
from deepad.models.threshold import holdout_split
from tests.models.conftest import tiny_split

FAST = {"epochs": 2, "pretrain_epochs": 1, "batch_size": 16, "device": "cpu", "lr": 1e-3}


def _table(rows: np.ndarray, labels: np.ndarray | None = None) -> Dataset:
    columns = [f"x{j}" for j in range(rows.shape[1])]
    names = [f"r{i}" for i in range(len(rows))]
    return Dataset(DataKind.TABLE, rows.astype(np.float32), names, labels=labels, columns=columns)


# --------------------------------------------------------------------- objectives by hand
DIST = torch.tensor([0.5, 2.0, 4.0, 0.1])
SEMI = torch.tensor([0, 1, -1, -1])


def test_one_class_and_soft_boundary_losses():
    assert float(one_class_loss(DIST)) == pytest.approx((0.5 + 2.0 + 4.0 + 0.1) / 4)
    r2, nu = torch.tensor(1.0), 0.5
    # R² + 1/(ν n) Σ max(0, d − R²) = 1 + (0 + 1 + 3 + 0) / (0.5 · 4)
    assert float(soft_boundary_loss(DIST, r2, nu)) == pytest.approx(1.0 + 4.0 / 2.0)


def test_deep_sad_loss():
    eta, eps = 2.0, 1e-6
    expected = (0.5 + eta * (2.0 + eps) + eta / (4.0 + eps) + eta / (0.1 + eps)) / 4
    assert float(deep_sad_loss(DIST, SEMI, eta)) == pytest.approx(expected, rel=1e-6)
    # without labels it is One-Class Deep SVDD
    assert float(deep_sad_loss(DIST, torch.zeros(4), eta)) == pytest.approx(float(DIST.mean()))


def test_hsc_loss_with_pseudo_huber():
    eta = 0.5
    h = np.sqrt(DIST.numpy().astype(np.float64) + 1) - 1
    anomalous = -np.log(1 - np.exp(-h))
    expected = (h[0] + eta * h[1] + eta * anomalous[2] + eta * anomalous[3]) / 4
    assert float(hsc_loss(DIST, SEMI, eta)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(pseudo_huber(DIST).numpy(), h, rtol=1e-6)  # no cancellation


# --------------------------------------------------------------------- network and centre
@pytest.fixture(scope="module")
def fitted_table() -> DeepSVDD:
    train, _ = tiny_split(DataKind.TABLE)
    return DeepSVDD(**FAST).fit(train)


@pytest.fixture(scope="module")
def fitted_image() -> DeepSVDD:
    train, _ = tiny_split(DataKind.IMAGE)
    return DeepSVDD(**FAST).fit(train)


@pytest.mark.parametrize("which", ["fitted_table", "fitted_image"])
def test_network_has_no_bias_and_no_affine_batchnorm(which, request):
    detector = request.getfixturevalue(which)
    module = detector.relevance_module()
    names = [name for name, _ in module.named_parameters()]
    assert names and not [n for n in names if "bias" in n]
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(not m.affine for m in norms)
    # every non-linearity is a module an explainer can see
    assert any(isinstance(m, nn.LeakyReLU) for m in module.modules())


@pytest.mark.parametrize("which", ["fitted_table", "fitted_image"])
def test_relevance_module_gives_per_feature_squared_distances(which, request):
    detector = request.getfixturevalue(which)
    _, test = tiny_split(detector.kind_)
    module = detector.relevance_module()
    items = (
        torch.from_numpy(np.stack(test.items)[:, None])
        if detector.kind_ == DataKind.IMAGE
        else torch.from_numpy(np.asarray(test.items))
    )
    with torch.no_grad():
        per_feature = module(items)
    assert per_feature.shape == (len(test), detector.code_size_)
    np.testing.assert_allclose(
        per_feature.sum(1).numpy(), detector.decision_function(test), rtol=1e-5
    )


def test_architectures_follow_the_thesis():
    assert image_architecture(1, 28) == ((8, 4), 32)
    assert image_architecture(3, 32) == ((32, 64, 128), 128)
    assert table_architecture(274) == ((128, 64), 32)
    assert table_architecture(21) == ((32, 16), 8)
    assert table_architecture(6) == ((32, 16), 4)


def test_center_eps_rule():
    center = torch.tensor([0.5, -0.05, 0.02, 0.0, -0.3])
    pushed = push_from_zero(center, 0.1)
    np.testing.assert_allclose(pushed.numpy(), [0.5, -0.1, 0.1, 0.1, -0.3])


def test_fitted_center_keeps_away_from_zero(fitted_table):
    center = fitted_table.relevance_module().distance.center
    assert torch.all(center.abs() >= fitted_table.config.center_eps - 1e-7)


def test_hsc_center_is_zero():
    train, _ = tiny_split(DataKind.TABLE)
    detector = HSC(**FAST).fit(train)
    assert torch.count_nonzero(detector.relevance_module().distance.center) == 0


def test_pretraining_has_its_own_weight_decay():
    """Adam's L2 term λw in the pre-training only: a large λ there shrinks the encoder and
    leaves a worse reconstruction; None takes the main objective's λ (identical fits)."""
    train, _ = tiny_split(DataKind.TABLE)
    settings = {**FAST, "pretrain_epochs": 5, "weight_decay": 1e-6}
    same = DeepSVDD(**settings).fit(train)
    explicit = DeepSVDD(**settings, pretrain_weight_decay=1e-6).fit(train)
    strong = DeepSVDD(**settings, pretrain_weight_decay=1.0).fit(train)
    assert same.pretrain_history_[-1].loss == explicit.pretrain_history_[-1].loss
    assert strong.pretrain_history_[-1].loss > same.pretrain_history_[-1].loss

    def encoder_norm(detector: DeepSVDD) -> float:
        return sum(float(w.detach().norm()) for w in detector.module_.encoder.parameters())

    assert encoder_norm(strong) < encoder_norm(same)


# --------------------------------------------------------------------- soft boundary
def test_soft_boundary_radius_is_the_quantile_of_training_distances(tmp_path):
    train, test = tiny_split(DataKind.TABLE)
    nu = 0.2
    detector = DeepSVDD(**FAST, objective=Objective.SOFT_BOUNDARY, nu=nu, warmup_epochs=1).fit(
        train
    )
    # over the items it was trained on (the rest were held out for the default threshold)
    cfg = detector.config
    fitted, _ = holdout_split(None, len(train), cfg.threshold_holdout, cfg.seed)
    expected = np.quantile(detector.decision_scores_[fitted], 1 - nu, method="higher")
    assert detector.radius_sq_ == pytest.approx(expected, rel=1e-5)
    outside = np.mean(detector.decision_scores_[fitted] > detector.radius_sq_)
    assert outside <= nu + 1e-9  # the ν-property: at most a share ν outside
    minus = detector.score(test).components["minus_radius"]
    np.testing.assert_allclose(minus, detector.decision_function(test) - detector.radius_sq_)
    detector.save(tmp_path / "model")
    loaded = Detector.load(tmp_path / "model")
    assert loaded.radius_sq_ == detector.radius_sq_
    _, meta = detector._state()
    assert meta["radius_sq"] == detector.radius_sq_  # for the Inspect histogram


def test_radius_stays_zero_during_warmup():
    train, _ = tiny_split(DataKind.TABLE)
    seen: list[float] = []

    class Watch(DeepSVDD):
        def solve_radius(self, inputs):
            seen.append(float(self.module_.radius_sq))
            return super().solve_radius(inputs)

    Watch(**{**FAST, "epochs": 3}, objective=Objective.SOFT_BOUNDARY, warmup_epochs=2).fit(train)
    # solved before epoch 3 (after two warm-up epochs) and once more at the end
    assert len(seen) == 2 and seen[0] == 0.0


# --------------------------------------------------------------------- labeled anomalies
def _subtle_split():
    rng = np.random.default_rng(3)
    train = rng.normal(0, 1, (160, 4))
    shift = np.array([2.5, 0, 0, 0])
    labeled = rng.normal(0, 1, (16, 4)) + shift
    test = np.vstack([rng.normal(0, 1, (40, 4)), rng.normal(0, 1, (40, 4)) + shift])
    y = np.r_[np.zeros(40), np.ones(40)].astype(np.int8)
    return _table(train), _table(labeled, np.full(16, ANOMALOUS, np.int8)), _table(test, y)


@pytest.mark.parametrize("cls", [DeepSAD, HSC], ids=lambda c: c.name)
def test_labeled_anomalies_are_scored_higher(cls):
    train, labeled, test = _subtle_split()
    settings = {**FAST, "epochs": 10, "batch_size": 32, "pretrain_epochs": 0, "lr": 3e-3}
    without = cls(**settings).fit(train).decision_function(test)
    with_labels = cls(**settings).fit(train, labeled=labeled).decision_function(test)
    assert metrics.auroc(test.labels, with_labels) > metrics.auroc(test.labels, without)
    assert metrics.auroc(test.labels, with_labels) > 0.9


def test_deep_sad_without_labels_trains_like_deep_svdd():
    train, _, test = _subtle_split()
    a = DeepSAD(**FAST).fit(train).decision_function(test)
    b = DeepSVDD(**FAST).fit(train).decision_function(test)
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_outlier_exposure_by_dataset_id(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_HOME", str(tmp_path))
    train, labeled, test = _subtle_split()
    unlabeled = _table(np.asarray(labeled.items))
    record = DatasetRegistry().add(unlabeled, name="exposure")
    settings = {**FAST, "epochs": 10, "batch_size": 32, "pretrain_epochs": 0, "lr": 3e-3}
    exposed = HSC(**settings, outlier_exposure=record.id).fit(train)
    direct = HSC(**settings).fit(train, labeled=labeled)
    np.testing.assert_allclose(
        exposed.decision_function(test), direct.decision_function(test), rtol=1e-5
    )
    with pytest.raises(KeyError):
        HSC(**settings, outlier_exposure="0123456789abcdef").fit(train)
