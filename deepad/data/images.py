"""Decoding images to 8-bit arrays and reading labels and masks from folder layouts.

Formats: PNG, JPEG, BMP, TIFF and WebP, chosen by file suffix; Pillow is only
allowed to open these formats, so no other decoder (e.g. PostScript) ever runs on an upload.

Colour modes become 8-bit gray ``(H, W)`` or RGB ``(H, W, 3)`` at the original size:

- ``L`` stays gray, ``1`` becomes 0/255 gray, ``RGB`` stays RGB;
- ``LA`` and ``RGBA`` (and ``P`` with transparency) are composited on **black**
  (``value * alpha / 255``), so a transparent background reads as dark, like the
  backgrounds of most inspection images;
- ``P`` becomes RGB, or gray when every pixel's colour is a gray;
- 16-bit gray (``I;16``, ``I;16B``, ...) and 32-bit ``I`` in 0..65535 are divided by 257,
  which keeps absolute intensities comparable between images (no per-image stretching);
  ``I`` outside that range and float ``F`` are scaled by their own min and max
  (``F`` in 0..1 is multiplied by 255);
- other modes (CMYK, YCbCr, ...) are converted to RGB by Pillow;
- the EXIF orientation of photographs is applied.

Decoded sizes are bounded, whatever the files' sizes on disk: an image with more than
:data:`MAX_PIXELS_PER_IMAGE` pixels (or Pillow's ``PIL.Image.MAX_IMAGE_PIXELS``, when lower)
is skipped with a reason before it is decoded, and so is every image that would take the
decoded pixels of one source over :data:`MAX_DECODED_BYTES`. Both are read at call time.

Labeled layouts (detected from the folder names; see :func:`detect_layout`):

- ``normal/`` + ``anomalous/<defect>/`` + optional ``ground_truth/<defect>/`` (the anomalib
  ``Folder`` convention); images directly in ``anomalous/`` get the class ``anomalous``;
  ``good/`` is read like ``normal/``, and ``abnormal/`` or ``anomaly/`` like ``anomalous/``;
- MVTec-AD: ``train/good/``, ``test/good/``, ``test/<defect>/`` and
  ``ground_truth/<defect>/<stem>_mask.png``;
- one MVTec split on its own: ``good/`` + ``<defect>/`` folders;
- anything else is an unlabeled collection (``labels=None``).

Folder names are matched without regard to case (``Normal/``, ``Train/Good/``). A single
folder wrapping the whole layout (``bottle/train/good/...`` in a zip) is looked
through. Masks match their image by defect folder and file stem (with or without a
``_mask`` suffix, any image suffix). Masks are binarised (``> 127``, or ``> 0`` for masks
stored as 0/1) to ``uint8`` 0/1; a mask whose size differs from its image but has its aspect
ratio (within 2 %) is resized to the image's size with nearest-neighbour interpolation (and a
log line); a mask of another aspect ratio is refused (skipped, naming both sizes).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset, Skipped

if TYPE_CHECKING:
    from deepad.data.sources import Entry

#: Image types people upload that are not read here: skipped with a reason that says so.
OTHER_IMAGE_SUFFIXES = frozenset(
    {".gif", ".heic", ".heif", ".avif", ".jp2", ".j2k", ".ico", ".svg", ".psd", ".tga", ".ppm",
     ".pgm", ".pbm", ".pnm", ".exr", ".hdr", ".dng", ".cr2", ".nef", ".raw"}
)  # fmt: skip
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp"}
)
_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP")

NORMAL_DIRS = frozenset({"normal"})
ANOMALOUS_DIRS = frozenset({"anomalous", "abnormal", "anomaly"})
GOOD = "good"
MASK_DIR = "ground_truth"
logger = logging.getLogger(__name__)

#: Most pixels one image may have; a larger one is skipped before it is decoded.
MAX_PIXELS_PER_IMAGE = 50_000_000
#: Most bytes of decoded pixels one source may give (all its images together).
MAX_DECODED_BYTES = 4 * 1024**3
#: How far a mask's aspect ratio may differ from its image's and still be resized onto it.
MASK_ASPECT_TOLERANCE = 0.02

_LAYOUT_WORDS = NORMAL_DIRS | ANOMALOUS_DIRS | {GOOD, MASK_DIR, "train", "test"}


class ImageDecodeError(ValueError):
    """An image file that could not be turned into an array; the message is the reason."""


def decode_image(data: bytes, *, max_bytes: int | None = None) -> np.ndarray:
    """Decode one image file to ``uint8`` gray ``(H, W)`` or RGB ``(H, W, 3)``.

    The size in the file's header is checked before decoding: over the pixel limits (see the
    module notes), or over ``max_bytes`` decoded bytes, is an :class:`ImageDecodeError`.
    """
    limits = [n for n in (Image.MAX_IMAGE_PIXELS, MAX_PIXELS_PER_IMAGE) if n]
    limit = min(limits) if limits else None
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
            pixels = image.width * image.height
            if limit and pixels > limit:
                raise ImageDecodeError(
                    f"{image.width}x{image.height} pixels is over the decompression-bomb "
                    f"limit of {limit} pixels per image"
                )
            if max_bytes is not None and pixels * len(image.getbands()) > max_bytes:
                total = _size_text(MAX_DECODED_BYTES)
                raise ImageDecodeError(
                    f"{image.width}x{image.height} pixels would take the decoded images of "
                    f"this upload over {total}; not read"
                )
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return to_array(image)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"decompression bomb: {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageDecodeError(
            "cannot identify the image: damaged, or not PNG, JPEG, BMP, TIFF or WebP"
        ) from exc
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error...
        raise ImageDecodeError(f"cannot decode: {exc}") from exc


def _size_text(count: int) -> str:
    return f"{count / 2**30:g} GiB" if count >= 2**30 else f"{count / 2**20:g} MiB"


def to_array(image: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as ``uint8`` gray or RGB (see the module notes)."""
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode == "1":
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        return _composite_on_black(image)
    if mode == "P":
        transparent = "transparency" in image.info
        rgb = _composite_on_black(image.convert("RGBA")) if transparent else None
        if rgb is None:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return _gray_if_equal(rgb)
    if mode.startswith("I;16") or mode == "I":
        return _wide_gray_to_uint8(np.asarray(image))
    if mode == "F":
        return _float_to_uint8(np.asarray(image, dtype=np.float64))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _composite_on_black(image: Image.Image) -> np.ndarray:
    if image.mode in ("La", "RGBa"):  # already premultiplied
        base = image.convert("L" if image.mode == "La" else "RGB")
        return np.asarray(base, dtype=np.uint8).copy()
    if image.mode == "PA":
        image = image.convert("RGBA")
    array = np.asarray(image, dtype=np.uint16)
    colour, alpha = array[..., :-1], array[..., -1:]
    out = ((colour * alpha + 127) // 255).astype(np.uint8)
    return out[..., 0] if out.shape[-1] == 1 else out


def _gray_if_equal(rgb: np.ndarray) -> np.ndarray:
    if (
        rgb.ndim == 3
        and np.array_equal(rgb[..., 0], rgb[..., 1])
        and np.array_equal(rgb[..., 1], rgb[..., 2])
    ):
        return np.ascontiguousarray(rgb[..., 0])
    return np.ascontiguousarray(rgb)


def _wide_gray_to_uint8(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() > 65535):
        return _float_to_uint8(array.astype(np.float64))
    return ((array + 128) // 257).astype(np.uint8)


def _float_to_uint8(array: np.ndarray) -> np.ndarray:
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return np.zeros(array.shape, np.uint8)
    low, high = float(finite.min()), float(finite.max())
    if low >= 0.0 and high <= 1.0:
        scaled = array * 255.0
    elif high > low:
        scaled = (array - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(array)
    return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)


def binarise_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A ground-truth mask as ``uint8`` 0/1 at ``size`` = (H, W) (nearest-neighbour)."""
    if mask.ndim == 3:
        mask = mask.max(axis=-1)
    binary = (mask > (0 if mask.max(initial=0) <= 1 else 127)).astype(np.uint8)
    if binary.shape != size:
        resized = Image.fromarray(binary).resize((size[1], size[0]), Image.Resampling.NEAREST)
        binary = np.asarray(resized, dtype=np.uint8).copy()
    return binary


@dataclass(frozen=True)
class Placement:
    """Where a file sits in a labeled layout.

    ``label`` is ``NORMAL``/``ANOMALOUS``/``UNKNOWN`` (None when the source is unlabeled);
    ``cls`` the class name; ``mask_of`` is ``(defect, stem)`` for a ground-truth mask.
    """

    label: int | None
    cls: str | None
    mask_of: tuple[str, str] | None = None


def layout_root(paths: Sequence[str]) -> int:
    """How many leading folders all ``paths`` share and that are not layout folders."""
    split = [p.split("/") for p in paths]
    depth = 0
    while split and all(len(s) > depth + 1 for s in split):
        first = {s[depth] for s in split}
        if len(first) != 1 or next(iter(first)).lower() in _LAYOUT_WORDS:
            break
        depth += 1
    return depth


def detect_layout(paths: Sequence[str]) -> list[Placement]:
    """Labels, classes and mask roles for files at ``paths`` (POSIX, relative to the source)."""
    depth = layout_root(paths)
    parts = [p.split("/")[depth:] for p in paths]
    tops = {p[0].lower() for p in parts if len(p) > 1}
    if tops & (NORMAL_DIRS | ANOMALOUS_DIRS):
        return [_place_folder(p) for p in parts]
    if any(
        len(p) > 2 and p[0].lower() in ("train", "test") and p[1].lower() == GOOD for p in parts
    ):
        return [_place_mvtec(p) for p in parts]
    if GOOD in tops:
        return [_place_good(p) for p in parts]
    return [Placement(None, None) for _ in parts]


def _mask_placement(parts: list[str]) -> Placement:
    defect = parts[1] if len(parts) > 2 else ""
    return Placement(None, None, mask_of=(defect, _mask_stem(parts[-1])))


def _mask_stem(file: str) -> str:
    stem = PurePosixPath(file).stem
    return stem[: -len("_mask")] if stem.endswith("_mask") else stem


def _place_folder(parts: list[str]) -> Placement:
    if len(parts) > 1 and parts[0].lower() in NORMAL_DIRS | {GOOD}:
        return Placement(NORMAL, parts[0].lower())
    if len(parts) > 1 and parts[0].lower() in ANOMALOUS_DIRS:
        return Placement(ANOMALOUS, parts[1] if len(parts) > 2 else "anomalous")
    if len(parts) > 1 and parts[0].lower() == MASK_DIR:
        return _mask_placement(parts)
    return Placement(UNKNOWN, "unknown")


def _place_mvtec(parts: list[str]) -> Placement:
    if len(parts) > 2 and parts[0].lower() in ("train", "test"):
        if parts[1].lower() == GOOD:
            return Placement(NORMAL, GOOD)
        if parts[0].lower() == "test":
            return Placement(ANOMALOUS, parts[1])
    if len(parts) > 1 and parts[0].lower() == MASK_DIR:
        return _mask_placement(parts)
    return Placement(UNKNOWN, "unknown")


def _place_good(parts: list[str]) -> Placement:
    if len(parts) > 1 and parts[0].lower() == GOOD:
        return Placement(NORMAL, GOOD)
    if len(parts) > 1 and parts[0].lower() == MASK_DIR:
        return _mask_placement(parts)
    if len(parts) > 1:
        return Placement(ANOMALOUS, parts[0])
    return Placement(UNKNOWN, "unknown")


def images_from_entries(entries: list[Entry], skipped: list[Skipped], *, name: str) -> Dataset:
    """Decode the image entries, place them in their layout and attach their masks."""
    skipped = list(skipped)
    candidates: list[Entry] = []
    for entry in entries:
        if entry.suffix in IMAGE_SUFFIXES:
            candidates.append(entry)
        elif entry.suffix in OTHER_IMAGE_SUFFIXES:
            reason = f"unsupported image type {entry.suffix}: use PNG, JPEG, BMP, TIFF or WebP"
            skipped.append(Skipped(entry.path, reason))
        else:
            skipped.append(Skipped(entry.path, "not an image"))
    places = detect_layout([e.path for e in candidates])
    labeled = any(p.label is not None for p in places)

    arrays: list[np.ndarray] = []
    names: list[str] = []
    labels: list[int] = []
    classes: list[str] = []
    masks_by_key: dict[tuple[str, str], list[tuple[Entry, np.ndarray]]] = {}
    budget = MAX_DECODED_BYTES
    for entry, place in zip(candidates, places, strict=True):
        try:
            array = decode_image(entry.read(), max_bytes=budget)
        except (ImageDecodeError, ValueError, OSError) as exc:
            skipped.append(Skipped(entry.path, str(exc)))
            continue
        except MemoryError:
            skipped.append(Skipped(entry.path, "not enough memory to decode it"))
            continue
        budget -= array.nbytes
        if place.mask_of is not None:
            masks_by_key.setdefault(place.mask_of, []).append((entry, array))
            continue
        arrays.append(array)
        names.append(entry.path)
        labels.append(UNKNOWN if place.label is None else place.label)
        classes.append(place.cls or "unknown")

    masks = _attach_masks(arrays, names, labels, classes, masks_by_key, skipped)
    return Dataset(
        kind=DataKind.IMAGE,
        items=arrays,
        names=names,
        labels=np.asarray(labels, np.int8) if labeled else None,
        classes=classes if labeled else None,
        masks=masks,
        skipped=skipped,
        name=name,
    )


def _attach_masks(
    arrays: list[np.ndarray],
    names: list[str],
    labels: list[int],
    classes: list[str],
    masks_by_key: dict[tuple[str, str], list[tuple[Entry, np.ndarray]]],
    skipped: list[Skipped],
) -> list[np.ndarray | None] | None:
    if not masks_by_key:
        return None
    by_stem: dict[str, list[tuple[str, str]]] = {}
    for key in masks_by_key:
        by_stem.setdefault(key[1], []).append(key)
    used: set[tuple[str, str]] = set()
    masks: list[np.ndarray | None] = []
    for array, item_name, label, cls in zip(arrays, names, labels, classes, strict=True):
        stem = PurePosixPath(item_name).stem
        key = (cls, stem)
        if key not in masks_by_key and label == ANOMALOUS and len(by_stem.get(stem, [])) == 1:
            # masks kept flat in ground_truth/, or under another folder name than their
            # images' defect folder, match an anomalous image by a unique stem
            key = by_stem[stem][0]
        found = masks_by_key.get(key)
        if not found or key in used:
            masks.append(None)
            continue
        used.add(key)
        entry, mask = found[0]
        for extra, _ in found[1:]:
            skipped.append(Skipped(extra.path, f"second mask for {item_name}; first one kept"))
        if not _same_aspect(mask.shape[:2], array.shape[:2]):
            skipped.append(
                Skipped(
                    entry.path,
                    f"mask {mask.shape[1]}x{mask.shape[0]} does not fit its image {item_name} "
                    f"({array.shape[1]}x{array.shape[0]}): another aspect ratio; not used",
                )
            )
            masks.append(None)
            continue
        if mask.shape[:2] != array.shape[:2]:
            logger.info(
                "%s: mask %dx%d resized (nearest) to its image %dx%d",
                entry.path,
                mask.shape[1],
                mask.shape[0],
                array.shape[1],
                array.shape[0],
            )
        masks.append(binarise_mask(mask, array.shape[:2]))
    for key, found in masks_by_key.items():
        if key not in used:
            for entry, _ in found:
                skipped.append(Skipped(entry.path, "mask without a matching image"))
    return masks


def _same_aspect(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether sizes ``(H, W)`` ``a`` and ``b`` have the same aspect ratio, within
    :data:`MASK_ASPECT_TOLERANCE` (so a mask saved at another scale still fits)."""
    ratio_a, ratio_b = a[1] / max(a[0], 1), b[1] / max(b[0], 1)
    return abs(ratio_a - ratio_b) <= MASK_ASPECT_TOLERANCE * max(ratio_a, ratio_b)


def split_train_test(data: Dataset) -> tuple[Dataset, Dataset] | None:
    """The ``train/`` and ``test/`` parts of an MVTec-AD category loaded whole, or ``None``
    when ``data`` does not hold both (folder names matched without regard to case)."""
    if data.kind != DataKind.IMAGE:
        return None
    depth = layout_root(data.names)
    tops = [_top_folder(name, depth) for name in data.names]
    if "train" not in tops or "test" not in tops:
        return None
    train = [i for i, top in enumerate(tops) if top == "train"]
    test = [i for i, top in enumerate(tops) if top != "train"]
    return data.subset(train), data.subset(test)


def _top_folder(name: str, depth: int) -> str:
    parts = name.split("/")
    return parts[depth].lower() if len(parts) > depth + 1 else ""
