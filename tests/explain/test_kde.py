"""The neuralized KDE: relevance sums to the explained part of the KDE score."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from deepad.data.types import DataKind
from deepad.explain.kde import deep_kde_model, kde_normaliser
from deepad.explain.lrp import attribute
from deepad.models.shallow.detectors import KDE
from deepad.results import ImageMaps
from tests.models.conftest import tiny_split


def test_kde_relevance_sums_to_the_score_less_its_constant():
    train, test = tiny_split(DataKind.IMAGE)
    detector = KDE(bandwidth=3.0).fit(train)
    result = attribute(detector.lrp_model(detector._checked(test)), "lrp")
    dim = result.relevance[0].size
    explained = detector.decision_function(test) - kde_normaliser(dim, 3.0)
    np.testing.assert_allclose(result.score, explained, rtol=1e-3)
    np.testing.assert_allclose(result.relevance.reshape(len(test), -1).sum(1), explained, rtol=1e-3)
    maps = detector.explain(test, method="lrp")
    assert isinstance(maps, ImageMaps) and maps.maps.shape == (
        len(test),
        28,
        28,
    )  # resized to image_size


def test_kde_on_deep_features_is_carried_down_by_lrp():
    torch.manual_seed(0)
    phi = nn.Sequential(nn.Flatten(), nn.Linear(64, 8, bias=False), nn.ReLU())
    train = torch.rand(30, 1, 8, 8)
    test = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        centres = phi(train)
    result = attribute(deep_kde_model(phi, centres, 0.5, test), "lrp")
    np.testing.assert_allclose(result.relevance.reshape(5, -1).sum(1), result.score, rtol=0.01)
    assert (result.score > 0).all()
