"""Images that share a region: found exactly, from the pixels alone."""

from __future__ import annotations

import numpy as np
import pytest

from deepad.data import overlap
from deepad.data.overlap import block_hashes, pixel_codes, shared_regions


def test_equal_blocks_and_only_they_have_equal_hashes():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 3, (14, 15), dtype=np.uint8)  # few values: many equal blocks
    image[8:12, 9:13] = image[1:5, 2:6]
    side = 4
    hashes = block_hashes(pixel_codes(image), side)
    assert hashes.shape == (11, 12)
    blocks = {}
    for y in range(11):
        for x in range(12):
            blocks[(y, x)] = image[y : y + side, x : x + side]
    positions = list(blocks)
    for a in positions:
        for b in positions:
            same = np.array_equal(blocks[a], blocks[b])
            assert (hashes[a] == hashes[b]) == same, (a, b)


def _crops(picture: np.ndarray, corners: np.ndarray, side: int) -> list[np.ndarray]:
    return [picture[y : y + side, x : x + side].copy() for y, x in corners]


def test_overlapping_crops_of_one_picture_are_found_and_no_others():
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    side = 64
    corners = np.stack(
        [rng.integers(0, 240 - side + 1, 60), rng.integers(0, 320 - side + 1, 60)], axis=1
    )
    found = shared_regions(_crops(picture, corners, side))
    gap = np.abs(corners[:, None, :] - corners[None, :, :])
    wide = np.all(gap <= side - overlap.SIDE, axis=2)  # overlap at least SIDE × SIDE
    touching = np.all(gap < side, axis=2)  # any overlap
    for i, others in enumerate(found):
        mine = set(others.tolist())
        assert i not in mine
        assert mine >= set(np.flatnonzero(wide[i]).tolist()) - {i}
        assert mine <= set(np.flatnonzero(touching[i]).tolist())
    assert sum(len(f) for f in found) > 0


def test_copies_colour_and_size():
    rng = np.random.default_rng(2)
    colour = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    gray = colour[..., 0].copy()
    other = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    part = colour[10:40, 20:70].copy()  # a crop of another size
    found = shared_regions([colour, other, colour.copy(), gray, part])
    assert [f.tolist() for f in found] == [[2, 4], [], [0, 4], [], [0, 2]]


def test_flat_tiny_and_large_images_are_not_compared(monkeypatch):
    flat = np.full((40, 40), 7, dtype=np.uint8)
    assert [f.tolist() for f in shared_regions([flat, flat.copy()])] == [[], []]
    tiny = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert [f.tolist() for f in shared_regions([tiny, tiny.copy()])] == [[], []]
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    assert [f.tolist() for f in shared_regions([image, image.copy()])] == [[1], [0]]
    monkeypatch.setattr(overlap, "MAX_PIXELS", 1000)
    assert [f.tolist() for f in shared_regions([image, image.copy()])] == [[], []]


@pytest.mark.parametrize("n", [0, 1])
def test_sets_too_small_to_share(n):
    image = np.random.default_rng(4).integers(0, 256, (32, 32), dtype=np.uint8)
    assert [f.tolist() for f in shared_regions([image] * n)] == [[]] * n


def test_a_repeated_pattern_is_not_followed(monkeypatch):
    # two pictures of one regular texture with different middles: every corner block
    # recurs all over the other, which is no evidence of a shared region and would cost a
    # comparison of the whole overlap per place
    rng = np.random.default_rng(5)
    tile = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    pictures = []
    for seed in (6, 7):
        picture = np.tile(tile, (12, 12))
        picture[32:64, 32:64] = np.random.default_rng(seed).integers(0, 256, (32, 32))
        pictures.append(picture)
    compared = []
    original = overlap._same_over_overlap
    monkeypatch.setattr(
        overlap, "_same_over_overlap", lambda *a: compared.append(a) or original(*a)
    )
    assert [f.tolist() for f in shared_regions(pictures)] == [[], []]
    assert len(compared) == 0
    # a copy of one of them is still found (its middle makes the copy's blocks unique)
    pictures.append(pictures[0][:, 20:].copy())
    assert shared_regions(pictures)[2].tolist() == [0]
