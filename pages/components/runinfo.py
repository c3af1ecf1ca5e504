"""Small text helpers for showing a run (status, data, progress, metrics)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from deepad.markup import escape_markdown as md

STATUS_BADGES = {
    "queued": ":gray-badge[queued]",
    "running": ":blue-badge[running]",
    "done": ":green-badge[done]",
    "failed": ":red-badge[failed]",
    "cancelled": ":orange-badge[cancelled]",
    "interrupted": ":orange-badge[interrupted]",
}
METRIC_NAMES = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "pixel_auroc": "pixel AUROC",
    "aupro": "AUPRO",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "flagged": "flagged",
}


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a float, an int or an ISO string (None if absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def ago(when: float) -> str:
    """ "3 min ago" for a time in seconds since the epoch."""
    return f"{duration(max(0.0, time.time() - float(when)))} ago"


def elapsed(record: Any) -> float | None:
    start = timestamp(getattr(record, "started", None))
    if start is None:
        return None
    end = timestamp(getattr(record, "finished", None)) or time.time()
    return max(0.0, end - start)


def progress_text(record: Any) -> str:
    progress = float(getattr(record, "progress", 0.0) or 0.0)
    parts = [f"{progress:.0%}"]
    phase = getattr(record, "phase", "")
    if phase and record.status == "running":
        parts.append(phase)
    if getattr(record, "epochs", None):
        parts.append(f"epoch {record.epoch or 0}/{record.epochs}")
    spent = elapsed(record)
    parts.append(f"elapsed {duration(spent)}")
    if record.status == "running":
        eta = getattr(record, "eta", None)
        if eta is None and spent and 0.01 < progress < 1.0:
            eta = spent * (1.0 - progress) / progress
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
    return " · ".join(parts)


def throughput(history: list[dict]) -> float | None:
    if not history:
        return None
    last = history[-1]
    for key in ("items_per_second", "items_s", "items/s", "throughput"):
        if last.get(key):
            return float(last[key])
    return None


# these depend on the threshold; pages show them live at the current one, never the
# training-time values next to it
AT_THRESHOLD = ("f1", "precision", "recall", "flagged")


def metrics_line(found: dict, *, at_threshold: bool = False) -> str:
    """The run's metrics; those that depend on the threshold only with ``at_threshold``."""
    parts = []
    for key, name in METRIC_NAMES.items():
        if key in AT_THRESHOLD and not at_threshold:
            continue
        value = found.get(key)
        if value is None or value != value:
            continue
        parts.append(f"{name} {int(value):,}" if key == "flagged" else f"{name} {value:.3f}")
    return " · ".join(parts)


def method_title(service: Any, name: str) -> str:
    try:
        return service.method_title(name)
    except Exception:
        return name


def dataset_name(service: Any, dataset_id: str | None) -> str | None:
    if not dataset_id:
        return None
    try:
        return service.record(dataset_id).name
    except Exception:
        return f"{dataset_id[:8]} (missing)"


def data_line(service: Any, record: Any) -> str:
    """The run's datasets by name, as Markdown (the names escaped)."""
    parts = [f"train: {md(dataset_name(service, record.train_dataset))}"]
    test = dataset_name(service, getattr(record, "test_dataset", None))
    if test:
        parts.append(f"test: {md(test)}")
    labeled = dataset_name(service, getattr(record, "labeled_dataset", None))
    if labeled:
        parts.append(f"labeled: {md(labeled)}")
    return " · ".join(parts)
