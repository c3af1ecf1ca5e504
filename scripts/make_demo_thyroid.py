"""Write the ``thyroid`` table demo from the ODDS ``thyroid.mat`` file.

ODDS thyroid has 3,772 patients with 6 real-valued attributes scaled to [0, 1] (the UCI
ann-thyroid attributes age, TSH, T3, TT4, T4U and FTI) and 93 hyperfunction cases as
outliers. The demo follows the DSEBM benchmark protocol: a stratified 1:1 split, the normal
rows of the first half to train on, and the second half (normal and outlier rows) to test.

Run ``python scripts/make_demo_thyroid.py [DATA_DIR] [OUT_DIR]`` where ``DATA_DIR`` holds
``odds/thyroid.mat`` (default ``../shared/data``); the output is deterministic.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from deepad.bench.dsebm import split_half
from deepad.data.benchmarks.odds import find_odds_file, load_odds

COLUMNS = ("age", "TSH", "T3", "TT4", "T4U", "FTI")


def _write(path: Path, x: np.ndarray, labels: np.ndarray) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*COLUMNS, "label"])
        for row, label in zip(x, labels, strict=True):
            cells = [f"{v:.6g}" for v in row]
            writer.writerow([*cells, "anomalous" if label == 1 else "normal"])


def make(data_dir: Path, out: Path, seed: int = 0) -> None:
    data = load_odds(find_odds_file(data_dir, "thyroid"))
    x = np.asarray(data.items)
    train_idx, test_idx = split_half(data.labels, seed, stratify=True)
    train_idx = train_idx[data.labels[train_idx] == 0]
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "train.csv", x[train_idx], data.labels[train_idx])
    _write(out / "test.csv", x[test_idx], data.labels[test_idx])
    n_out = int(data.labels[test_idx].sum())
    demo = {
        "title": "Thyroid: hyperfunction among patients",
        "kind": "table",
        "description": (
            f"ODDS thyroid: 6 attributes (age, TSH, T3, TT4, T4U, FTI, scaled to [0, 1]). "
            f"Train on {len(train_idx)} normal patients; the test set holds {len(test_idx)} "
            f"patients of whom {n_out} have hyperfunction (the anomalies)."
        ),
        "attribution": (
            "ODDS thyroid (Shebuti Rayana, ODDS Library, Stony Brook University, 2016, "
            "https://odds.cs.stonybrook.edu), derived from the UCI Thyroid Disease data "
            "(ann-thyroid, J. R. Quinlan; Dua and Graff, UCI Machine Learning Repository). "
            "Split and written as CSV by scripts/make_demo_thyroid.py."
        ),
        "train": "train.csv",
        "test": "test.csv",
        "label_column": "label",
    }
    (out / "demo.json").write_text(json.dumps(demo, indent=2) + "\n")


if __name__ == "__main__":
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("..") / "shared" / "data"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("assets/demo/thyroid")
    make(data_dir, target)
