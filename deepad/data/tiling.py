"""Overlapping square tiles of large images, and maps stitched back from them (no torch: the
Train page shows the plan).

A photograph of 1,000–4,000 px resized to a backbone's 224 px input shrinks a 10-px scratch to
a pixel or two. Tiled, the image is resized only to a *canvas* (its own side, or at most
``max_side``), cut into ``tile``-px squares that overlap by at least ``overlap`` px, and each
square goes through the backbone at its native scale. Maps of the tiles are put back where
their tiles came from; where tiles overlap, their values are averaged (``"mean"``) or the
largest is kept (``"max"``).

Tile starts are multiples of ``align`` px (the stride of the finest feature grid), so a map
of cells every ``align`` px stitches exactly as the pixels do (:meth:`TileGrid.scaled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TILING_MODES = ("auto", "off", "on")
BLENDS = ("mean", "max")
#: ``auto`` tiles images whose side is at least this many times the model's input.
AUTO_FACTOR = 4
#: tile starts (and the canvas side) are multiples of this: the finest patch grid's stride
ALIGN = 8
#: a tile's side unless set: the backbone's (ImageNet's) input
DEFAULT_TILE = 224


def tile_starts(side: int, tile: int, overlap: int, align: int = ALIGN) -> tuple[int, ...]:
    """Starts of tiles of ``tile`` px covering ``0 … side`` with neighbours overlapping by at
    least ``overlap`` px (at least ``align``), spread evenly, the last one ending at ``side``;
    ``side`` and ``tile`` must be multiples of ``align``."""
    if side % align or tile % align:
        raise ValueError(f"side ({side}) and tile ({tile}) must be multiples of {align}")
    if tile <= 0:
        raise ValueError(f"tile must be positive, not {tile}")
    if side <= tile:
        return (0,)
    overlap = min(max(overlap, align), tile - align)
    count = math.ceil((side - overlap) / (tile - overlap))
    count = max(count, 2)
    last = side - tile
    # rounding each even position to the grid moves it by at most align / 2, so neighbours
    # still overlap by at least overlap - align >= 0 px (every pixel stays covered)
    return tuple(int(round(i * last / (count - 1) / align)) * align for i in range(count))


@dataclass(frozen=True)
class TileGrid:
    """Square tiles of ``tile`` px at ``starts`` (along both axes) of a ``side``-px canvas."""

    side: int
    tile: int
    starts: tuple[int, ...]

    @classmethod
    def cover(cls, side: int, tile: int, overlap: int, align: int = ALIGN) -> TileGrid:
        return cls(side, tile, tile_starts(side, tile, overlap, align))

    @property
    def per_side(self) -> int:
        return len(self.starts)

    @property
    def count(self) -> int:
        """Tiles per image."""
        return len(self.starts) ** 2

    def scaled(self, factor: int) -> TileGrid:
        """The same tiling of a map with one cell every ``factor`` px of the canvas."""
        if self.side % factor or self.tile % factor or any(s % factor for s in self.starts):
            raise ValueError(f"this tiling is not on a grid of {factor} px")
        return TileGrid(
            self.side // factor, self.tile // factor, tuple(s // factor for s in self.starts)
        )

    def tile_array(self, x: Any) -> Any:
        """``(n, …, side, side)`` (numpy or torch) → ``(n · count, …, tile, tile)``, each
        image's tiles row by row."""
        if tuple(x.shape[-2:]) != (self.side, self.side):
            raise ValueError(f"expected {self.side}×{self.side} maps, got {tuple(x.shape[-2:])}")
        parts = [
            x[..., top : top + self.tile, left : left + self.tile]
            for top in self.starts
            for left in self.starts
        ]
        stacked = _stack(parts, axis=1)  # (n, count, …, tile, tile)
        return stacked.reshape((-1, *stacked.shape[2:]))

    def untile(self, tiles: Any, blend: str = "mean") -> Any:
        """``(n · count, …, tile, tile)`` → ``(n, …, side, side)``: each tile put back where
        :meth:`tile_array` took it; overlaps averaged (``"mean"``) or their largest value
        kept (``"max"``). ``untile(tile_array(x)) == x`` for either."""
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {BLENDS}, not {blend!r}")
        if len(tiles) % self.count or tuple(tiles.shape[-2:]) != (self.tile, self.tile):
            raise ValueError(
                f"expected a multiple of {self.count} tiles of {self.tile}×{self.tile}, "
                f"got {tuple(tiles.shape)}"
            )
        n = len(tiles) // self.count
        tiles = tiles.reshape((n, self.count, *tiles.shape[1:]))
        shape = (n, *tiles.shape[2:-2], self.side, self.side)
        torch_like = not isinstance(tiles, np.ndarray)
        if blend == "max":
            out = _full(tiles, shape, -math.inf, torch_like)
        else:
            out = _full(tiles, shape, 0.0, torch_like)
            hits = np.zeros((self.side, self.side), np.float64)
        index = 0
        for top in self.starts:
            for left in self.starts:
                part = tiles[:, index]
                window = (..., slice(top, top + self.tile), slice(left, left + self.tile))
                if blend == "max":
                    out[window] = _maximum(out[window], part, torch_like)
                else:
                    out[window] += part
                    hits[top : top + self.tile, left : left + self.tile] += 1
                index += 1
        if blend == "mean":
            if torch_like:
                import torch

                out /= torch.as_tensor(hits, dtype=out.dtype, device=out.device)
            else:
                out /= hits.astype(out.dtype)
        return out


