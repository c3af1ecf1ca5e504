import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM

from deepad import metrics
from deepad.data.transforms import Standardizer
from deepad.data.types import DataKind, Dataset
from deepad.models import Detector
from deepad.models.shallow import KDE, OCSVM, PCA, IForest
from deepad.models.shallow.detectors import BANDWIDTH_GRID, BandwidthRule
from deepad.models.shallow.iforest_arrays import (
    average_path_length,
    forest_arrays,
    forest_scores,
)
from deepad.results import FeatureWeights, ImageMaps
from tests.models.conftest import tiny_split


def _table(seed=0, n=200, d=5):
    rng = np.random.default_rng(seed)
    train = rng.normal(0, 1, (n, d)).astype(np.float32) * [1, 2, 3, 0.5, 1]
    test = np.vstack([rng.normal(0, 1, (20, d)), rng.normal(0, 1, (20, d)) + 5]).astype(np.float32)
    return train.astype(np.float32), test, np.r_[np.zeros(20), np.ones(20)]


def _standardised(train, test):
    s = Standardizer().fit(train)
    return s.transform(train), s.transform(test)


def test_kde_score_is_the_negative_sklearn_log_density():
    train, test, _ = _table()
    detector = KDE(bandwidth=0.7).fit(train)
    xs, ts = _standardised(train, test)
    scores = detector.decision_function(test)
    # log p(x) = logsumexp_i log N(x; x_i, h^2 I) - log n, evaluated point by point
    per_point = np.stack([multivariate_normal(mean=xi, cov=0.49).logpdf(ts) for xi in xs])
    by_hand = logsumexp(per_point, axis=0) - np.log(len(xs))
    np.testing.assert_allclose(scores, -by_hand, rtol=1e-9)
    # scikit-learn's tree sums agree where densities are not tiny (its far tail is approximate)
    reference = KernelDensity(bandwidth=0.7).fit(xs).score_samples(ts[:20])
    np.testing.assert_allclose(scores[:20], -reference, rtol=1e-6)


def test_kde_leave_one_out_also_leaves_out_crops_sharing_a_region():
    # crops of one picture overlap; each training crop is scored by the density of the
    # crops that share no region with it (their kernels would stand in for its own)
    from deepad.data.overlap import shared_regions

    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (64, 200), dtype=np.uint8)
    crops = [picture[:, x : x + 32].copy() for x in rng.integers(0, 169, 16)]
    train = Dataset(DataKind.IMAGE, crops, [str(i) for i in range(16)])
    detector = KDE(bandwidth=8.0, image_size=16).fit(train)
    shared = shared_regions(crops)
    assert sum(len(f) for f in shared) > 0
    x = detector.features_.transform(train).astype(np.float64)
    d = x.shape[1]
    by_hand = []
    for i in range(16):
        others = [j for j in range(16) if j != i and j not in set(shared[i].tolist())]
        log_kernels = [multivariate_normal(mean=x[j], cov=64.0 * np.eye(d)).logpdf(x[i]) for j in others]
        by_hand.append(-(logsumexp(log_kernels) - np.log(len(others))))
    np.testing.assert_allclose(detector.decision_scores_, by_hand, rtol=1e-5)


def test_kde_bandwidth_by_cross_validation_and_by_scott():
    train, test, labels = _table()
    cv = KDE().fit(train)
    assert cv.bandwidth_ in BANDWIDTH_GRID
    assert metrics.auroc(labels, cv.decision_function(test)) > 0.95
    scott = KDE(bandwidth_rule=BandwidthRule.SCOTT).fit(train)
    assert scott.bandwidth_ == pytest.approx(200 ** (-1 / 9))


def test_kde_cross_validation_prefers_a_wider_kernel_for_spread_out_data():
    rng = np.random.default_rng(1)
    # after standardisation both are unit scale; with only a few points the likelihood
    # rewards a wide kernel, with many clustered duplicates a narrow one
    few = rng.normal(0, 1, (12, 3)).astype(np.float32)
    clusters = np.repeat(rng.normal(0, 1, (6, 3)), 40, axis=0) + rng.normal(0, 0.01, (240, 3))
    wide = KDE().fit(few).bandwidth_
    narrow = KDE().fit(clusters.astype(np.float32)).bandwidth_
    assert narrow < wide


