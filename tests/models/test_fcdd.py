"""FCDD: architectures, receptive fields, upsampling, loss, confetti, detector behaviour."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from deepad.data.registry import DatasetRegistry
from deepad.data.types import DataKind, Dataset, as_dataset
from deepad.features import pretrained_trunk
from deepad.models.base import Detector
from deepad.models.fcdd import (
    FCDD,
    FCDDNet,
    ReceptiveField,
    anomaly_map,
    confetti_noise,
    defect_mask,
    fcdd_loss,
    fcdd_pixel_loss,
    receptive_field_upsample,
)
from deepad.models.fcdd.loss import anomaly_term
from deepad.models.fcdd.upsample import pixel_threshold, receptive_field_upsample_conv
from deepad.train.progress import RunContext


@pytest.fixture(autouse=True)
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------- networks
@pytest.mark.parametrize(
    ("architecture", "size", "channels", "width", "out", "rf", "backbone"),
    [
        ("fmnist28", 28, 1, 1.0, 7, 16, "none"),
        ("cifar32", 32, 3, 0.25, 8, 22, "none"),
        ("vgg224", 224, 3, 0.0625, 28, 62, "none"),
        # the pretrained trunk to s8 (field 67, stride 8) and the head's two 3×3 layers; an
        # odd side, where the trunk's "same" padding differs from an even one's
        ("auto", 128, 3, 0.0625, 16, 99, "efficientnet_lite0"),
        ("auto", 127, 3, 0.0625, 16, 99, "efficientnet_lite0"),
    ],
)
def test_output_size_and_receptive_field_match_gradient(
    architecture, size, channels, width, out, rf, backbone
):
    torch.manual_seed(0)
    net = FCDDNet(architecture, channels, image_size=size, width=width, backbone=backbone).eval()
    assert not any(isinstance(m, torch.nn.Linear) for m in net.modules())
    assert net.receptive_field.size == rf
    assert net.output_size() == out
    u = out // 2
    support = torch.zeros(size, size, dtype=torch.bool)
    for _ in range(3):  # max-pooling routes the gradient through one input; take the union
        x = torch.randn(1, channels, size, size, requires_grad=True)
        y = net(x)
        assert y.shape == (1, 1, out, out)
        y[0, 0, u, u].backward()
        support |= x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    assert int(rows.max() - rows.min()) + 1 == rf
    assert int(cols.max() - cols.min()) + 1 == rf
    centre = net.receptive_field.centre(u)
    assert (rows.min() + rows.max()).item() / 2 == centre
    assert (cols.min() + cols.max()).item() / 2 == centre


def test_pretrained_trunk_stays_frozen_and_is_not_saved(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 72, 72, 3), dtype=np.uint8)
    detector = _small(epochs=1, batch_size=4).fit(images)  # auto: pretrained above 64 px
    net = detector.network_
    assert net.backbone_kind.value == "efficientnet_lite0" and not net.backbone.training
    reference = pretrained_trunk(net.backbone_stage).state_dict()
    for name, value in net.backbone.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, reference[name]), name
    assert all(p.requires_grad for p in net.features.parameters())
    detector.save(tmp_path / "fcdd")
    header = json.loads((tmp_path / "fcdd" / "detector.json").read_text())
    assert header["meta"]["backbone"] == "efficientnet_lite0"  # what auto resolved to
    loaded = Detector.load(tmp_path / "fcdd")
    np.testing.assert_allclose(
        loaded.decision_function(images), detector.decision_function(images), rtol=1e-5
    )
    small = _small(epochs=1).fit(_squares(8, 0, bright=False))
    assert small.network_.backbone is None  # 28 px: the from-scratch network


def test_auto_architecture_by_input_size():
    assert FCDDNet("auto", 1, image_size=28).architecture.value == "fmnist28"
    assert FCDDNet("auto", 3, image_size=32, width=0.1).architecture.value == "cifar32"
    assert FCDDNet("auto", 3, image_size=224, width=0.05).architecture.value == "vgg224"


# --------------------------------------------------------------------- upsampling
RF28 = ReceptiveField(size=16, jump=4, start=1.5)


def test_single_pixel_upsamples_to_gaussian_at_its_receptive_field_centre():
    low = np.zeros((7, 7), np.float32)
    low[2, 4] = 1.0
    sigma = 2.0
    full = receptive_field_upsample(low, RF28, sigma, size=28)
    assert full.shape == (28, 28)
    cy, cx = RF28.centre(2), RF28.centre(4)  # 9.5, 17.5: between pixels
    ys, xs = np.mgrid[0:28, 0:28]
    total = full.sum()
    assert (full * ys).sum() / total == pytest.approx(cy, abs=1e-4)
    assert (full * xs).sum() / total == pytest.approx(cx, abs=1e-4)
    # the 2-D Gaussian density of Algorithm 1, cut to the 16×16 receptive field
    expected = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2)) / (
        2 * math.pi * sigma**2
    )
    inside = (np.abs(ys - cy) < 8) & (np.abs(xs - cx) < 8)
    np.testing.assert_allclose(full, np.where(inside, expected, 0.0), atol=1e-7)


def test_upsampling_equals_algorithm_1_and_transposed_convolution():
    rng = np.random.default_rng(0)
    low = rng.random((2, 7, 7)).astype(np.float32)
    sigma = 3.0
    fast = receptive_field_upsample(low, RF28, sigma, size=28)
    # Algorithm 1 literally: add a · G2(c, σ) for every low-resolution pixel a
    ys, xs = np.mgrid[0:28, 0:28]
    slow = np.zeros((2, 28, 28))
    for i in range(7):
        for j in range(7):
            cy, cx = RF28.centre(i), RF28.centre(j)
            g = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2)) / (
                2 * math.pi * sigma**2
            )
            g = np.where((np.abs(ys - cy) < 8) & (np.abs(xs - cx) < 8), g, 0.0)
            slow += low[:, i, j, None, None] * g
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)
    conv = receptive_field_upsample_conv(torch.from_numpy(low)[:, None], RF28, sigma, size=28)
    np.testing.assert_allclose(conv[:, 0].numpy(), fast, rtol=1e-5, atol=1e-7)
    as_tensor = receptive_field_upsample(torch.from_numpy(low), RF28, sigma, size=28)
    np.testing.assert_allclose(as_tensor.numpy(), fast, rtol=1e-5, atol=1e-7)


def test_defect_mask_and_pixel_threshold():
    normal = np.linspace(0, 1, 1000).reshape(10, 10, 10)
    threshold = pixel_threshold(normal, false_positive_rate=0.1)
    assert np.mean(normal > threshold) == pytest.approx(0.1, abs=0.01)
    mask = defect_mask(np.array([[0.1, 0.95], [0.91, 0.2]]), threshold)
    assert mask.dtype == np.uint8
    assert mask.tolist() == [[0, 1], [1, 0]]


def test_localisation_metrics_by_hand():
    from deepad.models.fcdd import localisation_metrics
    from deepad.results import ImageMaps, Scores

    maps = np.zeros((2, 4, 4), np.float32)
    maps[1, :2, :2] = 1.0  # predicted defect: top-left 2×2 of the anomalous image
    maps[1, 0, 2] = 0.8  # a false positive above the threshold
    truth = np.zeros((4, 4), np.uint8)
    truth[:2, :2] = 1
    truth[3, 3] = 1  # one missed pixel

    class Fixed:
        def explain(self, data):
            return ImageMaps(maps=maps, low_res=maps[:, ::2, ::2])

        def score(self, data):
            return Scores(score=np.array([0.0, 1.0]))

    data = Dataset(
        DataKind.IMAGE,
        [np.zeros((8, 8), np.uint8)] * 2,
        ["n", "a"],
        labels=np.array([0, 1]),
        masks=[None, np.kron(truth, np.ones((2, 2), np.uint8))],  # masks at 8×8 are resized
    )
    result = localisation_metrics(Fixed(), data, threshold=0.5)
    assert result["image AUROC"] == 1.0
    assert result["pixel precision"] == pytest.approx(4 / 5)
    assert result["pixel recall"] == pytest.approx(4 / 5)
    # 16 pixels of the anomalous image (the normal one has no mask): 5 defects, 11 normal
    positives = np.array([1.0, 1, 1, 1, 0])
    negatives = np.array([0.8] + [0.0] * 10)
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    assert result["pixel AUROC"] == pytest.approx(wins / (5 * 11))


# --------------------------------------------------------------------- loss
def test_loss_matches_hand_computation():
    phi = torch.tensor([[[0.0, 1.0], [2.0, -1.0]], [[3.0, 0.5], [-0.5, 1.0]]])
    maps = anomaly_map(phi)
    assert maps[0, 0, 1].item() == pytest.approx(math.sqrt(2) - 1)
    s0 = (0 + (math.sqrt(2) - 1) + (math.sqrt(5) - 1) + (math.sqrt(2) - 1)) / 4
    s1 = ((math.sqrt(10) - 1) + 2 * (math.sqrt(1.25) - 1) + (math.sqrt(2) - 1)) / 4
    anomalous = torch.tensor([False, True])
    expected = (s0 - math.log(1 - math.exp(-s1))) / 2
    assert fcdd_loss(maps, anomalous).item() == pytest.approx(expected, rel=1e-5)
    weight = torch.tensor([1.0, 3.0])
    weighted = (s0 - 3 * math.log(1 - math.exp(-s1))) / 2
    assert fcdd_loss(maps, anomalous, weight).item() == pytest.approx(weighted, rel=1e-5)


def test_anomaly_term_is_finite_at_zero_and_decreasing():
    values = anomaly_term(torch.tensor([0.0, 0.1, 1.0, 10.0]))
    assert torch.isfinite(values).all()
    assert (values[1:] < values[:-1]).all()
    phi = torch.zeros(1, 1, 2, 2, requires_grad=True)
    fcdd_loss(anomaly_map(phi), torch.tensor([True])).backward()
    assert torch.isfinite(phi.grad).all()


def test_pixel_loss_matches_hand_computation():
    full = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.5, 0.5], [1.0, 1.0]]])
    masks = torch.tensor([[[0, 1], [-1, 1]], [[0, 0], [0, 0]]], dtype=torch.int8)
    first = 1.0 - math.log(1 - math.exp(-3.0))  # normal pixel 1.0; defect pixels 2.0 and 4.0
    second = 0.75  # no defect pixels: only the normal term
    assert fcdd_pixel_loss(full, masks).item() == pytest.approx((first + second) / 2, rel=1e-5)


# --------------------------------------------------------------------- confetti
def test_confetti_shapes_ranges_and_masks():
    gen = torch.Generator().manual_seed(0)
    images = torch.full((16, 3, 32, 32), 128, dtype=torch.uint8)
    out, mask = confetti_noise(images, gen, max_blobs=3, size_range=(0.1, 0.3))
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert mask.shape == (16, 1, 32, 32) and set(mask.unique().tolist()) <= {0, 1}
    assert (mask.flatten(1).sum(1) > 0).all()  # every image got a blob
    assert (mask.float().mean() < 0.5).item()  # blobs are local
    untouched = (mask == 0).expand_as(out)
    assert torch.equal(out[untouched], images[untouched])
    again, mask_again = confetti_noise(
        images, torch.Generator().manual_seed(0), max_blobs=3, size_range=(0.1, 0.3)
    )
    assert torch.equal(again, out) and torch.equal(mask_again, mask)


def test_random_shift_translates_images_and_masks_together_with_zero_fill():
    from deepad.models.fcdd.anomalies import random_shift

    images = torch.zeros((64, 2, 12, 12), dtype=torch.uint8)
    images[:, :, 5, 6] = 200  # one bright pixel per image, at (5, 6)
    masks = (images[:, :1] > 0).to(torch.uint8)
    gen = torch.Generator().manual_seed(0)
    out, out_masks = random_shift(images, masks, gen, max_shift=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal((out[:, :1] > 0).to(torch.uint8), out_masks)
    offsets = set()
    for image in out:
        ((y, x),) = torch.nonzero(image[0]).tolist()
        assert abs(y - 5) <= 2 and abs(x - 6) <= 2
        assert torch.equal(image[1], image[0])  # channels move together
        offsets.add((y - 5, x - 6))
    assert len(offsets) > 10  # many of the 25 offsets occur
    # shifted out of the frame leaves zeros, never wrapped-around content
    edge = torch.zeros((8, 1, 6, 6), dtype=torch.uint8)
    edge[:, :, 0, 0] = 255
    shifted, _ = random_shift(edge, None, gen, max_shift=3)
    assert int(shifted.sum()) <= 255 * 8 and int((shifted > 0).sum()) < 8
    assert random_shift(images, masks, gen, max_shift=0)[0] is images


# --------------------------------------------------------------------- detector
def _squares(n: int, seed: int, *, bright: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(60, 100, (n, 28, 28)).astype(np.uint8)
    if bright:
        for image in images:
            y, x = rng.integers(4, 16, 2)
            image[y : y + 8, x : x + 8] = 255
    return images


def _small(**params):
    settings = {
        "epochs": 3,
        "batch_size": 32,
        "width": 0.25,
        "device": "cpu",
        "checkpoint_every": 0,
    }
    return FCDD(**{**settings, **params})


def test_detector_separates_an_obvious_anomaly_and_round_trips(tmp_path):
    detector = _small(seed=0).fit(_squares(64, 0, bright=False))
    normal = detector.decision_function(_squares(20, 1, bright=False))
    anomalous = detector.decision_function(_squares(20, 2, bright=True))
    assert anomalous.min() > normal.max()
    explanation = detector.explain(_squares(3, 2, bright=True))
    assert explanation.maps.shape == (3, 28, 28)
    assert explanation.low_res.shape == (3, 7, 7)
    assert detector.decision_scores_.shape == (64,)

    detector.save(tmp_path / "fcdd")
    loaded = Detector.load(tmp_path / "fcdd")
    again = loaded.decision_function(_squares(20, 2, bright=True))
    np.testing.assert_array_equal(again, anomalous)
    assert loaded.receptive_field_ == detector.receptive_field_
    assert loaded.sigma_ == detector.sigma_


def test_outlier_exposure_names_a_dataset_resolved_at_fit_time(tmp_path):
    registry = DatasetRegistry(tmp_path)
    oe_id = registry.add(as_dataset(_squares(32, 5, bright=True), DataKind.IMAGE)).id
    detector = _small(anomalies="outlier_exposure", oe_dataset=oe_id)
    detector.fit(_squares(32, 0, bright=False), context=RunContext(datasets=registry))
    assert np.isfinite(detector.decision_scores_).all()
    assert detector.config.oe_dataset == oe_id  # saved and recorded with the settings
    with pytest.raises(ValueError, match="outlier exposure"):
        _small(anomalies="outlier_exposure").fit(_squares(8, 0, bright=False))
    with pytest.raises(KeyError, match="missing"):
        _small(anomalies="outlier_exposure", oe_dataset="missing").fit(
            _squares(8, 0, bright=False), context=RunContext(datasets={})
        )


def test_pixel_level_training_with_masks_localises_defects():
    def with_masks(n: int, seed: int) -> Dataset:
        rng = np.random.default_rng(seed)
        images = rng.integers(60, 100, (n, 28, 28)).astype(np.uint8)
        masks = []
        for image in images:
            y, x = rng.integers(2, 20, 2)
            image[y : y + 6, x : x + 6] = 250
            mask = np.zeros((28, 28), np.uint8)
            mask[y : y + 6, x : x + 6] = 1
            masks.append(mask)
        return Dataset(
            DataKind.IMAGE,
            list(images),
            [f"a{i}" for i in range(n)],
            labels=np.ones(n, np.int8),
            masks=masks,
        )

    labeled = with_masks(8, 1)
    detector = _small(anomalies="none", pixel_loss="auto", sigma=2.0, epochs=4)
    detector.fit(_squares(48, 0, bright=False), labeled=labeled)
    test = with_masks(10, 2)
    maps = detector.explain(test).maps
    inside = np.mean([m[mask > 0].mean() for m, mask in zip(maps, test.masks, strict=True)])
    outside = np.mean([m[mask == 0].mean() for m, mask in zip(maps, test.masks, strict=True)])
    assert inside > 2 * outside


def test_width_default_is_one_everywhere_and_a_cpu_form_suggests_less():
    from deepad.config import describe
    from deepad.models.fcdd.config import CPU_WIDTH, FCDDConfig

    assert FCDDConfig().width == 1.0  # the published widths, whatever the device
    assert _small(epochs=1, width=0.5).fit(_squares(16, 0, bright=False)).network_.width == 0.5
    assert FCDDConfig.suggested_defaults("cuda") == {}
    specs = describe(FCDDConfig, suggested=FCDDConfig.suggested_defaults("cpu"))
    width = next(s for s in specs if s.name == "width")
    assert width.default == CPU_WIDTH < 1.0 and width.suggested


def test_score_and_explain_is_one_forward_pass_with_the_same_results():
    detector = _small(epochs=1).fit(_squares(32, 0, bright=False))
    probe = _squares(6, 3, bright=True)
    calls = []
    hook = detector.network_.register_forward_hook(lambda *_: calls.append(1))
    try:
        scores, explanation = detector.score_and_explain(probe)
    finally:
        hook.remove()
    assert len(calls) == 1  # one batch of 6 images, one pass of the network
    np.testing.assert_array_equal(scores.score, detector.score(probe).score)
    explained = detector.explain(probe)
    np.testing.assert_array_equal(explanation.low_res, explained.low_res)
    assert explanation.maps.shape == explained.maps.shape
    np.testing.assert_allclose(explanation.maps[4], explained.maps[4], rtol=1e-6)


def test_same_seed_gives_the_same_model():
    data, probe = _squares(32, 0, bright=False), _squares(8, 2, bright=True)
    first = _small(epochs=1, seed=3).fit(data).decision_function(probe)
    torch.manual_seed(12345)  # the global state must not matter
    again = _small(epochs=1, seed=3).fit(data).decision_function(probe)
    other = _small(epochs=1, seed=4).fit(data).decision_function(probe)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_the_train_form_offers_the_backbone_as_an_fcdd_setting():
    from deepad.config import describe

    specs = {spec.name: spec for spec in describe(FCDD.Config)}
    assert specs["backbone"].default == "auto" and not specs["backbone"].advanced
    assert set(specs["backbone"].choices) == {"auto", "none", "efficientnet_lite0"}
