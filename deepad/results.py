"""What detectors return: scores and explanations, as plain numpy containers.

They live apart from :mod:`deepad.models.base` (which imports the training loop and torch) so
that the dashboard, the run store and the artifact files can read and dispatch on them in a
process that never imports torch. Import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Scores:
    """Per-item scores: ``score`` is the primary one (higher = more anomalous)."""

    score: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)

    def subset(self, positions: np.ndarray) -> Scores:
        """The scores of the items at ``positions``."""
        return Scores(self.score[positions], {k: v[positions] for k, v in self.components.items()})


@dataclass
class ImageMaps:
    """Per-pixel anomaly maps, ``(n, h, w)`` float32 at the network's resolution.

    ``low_res`` keeps a method's raw low-resolution maps where it has them (FCDD), so a view
    can re-upsample them with other settings.
    """

    maps: np.ndarray
    low_res: np.ndarray | None = None


@dataclass
class TokenWeights:
    """Per-document tokens with one weight row per head: ``weights[i]`` is ``(heads, len)``."""

    tokens: list[list[str]]
    weights: list[np.ndarray]
    head_names: list[str] = field(default_factory=list)


@dataclass
class FeatureWeights:
    """Per-item relevance of each input feature (tables, sequences): ``(n, d)`` or ragged."""

    weights: list[np.ndarray]
    feature_names: list[str] | None = None


Explanation = ImageMaps | TokenWeights | FeatureWeights

EXPLANATION_KINDS: dict[type, str] = {
    ImageMaps: "image",
    TokenWeights: "tokens",
    FeatureWeights: "features",
}


def explanation_kind(explanation: object) -> str:
    """ "image", "tokens" or "features" for an explanation, "other" for anything else."""
    for cls, kind in EXPLANATION_KINDS.items():
        if isinstance(explanation, cls):
            return kind
    return "other"
