"""What the detectors on pretrained features share: their common settings and checks."""

from __future__ import annotations

from collections import Counter

import numpy as np

from deepad.data.tiling import TilePlan, tile_images
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


def common_side(data: Dataset) -> int:
    """The longer side of the most common image shape (0 for no images)."""
    sides = Counter(max(np.shape(image)[:2]) for image in data.items)
    return int(sides.most_common(1)[0][0]) if sides else 0


def tiled(data: Dataset, plan: TilePlan) -> Dataset:
    """``data``'s images as their tiles (:func:`deepad.data.tiling.tile_images`): tile ``j``
    of image ``i`` is item ``i · plan.grid.count + j``."""
    tiles = tile_images(data.items, plan)
    per = plan.grid.count
    return Dataset(
        kind=data.kind,
        items=tiles,
        names=[f"{name}#tile{j}" for name in data.names for j in range(per)],
        name=data.name,
    )


def images_per_chunk(plan: TilePlan | None, tiles: int) -> int:
    """Whole images whose tiles (``tiles`` at most, at least one image) are handled at once."""
    return max(1, tiles // plan.grid.count) if plan is not None else tiles


def plan_meta(plan: TilePlan | None) -> dict | None:
    """A tiling as saved with a model (JSON)."""
    if plan is None:
        return None
    return {
        "image_side": plan.image_side,
        "canvas": plan.canvas,
        "tile": plan.grid.tile,
        "starts": list(plan.grid.starts),
    }


def plan_from_meta(meta: dict | None) -> TilePlan | None:
    from deepad.data.tiling import TileGrid

    if not meta:
        return None
    grid = TileGrid(int(meta["canvas"]), int(meta["tile"]), tuple(int(s) for s in meta["starts"]))
    if not grid.starts or grid.starts[-1] + grid.tile != grid.side or grid.starts[0] != 0:
        raise ValueError(f"a saved tiling must cover its canvas ({meta})")
    return TilePlan(int(meta["image_side"]), grid.side, grid)
