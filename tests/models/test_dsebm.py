"""The DSEBM detector: both criteria, the three energies, explanations, save/load, divergence."""

import dataclasses

import numpy as np
import pytest
import torch

from deepad import metrics
from deepad.data.types import DataKind, Dataset
from deepad.models import FeatureWeights, ImageMaps, get_method
from deepad.models.base import Detector
from deepad.models.dsebm import (
    DSEBM,
    DSEBMConfig,
    FullyConnectedEnergy,
    denoising_score_matching_loss,
    energy_and_gradient,
)
from deepad.train.checkpoint import load_state
from deepad.train.loop import TrainingDiverged, fit_network
from deepad.train.progress import RunContext

FAST = {"device": "cpu", "checkpoint_every": 0}


def _gaussian_table(seed=0):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(400, 4)).astype(np.float32)
    test = np.vstack([rng.normal(size=(40, 4)), rng.normal(size=(40, 4)) + 5]).astype(np.float32)
    return train, test, np.r_[np.zeros(40), np.ones(40)]


def _signals(n, glitch=False, seed=0, length=48):
    rng = np.random.default_rng(seed)
    out, where = [], []
    for _ in range(n):
        t = np.arange(length)
        phase = rng.uniform(0, 2 * np.pi)
        x = np.stack([np.sin(2 * np.pi * t / 12 + phase), np.cos(2 * np.pi * t / 12 + phase)], 1)
        x += rng.normal(0, 0.05, x.shape)
        if glitch:
            at = int(rng.integers(10, length - 5))
            x[at : at + 2, 0] += 4.0
            where.append(at)
        out.append(x.astype(np.float32))
    return out, where


def _sequences(items):
    return Dataset(DataKind.SEQUENCE, items, [f"s{i}" for i in range(len(items))])


def test_registered_and_both_criteria_separate_an_obvious_anomaly():
    assert get_method("dsebm") is DSEBM
    train, test, labels = _gaussian_table()
    detector = DSEBM(epochs=15, batch_size=64, **FAST).fit(train)
    scores = detector.score(test)
    assert set(scores.components) == {"energy", "reconstruction"}
    np.testing.assert_array_equal(scores.score, scores.components["energy"])
    assert metrics.auroc(labels, scores.components["energy"]) > 0.95
    assert metrics.auroc(labels, scores.components["reconstruction"]) > 0.95
    assert detector.predict(test)[40:].mean() > 0.9
    assert detector.history_[-1].loss < detector.history_[0].loss


def test_reconstruction_criterion_is_the_squared_gradient_norm():
    train, test, _ = _gaussian_table(1)
    detector = DSEBM(epochs=2, criterion="reconstruction", **FAST).fit(train)
    scores = detector.score(test)
    np.testing.assert_array_equal(scores.score, scores.components["reconstruction"])
    x = torch.from_numpy(detector.scaler_.transform(test))
    gradient = energy_and_gradient(detector.module_, x).gradient
    np.testing.assert_allclose(scores.score, gradient.pow(2).sum(1).numpy(), rtol=1e-5)
    explained = detector.explain(test)
    assert isinstance(explained, FeatureWeights) and explained.weights[0].shape == (4,)
    np.testing.assert_allclose(np.sum(explained.weights, axis=1), scores.score, rtol=1e-4)


def test_two_bump_energy_flags_a_local_maximum_that_reconstruction_misses():
    """The paper's Figure 1: a point on the ridge between two modes has ∇E ≈ 0 but high E."""
    energy = FullyConnectedEnergy(1, (2,)).double()
    with torch.no_grad():  # E(x) = ½x² − softplus(4x) − softplus(−4x): minima near ±4
        energy.layers[0].weight.copy_(torch.tensor([[4.0], [-4.0]]))
        energy.layers[0].bias.zero_()
        energy.prior_center.zero_()
    rng = np.random.default_rng(0)
    normal = torch.from_numpy(np.r_[rng.normal(-4, 0.4, 200), rng.normal(4, 0.4, 200)])[:, None]
    ridge, far = torch.tensor([[0.0]]).double(), torch.tensor([[9.0]]).double()
    out = {k: energy_and_gradient(energy, v) for k, v in
           {"normal": normal, "ridge": ridge, "far": far}.items()}  # fmt: skip
    e = {k: v.energy.detach().numpy() for k, v in out.items()}
    r = {k: v.gradient.pow(2).sum(1).numpy() for k, v in out.items()}
    assert e["ridge"][0] > np.max(e["normal"])  # energy flags the ridge point
    assert r["ridge"][0] < np.quantile(r["normal"], 0.05)  # reconstruction calls it normal
    assert e["far"][0] > np.max(e["normal"]) and r["far"][0] > np.max(r["normal"])


def test_images_get_convolutional_energy_and_gradient_maps():
    rng = np.random.default_rng(0)
    normal = np.zeros((64, 16, 16), np.uint8)
    normal[:, ::4] = 200  # horizontal stripes
    normal = np.clip(normal + rng.integers(0, 20, normal.shape), 0, 255).astype(np.uint8)
    odd = normal[:8].copy()
    odd[:, 4:10, 4:10] = 255  # a bright square breaks the stripes
    detector = DSEBM(epochs=8, batch_size=16, conv_channels=(4,), conv_hidden=(16,), **FAST)
    detector.fit(normal)
    assert detector.architecture_.value == "convolutional"
    scores = detector.score(np.concatenate([normal[8:16], odd]))
    labels = np.r_[np.zeros(8), np.ones(8)]
    assert metrics.auroc(labels, scores.components["energy"]) > 0.9
    maps = detector.explain(odd)
    assert isinstance(maps, ImageMaps) and maps.maps.shape == (8, 16, 16)
    inside = maps.maps[:, 4:10, 4:10].mean()
    assert inside > 2 * maps.maps[:, 12:, 12:].mean()


