"""What the detectors on pretrained features share: their common settings and checks."""

from __future__ import annotations

import numpy as np

from deepad.data.types import ANOMALOUS, Dataset
from deepad.features.backbone import STAGE_CHANNELS
from deepad.features.extract import input_side
from deepad.models.config import PretrainedConfig  # defined torch-free; imported from here too


def stage_list(stages: str) -> tuple[str, ...]:
    """``"s8,s16"`` as ``("s8", "s16")``."""
    return tuple(s.strip() for s in stages.split(",") if s.strip())


def training_images(
    train: Dataset, config: PretrainedConfig, stages: tuple[str, ...], *, title: str, maps: bool
) -> tuple[Dataset, int]:
    """The training images a memory of normality holds (those not labeled anomalous) and the
    side they are resized to; raises unless ``stages`` names backbone stages (``head`` is
    allowed only without ``maps``, as it has no finer grid than ``s32``)."""
    known = [s for s in STAGE_CHANNELS if not maps or s != "head"]
    unknown = [s for s in stages if s not in known]
    if not stages or unknown:
        raise ValueError(f"stages must be some of {', '.join(known)}, not {unknown or 'none'}")
    if train.labels is not None and np.any(train.labels == ANOMALOUS):
        train = train.subset(np.flatnonzero(train.labels != ANOMALOUS))
    if len(train) == 0:
        raise ValueError(f"{title} needs normal (or unlabeled) training images")
    return train, config.image_size or input_side(train)
