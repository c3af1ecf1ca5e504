"""``deepad bench thresholds``: the share of *normal* test items each method flags at its
default threshold, beside the ``contamination`` setting it should match.

Every method that works on the data kind is fitted with the settings the Train form starts
from on a CPU (``Config.suggested_defaults("cpu", data)``), its epochs capped at
``--set epochs=N`` (default 8) so the whole suite runs in minutes, on:

- **photo**: grey crops of real photographs (:mod:`deepad.data.benchmarks.photos`), 120
  training crops at ``--set size=`` px (default 96), 40 normal and 40 anomalous test crops
  (10 of each pasted defect);
- **text**: 20 Newsgroups, one top-level group normal: ``--set docs=`` (default 300)
  training posts of it, 150 of its test posts and 75 others;
- **table**: ODDS sets; half of the normal rows train, the other half and every anomaly test.

Columns: ``fpr`` = share of the normal test items above the default threshold (it should be
near ``contamination``); ``fpr before`` = the same model with the threshold it had before
(numpy's interpolated ``1 - contamination`` quantile of the scores of the items it was
fitted on; for leave-one-out methods, of the same scores the default is set on); ``source`` = where the default threshold came from. No setting is
chosen with test labels.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results
from deepad.config import describe
from deepad.data.summary import DataSummary
from deepad.data.types import NORMAL, DataKind, Dataset
from deepad.models.registry import catalog
from deepad.models.threshold import ThresholdSource, holdout_split

log = logging.getLogger(__name__)
RESULTS = Path("benchmarks") / "results"
COLUMNS = (
    "kind",
    "data",
    "method",
    "contamination",
    "fpr",
    "fpr before",
    "source",
    "auroc",
    "fit s",
)
ODDS_SETS = ("thyroid", "cardio", "arrhythmia", "pima")
PHOTO_SETS = ("moon", "hubble", "coffee")
TEXT_GROUPS = ("comp", "rec")


def form_settings(method: str, train: Dataset, epochs: int) -> dict[str, Any]:
    """What the Train form starts from on a CPU for ``train``, epochs capped at ``epochs``."""
    info = next(m for m in catalog() if m.name == method)
    side = channels = features = None
    if train.kind == DataKind.IMAGE:
        side = max(np.shape(train.items[0])[:2])
        channels = 3 if np.ndim(train.items[0]) == 3 else 1
    elif train.kind == DataKind.TABLE:
        features = int(np.shape(train.items)[1])
    summary = DataSummary(
        kind=train.kind, count=len(train), side=side, channels=channels, features=features
    )
    values = dict(info.Config.suggested_defaults("cpu", summary))
    for spec in describe(info.Config):
        if spec.name.endswith("epochs") and isinstance(spec.default, int) and spec.type is int:
            values[spec.name] = min(int(values.get(spec.name, spec.default)), epochs)
        if spec.name == "device":
            values["device"] = "cpu"
        if spec.name == "checkpoint_every":
            values["checkpoint_every"] = 0
    return values


def measure(method: str, train: Dataset, test: Dataset, epochs: int) -> dict[str, Any]:
    """Fit ``method`` on ``train``; its false-positive rates on ``test``'s normal items."""
    from deepad.models import get_method

    cls = get_method(method)
    detector = cls(**form_settings(method, train, epochs))
    start = time.process_time()
    detector.fit(train)
    fit_seconds = time.process_time() - start
    scores = detector.decision_function(test)
    normal = test.labels == NORMAL
    cfg = detector.config
    source = detector.threshold_source_ or {}
    fitted = detector.decision_scores_
    if source.get("source") == ThresholdSource.HELD_OUT:
        split = holdout_split(
            train.labels, len(train), cfg.threshold_holdout, int(getattr(cfg, "seed", 0))
        )
        fitted = fitted[split[0]]
    before = float(np.quantile(fitted, 1.0 - cfg.contamination))
    return {
        "method": method,
        "contamination": cfg.contamination,
        "fpr": float(np.mean(scores[normal] > detector.threshold_)),
        "fpr before": float(np.mean(scores[normal] > before)),
        "source": f"{source.get('source', '?')} ({source.get('items', 0)})",
        "auroc": metrics.auroc(test.labels, scores),
        "fit s": fit_seconds,
    }


