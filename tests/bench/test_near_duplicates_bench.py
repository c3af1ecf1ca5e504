"""The near-duplicates benchmark's measurements, on a few small photo crops."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from deepad.bench.near_duplicates import _copied, compare, overlap_oracle  # noqa: E402
from deepad.data.benchmarks.photos import make_category, training_corners  # noqa: E402


def _suite():
    return make_category("moon", size=64, n_train=12, n_test_good=6, n_per_defect=1, seed=0)


def test_copies_are_rescored_and_plain_leave_one_out_comes_first():
    train, test = _suite()
    copied = _copied(train, 2)
    assert len(copied) == 24 and copied.names[:2] == [f"{train.names[0]}#0", f"{train.names[0]}#1"]
    plain, default = compare("embedding_knn", copied, test)
    assert plain["duplicate_ratio"] == 0.0 and plain["rescored"] == ""
    assert default["rescored"] == 24  # every image had its copy as nearest neighbour
    assert default["threshold"] > plain["threshold"]
    assert default["auroc"] == plain["auroc"]  # the scores of test items are the same


def test_the_overlap_oracle_leaves_out_the_crops_that_overlap():
    train, test = _suite()
    corners = training_corners("moon", n_train=12, size=64, seed=0)
    row = overlap_oracle(train, test, corners, 64)
    gap = np.abs(corners[:, None] - corners[None])
    overlapping = int(np.sum(np.all(gap < 64, axis=2).sum(axis=1) > 1))
    assert row["rescored"] == overlapping and 0.0 <= row["fpr"] <= 1.0


def test_shared_pairs_are_counted_against_the_crops_positions():
    from deepad.bench.near_duplicates import shared_pairs

    train, _ = _suite()
    corners = training_corners("moon", n_train=12, size=64, seed=0)
    counts = shared_pairs(train, corners, 64)
    gap = np.abs(corners[:, None] - corners[None])
    assert counts["overlapping"] == int(np.sum(np.all(gap < 64, axis=2)) - 12) // 2
    # here every pair overlapping by a block or more is found, and no other
    assert counts["found"] == counts["overlap ≥ block"] > 0
    assert counts["found, not overlapping"] == 0
