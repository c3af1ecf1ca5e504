"""Tiles of large images (deepad.data.tiling): exact round trip, cover, automatic choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepad.data.summary import DataSummary
from deepad.data.tiling import (
    ALIGN,
    AUTO_FACTOR,
    TileGrid,
    plan_from_settings,
    plan_tiles,
    tile_images,
    tile_starts,
)
from deepad.data.types import DataKind


@pytest.mark.parametrize("side,tile,overlap", [(1000, 224, 32), (464, 224, 8), (1536, 224, 64)])
def test_tiles_cover_the_canvas_overlap_and_sit_on_the_grid(side, tile, overlap):
    starts = tile_starts(side, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == side
    assert all(s % ALIGN == 0 for s in starts)
    gaps = np.diff(starts)
    assert np.all(gaps > 0) and np.all(tile - gaps >= overlap - ALIGN)  # neighbours overlap


@pytest.mark.parametrize("blend", ["mean", "max"])
def test_untile_of_tile_gives_back_the_input_exactly(blend):
    grid = TileGrid.cover(1000, 224, 32)
    x = np.random.default_rng(0).standard_normal((2, 3, 1000, 1000))
    tiles = grid.tile_array(x)
    assert tiles.shape == (2 * grid.count, 3, 224, 224)
    np.testing.assert_array_equal(tiles[grid.count + 1], x[1, :, :224, grid.starts[1] :][..., :224])
    np.testing.assert_array_equal(grid.untile(tiles, blend), x)
    # torch tensors the same way, and a grid of cells every 8 px stitches as the pixels do
    cells = grid.scaled(8)
    t = torch.randn(2, 125, 125)
    assert torch.equal(cells.untile(cells.tile_array(t), blend), t)


def test_overlaps_are_averaged_or_their_largest_value_kept():
    grid = TileGrid(side=12, tile=8, starts=(0, 4))  # rows/columns 4–7 are in both tiles
    tiles = np.stack([np.full((8, 8), v, np.float64) for v in (1.0, 2.0, 3.0, 4.0)])
    mean = grid.untile(tiles, "mean")[0]
    top = grid.untile(tiles, "max")[0]
    assert mean[0, 0] == 1.0 and mean[11, 11] == 4.0
    assert mean[5, 5] == pytest.approx(2.5) and top[5, 5] == 4.0  # all four tiles
    assert mean[0, 5] == pytest.approx(1.5) and top[0, 5] == 2.0  # the top two


def test_tile_images_resizes_to_the_canvas_and_cuts_in_untile_order():
    plan = plan_tiles(1000, mode="on", tile=224, overlap=32, max_side=1536)
    image = np.random.default_rng(1).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    tiles = tile_images([image, image[..., 0]], plan)
    assert len(tiles) == 2 * plan.grid.count
    assert tiles[0].shape == (224, 224, 3) and tiles[plan.grid.count].shape == (224, 224)
    stitched = plan.grid.untile(np.stack([t[..., 0] for t in tiles[: plan.grid.count]]))
    np.testing.assert_array_equal(stitched[0], image[..., 0])


def test_auto_tiles_images_much_larger_than_the_input_and_not_small_ones():
    def plan(side, mode="auto", **kw):
        return plan_tiles(side, mode=mode, **{"tile": 224, "overlap": 32, "max_side": 1536, **kw})

    assert plan(192) is None and plan(224) is None and plan(640) is None
    assert plan(AUTO_FACTOR * 224 - 1) is None
    large = plan(1000)
    assert large is not None and large.canvas == 1000 and large.grid.per_side == 6
    assert large.describe() == "1,000 px images → tiled into 6×6 tiles of 224 px"
    huge = plan(4000)  # resized to the largest canvas first: time and memory stay bounded
    assert huge.canvas == 1536 and huge.grid.per_side == 8
    assert "resized to 1,536 px and tiled into 8×8" in huge.describe()
    assert plan(4000, mode="off") is None
    assert plan(600, mode="on").grid.per_side == 3  # asked for: tiled although not large
    assert plan(200, mode="on") is None  # no larger than one tile
    with pytest.raises(ValueError, match="tiling"):
        plan(1000, mode="sometimes")


def test_the_config_and_its_json_form_give_the_same_plan():
    from deepad.models.patchcore import PatchCoreConfig

    config = PatchCoreConfig(tile_overlap=48, tile_max_side=1200)
    settings = {"tiling": "auto", "tile_overlap": 48, "tile_max_side": 1200, "image_size": None}
    assert config.tile_plan(3000) == plan_from_settings(settings, 3000)
    assert config.tile_plan(3000).canvas == 1200
    assert PatchCoreConfig(image_size=160).tile_plan(1000).tile == 160  # tiles at the input size
    assert plan_from_settings({"epochs": 3}, 3000) is None  # a method without tiling


def test_training_estimate_counts_every_tile(monkeypatch):
    from deepad.models import cost

    item = cost.ItemCost(seconds=0.05, side=224, gflops=10.0, pretrained=True, pair_seconds=1e-4)
    monkeypatch.setitem(cost.CPU_COSTS, "patchcore", item)
    photos = DataSummary(kind=DataKind.IMAGE, count=20, side=1000, channels=1)

    def estimate(**settings):
        return cost.estimate_fit_seconds("patchcore", settings, photos, device_type="cpu", speed=10)

    # resized: each image once at 224 px; tiled: each of its 6×6 tiles of 224 px, and the
    # bank search over pairs of them
    assert estimate(tiling="off") == pytest.approx(20 * 0.05 + 20**2 * 1e-4)
    assert estimate(tiling="auto") == pytest.approx(720 * 0.05 + 720**2 * 1e-4)
    assert estimate(tiling="auto", tile_max_side=416) == pytest.approx(
        80 * 0.05 + 80**2 * 1e-4  # a 416-px canvas: 2×2 tiles per image
    )