def _photo_sets(options: BenchOptions) -> list[tuple[str, Dataset, Dataset]]:
    from deepad.data.benchmarks.photos import make_category

    size = int(options.extra.get("size", 96))
    names = options.extra.get("photos", ",".join(PHOTO_SETS)).split(",")
    return [
        (name, *make_category(name, size=size, n_test_good=40, n_per_defect=10, seed=options.seed))
        for name in names
    ]


def _text_sets(options: BenchOptions) -> list[tuple[str, Dataset, Dataset]]:
    from deepad.data.benchmarks.newsgroups import newsgroups_one_vs_rest

    docs = int(options.extra.get("docs", 300))
    rng = np.random.default_rng(options.seed)
    out = []
    for group in options.extra.get("groups", ",".join(TEXT_GROUPS)).split(","):
        train, test = newsgroups_one_vs_rest(options.root(), group)
        train = train.subset(np.sort(rng.choice(len(train), min(docs, len(train)), False)))
        normal = np.flatnonzero(test.labels == NORMAL)
        other = np.flatnonzero(test.labels != NORMAL)
        keep = np.r_[rng.choice(normal, 150, False), rng.choice(other, 75, False)]
        out.append((f"20ng-{group}", train, test.subset(np.sort(keep))))
    return out


def _table_sets(options: BenchOptions) -> list[tuple[str, Dataset, Dataset]]:
    from deepad.data.benchmarks.odds import find_odds_file, load_odds

    rng = np.random.default_rng(options.seed)
    out = []
    for name in ODDS_SETS:
        data = load_odds(find_odds_file(options.root(), name))
        normal = rng.permutation(np.flatnonzero(data.labels == NORMAL))
        half = len(normal) // 2
        train = data.subset(np.sort(normal[:half]))
        train.labels = None  # the training rows are unlabeled, as a user's would be
        test = data.subset(np.sort(np.r_[normal[half:], np.flatnonzero(data.labels != NORMAL)]))
        out.append((name, train, test))
    return out


LOADERS = {"photo": _photo_sets, "text": _text_sets, "table": _table_sets}
KINDS = {"photo": DataKind.IMAGE, "text": DataKind.TEXT, "table": DataKind.TABLE}


@suite("thresholds", "Share of normal test items flagged at each method's default threshold")
def run(options: BenchOptions) -> None:
    epochs = int(options.extra.get("epochs", 8))
    kinds = options.extra.get("kinds", "photo,text,table").split(",")
    only = options.extra.get("methods")
    rows: list[dict[str, Any]] = []
    for kind in kinds:
        methods = [m.name for m in catalog(KINDS[kind])]
        if only:
            methods = [m for m in methods if m in only.split(",")]
        for name, train, test in LOADERS[kind](options):
            for method in methods:
                try:
                    row = measure(method, train, test, epochs)
                except Exception as error:  # one method's failure is a row, not the end
                    log.warning("%s on %s failed: %s", method, name, error)
                    row = {"method": method, "source": f"failed: {error}"[:60]}
                row.update(kind=kind, data=name)
                rows.append(row)
                print(format_table([row], COLUMNS), flush=True)
                _write(options, epochs, rows)  # a stopped run keeps what it measured
    print("\n" + _write(options, epochs, rows))


def _write(options: BenchOptions, epochs: int, rows: list[dict[str, Any]]) -> str:
    table = format_table(rows, COLUMNS, "thresholds: normal test items flagged at the default")
    summary = summary_rows(rows)
    columns = ("method", "sets", "contamination", "mean fpr", "mean fpr before", "max fpr")
    text = (
        f"command: {command_line()}\n\n{table}\n\n"
        f"{format_table(summary, columns, 'per method, over its data sets')}\n"
    )
    out = options.output or RESULTS / "thresholds.json"
    payload = {"command": command_line(), "epochs": epochs, "rows": rows, "summary": summary}
    write_results(out, payload)
    out.with_suffix(".txt").write_text(text)
    return text


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method: the mean FPR now and before, over the data sets it ran on; last, the
    same over every measured row (``all methods``, what the README quotes)."""
    methods: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if "fpr" in row:
            methods.setdefault(row["method"], []).append(row)
    groups = sorted(methods.items())
    if methods:
        groups.append(("all methods", [r for found in methods.values() for r in found]))
    return [
        {
            "method": m,
            "sets": len(found),
            "contamination": found[0]["contamination"],
            "mean fpr": float(np.mean([r["fpr"] for r in found])),
            "mean fpr before": float(np.mean([r["fpr before"] for r in found])),
            "max fpr": float(np.max([r["fpr"] for r in found])),
        }
        for m, found in groups
    ]
