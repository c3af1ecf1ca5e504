"""Write the ``signals`` demo set: periodic two-channel signals, some with injected glitches.

Every sequence is a noisy periodic signal (a fundamental plus a harmonic on channel ``a``, a
phase-shifted triangle wave on channel ``b``) with a random period, phase and amplitude.
Test anomalies carry one glitch of a known kind in a random window:

- ``spike``: a few steps jump by several amplitudes;
- ``dropout``: the sensor reads a flat zero;
- ``frequency``: the signal runs at twice its frequency;
- ``decoupled``: channel ``b`` stops following channel ``a`` (its phase jumps).

Layout (read by ``deepad.data.sequences.load_sequences``)::

    assets/demo/signals/demo.json
    assets/demo/signals/train/normal/seq_000.csv ...
    assets/demo/signals/test/normal/seq_000.csv ...
    assets/demo/signals/test/anomalous/<kind>/seq_000.csv ...
    assets/demo/signals/glitches.csv  (where each glitch is, for checking explanations)

Run ``python scripts/make_demo_signals.py [OUT_DIR]``; the output is deterministic.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

LENGTH = 160
N_TRAIN = 80
N_TEST_NORMAL = 30
N_TEST_PER_GLITCH = 8
GLITCHES = ("spike", "dropout", "frequency", "decoupled")


def periodic_signal(rng: np.random.Generator, length: int = LENGTH) -> tuple[np.ndarray, dict]:
    """A clean two-channel signal and the parameters that made it."""
    params = {
        "period": float(rng.uniform(20, 40)),
        "phase": float(rng.uniform(0, 2 * np.pi)),
        "amplitude": float(rng.uniform(0.8, 1.2)),
        "lag": float(rng.uniform(0.2, 0.4)),
    }
    t = np.arange(length, dtype=np.float64)
    return _channels(t, params), params


def _channels(t: np.ndarray, p: dict, speed: np.ndarray | float = 1.0) -> np.ndarray:
    angle = 2 * np.pi * np.cumsum(np.broadcast_to(speed, t.shape)) / p["period"] + p["phase"]
    a = p["amplitude"] * (np.sin(angle) + 0.3 * np.sin(2 * angle))
    tri = 2 / np.pi * np.arcsin(np.sin(angle - 2 * np.pi * p["lag"]))
    return np.stack([a, 0.8 * p["amplitude"] * tri], axis=1)


def inject(
    rng: np.random.Generator, clean: np.ndarray, params: dict, kind: str
) -> tuple[np.ndarray, int, int]:
    """The signal with one glitch of ``kind``, and the glitch's [start, stop) steps."""
    x = clean.copy()
    width = {"spike": 3, "dropout": 20, "frequency": 30, "decoupled": 30}[kind]
    start = int(rng.integers(20, len(x) - width - 5))
    stop = start + width
    if kind == "spike":
        x[start:stop, int(rng.integers(0, 2))] += rng.choice([-1, 1]) * rng.uniform(2.5, 3.5)
    elif kind == "dropout":
        x[start:stop] = 0.0
    elif kind == "frequency":
        speed = np.ones(len(x))
        speed[start:stop] = 2.0
        x[start:] = _channels(np.arange(len(x), dtype=np.float64), params, speed)[start:]
    else:
        shifted = dict(params, lag=params["lag"] + 0.5)
        x[start:stop, 1] = _channels(np.arange(len(x), dtype=np.float64), shifted)[start:stop, 1]
    return x, start, stop


def _write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time", "a", "b"])
        for step, (a, b) in enumerate(x):
            writer.writerow([step, f"{a:.4f}", f"{b:.4f}"])


def make(out: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    if out.exists():
        for sub in ("train", "test"):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    def noisy(x: np.ndarray) -> np.ndarray:
        return x + rng.normal(0, 0.05, size=x.shape)

    for i in range(N_TRAIN):
        _write(out / "train" / "normal" / f"seq_{i:03d}.csv", noisy(periodic_signal(rng)[0]))
    for i in range(N_TEST_NORMAL):
        _write(out / "test" / "normal" / f"seq_{i:03d}.csv", noisy(periodic_signal(rng)[0]))
    glitches = []
    for kind in GLITCHES:
        for i in range(N_TEST_PER_GLITCH):
            clean, params = periodic_signal(rng)
            x, start, stop = inject(rng, clean, params, kind)
            name = f"test/anomalous/{kind}/seq_{i:03d}"
            _write(out / f"{name}.csv", noisy(x))
            glitches.append({"sequence": name, "kind": kind, "start": start, "stop": stop})
    with (out / "glitches.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["sequence", "kind", "start", "stop"])
        writer.writeheader()
        writer.writerows(glitches)
    demo = {
        "title": "Periodic signals with glitches",
        "kind": "sequence",
        "description": (
            f"Two-channel periodic signals ({LENGTH} steps). Train on {N_TRAIN} clean signals; "
            f"the test set has {N_TEST_NORMAL} clean ones and {N_TEST_PER_GLITCH} each with a "
            "spike, a dropout, a burst at double frequency or a decoupled second channel. "
            "glitches.csv says where each glitch is."
        ),
        "attribution": "Generated by scripts/make_demo_signals.py (deepad); no external data.",
        "train": "train",
        "test": "test",
    }
    (out / "demo.json").write_text(json.dumps(demo, indent=2) + "\n")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("assets/demo/signals")
    make(target)
