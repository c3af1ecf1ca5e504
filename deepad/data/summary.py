"""A small description of a registered dataset, read from its manifest (no items loaded, no
torch), from which method forms derive their starting settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepad.data.types import DataKind


@dataclass(frozen=True)
class DataSummary:
    """What a form needs to know about the training set to suggest settings for it.

    ``side`` is the longer side of the most common image shape and ``channels`` its channel
    count (3 for RGB, 1 for grey); ``features`` is the number of table columns (or sequence
    features); ``anomalous`` counts items labeled anomalous."""

    kind: DataKind
    count: int
    side: int | None = None
    channels: int | None = None
    features: int | None = None
    anomalous: int = 0
    columns: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> DataSummary:
        kind = DataKind(manifest["kind"])
        shapes = [tuple(s.get("shape", ())) for s in manifest.get("shapes") or []]
        common = shapes[0] if shapes else ()
        side = channels = features = None
        if kind == DataKind.IMAGE and len(common) >= 2:
            side = int(max(common[:2]))
            channels = int(common[2]) if len(common) == 3 else 1
        elif kind in (DataKind.TABLE, DataKind.SEQUENCE) and common:
            features = int(common[-1])
        counts = manifest.get("counts") or {}
        return cls(
            kind=kind,
            count=int(manifest.get("count", 0)),
            side=side,
            channels=channels,
            features=features,
            anomalous=int(counts.get("anomalous", 0) or 0),
            columns=tuple(manifest.get("columns") or ()),
        )

    def describe(self) -> str:
        """One phrase for a page: "256×256 RGB images, 209 items"."""
        if self.kind == DataKind.IMAGE and self.side:
            colour = "RGB" if self.channels == 3 else "grey"
            return f"{self.side}×{self.side} {colour} images, {self.count:,} items"
        if self.features:
            return f"{self.count:,} {self.kind.value} items with {self.features} features"
        return f"{self.count:,} {self.kind.value} items"


def suggested_image_size(
    data: DataSummary | None, device_type: str, *, cpu_cap: int, cap: int, high: int = 512
) -> int | None:
    """The image size a form should start from for ``data`` (None for data that is not
    images): :func:`nearest_image_size` with a smaller ``cpu_cap`` on a CPU."""
    if data is None or data.kind != DataKind.IMAGE or not data.side:
        return None
    return nearest_image_size(data.side, cap=cpu_cap if device_type == "cpu" else cap, high=high)


def nearest_image_size(side: int, *, low: int = 8, high: int = 512, cap: int = 256) -> int:
    """An image size near ``side`` that networks train on in reasonable time: the data's own
    side up to ``cap`` (larger images are halved until they fit), within ``low`` … ``high``."""
    size = int(side)
    while size > cap:
        size //= 2
    return max(low, min(high, size))
