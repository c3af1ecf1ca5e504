"""Embedding kNN beyond the shared contract: another kind of image, leave-one-out scores."""

from __future__ import annotations

from deepad.data.synthetic import make_defect_dataset
from deepad.data.types import DataKind, Dataset
from deepad.models.embedding_knn import EmbeddingKNN

SIDE = 64


def test_embedding_knn_flags_another_kind_of_image_and_leaves_itself_out():
    train = make_defect_dataset("fabric", n_normal=8, size=SIDE, seed=0, split="train")
    others = make_defect_dataset("grid", n_normal=3, size=SIDE, seed=0, split="test")
    normal = make_defect_dataset("fabric", n_normal=3, size=SIDE, seed=0, split="test")
    test = Dataset(
        DataKind.IMAGE, list(normal.items) + list(others.items), [str(i) for i in range(6)]
    )
    detector = EmbeddingKNN(image_size=SIDE, device="cpu", k=2).fit(train)
    scores = detector.decision_function(test)
    assert scores[3:].min() > scores[:3].max()
    assert detector.decision_scores_.min() > 0  # no training image is its own neighbour


def test_copies_in_the_training_set_are_left_out_with_the_image():
    # each training image twice: left in (duplicate_ratio 0, plain leave-one-out), its copy
    # is its nearest neighbour at distance 0, the training scores are far below unseen
    # images' and the threshold flags most of them
    import numpy as np

    base = make_defect_dataset("fabric", n_normal=20, size=SIDE, seed=0, split="train")
    items = [image for image in base.items for _ in range(2)]
    train = Dataset(DataKind.IMAGE, items, [str(i) for i in range(len(items))])
    normal = make_defect_dataset("fabric", n_normal=40, size=SIDE, seed=0, split="test")
    settings = dict(image_size=SIDE, device="cpu", k=1, contamination=0.1)
    detector = EmbeddingKNN(**settings).fit(train)
    flagged = float(np.mean(detector.decision_function(normal) > detector.threshold_))
    plain = EmbeddingKNN(**settings, duplicate_ratio=0.0).fit(train)
    before = float(np.mean(plain.decision_function(normal) > plain.threshold_))
    assert plain.decision_scores_.max() < 1e-3  # every image found its copy
    assert detector.decision_scores_.min() > 1e-3  # none did
    assert detector.threshold_source_["without_duplicates"] == len(train)
    assert flagged <= 0.25 and before >= 0.9, (flagged, before)


def test_without_near_duplicates_the_scores_are_plain_leave_one_out():
    import numpy as np

    train = make_defect_dataset("fabric", n_normal=12, size=SIDE, seed=0, split="train")
    detector = EmbeddingKNN(image_size=SIDE, device="cpu", k=2).fit(train)
    plain = EmbeddingKNN(image_size=SIDE, device="cpu", k=2, duplicate_ratio=0.0).fit(train)
    np.testing.assert_array_equal(detector.decision_scores_, plain.decision_scores_)
    assert detector.threshold_ == plain.threshold_

