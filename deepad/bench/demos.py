"""``deepad bench demos``: every bundled demo set trained the way the app trains it.

Each (demo, method) pair goes through the run workflow that ``deepad train --method M --data
demo:NAME`` and the Train page use, with the settings the Train form starts from (the method's
defaults and this machine's suggestions), in a throw-away deepad home; the table holds the metrics that run records (AUROC, AUPRC, F1 at the saved threshold,
pixel AUROC where the demo has masks) and its times. Each demo also runs the method the Train
page recommends for it on a CPU (``method = auto``), marked in the ``auto`` column. The figures are a demo's, not a
benchmark's: the demo sets are small and their test sets were looked at when they were built.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results

RESULTS = Path("benchmarks") / "results"

# the methods each demo is meant to show, in the order the table lists them
DEMO_METHODS: dict[str, tuple[str, ...]] = {
    "fashion": ("ae", "embedding_knn"),
    "reuters": ("cvdd", "embedding_ocsvm"),
    "signals": ("dsebm",),
    "textures": ("fcdd", "patchcore"),
    "thyroid": ("dsebm", "iforest"),
}
COLUMNS = ("demo", "method", "auto", "auroc", "auprc", "f1", "pixel_auroc", "fit s", "total s")


def run_demo(home: Path, demo: str, method: str, *, seed: int = 0) -> dict[str, Any]:
    """Train ``method`` with its defaults on demo ``demo`` in deepad home ``home``; returns the
    run's recorded metrics with the demo and method names and the wall time."""
    from deepad.runs import RunStore
    from deepad.runs.workflow import execute
    from deepad.service import Service

    service = Service(home)
    parts = service.use_demo(demo)
    # what the Train form sends when nothing is changed: the defaults and this machine's
    # suggestions (e.g. FCDD's lighter width on a CPU)
    values = {spec.name: spec.default for spec in service.config_fields(method) if spec.suggested}
    if any(spec.name == "seed" for spec in service.config_fields(method)):
        values["seed"] = seed
    config = service.build_config(method, values)
    store = RunStore(home)
    run_id = store.create_run(method, config, parts.train, parts.test, parts.labeled)
    start = time.perf_counter()
    record = execute(store, run_id)
    if record.status != "done":
        raise RuntimeError(f"{method} on demo {demo} {record.status}: {record.error}")
    found = dict(record.metrics)
    return {
        "demo": demo,
        "method": method,
        **{k: found[k] for k in ("auroc", "auprc", "f1", "pixel_auroc") if k in found},
        "fit s": float(found.get("fit_seconds", float("nan"))),
        "total s": time.perf_counter() - start,
    }


def recommended_method(home: Path, demo: str) -> str:
    """The method the Train page's ``auto`` stands for on demo ``demo`` on a CPU."""
    from deepad.service import Service

    service = Service(home)
    parts = service.use_demo(demo)
    return service.recommend(parts.train, parts.test, parts.labeled, gpu=False).method


def demo_methods(home: Path, demo: str) -> tuple[tuple[str, ...], str]:
    """The methods the table runs on ``demo`` (its own, then the recommended one if it is not
    among them) and the recommended one."""
    auto = recommended_method(home, demo)
    own = DEMO_METHODS[demo]
    return (own if auto in own else (*own, auto)), auto


@suite("demos", "every bundled demo set trained with each of its methods' default settings")
def run(options: BenchOptions) -> None:
    wanted = options.extra.get("demos")
    demos = wanted.split(",") if wanted else list(DEMO_METHODS)
    unknown = [d for d in demos if d not in DEMO_METHODS]
    if unknown:
        raise ValueError(f"no demo set {', '.join(unknown)}; demo sets: {', '.join(DEMO_METHODS)}")
    only = options.extra.get("methods")
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepad-demos-") as home:
        for demo in demos:
            methods, auto = demo_methods(Path(home), demo)
            for method in methods:
                if only and method not in only.split(","):
                    continue
                row = run_demo(Path(home), demo, method, seed=options.seed)
                rows.append({**row, "auto": "✓" if method == auto else ""})
                print(format_table(rows[-1:], COLUMNS), flush=True)
    wall = time.perf_counter() - start
    text = format_table(rows, COLUMNS, title="Demo sets, default settings (the app's path)")
    text += f"\n\ntorch threads {torch.get_num_threads()}; wall time {wall:.0f} s"
    print("\n" + text)
    path = options.output or RESULTS / "demos.json"
    write_results(path, {"suite": "demos", "rows": rows, "seconds": wall})
    command = command_line()
    path.with_suffix(".md").write_text(f"# demos\n\nCommand: `{command}`\n\n```\n{text}\n```\n")
