"""The in-memory dataset every loader returns and every detector consumes."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NORMAL = 0
ANOMALOUS = 1
UNKNOWN = -1


class DataKind(enum.StrEnum):
    IMAGE = "image"
    TEXT = "text"
    TABLE = "table"
    SEQUENCE = "sequence"


def printable(text: str) -> str:
    """``text`` safe to print and store: control characters (terminal escape sequences
    included) and lone surrogates (from file names that are not UTF-8) become ``\\xNN`` /
    ``\\udcNN`` escapes; everything else is kept."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch == " "
        else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )


@dataclass(frozen=True)
class Skipped:
    """An input that was not ingested, and why; both are kept printable (see
    :func:`printable`), since file names come from users."""

    name: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", printable(str(self.name)))
        object.__setattr__(self, "reason", printable(str(self.reason)))


@dataclass
class Dataset:
    """Items of one kind with optional labels and masks.

    ``items`` holds, per kind:

    - image: a list of ``uint8`` arrays, ``(H, W)`` gray or ``(H, W, 3)`` RGB, original sizes;
    - text: a list of ``str`` documents;
    - table: a ``float32`` array ``(n, d)``;
    - sequence: a list of ``float32`` arrays ``(T_i, d)``.

    ``labels`` uses ``NORMAL`` (0), ``ANOMALOUS`` (1) and ``UNKNOWN`` (-1); ``classes`` names
    each item's class (e.g. a defect type or a benchmark class); ``masks`` holds per-image
    ``uint8`` ground-truth masks (1 = defect) or ``None`` where an image has none.
    """

    kind: DataKind
    items: Sequence | np.ndarray
    names: list[str]
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    masks: list[np.ndarray | None] | None = None
    columns: list[str] | None = None
    skipped: list[Skipped] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        self.kind = DataKind(self.kind)
        n = len(self.items)
        if len(self.names) != n:
            raise ValueError(f"{len(self.names)} names for {n} items")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int8)
            if self.labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {self.labels.shape}")
        for attr in ("classes", "masks"):
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"{len(value)} {attr} for {n} items")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool(np.any(self.labels != UNKNOWN))

    @property
    def has_masks(self) -> bool:
        return self.masks is not None and any(m is not None for m in self.masks)

    def subset(self, index: Sequence[int] | np.ndarray) -> Dataset:
        """The items at ``index`` (in that order), with their labels, classes and masks."""
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.items, np.ndarray):
            items = self.items[index]
        else:
            items = [self.items[i] for i in index]
        return Dataset(
            kind=self.kind,
            items=items,
            names=[self.names[i] for i in index],
            labels=None if self.labels is None else self.labels[index],
            classes=None if self.classes is None else [self.classes[i] for i in index],
            masks=None if self.masks is None else [self.masks[i] for i in index],
            columns=self.columns,
            name=self.name,
        )


def as_dataset(items: object, kind: DataKind | None = None) -> Dataset:
    """Wrap raw input (arrays, lists of strings or images) as a :class:`Dataset`.

    A ``Dataset`` passes through. A list of ``str`` is text; a 2-D float array is a table;
    a 3-D array or a 4-D array with 1 or 3 channels last is a stack of images.
    """
    if isinstance(items, Dataset):
        return items
    if isinstance(items, np.ndarray):
        if kind is None:
            kind = DataKind.TABLE if items.ndim == 2 else DataKind.IMAGE
        if kind == DataKind.IMAGE:
            images = _as_uint8_images(items)
            return Dataset(kind, list(images), [f"item_{i}" for i in range(len(images))])
        if kind == DataKind.TABLE:
            with np.errstate(over="ignore"):  # out-of-range values are named by fit
                table = np.asarray(items, dtype=np.float32)
            return Dataset(kind, table, [f"row_{i}" for i in range(len(table))])
    seq = list(items)  # type: ignore[call-overload]
    if kind is None:
        if seq and all(isinstance(s, str) for s in seq):
            kind = DataKind.TEXT
        elif seq and all(isinstance(s, np.ndarray) for s in seq):
            kind = DataKind.IMAGE
        else:
            raise TypeError("cannot tell what kind of data this is; pass a Dataset or kind=")
    return Dataset(DataKind(kind), seq, [f"item_{i}" for i in range(len(seq))])


def _as_uint8_images(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 1, -1)  # NCHW -> NHWC
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        scaled = array.astype(np.float32)
        if scaled.max(initial=0.0) <= 1.0:
            scaled = scaled * 255.0
        array = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return array
