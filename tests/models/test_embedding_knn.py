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
