"""PatchCore beyond the shared contract: coreset, localisation, persistence, chunking."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch

from deepad.data.synthetic import make_defect_dataset
from deepad.data.types import DataKind, Dataset
from deepad.models import Detector
from deepad.models.patchcore import KCenterGreedy, PatchCore

SIDE = 64
SQUARE = (slice(36, 50), slice(12, 26))  # rows, columns of the pasted defect


def test_k_centre_picks_the_far_point():
    rng = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(99, 4, generator=rng) * 0.1, torch.full((1, 4), 10.0)])
    chosen = KCenterGreedy(share=0.02, projection_dim=0, seed=3).select(points)
    assert len(chosen) == 2 and 99 in chosen.tolist()
    # with a projection and in blocks the far point is still found, reproducibly
    blocked = KCenterGreedy(share=0.05, projection_dim=2, block_size=50, seed=1)
    assert 99 in blocked.select(points).tolist()
    assert torch.equal(blocked.select(points), blocked.select(points))


def test_k_centre_keeps_everything_at_share_one():
    assert KCenterGreedy(share=1.0).select(torch.zeros(5, 3)).tolist() == [0, 1, 2, 3, 4]


@cache
def _defects() -> tuple[Dataset, Dataset]:
    train = make_defect_dataset("fabric", n_normal=8, size=SIDE, seed=0, split="train")
    normal = make_defect_dataset("fabric", n_normal=3, size=SIDE, seed=0, split="test")
    pasted = []
    for image in normal.items:
        image = image.copy()
        image[SQUARE] = 255 - image[SQUARE] // 4  # a bright square
        pasted.append(image)
    items = list(normal.items) + pasted
    test = Dataset(
        DataKind.IMAGE, items, [str(i) for i in range(6)], labels=np.r_[0, 0, 0, 1, 1, 1]
    )
    return train.subset(np.arange(8)), test


@cache
def _fitted() -> PatchCore:
    train, _ = _defects()
    return PatchCore(image_size=SIDE, device="cpu", coreset_share=0.25).fit(train)


def test_memory_bank_separates_a_pasted_square_and_the_map_peaks_on_it():
    _, test = _defects()
    detector = _fitted()
    scores = detector.decision_function(test)
    assert scores[3:].min() > scores[:3].max()
    maps = detector.explain(test).maps
    assert maps.shape == (6, SIDE, SIDE)
    for amap in maps[3:]:
        row, col = np.unravel_index(np.argmax(amap), amap.shape)
        assert SQUARE[0].start - 4 <= row < SQUARE[0].stop + 4
        assert SQUARE[1].start - 4 <= col < SQUARE[1].stop + 4


def test_patchcore_round_trip_keeps_scores_and_maps(tmp_path):
    _, test = _defects()
    detector = _fitted()
    detector.save(tmp_path / "model")
    loaded = Detector.load(tmp_path / "model")
    assert len(loaded.model_.memory_bank) == len(detector.model_.memory_bank)
    np.testing.assert_array_equal(loaded.decision_function(test), detector.decision_function(test))
    np.testing.assert_array_equal(loaded.explain(test).maps, detector.explain(test).maps)


def test_reweighting_keeps_the_ranking_of_an_obvious_defect():
    train, test = _defects()
    detector = PatchCore(image_size=SIDE, device="cpu", coreset_share=0.25, reweight=True)
    scores = detector.fit(train).score(test)
    assert scores.score[3:].min() > scores.score[:3].max()
    assert np.all(scores.score <= scores.components["max_patch"])


def test_settings_parse_from_text_as_the_form_and_command_line_give_them():
    from deepad.config import with_overrides
    from deepad.models.patchcore import PatchCoreConfig

    config = with_overrides(PatchCoreConfig(), {"stages": "s4, s8", "coreset_share": "0.05"})
    assert config.stages == "s4, s8" and config.coreset_share == 0.05
    train, _ = _defects()
    with np.testing.assert_raises(ValueError):
        PatchCore(stages="s8,head", image_size=SIDE, device="cpu").fit(train)


def test_scoring_in_chunks_gives_the_same_result_and_reports_progress(monkeypatch):
    import deepad.models.patchcore.detector as module
    from deepad.train.progress import RunContext

    _, test = _defects()
    detector = _fitted()
    whole = detector._infer(test, None)
    monkeypatch.setattr(module, "IMAGES_PER_CHUNK", 4)
    seen: list[tuple[int, int]] = []
    context = RunContext(on_stage=lambda what, done, total: seen.append((done, total)))
    chunked = detector._infer(test, context)
    torch.testing.assert_close(chunked.pred_score, whole.pred_score)
    torch.testing.assert_close(chunked.anomaly_map, whole.anomaly_map)
    assert seen[-1] == (len(test), len(test)) and len(seen) >= 2


def test_default_threshold_flags_about_contamination_of_unseen_normal_images():
    # scored against a bank holding their own patches, every training image scored near 0
    # and the threshold flagged nearly every unseen normal image
    train = make_defect_dataset("fabric", n_normal=24, size=SIDE, seed=0, split="train")
    normal = make_defect_dataset("fabric", n_normal=40, size=SIDE, seed=0, split="test")
    # a bank of 10 % of the patches, so that many of a training image's own patches are in it
    detector = PatchCore(image_size=SIDE, device="cpu", contamination=0.1, coreset_share=0.1).fit(
        train
    )
    scores = detector.decision_function(normal)
    flagged = float(np.mean(scores > detector.threshold_))
    assert flagged <= 0.3, flagged
    own = detector.model_(next(detector._embeddings(train))[0]).pred_score.numpy()
    before = float(np.mean(scores > np.quantile(own, 0.9)))  # the threshold from own patches
    assert before >= 0.6, before


def test_a_second_fit_and_score_read_the_features_from_disk(monkeypatch, tmp_path):
    """As a second process would: the memory cache is empty, the backbone never runs, and the
    bank and scores are the first run's."""
    from deepad.disk_cache import DiskCache
    from deepad.features import FEATURE_CACHE, using_disk_cache
    from deepad.features import extract as extract_module

    train, test = _defects()
    config = PatchCore.Config(image_size=SIDE, coreset_share=0.5, device="cpu")
    with using_disk_cache(DiskCache(tmp_path, max_bytes=2**30)) as disk:
        FEATURE_CACHE.clear()
        first = PatchCore(config=config).fit(train)
        first_scores = first.decision_function(test)
        assert len(disk.entries()) == 2  # the training and the test images

        def no_backbone(*args, **kwargs):
            raise AssertionError("the backbone ran although the features were on disk")

        monkeypatch.setattr(extract_module, "_forward", no_backbone)
        FEATURE_CACHE.clear()
        second = PatchCore(config=config).fit(train)
        assert torch.equal(first.model_.memory_bank, second.model_.memory_bank)
        np.testing.assert_array_equal(second.decision_function(test), first_scores)


