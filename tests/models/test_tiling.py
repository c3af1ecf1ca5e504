"""Pretrained-feature detectors on large images cut into tiles (``tiling`` setting)."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from deepad.data.types import DataKind, Dataset
from deepad.models import Detector
from deepad.models.embedding_knn import EmbeddingKNN
from deepad.models.patchcore import PatchCore

SIDE = 1000
DEFECT = (slice(600, 610), slice(300, 310))  # a 10-px square, rows and columns
# tiles from a 512-px canvas (3×3 of 224 px), so the test stays fast; the defect is 5 px there;
# PatchCore's image score is its largest patch distance (no re-weighting)
SETTINGS = {
    "device": "cpu",
    "tiling": "on",
    "tile_max_side": 512,
    "coreset_share": 0.1,
    "reweight": False,
}


def _photo(seed: int) -> np.ndarray:
    """A smooth random texture of 1,000 px, like a photograph's grain."""
    base = np.random.default_rng(seed).normal(128, 20, (250, 250)).astype(np.float32)
    return np.clip(cv2.resize(base, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC), 0, 255).astype(
        np.uint8
    )


@cache
def _data() -> tuple[Dataset, Dataset]:
    train = Dataset(DataKind.IMAGE, [_photo(i) for i in range(3)], ["a", "b", "c"])
    defective = _photo(10)
    defective[DEFECT] = 255
    test = Dataset(
        DataKind.IMAGE, [_photo(11), _photo(12), defective], ["n1", "n2", "d"], labels=[0, 0, 1]
    )
    return train, test


@cache
def _patchcore() -> PatchCore:
    return PatchCore(**SETTINGS).fit(_data()[0])


def test_tiled_patchcore_finds_a_10_px_defect_in_a_1000_px_image():
    detector = _patchcore()
    assert detector.tiles_ is not None and detector.tiles_.grid.count == 9
    _, test = _data()
    scores = detector.decision_function(test)
    assert scores[2] > scores[:2].max()
    maps = detector.explain(test).maps
    assert maps.shape == (3, 512, 512)  # the tiles' maps stitched onto the canvas
    row, col = np.unravel_index(np.argmax(maps[2]), maps[2].shape)
    scale = SIDE / 512  # image pixels per canvas pixel
    cell = 8 * scale  # the patch grid's stride, in image pixels: as fine as the map can be
    for at, span in ((row, DEFECT[0]), (col, DEFECT[1])):
        assert span.start - cell <= (at + 0.5) * scale < span.stop + cell
    # the image score is the largest patch distance over all its tiles, at least the
    # stitched map's largest value (where tiles overlap, the map is their mean)
    stitched = detector.infer(test).anomaly_map.amax(dim=(1, 2)).double().numpy()
    assert np.all(scores >= stitched - 1e-5) and np.any(scores > stitched + 1e-3)


def test_auto_leaves_small_images_whole():
    train, _ = _data()
    small = Dataset(DataKind.IMAGE, [cv2.resize(i, (192, 192)) for i in train.items], train.names)
    detector = PatchCore(device="cpu", coreset_share=0.1).fit(small)
    assert detector.tiles_ is None and detector.image_size_ == 192


def test_a_tiled_model_saves_and_loads_with_its_tiling(tmp_path):
    _, test = _data()
    detector = _patchcore()
    detector.save(tmp_path / "model")
    loaded = Detector.load(tmp_path / "model")
    assert loaded.tiles_ == detector.tiles_
    np.testing.assert_array_equal(loaded.decision_function(test), detector.decision_function(test))
    np.testing.assert_array_equal(loaded.explain(test).maps, detector.explain(test).maps)


def test_tiled_training_scores_leave_out_every_tile_of_the_image():
    detector = _patchcore()
    train, test = _data()
    loo = detector.decision_scores_  # each image scored without any of its own tiles' patches
    own = detector.decision_function(train)  # against the whole bank, its own patches in it
    assert np.all(loo >= own - 1e-6) and np.any(loo > own + 1e-3)
    # so the threshold comes from scores like an unseen normal image's, not from near zeros
    unseen = detector.decision_function(test)[:2]
    assert 0.5 * unseen.mean() < loo.mean() < 2.0 * unseen.mean()


def test_tiled_embedding_knn_ranks_the_defective_image_first():
    train, test = _data()
    detector = EmbeddingKNN(device="cpu", tiling="on", tile_max_side=512, k=1).fit(train)
    assert detector.tiles_ is not None and len(detector.embeddings_) == 3 * 9
    scores = detector.decision_function(test)
    assert scores[2] > scores[:2].max()


def test_a_tiled_model_is_not_exported_as_if_it_scored_whole_images(tmp_path):
    import pytest

    from deepad.export import ExportError, export_onnx

    with pytest.raises(ExportError, match="tiles"):
        export_onnx(_patchcore(), tmp_path / "model.onnx")


def test_tiled_training_scores_leave_out_every_tile_of_a_copy_too():
    train, test = _data()
    copied = Dataset(DataKind.IMAGE, [*train.items, train.items[0]], ["a", "b", "c", "a2"])
    # every patch of the copy in the bank; a 320-px canvas (2×2 tiles) keeps the test quick
    settings = {**SETTINGS, "coreset_share": 1.0, "tile_max_side": 320}
    detector = PatchCore(**settings).fit(copied)
    plain = PatchCore(**settings, duplicate_ratio=0.0).fit(copied)
    assert detector.tiles_ is not None and detector.tiles_.grid.count == 4
    unseen = detector.decision_function(test)[:2].mean()
    # with its copy's tiles in the bank, an image's patches are all found (at about 0)
    assert plain.decision_scores_[[0, 3]].max() < 0.05 * unseen
    assert detector.decision_scores_[[0, 3]].min() > 0.5 * unseen
    np.testing.assert_allclose(detector.decision_scores_[[1, 2]], plain.decision_scores_[[1, 2]])
    knn = {"device": "cpu", "tiling": "on", "tile_max_side": 320, "k": 1}
    kept = EmbeddingKNN(**knn).fit(copied).decision_scores_
    alone = EmbeddingKNN(**knn, duplicate_ratio=0.0).fit(copied).decision_scores_
    assert alone[[0, 3]].max() < 0.05 * kept[[0, 3]].min()