def _stack(parts: list[Any], axis: int) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.stack(parts, axis=axis)
    import torch

    return torch.stack(parts, dim=axis)


def _full(like: Any, shape: tuple[int, ...], value: float, torch_like: bool) -> Any:
    if torch_like:
        import torch

        dtype = like.dtype if like.dtype.is_floating_point else torch.float32
        return torch.full(shape, value, dtype=dtype, device=like.device)
    dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.float64
    return np.full(shape, value, dtype=dtype)


def _maximum(a: Any, b: Any, torch_like: bool) -> Any:
    if torch_like:
        import torch

        return torch.maximum(a, b.to(a.dtype))
    return np.maximum(a, b)


@dataclass(frozen=True)
class TilePlan:
    """How images of ``image_side`` px go through a model whose input is ``tile`` px: resized
    to a ``canvas``-px square and cut into ``grid.count`` tiles."""

    image_side: int
    canvas: int
    grid: TileGrid

    @property
    def tile(self) -> int:
        return self.grid.tile

    def describe(self) -> str:
        """'1,600 px photos → resized to 1,536 px and tiled into 8×8 tiles of 224 px'."""
        k = self.grid.per_side
        resized = "" if self.canvas == self.image_side else f"resized to {self.canvas:,} px and "
        return (
            f"{self.image_side:,} px images → {resized}tiled into {k}×{k} tiles of {self.tile} px"
        )


def plan_tiles(
    image_side: int,
    *,
    mode: str,
    tile: int,
    overlap: int,
    max_side: int,
) -> TilePlan | None:
    """The tiling images whose (most common) longer side is ``image_side`` get for a model
    input of ``tile`` px, or None where they are resized whole: ``mode="off"``; ``"auto"``
    with images smaller than :data:`AUTO_FACTOR` × ``tile``; or images no larger than a tile.
    The canvas is the image side (at most ``max_side``) rounded down to a multiple of
    :data:`ALIGN`; ``tile`` is rounded down the same way."""
    if mode not in TILING_MODES:
        raise ValueError(f"tiling must be one of {TILING_MODES}, not {mode!r}")
    tile = max(ALIGN, tile - tile % ALIGN)
    if mode == "off" or (mode == "auto" and image_side < AUTO_FACTOR * tile):
        return None
    canvas = min(int(image_side), int(max_side))
    canvas -= canvas % ALIGN
    if canvas <= tile:
        return None
    return TilePlan(int(image_side), canvas, TileGrid.cover(canvas, tile, overlap))


def tile_images(images: Any, plan: TilePlan) -> list[np.ndarray]:
    """Each ``uint8`` image (``(H, W)`` or ``(H, W, C)``) resized to the plan's canvas (area
    averaging when shrunk, as whole images are) and cut into its tiles, image after image,
    row by row: the order :meth:`TileGrid.untile` expects."""
    import cv2

    side, tile, starts = plan.canvas, plan.grid.tile, plan.grid.starts
    out = []
    for image in images:
        image = np.asarray(image)
        if image.shape[:2] != (side, side):
            shrink = image.shape[0] > side or image.shape[1] > side
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (side, side), interpolation=interp)
        out.extend(
            np.ascontiguousarray(image[top : top + tile, left : left + tile])
            for top in starts
            for left in starts
        )
    return out


def plan_from_settings(settings: dict[str, Any], image_side: int | None) -> TilePlan | None:
    """:func:`plan_tiles` from a configuration's JSON form (a pretrained detector's
    ``tiling``, ``tile_size``, ``image_size``, ``tile_overlap`` and ``tile_max_side``); None
    where the settings have no ``tiling`` field or the images are resized whole."""
    if "tiling" not in settings or not image_side:
        return None
    return plan_tiles(
        int(image_side),
        mode=str(settings["tiling"]),
        tile=int(settings.get("tile_size") or settings.get("image_size") or DEFAULT_TILE),
        overlap=int(settings.get("tile_overlap", 32)),
        max_side=int(settings.get("tile_max_side", 1536)),
    )