def test_local_average_border_modes_and_per_stage_pooling():
    from deepad.features import pretrained_backbone
    from deepad.models.patchcore import patch_embeddings

    geometry = pretrained_backbone().geometry(64)
    features = {"s8": torch.ones(1, 2, 8, 8), "s16": torch.ones(1, 3, 4, 4)}
    inside, _ = patch_embeddings(features, geometry, ("s8", "s16"), 3, border="inside")
    torch.testing.assert_close(inside, torch.ones(1, 5, 8, 8))  # the mean of ones is one
    zeros, _ = patch_embeddings(features, geometry, ("s8", "s16"), 3, border="zeros")
    # corner windows hold 4 of 9 cells inside the grid, edges 6, the interior all 9
    assert zeros[0, 0, 0, 0] == pytest.approx(4 / 9) and zeros[0, 0, 0, 3] == pytest.approx(6 / 9)
    assert zeros[0, :, 1:-1, 1:-1].eq(1).all()
    # each stage pooled on its own grid: the coarse stage's border cells shrink on its 4×4
    # grid (4/9 at its corner cell) and are then interpolated onto the fine grid
    each, _ = patch_embeddings(
        features, geometry, ("s8", "s16"), 3, border="zeros", each_stage=True
    )
    torch.testing.assert_close(each[:, :2], zeros[:, :2])
    assert each[0, 2, 0, 0] == pytest.approx(4 / 9)
    assert each[0, 2, 3:5, 3:5].eq(1).all()
    with pytest.raises(ValueError, match="border"):
        patch_embeddings(features, geometry, ("s8",), 3, border="reflect")


def test_smoothed_map_score_is_the_peak_of_the_explained_map():
    train, test = _defects()
    detector = PatchCore(
        image_size=SIDE, device="cpu", coreset_share=0.25, image_score="smoothed_map", reweight=False
    ).fit(train)
    scores = detector.decision_function(test)
    maps = detector.explain(test).maps
    np.testing.assert_allclose(scores, maps.reshape(len(maps), -1).max(axis=1), rtol=1e-5)
    assert scores[3:].min() > scores[:3].max()
    # the threshold comes from leave-one-out training scores of the same kind: below the
    # peaks of the pasted squares
    assert detector.threshold_ < scores[3:].min()


