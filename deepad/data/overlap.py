"""Images that share a region: crops or tiles cut from one picture, overlapping.

Two crops of one photograph that overlap hold the same pixels over their overlap, and that
overlap is a corner of each of them. So the ``side × side`` blocks in each image's corners are
looked up among every position of every other image (by an exact rolling hash of each
``side × side`` block, in one pass per image), and a match is confirmed on the whole overlap
its shift implies: every pixel equal. A block found at more than :data:`MAX_REPEATS` places of
one image is a repeated pattern there and is not followed. A copied image shares all of itself.
Only exact copies of pixels count (a re-encoded JPEG crop does not match); blocks with almost
no texture (a flat sky) are not looked up, as they would match anywhere: an overlap whose
corner blocks are all flat is not found.

The cost is linear in the pixels of the set (every block of every image hashed, twice: about
0.1 s per megapixel) plus one comparison per candidate; images of more than :data:`MAX_PIXELS`
are not compared (a detector tiles such images, and scores a tile without its own image's
tiles), nor images smaller than ``side``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np

#: side in pixels of the corner blocks looked up (an overlap narrower than this is not found)
SIDE = 16
#: blocks whose pixel values spread less than this (standard deviation, grey levels) are
#: not looked up
MIN_SPREAD = 2.0
#: images with more pixels than this are not compared
MAX_PIXELS = 2**21
#: blocks looked up per corner: the STEPS × STEPS nearest it
STEPS = 3
#: a looked-up block found at more positions of one image than this is a repeated pattern
#: there (a tile of a regular texture, a glyph), not evidence of a shared region: skipped
MAX_REPEATS = 4
# low bits of a hash that index the table of looked-up blocks
_TABLE_MASK = (1 << 20) - 1
# multipliers of the polynomial hash (odd, so invertible modulo 2**64)
_ROW_BASE = np.uint64(0x9E3779B97F4A7C15)
_COLUMN_BASE = np.uint64(0xC2B2AE3D27D4EB4F)


def pixel_codes(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` ``uint64``: each pixel's value (gray) or its three channels in one number."""
    array = np.asarray(image)
    if array.ndim == 2:
        return array.astype(np.uint64)
    channels = array.astype(np.uint64)
    code = channels[..., 0].copy()
    for c in range(1, channels.shape[2]):
        code |= channels[..., c] << np.uint64(8 * c)
    return code | np.uint64(1 << 40)  # never equal to a gray image's code


