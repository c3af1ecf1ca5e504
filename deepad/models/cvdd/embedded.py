"""The part CVDD and its baselines share: detectors on frozen word embeddings."""

from __future__ import annotations

from deepad.data.types import Dataset
from deepad.device import select_device
from deepad.models.base import Detector
from deepad.text.config import embed_with
from deepad.text.embeddings import DocumentEmbeddings
from deepad.train.progress import RunContext


class EmbeddingDetector(Detector):
    """A text detector whose input is each document's word embeddings.

    Embedding is the slow part of fitting and of scoring; it is reported as the stage
    ``embedding`` (so a run shows "embedding 320/2000" and can be cancelled during it) and
    memoised, so :meth:`prepare` followed by ``score`` and ``explain`` embeds once.
    """


    def _embed(self, data: Dataset, context: RunContext | None = None) -> DocumentEmbeddings:
        progress = (
            None if context is None else lambda done, total: context.stage("embedding", done, total)
        )
        device = str(select_device(getattr(self.config, "device", "auto")))
        return embed_with(self.config, data.items, device=device, progress=progress)

    def _prepare(self, data: Dataset, context: RunContext) -> None:
        self._embed(data, context)