def test_sequences_get_recurrent_energy_and_step_scores_locate_a_glitch():
    normal, _ = _signals(40)
    odd, where = _signals(10, glitch=True, seed=1)
    detector = DSEBM(epochs=12, batch_size=20, rnn_hidden=16, hidden=(16,), **FAST)
    detector.fit(_sequences(normal))
    assert detector.architecture_.value == "recurrent"
    test = _sequences(_signals(10, seed=2)[0] + odd)
    scores = detector.score(test)
    labels = np.r_[np.zeros(10), np.ones(10)]
    assert metrics.auroc(labels, scores.components["energy"]) > 0.9
    assert metrics.auroc(labels, scores.components["reconstruction"]) > 0.9
    steps = detector.step_scores(_sequences(odd))
    np.testing.assert_allclose([s.sum() for s in steps.energy], scores.components["energy"][10:],
                               rtol=1e-4)  # fmt: skip
    hits = [abs(int(np.argmax(s)) - at) <= 2 for s, at in zip(steps.energy, where, strict=True)]
    assert np.mean(hits) >= 0.8
    explained = detector.explain(_sequences(odd[:2]))
    assert isinstance(explained, FeatureWeights) and explained.weights[0].shape == (48,)


def test_sequences_of_different_lengths_score_as_if_alone():
    normal, _ = _signals(20)
    detector = DSEBM(epochs=2, batch_size=8, rnn_hidden=8, hidden=(8,), **FAST)
    detector.fit(_sequences(normal))
    short = normal[0][:17]
    together = detector.score(_sequences([short, normal[1]])).score
    alone = detector.score(_sequences([short])).score
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["table", "image", "sequence"])
def test_save_and_load_give_identical_scores(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "table":
        train, test = rng.normal(size=(64, 3)).astype(np.float32), rng.normal(size=(5, 3))
        test = test.astype(np.float32)
    elif kind == "image":
        train = list(rng.integers(0, 255, (16, 12, 12), dtype=np.uint8))
        train, test = np.stack(train), rng.integers(0, 255, (3, 12, 12), dtype=np.uint8)
    else:
        train, test = _sequences(_signals(8)[0]), _sequences(_signals(3, seed=4)[0])
    detector = DSEBM(epochs=1, batch_size=8, conv_channels=(2,), conv_hidden=(4,), **FAST)
    detector.fit(train)
    before = detector.score(test)
    loaded = Detector.load(detector.save(tmp_path / "model"))
    after = loaded.score(test)
    np.testing.assert_array_equal(before.score, after.score)
    np.testing.assert_array_equal(before.components["reconstruction"],
                                  after.components["reconstruction"])  # fmt: skip
    assert loaded.threshold_ == detector.threshold_


class _BreakAt:
    """Corrupts a weight at the start of an epoch, as a diverging optimiser would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_start(self, state):
        if state.epoch == self.epoch:
            with torch.no_grad():
                next(state.module.parameters()).fill_(float("nan"))


def test_divergence_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    module = FullyConnectedEnergy(3, (4,))
    data = torch.utils.data.TensorDataset(torch.randn(64, 3))
    cfg = dataclasses.replace(DSEBMConfig(), epochs=6, batch_size=16, device="cpu",
                              checkpoint_every=1)  # fmt: skip

    def loss_fn(m, batch):
        return denoising_score_matching_loss(m, batch[0], 0.5)

    with pytest.raises(TrainingDiverged, match="epoch 3"):
        fit_network(module, loss_fn, data, cfg, hooks=[_BreakAt(3)],
                    context=RunContext(checkpoint_dir=tmp_path))  # fmt: skip
    saved = load_state(tmp_path / "last")
    assert saved["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in saved["module"].values())


def test_detector_reports_divergence_clearly():
    train = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32) * 1e20
    detector = DSEBM(epochs=2, scaling="none", **FAST)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        detector.fit(train)


def test_wrong_architecture_for_the_data_is_an_error():
    with pytest.raises(ValueError, match="recurrent"):
        DSEBM(architecture="recurrent", epochs=1, **FAST).fit(np.zeros((4, 2), np.float32))


def test_fully_connected_energy_on_flattened_images_still_gives_pixel_maps():
    images = np.random.default_rng(0).integers(0, 255, (16, 8, 8), dtype=np.uint8)
    detector = DSEBM(architecture="fully_connected", epochs=1, hidden=(8,), **FAST).fit(images)
    assert isinstance(detector.module_, FullyConnectedEnergy)
    maps = detector.explain(images[:3]).maps
    assert maps.shape == (3, 8, 8)
    reconstruction = detector.score(images[:3]).components["reconstruction"]
    # the map is ‖∇E‖ per pixel, in the detector's scaled units
    np.testing.assert_allclose((maps**2).sum((1, 2)), reconstruction, rtol=1e-4)
