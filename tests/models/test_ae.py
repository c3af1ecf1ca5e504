import numpy as np
import pytest
import torch

from deepad import metrics
from deepad.data.types import DataKind, Dataset
from deepad.models import Detector
from deepad.models.ae import Architecture, Autoencoder, Normalization
from deepad.models.ae.network import ConvAutoencoder, DenseAutoencoder, pooling_sizes
from deepad.results import FeatureWeights, ImageMaps
from tests.models.conftest import tiny_split

FAST = {"epochs": 3, "batch_size": 16, "device": "cpu", "checkpoint_every": 0, "image_size": 16}


def _rgb_split(size=20, n=24, seed=0):
    rng = np.random.default_rng(seed)
    base = np.zeros((size, size, 3), np.uint8)
    base[..., 0] = 180
    base[size // 4 : size // 2, :, 1] = 120
    normal = [
        np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]
    noise = [rng.integers(0, 256, base.shape, dtype=np.uint8) for _ in range(6)]
    test = Dataset(
        DataKind.IMAGE, normal[:6] + noise, [str(i) for i in range(12)], labels=[0] * 6 + [1] * 6
    )
    return Dataset(DataKind.IMAGE, normal, [str(i) for i in range(n)]), test


@pytest.mark.parametrize(
    ("size", "channels", "final"), [(28, 1, 7), (64, 3, 8), (128, 3, 8), (16, 1, 4)]
)
def test_conv_autoencoder_reconstructs_the_input_shape(size, channels, final):
    net = ConvAutoencoder(channels=channels, image_size=size, filters=(8, 4), code_size=32)
    assert net.sizes[-1] == final
    x = torch.randn(2, channels, size, size)
    assert net(x).shape == x.shape
    assert net.encode(x).shape == (2, 32)


def test_pooling_stages_follow_the_thesis_network_on_mnist():
    # 28 -> 14 -> 7 with two modules, as the MNIST LeNet autoencoder
    assert pooling_sizes(28, 2) == [28, 14, 7]
    net = ConvAutoencoder(channels=1, image_size=28, filters=(8, 4), code_size=32)
    convs = [m for m in net.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 8, (5, 5)),
        (8, 4, (5, 5)),
    ]
    assert net.to_code.in_features == 4 * 7 * 7


def test_dense_autoencoder_mirrors_its_widths():
    net = DenseAutoencoder(features=10, hidden=(8, 6), code_size=3)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (10, 8), (8, 6), (6, 3), (3, 6), (6, 8), (8, 10),
    ]  # fmt: skip


def test_score_is_mean_squared_error_on_standardised_pixels():
    train, test = tiny_split("image")
    # every training image fitted (none held out for the threshold), so the statistics are
    # those of the whole set
    detector = Autoencoder(**FAST, threshold_holdout=0.0).fit(train)
    pixels = np.stack(train.items).astype(np.float64) / 255.0
    np.testing.assert_allclose(detector.module_.mean[0].numpy(), pixels.mean(0), atol=1e-6)
    np.testing.assert_allclose(
        detector.module_.std[0].numpy(), np.maximum(pixels.std(0), 1e-3), rtol=1e-4
    )
    x = torch.from_numpy(np.stack(test.items)).float()[:, None] / 255.0
    x = (x - detector.module_.mean) / detector.module_.std
    with torch.no_grad():
        by_hand = ((detector.module_.network(x) - x) ** 2).mean((1, 2, 3)).numpy()
    np.testing.assert_allclose(detector.decision_function(test), by_hand, rtol=1e-5)


def test_image_maps_average_to_the_score():
    train, test = tiny_split("image")
    detector = Autoencoder(**FAST).fit(train)
    maps = detector.explain(test)
    assert isinstance(maps, ImageMaps)
    assert maps.maps.shape == (len(test), 16, 16) and maps.maps.dtype == np.float32
    np.testing.assert_allclose(maps.maps.mean((1, 2)), detector.decision_function(test), rtol=1e-5)


def test_table_explanation_is_per_feature_squared_error():
    train, test = tiny_split("table")
    detector = Autoencoder(**FAST).fit(train)
    weights = detector.explain(test)
    assert isinstance(weights, FeatureWeights)
    assert weights.feature_names == train.columns
    rows = np.stack(weights.weights)
    assert rows.shape == (len(test), 4)
    np.testing.assert_allclose(rows.mean(1), detector.decision_function(test), rtol=1e-5)
    # the far points differ in every feature, so every feature carries more error there
    assert np.all(rows[12:].mean(0) > rows[:12].mean(0))


def test_conv_network_separates_noise_from_blobs():
    train, test = tiny_split("image")
    detector = Autoencoder(**{**FAST, "epochs": 5}, architecture=Architecture.CONV).fit(train)
    assert metrics.auroc(test.labels, detector.decision_function(test)) > 0.9


def test_training_lowers_the_reconstruction_error():
    train, _ = tiny_split("image")
    detector = Autoencoder(**{**FAST, "epochs": 8}).fit(train)
    losses = [h.loss for h in detector.history_]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("architecture", list(Architecture))
def test_rgb_round_trip_with_channel_normalisation(tmp_path, architecture):
    train, test = _rgb_split()
    detector = Autoencoder(
        **{**FAST, "image_size": 32}, architecture=architecture, normalization=Normalization.CHANNEL
    ).fit(train)
    assert detector.module_.mean.shape == (3, 32, 32)
    # one statistic per channel, broadcast over the pixels
    assert torch.allclose(detector.module_.mean[0], detector.module_.mean[0, 0, 0])
    scores = detector.decision_function(test)
    assert metrics.auroc(test.labels, scores) > 0.9
    loaded = Detector.load(detector.save(tmp_path / "rgb"))
    np.testing.assert_array_equal(loaded.decision_function(test), scores)
    np.testing.assert_array_equal(loaded.explain(test).maps, detector.explain(test).maps)


def test_images_of_other_sizes_are_resized():
    train, _ = tiny_split("image")  # 16x16
    detector = Autoencoder(**{**FAST, "image_size": 24}).fit(train)
    big = [np.full((40, 30), 10, np.uint8), np.full((8, 8), 200, np.uint8)]
    assert detector.decision_function(big).shape == (2,)
    assert detector.explain(big).maps.shape == (2, 24, 24)


def test_table_with_other_columns_is_rejected():
    train, _ = tiny_split("table")
    detector = Autoencoder(**FAST).fit(train)
    with pytest.raises(ValueError, match="4 columns"):
        detector.decision_function(np.zeros((3, 5), np.float32))


@pytest.mark.parametrize("architecture", list(Architecture))
def test_a_last_batch_of_one_item_trains(architecture):
    train, test = tiny_split("image")
    odd = train.subset(range(17))  # batches of 16 and 1
    detector = Autoencoder(**FAST, architecture=architecture).fit(odd)
    assert np.all(np.isfinite(detector.decision_function(test)))