@functools.cache
def _powers(base: int, n: int) -> np.ndarray:
    """``base**0 … base**(n-1)`` modulo 2**64 (read-only: shared between calls)."""
    out = np.ones(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(1, n):
            out[i] = out[i - 1] * np.uint64(base)
    out.flags.writeable = False
    return out


def _inverse(base: np.uint64) -> np.uint64:
    """``base⁻¹`` modulo 2**64 (Newton's iteration; ``base`` odd)."""
    inverse = base
    with np.errstate(over="ignore"):
        for _ in range(6):
            inverse = inverse * (np.uint64(2) - base * inverse)
    return inverse


def _window_sums(values: np.ndarray, side: int, base: np.uint64, axis: int) -> np.ndarray:
    """``Σ_j values[.., x + j, ..] · base**j`` over ``j < side`` along ``axis``, for every
    ``x`` (modulo 2**64), from one running sum."""
    values = np.moveaxis(values, axis, -1)
    n = values.shape[-1]
    powers = _powers(int(base), n)
    inverse = _powers(int(_inverse(base)), n - side + 1)
    with np.errstate(over="ignore"):
        running = np.cumsum(values * powers, axis=-1, dtype=np.uint64)
        window = running[..., side - 1 :].copy()
        window[..., 1:] -= running[..., : n - side]
        window *= inverse
    return np.moveaxis(window, -1, axis)


def block_hashes(codes: np.ndarray, side: int = SIDE) -> np.ndarray:
    """``(H - side + 1, W - side + 1)`` hashes of every ``side × side`` block of ``codes``:
    equal blocks have equal hashes wherever they are."""
    rows = _window_sums(codes, side, _ROW_BASE, axis=1)
    return _window_sums(rows, side, _COLUMN_BASE, axis=0)


def _corner_blocks(image: np.ndarray, side: int) -> list[tuple[int, int]]:
    """Top-left positions of the blocks looked up: in each corner, the ``STEPS × STEPS``
    blocks nearest it (a flat corner block can have textured neighbours inside the same
    overlap), those with texture."""
    h, w = image.shape[:2]
    out = set()
    for top, left in ((True, True), (True, False), (False, True), (False, False)):
        for i in range(STEPS):
            for j in range(STEPS):
                y = i * side if top else h - (i + 1) * side
                x = j * side if left else w - (j + 1) * side
                if 0 <= y <= h - side and 0 <= x <= w - side:
                    block = image[y : y + side, x : x + side].astype(np.float32)
                    if block.ndim == 3:
                        block = block.mean(axis=2)
                    if float(block.std()) >= MIN_SPREAD:
                        out.add((y, x))
    return sorted(out)


def _same_over_overlap(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> bool:
    """Whether ``a[p] == b[p + (dy, dx)]`` wherever both are defined."""
    y0, y1 = max(0, -dy), min(a.shape[0], b.shape[0] - dy)
    x0, x1 = max(0, -dx), min(a.shape[1], b.shape[1] - dx)
    if y1 <= y0 or x1 <= x0:
        return False
    return bool(np.array_equal(a[y0:y1, x0:x1], b[y0 + dy : y1 + dy, x0 + dx : x1 + dx]))


def shared_regions(images: Sequence[np.ndarray], side: int = SIDE) -> list[np.ndarray]:
    """For each image, the sorted indices of the other images that hold an exact copy of a
    region of it at least ``side × side`` pixels large (overlapping crops or tiles of one
    picture, copies), found as the module describes."""
    n = len(images)
    found: list[set[int]] = [set() for _ in range(n)]
    if n < 2:
        return [np.zeros(0, dtype=np.int64) for _ in range(n)]
    shapes = [np.shape(image)[:2] for image in images]
    usable = [side <= min(shape) and shape[0] * shape[1] <= MAX_PIXELS for shape in shapes]
    codes = [pixel_codes(image) if ok else None for image, ok in zip(images, usable, strict=True)]
    # every looked-up block: its hash -> [(image, y, x)]
    wanted: dict[int, list[tuple[int, int, int]]] = {}
    for i, code in enumerate(codes):
        if code is None:
            continue
        hashes = block_hashes(code, side)  # computed again below: memory stays per image
        for y, x in _corner_blocks(np.asarray(images[i]), side):
            wanted.setdefault(int(hashes[y, x]), []).append((i, y, x))
    if not wanted:
        return [np.zeros(0, dtype=np.int64) for _ in range(n)]
    # a bit per value of a hash's low bits: one gather finds the few positions to look up
    keys = np.fromiter(wanted, dtype=np.uint64, count=len(wanted))
    table = np.zeros(_TABLE_MASK + 1, dtype=bool)
    table[(keys & np.uint64(_TABLE_MASK)).astype(np.intp)] = True
    for j, code in enumerate(codes):
        if code is None:
            continue
        hashes = block_hashes(code, side)
        maybe = table[(hashes & np.uint64(_TABLE_MASK)).astype(np.intp)]
        places: dict[int, list[tuple[int, int]]] = {}
        for by, bx in zip(*np.nonzero(maybe), strict=True):
            key = int(hashes[by, bx])
            if key in wanted:
                places.setdefault(key, []).append((int(by), int(bx)))
        for key, at in places.items():
            if len(at) > MAX_REPEATS:
                continue
            for (by, bx), (i, y, x) in itertools.product(at, wanted[key]):
                other = codes[i]
                if i == j or j in found[i] or other is None:
                    continue
                if _same_over_overlap(other, code, by - y, bx - x):
                    found[i].add(j)
                    found[j].add(i)
    return [np.array(sorted(f), dtype=np.int64) for f in found]
