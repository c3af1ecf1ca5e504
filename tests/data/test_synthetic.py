"""Generated defect data: seeded, exact masks, disjoint splits, readable labeled layout."""

from __future__ import annotations

import numpy as np
import pytest

from deepad.data.ingest import load_images
from deepad.data.synthetic import (
    DEFECTS,
    TEXTURES,
    defect_benchmark,
    draw_image,
    make_defect_dataset,
    write_labeled_layout,
)
from deepad.data.types import ANOMALOUS, NORMAL


@pytest.mark.parametrize("texture", TEXTURES)
def test_every_defect_has_a_local_mask_that_changes_the_image(texture):
    normal, normal_mask = draw_image(texture, size=64, seed=3, index=5)
    assert normal.shape == (64, 64, 3) and normal.dtype == np.uint8
    assert normal_mask.sum() == 0
    for defect in DEFECTS:
        image, mask = draw_image(texture, size=64, seed=3, index=5, defect=defect)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        assert 0 < mask.mean() < 0.2, defect
        # the defect is painted on the same normal image: only masked pixels may differ much
        changed = np.abs(image.astype(int) - normal.astype(int)).max(axis=-1) > 0
        assert changed[mask > 0].mean() > 0.5, defect
        assert not changed[mask == 0].any(), defect


def test_same_seed_same_images_and_splits_differ():
    a = make_defect_dataset("wood", n_normal=2, n_per_defect=1, size=32, seed=7)
    b = make_defect_dataset("wood", n_normal=2, n_per_defect=1, size=32, seed=7)
    for x, y in zip(a.items, b.items, strict=True):
        np.testing.assert_array_equal(x, y)
    other_seed = make_defect_dataset("wood", n_normal=2, size=32, seed=8)
    assert not np.array_equal(a.items[0], other_seed.items[0])
    test = make_defect_dataset("wood", n_normal=2, size=32, seed=7, split="test")
    assert not np.array_equal(a.items[0], test.items[0])


def test_dataset_labels_classes_and_masks():
    data = make_defect_dataset("grid", n_normal=3, n_per_defect=2, size=32, seed=0)
    assert len(data) == 3 + 2 * len(DEFECTS)
    assert (data.labels[:3] == NORMAL).all() and (data.labels[3:] == ANOMALOUS).all()
    assert data.classes[:3] == ["good"] * 3
    assert sorted(set(data.classes[3:])) == sorted(DEFECTS)
    assert data.has_masks and all(m.shape == (32, 32) for m in data.masks)


def test_benchmark_splits():
    bench = defect_benchmark(
        "round_part", size=32, n_train=4, n_test_normal=2, n_test_per_defect=1, seed=0
    )
    assert (bench.train.labels == NORMAL).all()
    assert (bench.labeled.labels == ANOMALOUS).all() and len(bench.labeled) == len(DEFECTS)
    assert len(bench.test) == 2 + len(DEFECTS)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="texture"):
        draw_image("marble")
    with pytest.raises(ValueError, match="defect"):
        draw_image("wood", defect="dent")


def test_labeled_layout_round_trips_through_the_image_loader(tmp_path):
    data = make_defect_dataset("fabric", n_normal=2, n_per_defect=1, size=32, seed=0)
    write_labeled_layout(data, tmp_path / "set")
    loaded = load_images(tmp_path / "set")
    assert len(loaded) == len(data)
    assert int((loaded.labels == ANOMALOUS).sum()) == len(DEFECTS)
    by_name = {n.rsplit("/", 1)[-1].rsplit(".", 1)[0]: i for i, n in enumerate(loaded.names)}
    for i, name in enumerate(data.names):
        j = by_name[name]
        np.testing.assert_array_equal(np.asarray(loaded.items[j]), data.items[i])
        if data.labels[i] == ANOMALOUS:
            np.testing.assert_array_equal(loaded.masks[j] > 0, data.masks[i] > 0)
