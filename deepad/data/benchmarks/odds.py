"""ODDS outlier-detection tables (``.mat`` files with ``X`` and ``y``), e.g. thyroid, annthyroid.

Files in MATLAB v7.3 (HDF5) format are not readable by :func:`scipy.io.loadmat` and raise
a clear error; the ODDS copies are v5.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset


def find_odds_file(root: str | os.PathLike[str], name: str) -> Path:
    """``<name>.mat`` in ``root/odds`` or ``root`` (or ``root`` itself if it is a file)."""
    root = Path(root)
    if root.is_file():
        return root
    for folder in (root / "odds", root):
        if (folder / f"{name}.mat").is_file():
            return folder / f"{name}.mat"
    raise FileNotFoundError(f"no {name}.mat under {root}")


def load_odds(path: str | os.PathLike[str], *, name: str | None = None) -> Dataset:
    """Read an ODDS ``.mat`` file: ``X`` (n, d) features, ``y`` (n,) with 1 for outliers."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise ValueError(f"{path.name}: MATLAB v7.3 files are not supported") from None
    except (ValueError, OSError, scipy.io.matlab.MatReadError) as error:
        raise ValueError(f"{path.name}: not a readable .mat file ({error})") from None
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path.name}: expected variables X and y, found {sorted(mat)}")
    x = np.asarray(mat["X"], dtype=np.float32)
    y = np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{path.name}: X has shape {x.shape} but y has {len(y)} labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{path.name}: y must hold 0 (inlier) and 1 (outlier)")
    title = name or path.stem
    return Dataset(
        kind=DataKind.TABLE,
        items=np.ascontiguousarray(x),
        names=[f"{title}_{i}" for i in range(len(x))],
        labels=np.where(y == 1, ANOMALOUS, NORMAL),
        columns=[f"x{j}" for j in range(x.shape[1])],
        name=title,
    )
