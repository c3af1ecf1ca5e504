import json

import numpy as np
import pytest

from deepad.models import FeatureWeights, ImageMaps, TokenWeights
from deepad.runs.artifacts import load_explanations, read_manifest, write_explanations


def _maps(positions):
    positions = np.asarray(positions)
    maps = np.stack([np.full((4, 6), float(p)) for p in positions]).astype(np.float32)
    return ImageMaps(maps=maps, low_res=maps[:, ::2, ::2] * 2)


def test_image_maps_are_written_in_chunks_as_float16(tmp_path):
    calls = []

    def explain(positions):
        calls.append(len(positions))
        return _maps(positions)

    manifest = write_explanations(tmp_path, explain, np.arange(10), chunk=4)
    assert calls == [4, 4, 2]
    assert manifest == read_manifest(tmp_path)
    assert manifest["type"] == "image" and manifest["count"] == 10 and not manifest["partial"]
    index, loaded = load_explanations(tmp_path)
    np.testing.assert_array_equal(index, np.arange(10))
    assert loaded.maps.dtype == np.float16 and loaded.maps.shape == (10, 4, 6)
    np.testing.assert_array_equal(loaded.maps[:, 0, 0], np.arange(10))
    np.testing.assert_array_equal(loaded.low_res[:, 0, 0], 2 * np.arange(10))


def test_over_budget_keeps_the_top_scored_items(tmp_path):
    scores = np.array([0.1, 5.0, 0.2, 4.0, 3.0, 0.0])
    per_item = 4 * 6 * 2 + 2 * 3 * 2
    manifest = write_explanations(
        tmp_path, _maps, np.arange(6), scores=scores, budget_bytes=3 * per_item
    )
    assert manifest["partial"] and manifest["count"] == 3
    index, loaded = load_explanations(tmp_path)
    np.testing.assert_array_equal(index, [1, 3, 4])
    np.testing.assert_array_equal(loaded.maps[:, 0, 0], [1, 3, 4])  # each map is its item's


def test_large_values_saturate_instead_of_becoming_inf(tmp_path):
    def explain(positions):
        return ImageMaps(maps=np.full((len(positions), 2, 2), 1e9, dtype=np.float32))

    write_explanations(tmp_path, explain, np.arange(2))
    _, loaded = load_explanations(tmp_path)
    assert np.all(np.isfinite(loaded.maps)) and loaded.maps.max() == np.float16(65504)


def test_token_weights_round_trip_as_json(tmp_path):
    def explain(positions):
        return TokenWeights(
            tokens=[["a", "b", "c"][: 1 + p % 3] for p in positions],
            weights=[np.full((2, 1 + p % 3), p / 3) for p in positions],
            head_names=["context 1", "context 2"],
        )

    write_explanations(tmp_path, explain, np.arange(5), chunk=2)
    assert json.loads((tmp_path / "tokens.json").read_text())["head_names"][1] == "context 2"
    _, loaded = load_explanations(tmp_path)
    assert loaded.tokens[4] == ["a", "b"] and loaded.weights[4].shape == (2, 2)
    np.testing.assert_allclose(loaded.weights[1], 1 / 3, rtol=1e-4)


@pytest.mark.parametrize("ragged", [False, True])
def test_feature_weights_round_trip(tmp_path, ragged):
    def explain(positions):
        rows = [np.arange(3 + (p % 2 if ragged else 0), dtype=np.float32) * p for p in positions]
        return FeatureWeights(weights=rows, feature_names=None if ragged else ["x", "y", "z"])

    manifest = write_explanations(tmp_path, explain, np.arange(4), chunk=3)
    assert manifest["ragged"] == ragged
    _, loaded = load_explanations(tmp_path)
    np.testing.assert_allclose(loaded.weights[3], np.arange(3 + (1 if ragged else 0)) * 3)
    assert loaded.feature_names == (None if ragged else ["x", "y", "z"])


def test_nothing_written_means_none(tmp_path):
    assert load_explanations(tmp_path) is None
    with pytest.raises(ValueError):
        write_explanations(tmp_path, _maps, np.arange(0))


def test_maps_that_follow_from_low_res_are_stored_as_low_res_only(tmp_path):
    from deepad.models.fcdd.upsample import receptive_field_upsample
    from deepad.receptive_field import ReceptiveField

    rf = ReceptiveField(size=6, jump=2, start=0.5)
    upsampling = {"receptive_field": rf.to_json(), "sigma": 1.5, "image_size": 8}
    low = np.random.default_rng(0).random((5, 4, 4)).astype(np.float32)

    def explain(positions):
        part = low[positions]
        return ImageMaps(maps=receptive_field_upsample(part, rf, 1.5, size=8), low_res=part)

    manifest = write_explanations(tmp_path, explain, np.arange(5), upsampling=upsampling)
    assert manifest["upsample"] == upsampling and manifest["shape"] == [8, 8]
    assert not (tmp_path / "maps.npy").exists()
    _, loaded = load_explanations(tmp_path)
    assert len(loaded.maps) == 5 and loaded.maps.shape == (5, 8, 8)
    stored = loaded.low_res.astype(np.float32)  # float16 on disk
    np.testing.assert_allclose(
        loaded.maps[3], receptive_field_upsample(stored[3], rf, 1.5, size=8), rtol=1e-6
    )
    assert len(list(loaded.maps)) == 5
