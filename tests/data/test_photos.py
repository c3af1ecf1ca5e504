"""The real-photo defect suite: MVTec-AD layout, masks exactly where the defects were painted."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from deepad.data.benchmarks import photos  # noqa: E402
from deepad.data.ingest import load_images  # noqa: E402
from deepad.data.types import ANOMALOUS, NORMAL  # noqa: E402

SIZES = {"n_train": 5, "n_test_good": 3, "n_per_defect": 2, "size": 96}


def test_layout_is_read_back_as_mvtec(tmp_path):
    (folder,) = photos.build_suite(tmp_path, ["moon"], seed=3, **SIZES)
    assert sorted(p.name for p in (folder / "test").iterdir()) == sorted(["good", *photos.DEFECTS])
    assert len(list((folder / "train" / "good").glob("*.png"))) == 5
    for defect in photos.DEFECTS:
        images = sorted((folder / "test" / defect).glob("*.png"))
        masks = sorted((folder / "ground_truth" / defect).glob("*_mask.png"))
        assert len(images) == len(masks) == 2
        assert [m.name for m in masks] == [f"{i.stem}_mask.png" for i in images]
    data = load_images(folder)
    test = data.subset(np.flatnonzero([n.split("/")[0] == "test" for n in data.names]))
    assert (test.labels == ANOMALOUS).sum() == 8 and (test.labels == NORMAL).sum() == 3
    for label, mask in zip(test.labels, test.masks, strict=True):
        if label == ANOMALOUS:
            assert mask is not None and mask.any()


@pytest.mark.parametrize("defect", photos.DEFECTS)
def test_masks_cover_exactly_the_changed_pixels(defect):
    """Regenerating a test crop without its defect (same stream) shows which pixels the
    painting changed; the mask must hold them all, and be no larger than the painted shape."""
    train, test = photos.make_category("ihc", seed=1, **SIZES)
    assert all(image.shape == (96, 96) and image.dtype == np.uint8 for image in train.items)
    photo = photos.load_photo(photos.CATEGORIES["ihc"])
    split = photos.split_columns(photo.shape[1], 96)
    for index, kind in enumerate(test.classes):
        if kind != defect:
            continue
        rng = photos._rng(1, "ihc", "test", index)
        clean = photos._crop(rng, photo, (split, photo.shape[1]), 96)
        clean = np.clip(np.round(clean), 0, 255).astype(np.uint8)
        changed = np.abs(test.items[index].astype(int) - clean.astype(int)) > 2
        mask = test.masks[index].astype(bool)
        assert mask.any()
        if defect == "smudge":  # a soft edge: only its faint fringe may lie outside the mask
            assert changed[mask].mean() > 0.5
            assert (changed & ~mask).sum() < 0.5 * mask.sum()
        else:
            assert not (changed & ~mask).any()
            assert changed[mask].mean() > 0.5


def test_normal_test_crops_come_from_the_right_part_and_are_unchanged():
    train, test = photos.make_category("hubble", seed=0, **SIZES)
    assert train.labels.tolist() == [NORMAL] * 5
    photo = np.clip(np.round(photos.load_photo(photos.CATEGORIES["hubble"])), 0, 255)
    split = photos.split_columns(photo.shape[1], 96)
    for index in np.flatnonzero(test.labels == NORMAL):
        image = test.items[index]
        assert not test.masks[index].any()
        hits = [
            x
            for y in range(photo.shape[0] - 95)
            for x in range(split, photo.shape[1] - 95)
            if photo[y, x] == image[0, 0] and np.array_equal(photo[y : y + 96, x : x + 96], image)
        ]
        assert hits, "a normal test crop must be an unaltered crop of the right part"


def test_same_seed_same_suite_and_held_out_photos_refused():
    a = photos.make_category("moon", seed=5, **SIZES)[1]
    b = photos.make_category("moon", seed=5, **SIZES)[1]
    c = photos.make_category("moon", seed=6, **SIZES)[1]
    assert all(np.array_equal(x, y) for x, y in zip(a.items, b.items, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.items, c.items, strict=True))
    with pytest.raises(ValueError, match="held-out"):
        photos.load_photo("grass.png")
    with pytest.raises(ValueError, match="unknown photo category"):
        photos.make_category("brick")


@pytest.mark.parametrize("size", [64, 96, 256])
def test_defects_scale_with_the_crop_so_small_crops_hold_them(size):
    """Defect sizes are given for 192-px crops and scale with the crop's side: a 64-px suite
    can be made, and a defect covers about the same share of the crop at every side."""
    _, test = photos.make_category("moon", seed=2, n_train=2, n_test_good=1, n_per_defect=3,
                                   size=size)  # fmt: skip
    _, ref = photos.make_category("moon", seed=2, n_train=2, n_test_good=1, n_per_defect=3)
    share = [m.mean() for m, label in zip(test.masks, test.labels, strict=True) if label]
    share_ref = [m.mean() for m, label in zip(ref.masks, ref.labels, strict=True) if label]
    assert all(image.shape == (size, size) for image in test.items)
    assert all(s > 0 for s in share)
    assert np.mean(share) == pytest.approx(np.mean(share_ref), rel=0.5)


def test_training_corners_are_where_the_training_crops_were_cut():
    train, _ = photos.make_category("moon", seed=2, **SIZES)
    corners = photos.training_corners("moon", n_train=5, size=96, seed=2)
    photo = photos.load_photo(photos.CATEGORIES["moon"])
    split = photos.split_columns(photo.shape[1], 96)
    for image, (y, x) in zip(train.items, corners, strict=True):
        assert x + 96 <= split  # the left part only
        expected = np.clip(np.round(photo[y : y + 96, x : x + 96]), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(image, expected)
