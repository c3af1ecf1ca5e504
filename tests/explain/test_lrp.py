"""LRP through every network detector: relevance is conserved on trained tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepad.data.types import DataKind
from deepad.explain.declare import LRPModel, squared_distance_relevance
from deepad.explain.lrp import attribute, conservation
from deepad.models.ae.detector import Autoencoder
from deepad.models.fcdd.detector import FCDD
from deepad.results import FeatureWeights, ImageMaps
from tests.models.conftest import tiny_split


def _assert_conserved(report: dict[str, np.ndarray]) -> None:
    # everything the input did not receive was absorbed by a bias or stabiliser on the way
    total = report["relevance"] + report["absorbed"]
    np.testing.assert_allclose(total, report["score"], rtol=0.01)


@pytest.mark.parametrize("architecture", ["conv", "dense"])
def test_autoencoder_relevance_is_conserved(architecture):
    train, test = tiny_split(DataKind.IMAGE)
    detector = Autoencoder(
        architecture=architecture, epochs=3, batch_size=16, hidden=(32,), code_size=8, seed=0
    ).fit(train)
    report = conservation(detector, test)
    np.testing.assert_allclose(report["score"], detector.decision_function(test), rtol=1e-4)
    _assert_conserved(report)
    maps = detector.explain(test, method="lrp")
    assert isinstance(maps, ImageMaps) and maps.maps.shape == (len(test), 28, 28)


def test_fcdd_relevance_is_conserved():
    train, test = tiny_split(DataKind.IMAGE)
    detector = FCDD(epochs=2, batch_size=16, width=0.25, device="cpu", checkpoint_every=0)
    detector.fit(train)
    report = conservation(detector, test)
    np.testing.assert_allclose(report["score"], detector.decision_function(test), rtol=1e-4)
    _assert_conserved(report)


def test_bias_free_hypersphere_network_conserves_relevance_at_the_input():
    # a Deep SVDD-style network: bias-free, ReLU as modules, trained a few epochs towards c
    torch.manual_seed(0)
    train, test = tiny_split(DataKind.TABLE)
    x = torch.as_tensor(np.asarray(train.items), dtype=torch.float32)
    phi = nn.Sequential(
        nn.Linear(x.shape[1], 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False)
    )
    with torch.no_grad():
        center = phi(x).mean(0)
    optimiser = torch.optim.Adam(phi.parameters(), lr=1e-2)
    for _ in range(20):
        optimiser.zero_grad()
        ((phi(x) - center) ** 2).sum(1).mean().backward()
        optimiser.step()
    items = torch.as_tensor(np.asarray(test.items), dtype=torch.float32)
    model = LRPModel(phi, items, squared_distance_relevance(center), DataKind.TABLE)
    result = attribute(model, "lrp")
    with torch.no_grad():
        score = ((phi(items) - center) ** 2).sum(1).double().numpy()
    np.testing.assert_allclose(result.score, score, rtol=1e-5)
    np.testing.assert_allclose(result.relevance.sum(1), score, rtol=0.01)
    np.testing.assert_allclose(result.absorbed, 0.0, atol=1e-4 * score.max())


def test_gradient_baselines_and_tables():
    train, test = tiny_split(DataKind.TABLE)
    detector = Autoencoder(epochs=2, batch_size=16, hidden=(16,), code_size=4, seed=0).fit(train)
    assert detector.explanation_methods() == ["default", "lrp", "gradient", "gradient_x_input"]
    for method in ("lrp", "gradient", "gradient_x_input"):
        weights = detector.explain(test, method=method)
        assert isinstance(weights, FeatureWeights)
        assert np.asarray(weights.weights).shape == np.asarray(test.items).shape
    gradient = np.asarray(detector.explain(test, method="gradient").weights)
    assert (gradient >= 0).all()
    with pytest.raises(ValueError, match="unknown explanation method"):
        detector.explain(test, method="saliency")


def test_network_modules_unchanged_by_the_merge():
    train, test = tiny_split(DataKind.IMAGE)
    detector = Autoencoder(architecture="conv", epochs=1, batch_size=16, code_size=4).fit(train)
    before = {k: v.clone() for k, v in detector.module_.state_dict().items()}
    scores = detector.decision_function(test)
    detector.explain(test, method="lrp")
    after = detector.module_.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value)
    np.testing.assert_allclose(detector.decision_function(test), scores, rtol=1e-6)


@pytest.mark.parametrize("kind", [DataKind.IMAGE, DataKind.TABLE])
def test_deep_svdd_relevance_is_conserved(kind):
    from deepad.models.deepsvdd.detector import DeepSVDD

    train, test = tiny_split(kind)
    detector = DeepSVDD(epochs=2, pretrain_epochs=1, batch_size=16, device="cpu").fit(train)
    report = conservation(detector, test)
    np.testing.assert_allclose(report["score"], detector.decision_function(test), rtol=1e-4)
    _assert_conserved(report)
    assert "lrp" in detector.explanation_methods()


@pytest.mark.parametrize("kind", [DataKind.TABLE, DataKind.IMAGE])
def test_dsebm_relevance_adds_up_to_the_energy(kind):
    from deepad.models.dsebm import DSEBM

    train, test = tiny_split(kind)
    detector = DSEBM(epochs=5, batch_size=16, seed=0, device="cpu", checkpoint_every=0)
    detector.fit(train)
    report = conservation(detector, test)
    # the declared score is the energy the detector ranks by
    np.testing.assert_allclose(report["score"], detector.decision_function(test), rtol=1e-4)
    _assert_conserved(report)
    assert "lrp" in detector.explanation_methods()
    explanation = detector.explain(test, method="lrp")
    if kind == DataKind.IMAGE:
        assert isinstance(explanation, ImageMaps) and explanation.maps.shape == (len(test), 16, 16)
    else:
        assert isinstance(explanation, FeatureWeights)
        sums = np.asarray(explanation.weights).sum(1)
        np.testing.assert_allclose(sums, report["relevance"], rtol=1e-4)


def test_dsebm_relevance_points_at_the_one_shifted_feature():
    from deepad.data.types import Dataset
    from deepad.models.dsebm import DSEBM

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) / 3 + np.eye(6)  # correlated features
    train = (rng.normal(size=(500, 6)) @ mixing).astype(np.float32)
    test = (rng.normal(size=(30, 6)) @ mixing).astype(np.float32)
    shifted = np.arange(30) % 6
    test[np.arange(30), shifted] += 6.0 * train.std(0)[shifted]
    detector = DSEBM(epochs=20, batch_size=64, seed=0, device="cpu", checkpoint_every=0)
    detector.fit(Dataset(DataKind.TABLE, train, [f"r{i}" for i in range(len(train))]))
    items = Dataset(DataKind.TABLE, test, [f"t{i}" for i in range(len(test))])
    relevance = np.asarray(detector.explain(items, method="lrp").weights)
    assert (relevance.argmax(1) == shifted).mean() >= 0.9
    # the energy's own gradient map finds it too, so the comparison is fair
    assert (np.asarray(detector.explain(items).weights).argmax(1) == shifted).mean() >= 0.9


def test_dsebm_on_sequences_offers_no_lrp():
    from deepad.models.dsebm import DSEBM

    train, test = tiny_split(DataKind.SEQUENCE)
    detector = DSEBM(epochs=1, batch_size=16, device="cpu", checkpoint_every=0).fit(train)
    assert detector.explanation_methods() == ["default"]
    with pytest.raises(NotImplementedError, match="recurrent"):
        detector.explain(test, method="lrp")