def test_nearest_map_matches_resizing_then_a_mirrored_gaussian_blur():
    """``upsample="nearest"``: the map equals nearest resizing of the patch scores followed
    by a 2-D Gaussian convolution over a mirror-padded map (the reference computed here with
    torch's own ops), including at the borders."""
    from torch.nn import functional as F

    from deepad.models.patchcore import AnomalyMapGenerator

    sigma, side = 4.0, 64
    low = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    grid = _fitted().grid_
    got = AnomalyMapGenerator(sigma=sigma, upsample="nearest")(low, grid, side)
    radius = int(4 * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).float()
    up = F.interpolate(low[:, None], size=(side, side), mode="nearest")
    padded = F.pad(up, (radius,) * 4, mode="reflect")
    want = F.conv2d(padded, (kernel[:, None] * kernel[None, :])[None, None])[:, 0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # a constant grid stays constant: the mirrored borders keep their level
    flat = AnomalyMapGenerator(sigma=sigma, upsample="nearest")(torch.ones(1, 8, 8), grid, side)
    torch.testing.assert_close(flat, torch.ones(1, side, side))
    with pytest.raises(ValueError, match="upsample"):
        AnomalyMapGenerator(upsample="bicubic")


def test_nearest_maps_localise_and_the_smoothed_score_follows_them():
    train, test = _defects()
    detector = PatchCore(
        image_size=SIDE,
        device="cpu",
        coreset_share=0.25,
        upsample="nearest",
        image_score="smoothed_map",
        reweight=False,  # the score is then the map's peak itself
    ).fit(train)
    scores = detector.decision_function(test)
    maps = detector.explain(test).maps
    np.testing.assert_allclose(scores, maps.reshape(len(maps), -1).max(axis=1), rtol=1e-5)
    for amap in maps[3:]:
        row, col = np.unravel_index(np.argmax(amap), amap.shape)
        assert SQUARE[0].start - 4 <= row < SQUARE[0].stop + 4
        assert SQUARE[1].start - 4 <= col < SQUARE[1].stop + 4


def test_default_map_peaks_within_two_pixels_of_a_small_defect():
    """Geometry end to end at the defaults: a 7-pixel bright square on a noise texture, at
    six places (cell centres and between them), gives the explained map's largest value within
    2 pixels of the square's centre on both axes."""
    side = 96
    rng = np.random.default_rng(0)

    def noise() -> np.ndarray:
        return (128 + rng.normal(0, 12, (side, side))).clip(0, 255).astype(np.uint8)

    train = Dataset(DataKind.IMAGE, [noise() for _ in range(8)], [str(i) for i in range(8)])
    centres = [(39, 55), (47, 31), (55, 63), (31, 39), (40, 56), (43, 43)]
    items = []
    for row, col in centres:
        image = noise()
        image[row - 3 : row + 4, col - 3 : col + 4] = 250
        items.append(image)
    test = Dataset(DataKind.IMAGE, items, [str(i) for i in range(len(items))])
    maps = PatchCore(image_size=side, device="cpu", coreset_share=0.25).fit(train).explain(test)
    for amap, (row, col) in zip(maps.maps, centres, strict=True):
        peak = np.unravel_index(np.argmax(amap), amap.shape)
        assert abs(peak[0] - row) <= 2 and abs(peak[1] - col) <= 2, (peak, (row, col))


def test_bilinear_stage_alignment_is_torch_interpolation():
    from torch.nn import functional as F

    from deepad.features import pretrained_backbone
    from deepad.models.patchcore import patch_embeddings

    geometry = pretrained_backbone().geometry(64)
    g = torch.Generator().manual_seed(0)
    features = {
        "s8": torch.rand(2, 2, 8, 8, generator=g),
        "s16": torch.rand(2, 3, 4, 4, generator=g),
    }
    got, _ = patch_embeddings(
        features, geometry, ("s8", "s16"), 3, border="zeros", each_stage=True, align="bilinear"
    )
    pooled = F.avg_pool2d(features["s16"], 3, 1, 1)  # zeros counted, as anomalib's pooler
    want = F.interpolate(pooled, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(got[:, 2:], want)
    torch.testing.assert_close(got[:, :2], F.avg_pool2d(features["s8"], 3, 1, 1))
    with pytest.raises(ValueError, match="align"):
        patch_embeddings(features, geometry, ("s8", "s16"), 3, align="bicubic")


def test_bilinear_map_matches_torch_bilinear_resizing_then_a_mirrored_gaussian_blur():
    from torch.nn import functional as F

    from deepad.models.patchcore import AnomalyMapGenerator

    sigma, side = 4.0, 64
    low = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    grid = _fitted().grid_
    got = AnomalyMapGenerator(sigma=sigma, upsample="bilinear")(low, grid, side)
    radius = int(4 * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).float()
    up = F.interpolate(low[:, None], size=(side, side), mode="bilinear", align_corners=False)
    padded = F.pad(up, (radius,) * 4, mode="reflect")
    want = F.conv2d(padded, (kernel[:, None] * kernel[None, :])[None, None])[:, 0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    unsmoothed = AnomalyMapGenerator(sigma=0.0, upsample="bilinear")(low, grid, side)
    torch.testing.assert_close(unsmoothed, up[:, 0], atol=1e-6, rtol=1e-6)


def _copied(data: Dataset, times: int) -> Dataset:
    items = [image for image in data.items for _ in range(times)]
    return Dataset(DataKind.IMAGE, items, [str(i) for i in range(len(items))])


def test_copies_in_the_training_set_are_left_out_with_the_image():
    # every training image three times (a burst of shots): left in (duplicate_ratio 0, plain
    # leave-one-out), a copy finds each patch at distance 0 and the threshold flags most
    # unseen normal images
    train = _copied(make_defect_dataset("fabric", n_normal=16, size=SIDE, seed=0), 3)
    normal = make_defect_dataset("fabric", n_normal=40, size=SIDE, seed=0, split="test")
    # every patch in the bank, so the copies' patches are there (a small coreset keeps one
    # of identical patches and hides part of the effect)
    settings = dict(image_size=SIDE, device="cpu", contamination=0.1, coreset_share=1.0)
    detector = PatchCore(**settings).fit(train)
    flagged = float(np.mean(detector.decision_function(normal) > detector.threshold_))
    plain = PatchCore(**settings, duplicate_ratio=0.0).fit(train)
    before = float(np.mean(plain.decision_function(normal) > plain.threshold_))
    assert flagged <= 0.25 and before >= 0.5, (flagged, before)
    assert detector.threshold_source_["without_duplicates"] == len(train)  # Inspect says so
    assert "without_duplicates" not in plain.threshold_source_
    # the threshold moved, the scores of new images did not
    np.testing.assert_array_equal(
        detector.decision_function(normal), plain.decision_function(normal)
    )


def test_without_near_duplicates_the_threshold_is_plain_leave_one_out():
    from deepad.features.neighbours import near_duplicates

    train = make_defect_dataset("fabric", n_normal=24, size=SIDE, seed=0, split="train")
    settings = dict(image_size=SIDE, device="cpu", contamination=0.1, coreset_share=0.1)
    detector = PatchCore(**settings).fit(train)
    means = next(detector._embeddings(train))[0].flatten(2).mean(dim=2)  # as fit describes them
    assert all(len(f) == 0 for f in near_duplicates(means, detector.config.duplicate_ratio))
    plain = PatchCore(**settings, duplicate_ratio=0.0).fit(train)
    np.testing.assert_array_equal(detector.decision_scores_, plain.decision_scores_)
    assert detector.threshold_ == plain.threshold_


def overlapping_crops(n: int, side: int, seed: int = 0) -> Dataset:
    """``n`` crops of one textured picture, each overlapping others (as cut from one photo)."""
    picture = make_defect_dataset("fabric", n_normal=1, size=3 * side, seed=seed).items[0]
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2 * side + 1, (n, 2))
    items = [picture[y : y + side, x : x + side].copy() for y, x in corners]
    return Dataset(DataKind.IMAGE, items, [f"crop{i}" for i in range(n)])


@pytest.mark.parametrize(
    "method, settings",
    # PatchCore's score as the largest patch distance (the re-weighting factor is not
    # monotonic in the bank)
    [("patchcore", {"coreset_share": 1.0, "reweight": False}), ("embedding_knn", {"k": 2})],
)
def test_crops_sharing_a_region_are_left_out_with_the_image(method, settings):
    # crops of one picture overlap: left in, the shared pixels stand in for the crop's own
    from deepad.models import get_method

    train = overlapping_crops(20, SIDE)
    settings = dict(image_size=SIDE, device="cpu", contamination=0.1, **settings)
    detector = get_method(method)(**settings).fit(train)
    plain = get_method(method)(**settings, duplicate_ratio=0.0).fit(train)
    assert detector.threshold_source_["without_duplicates"] == len(train)
    # fewer bank entries to choose from: no score falls (beyond float rounding of the
    # distances computed again), many rise, and the threshold with them
    assert np.all(detector.decision_scores_ >= plain.decision_scores_ - 1e-5)
    assert np.mean(detector.decision_scores_ > plain.decision_scores_ + 1e-5) >= 0.25
    assert detector.threshold_ > plain.threshold_
