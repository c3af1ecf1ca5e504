"""Shared pieces of the benchmark suites: timing, tables, PyOD peers on the same split."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics

log = logging.getLogger(__name__)

DEFAULT_PEERS = ("IForest", "AutoEncoder")


@contextmanager
def timed(results: dict[str, Any], key: str = "seconds"):
    start = time.perf_counter()
    yield
    results[key] = results.get(key, 0.0) + time.perf_counter() - start


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> str:
    """A plain-text table; rates and timings (columns named ``seconds``, ``… s``, ``…/s``) with
    1 decimal, other floats in [0, 1] (AUROC, F1, ...) with 4."""

    def is_timing(column: str) -> bool:
        return column == "seconds" or column.endswith((" s", "/s"))

    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            short = is_timing(column) or abs(value) > 1.0
            return f"{value:.1f}" if short else f"{value:.4f}"
        return str(value)

    table = [[cell(r.get(c, ""), c) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(columns)]
    lines = [title] if title else []
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)


def mean_row(rows: Sequence[dict[str, Any]], columns: Sequence[str], label_col: str) -> dict:
    out: dict[str, Any] = {label_col: "mean"}
    for c in columns:
        values = [r[c] for r in rows if isinstance(r.get(c), float) and not math.isnan(r[c])]
        if values and c != label_col:
            out[c] = float(np.mean(values))
    return out


def peer_scores(
    x_train: np.ndarray,
    x_test: np.ndarray,
    names: Sequence[str] = DEFAULT_PEERS,
    *,
    contamination: float = 0.1,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, float]]:
    """Fit PyOD detectors with their default settings: test scores and fit+score seconds.

    Returns an empty dict (and logs why) when PyOD is not installed (``pip install deepad[bench]``).
    """
    try:
        import pyod.models  # noqa: F401
    except ImportError:
        log.warning("PyOD is not installed; install deepad[bench] to print the peer rows")
        return {}
    out: dict[str, tuple[np.ndarray, float]] = {}
    for name in names:
        model = _pyod_model(name, contamination, seed, features=x_train.shape[1])
        start = time.perf_counter()
        model.fit(x_train)
        scores = np.asarray(model.decision_function(x_test), dtype=np.float64)
        out[name] = (scores, time.perf_counter() - start)
    return out


def pyod_peers(
    x_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    names: Sequence[str] = DEFAULT_PEERS,
    *,
    contamination: float = 0.1,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """AUROC, AUPRC and seconds of the PyOD peers (see :func:`peer_scores`)."""
    peers = peer_scores(x_train, x_test, names, contamination=contamination, seed=seed)
    return {
        name: {
            "auroc": metrics.auroc(y_test, scores),
            "auprc": metrics.auprc(y_test, scores),
            "seconds": seconds,
        }
        for name, (scores, seconds) in peers.items()
    }


def _pyod_model(name: str, contamination: float, seed: int, features: int = 0):
    if name == "IForest":
        from pyod.models.iforest import IForest

        return IForest(contamination=contamination, random_state=seed)
    if name == "AutoEncoder":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(contamination=contamination, random_state=seed, verbose=0)
    if name == "DeepSVDD":
        from pyod.models.deep_svdd import DeepSVDD

        return DeepSVDD(
            n_features=features, contamination=contamination, random_state=seed, verbose=0
        )
    if name == "OCSVM":
        from pyod.models.ocsvm import OCSVM

        return OCSVM(contamination=contamination)
    if name == "ECOD":
        from pyod.models.ecod import ECOD

        return ECOD(contamination=contamination)
    if name == "KNN":
        from pyod.models.knn import KNN

        return KNN(contamination=contamination)
    if name == "LUNAR":
        from pyod.models.lunar import LUNAR

        return LUNAR(contamination=contamination)
    raise KeyError(f"no PyOD peer called {name!r}")


def command_line(argv: Sequence[str] | None = None) -> str:
    """The ``deepad ...`` command this process runs, as a results file records it: with the
    data folder as ``DATA`` and an output file from its ``benchmarks/results/`` folder on (or
    by its name), so no path of the machine that ran it is written down."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        key, equals, value = arg.partition("=")
        if key in ("--data", "--output") and equals:
            args[i] = f"{key}={_portable(key, value)}"
        elif arg in ("--data", "--output") and i + 1 < len(args):
            args[i + 1] = _portable(arg, args[i + 1])
    return " ".join(["deepad", *args])


def _portable(option: str, value: str) -> str:
    if option == "--data":
        return "DATA"
    path = Path(value)
    parts = path.parts
    for i in range(len(parts) - 1):
        if parts[i : i + 2] == ("benchmarks", "results"):
            return Path(*parts[i:]).as_posix()
    return path.as_posix() if not path.is_absolute() else path.name


def write_results(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    log.info("wrote %s", path)


def split_settings(
    extra: dict[str, str], suite_keys: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``--set`` pairs as (the suite's own settings, overrides of a detector configuration);
    a ``threads`` setting is applied to torch here."""
    own = {k: v for k, v in extra.items() if k in suite_keys}
    overrides = {k: v for k, v in extra.items() if k not in suite_keys}
    if "threads" in own:
        import torch

        torch.set_num_threads(int(own["threads"]))
    return own, overrides
