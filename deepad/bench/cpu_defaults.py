"""``deepad bench cpu-defaults``: CPU time and quality of the trained networks at the settings
the Train form starts from on a CPU, for 120 grey photo crops at 192 px.

For each photo category (:mod:`deepad.data.benchmarks.photos`) and each of FCDD, the
autoencoder, DSEBM and Deep SVDD: ``Config.suggested_defaults("cpu", data)`` as the form
fills it in, fitted on the 120 training crops. Times are CPU seconds of this process
(``time.process_time``; run it with ``--threads 1`` so they are one core's seconds, an upper
bound of the wall time on two idle cores), beside the image AUROC, pixel AUROC (methods with
maps), the share of normal test items flagged at the default threshold and the epochs run
(early stopping). FCDD's published settings (width 1, 30 epochs, every epoch) are measured
for ``--set published_epochs=`` epochs (default 2) and their 30 extrapolated from the
per-epoch time.

The per-item costs it measures (with this machine's :func:`deepad.models.cost.machine_speed`)
are what :mod:`deepad.models.cost` estimates training times from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results
from deepad.data.summary import DataSummary
from deepad.data.types import NORMAL, DataKind

RESULTS = Path("benchmarks") / "results"
METHODS = ("fcdd", "ae", "dsebm", "deepsvdd")
CATEGORIES = ("hubble", "moon")
COLUMNS = (
    "data",
    "method",
    "settings",
    "epochs run",
    "fit cpu s",
    "s/item-epoch",
    "auroc",
    "pixel auroc",
    "fpr",
)


def fit_and_measure(method: str, train, test, values: dict[str, Any]) -> dict[str, Any]:
    from deepad.models import get_method

    detector = get_method(method)(**values)
    start = time.process_time()
    detector.fit(train)
    seconds = time.process_time() - start
    scores = detector.decision_function(test)
    epochs = len(getattr(detector, "history_", [])) or 1
    held = (detector.threshold_source_ or {}).get("items", 0)
    row: dict[str, Any] = {
        "method": method,
        "epochs run": epochs,
        "fit cpu s": seconds,
        "s/item-epoch": seconds / ((len(train) - held) * epochs),
        "auroc": metrics.auroc(test.labels, scores),
        "fpr": float(np.mean(scores[test.labels == NORMAL] > detector.threshold_)),
    }
    if detector.explains:
        maps = detector.explain(test).maps
        row["pixel auroc"] = metrics.pixel_auroc(
            metrics.pixel_masks(test, np.arange(len(test))),
            [maps[i] for i in range(len(test))],
        )
    return row


def _describe(values: dict[str, Any]) -> str:
    keys = ("epochs", "patience", "image_size", "width", "architecture")
    shown = {k: getattr(values[k], "value", values[k]) for k in keys if k in values}
    return " ".join(f"{k}={v}" for k, v in shown.items())


@suite(
    "cpu-defaults",
    "CPU time and quality of FCDD, AE, DSEBM, Deep SVDD at the CPU form defaults, 120 photos",
    needs_data=False,
)
def run(options: BenchOptions) -> None:
    from deepad.data.benchmarks.photos import make_category
    from deepad.models.cost import machine_speed
    from deepad.models.registry import method_info

    size = int(options.extra.get("size", 192))
    published_epochs = int(options.extra.get("published_epochs", 2))
    only = options.extra.get("methods")
    methods = [m for m in METHODS if not only or m in only.split(",")]
    categories = options.extra.get("categories", ",".join(CATEGORIES)).split(",")
    speed = machine_speed(None)
    rows = []
    for category in categories:
        train, test = make_category(
            category, size=size, n_test_good=40, n_per_defect=10, seed=options.seed
        )
        summary = DataSummary(kind=DataKind.IMAGE, count=len(train), side=size, channels=1)
        for method in methods:
            config = method_info(method).Config
            values = {
                **config.suggested_defaults("cpu", summary),
                "device": "cpu",
                "checkpoint_every": 0,
                "seed": options.seed,
            }
            full = {**{f: getattr(config(), f) for f in ("epochs",)}, **values}
            row = fit_and_measure(method, train, test, values)
            row.update(data=category, settings=_describe(full))
            rows.append(row)
            print(format_table([row], COLUMNS), flush=True)
        if "fcdd" in methods and published_epochs > 0:
            config = method_info("fcdd").Config
            values = {"epochs": published_epochs, "device": "cpu", "checkpoint_every": 0}
            row = fit_and_measure("fcdd", train, test, values)
            per_epoch = row["fit cpu s"] / row["epochs run"]
            row.update(
                data=category,
                method="fcdd (published)",
                settings=f"width=1 epochs=30 image_size={size}: {published_epochs} epochs "
                "measured, 30 extrapolated",
                **{"fit cpu s": per_epoch * config().epochs, "epochs run": config().epochs},
            )
            for key in ("auroc", "pixel auroc", "fpr"):
                row[key] = float("nan")  # a 2-epoch model says nothing of the published one
            rows.append(row)
            print(format_table([row], COLUMNS), flush=True)
    title = (
        f"cpu-defaults: 120 grey photo crops at {size} px, CPU seconds of one thread "
        f"(machine speed {speed:.1f} GFLOP/s)"
    )
    table = format_table(rows, COLUMNS, title)
    print("\n" + table)
    out = options.output or RESULTS / "cpu-defaults.json"
    command = command_line()
    write_results(out, {"command": command, "size": size, "machine_gflops": speed, "rows": rows})
    out.with_suffix(".txt").write_text(f"command: {command}\n\n{table}\n")
