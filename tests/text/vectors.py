"""A tiny GloVe-format word-vector file with two clear topics, for fast tests without MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 16
FINANCE = ("profit", "dividend", "shares", "earnings", "quarter", "revenue", "stock", "bank")
SPORTS = ("hockey", "goal", "team", "season", "player", "pitcher", "baseball", "league")
FILLER = ("reported", "said", "week", "today", "new", "year")


def write_vectors(path: Path, *, header: bool = False, seed: int = 0) -> Path:
    """Finance words near one direction, sports words near an orthogonal one, filler words
    spread out; ``header`` adds fastText's ``count dim`` first line."""
    rng = np.random.default_rng(seed)
    finance_axis = np.eye(DIM)[0]
    sports_axis = np.eye(DIM)[1]
    rows = []
    for words, axis in ((FINANCE, finance_axis), (SPORTS, sports_axis)):
        for w in words:
            rows.append((w, 3 * axis + 0.3 * rng.standard_normal(DIM)))
    for w in FILLER:
        rows.append((w, rng.standard_normal(DIM)))
    lines = [f"{w} " + " ".join(f"{v:.5f}" for v in vec) for w, vec in rows]
    if header:
        lines.insert(0, f"{len(rows)} {DIM}")
    path.write_text("\n".join(lines) + "\n")
    return path


def finance_docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(FINANCE, 5).tolist() + rng.choice(FILLER, 2).tolist()).capitalize()
        + "."
        for _ in range(n)
    ]


def sports_docs(n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(SPORTS, 5).tolist() + rng.choice(FILLER, 2).tolist()) for _ in range(n)
    ]
