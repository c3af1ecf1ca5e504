"""Scoring a large set in chunks, so memory stays bounded whatever its size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deepad.data.types import Dataset

# Items per chunk: per-item intermediate results (e.g. an autoencoder's per-pixel errors)
# exist for one chunk at a time.
SCORE_CHUNK = 2048


def score_in_chunks(
    detector: Any,
    data: Dataset,
    *,
    chunk: int = SCORE_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """``detector.score(data)``; a set larger than ``chunk`` is scored in chunks, with
    ``progress(done, total)`` after each."""
    if len(data) <= chunk:
        return detector.score(data)
    parts = []
    for start in range(0, len(data), chunk):
        part = data.subset(np.arange(start, min(start + chunk, len(data))))
        parts.append(detector.score(part))
        if progress is not None:
            progress(start + len(part), len(data))
    return concatenate_scores(parts)


def concatenate_scores(parts: list[Any]) -> Any:
    """The scores of consecutive chunks as one ``Scores``."""
    from deepad.models import Scores

    return Scores(
        score=np.concatenate([p.score for p in parts]),
        components={
            k: np.concatenate([p.components[k] for p in parts]) for k in parts[0].components
        },
    )
