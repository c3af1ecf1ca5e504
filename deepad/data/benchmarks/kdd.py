"""KDD Cup 1999 (the 10% file) as a table with one-hot categorical columns.

The DSEBM and DAGMM papers treat the *normal* traffic (about 20% of the 10% file) as the
anomaly class, because the attacks dominate the file; :func:`load_kdd` does the same unless
``anomaly="attack"`` is asked for. ``classes`` keeps each row's original label (``normal``,
``smurf``, ``neptune``, ...).
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

FEATURES = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip
CATEGORICAL = ("protocol_type", "service", "flag")
FILE_NAMES = ("kddcup.data_10_percent.gz", "kddcup.data_10_percent", "kddcup.data_10_percent.csv")


def find_kdd_file(root: str | os.PathLike[str]) -> Path:
    """The 10% file in ``root`` or ``root/kddcup99`` (or ``root`` itself if it is a file)."""
    root = Path(root)
    if root.is_file():
        return root
    for folder in (root / "kddcup99", root):
        for name in FILE_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no kddcup.data_10_percent[.gz] under {root}")


def load_kdd(
    path: str | os.PathLike[str], *, anomaly: str = "normal", name: str = "KDD Cup 99 (10%)"
) -> Dataset:
    """Read the KDD Cup 99 CSV (42 columns, gzip or plain) into a one-hot encoded table.

    ``anomaly="normal"`` labels normal traffic as the anomaly class (the papers' protocol);
    ``"attack"`` labels every attack as anomalous. Categories are sorted so the column order
    only depends on which values occur in the file.
    """
    if anomaly not in ("normal", "attack"):
        raise ValueError("anomaly must be 'normal' or 'attack'")
    path = find_kdd_file(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    categorical_idx = [FEATURES.index(c) for c in CATEGORICAL]
    numeric_idx = [i for i in range(len(FEATURES)) if i not in categorical_idx]
    try:
        numeric = np.loadtxt(
            io.BytesIO(raw), delimiter=",", usecols=numeric_idx, dtype=np.float32, ndmin=2
        )
        symbols = np.loadtxt(
            io.BytesIO(raw),
            delimiter=",",
            usecols=(*categorical_idx, len(FEATURES)),
            dtype=str,
            ndmin=2,
        )
    except (ValueError, IndexError) as error:
        raise ValueError(f"{path.name}: not a KDD Cup 99 file with 42 columns ({error})") from None
    blocks = [numeric]
    columns = [FEATURES[i] for i in numeric_idx]
    for j, feature in enumerate(CATEGORICAL):
        values, codes = np.unique(symbols[:, j], return_inverse=True)
        blocks.append(np.eye(len(values), dtype=np.float32)[codes])
        columns += [f"{feature}={v}" for v in values]
    table = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    classes = [c.rstrip(".") for c in symbols[:, -1]]
    is_normal = np.array([c == "normal" for c in classes])
    anomalous = is_normal if anomaly == "normal" else ~is_normal
    return Dataset(
        kind=DataKind.TABLE,
        items=table,
        names=[f"kdd_{i}" for i in range(len(table))],
        labels=np.where(anomalous, ANOMALOUS, NORMAL),
        classes=classes,
        columns=columns,
        name=name,
    )