def test_ocsvm_matches_sklearn_decision_function():
    train, test, labels = _table()
    detector = OCSVM(nu=0.2).fit(train)
    xs, ts = _standardised(train, test)
    reference = OneClassSVM(nu=0.2, gamma="scale").fit(xs).decision_function(ts)
    np.testing.assert_allclose(detector.decision_function(test), -reference, atol=1e-6)
    assert metrics.auroc(labels, detector.decision_function(test)) > 0.95


def test_pca_error_against_a_hand_projection():
    train, test, _ = _table()
    detector = PCA(components=2).fit(train)
    xs, ts = _standardised(train, test)
    mean = xs.mean(0)
    _, _, vt = np.linalg.svd(xs - mean, full_matrices=False)
    basis = vt[:2]
    centred = ts - mean
    expected = ((centred - centred @ basis.T @ basis) ** 2).mean(1)
    np.testing.assert_allclose(detector.decision_function(test), expected, rtol=1e-4)
    weights = detector.explain(test)
    assert isinstance(weights, FeatureWeights)
    np.testing.assert_allclose(np.stack(weights.weights).mean(1), expected, rtol=1e-4)


def test_pca_keeps_the_fewest_components_for_the_variance_share():
    rng = np.random.default_rng(0)
    latent = rng.normal(0, 1, (300, 2))
    train = (latent @ rng.normal(0, 1, (2, 8)) + rng.normal(0, 0.01, (300, 8))).astype(np.float32)
    assert PCA(variance=0.95).fit(train).n_components_ == 2
    assert PCA(variance=1.0).fit(train).n_components_ == 8


def test_pca_image_maps():
    train, test = tiny_split("image")
    detector = PCA(image_size=16).fit(train)
    maps = detector.explain(test)
    assert isinstance(maps, ImageMaps) and maps.maps.shape == (len(test), 16, 16)
    np.testing.assert_allclose(maps.maps.mean((1, 2)), detector.decision_function(test), rtol=1e-4)


def test_forest_arrays_reproduce_sklearn_scores():
    train, test, _ = _table()
    xs, ts = _standardised(train, test)
    forest = IsolationForest(n_estimators=20, max_features=0.6, random_state=3).fit(xs)
    np.testing.assert_allclose(
        forest_scores(forest_arrays(forest), ts), -forest.score_samples(ts), rtol=1e-12
    )


def test_average_path_length_values():
    # c(1) = 0, c(2) = 1, c(n) = 2 H(n-1) - 2 (n-1) / n with H(i) ~ ln(i) + Euler's gamma
    np.testing.assert_allclose(average_path_length(np.array([1, 2])), [0.0, 1.0])
    n = 256
    expected = 2 * (np.log(n - 1) + 0.5772156649) - 2 * (n - 1) / n
    assert float(average_path_length(np.array([n]))[0]) == pytest.approx(expected)


def test_iforest_caps_max_samples_at_the_set_size():
    train, test, labels = _table(n=40)
    detector = IForest(max_samples=256).fit(train)
    assert int(detector.model_["max_samples"][0]) == 40
    assert metrics.auroc(labels, detector.decision_function(test)) > 0.9


@pytest.mark.parametrize("cls", [KDE, OCSVM, PCA, IForest], ids=lambda c: c.name)
def test_rgb_images_round_trip(cls, tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(100, 140, (10, 12, 3), dtype=np.uint8) for _ in range(30)]
    odd = [rng.integers(0, 256, (10, 12, 3), dtype=np.uint8) for _ in range(5)]
    train = Dataset(DataKind.IMAGE, images, [str(i) for i in range(30)])
    detector = cls(image_size=8).fit(train)
    assert detector.features_.channels_ == 3
    scores = detector.decision_function(images[:5] + odd)
    assert scores[5:].mean() > scores[:5].mean()
    loaded = Detector.load(detector.save(tmp_path / cls.name))
    np.testing.assert_array_equal(loaded.decision_function(images[:5] + odd), scores)


def test_table_with_other_columns_is_rejected():
    train, _, _ = _table()
    detector = IForest().fit(train)
    with pytest.raises(ValueError, match="5 features"):
        detector.decision_function(np.zeros((2, 3), np.float32))
