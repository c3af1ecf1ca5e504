"""``deepad bench explain-latency``: how long the Explain page waits for one item.

Each demo model is trained the way the app trains it (:func:`deepad.bench.demos.run_demo`),
and the precompute job the run queues when it ends is carried out as a worker would
(``python -m deepad.tasks``): it stores the explainers of the top-scored items
(:mod:`deepad.explain.precompute`).
Then a fresh interpreter that never imports torch — as the app process — asks the service for
one item's explanations: the top-scored item and the median one, each read twice (cold: the
first read in the process; warm: the second), and once more computed the old way, in a
subprocess that imports torch and loads the model (``saved=False``). The table also gives
what the precomputation cost the run and how many of its items it covered.

``--set home=PATH`` keeps the trained runs in that deepad home (for screenshots);
``--set demos=fashion,thyroid`` restricts the demos.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results

RESULTS = Path("benchmarks") / "results"
DEMOS = (
    ("fashion", "ae"),
    ("textures", "fcdd"),
    ("thyroid", "dsebm"),
    ("signals", "dsebm"),
    ("reuters", "cvdd"),
)
COLUMNS = (
    "demo",
    "method",
    "items",
    "stored",
    "store s",
    "cold ms",
    "warm ms",
    "subprocess s",
    "torch in app",
)

# what the app process does, timed: no torch import anywhere on this path
MEASURE = """
import json, statistics, sys, time
from deepad.service import Service
home, runs = sys.argv[1], json.loads(sys.argv[2])
svc = Service(home)
out = []
for run_id in runs:
    results = svc.results(run_id)
    order = [int(i) for i in results.order]
    row = {"run": run_id, "cold": [], "warm": [], "sources": []}
    for item in (order[0], order[len(order) // 2]):
        for which in ("cold", "warm"):
            start = time.perf_counter()
            found = svc.explain_item(run_id, item)
            row[which].append(time.perf_counter() - start)
            row["sources"].append(found.source)
        row["methods"] = sorted(found.maps)
    start = time.perf_counter()
    svc.explain_item(run_id, order[0], saved=False)
    row["subprocess"] = time.perf_counter() - start
    out.append(row)
torch = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"runs": out, "torch": torch}))
"""


def _train(home: Path, demos: list[tuple[str, str]], seed: int) -> list[dict[str, Any]]:
    from deepad.bench.demos import run_demo
    from deepad.explain.precompute import read_manifest
    from deepad.runs import RunStore
    from deepad.runs.store import PRECOMPUTE

    store = RunStore(home)
    rows = []
    for demo, method in demos:
        run_demo(home, demo, method, seed=seed)
        record = max(store.list_runs(), key=lambda r: r.id)
        stored = float("nan")
        for job in store.list_runs(kind=PRECOMPUTE, parent=record.id):
            subprocess.run(
                [sys.executable, "-m", "deepad.tasks", "--home", str(home), str(job.id)],
                check=False,
            )
            stored = float(store.get(job.id).metrics.get("seconds", float("nan")))
        manifest = read_manifest(store.folder(record.id).explainer_items) or {}
        rows.append(
            {
                "demo": demo,
                "method": method,
                "run": record.id,
                "items": int(record.metrics.get("items", 0)),
                "stored": int(manifest.get("count", 0)),
                "store s": stored,
                "methods": manifest.get("methods", []),
            }
        )
        print(f"trained {demo} / {method}: run {record.id}", flush=True)
    return rows


@suite(
    "explain-latency",
    "one item's explanations on the Explain page, stored at scoring vs computed on demand",
    needs_data=False,
)
def run(options: BenchOptions) -> None:
    wanted = options.extra.get("demos")
    demos = [d for d in DEMOS if not wanted or d[0] in wanted.split(",")]
    kept = options.extra.get("home")
    with tempfile.TemporaryDirectory(prefix="deepad-explain-latency-") as scratch:
        home = Path(kept) if kept else Path(scratch)
        rows = _train(home, demos, options.seed)
        measured = subprocess.run(
            [sys.executable, "-c", MEASURE, str(home), json.dumps([r["run"] for r in rows])],
            capture_output=True,
            text=True,
            check=True,
        )
    found = json.loads(measured.stdout.strip().splitlines()[-1])
    for row, timing in zip(rows, found["runs"], strict=True):
        row.update(
            {
                "cold ms": round(1000 * max(timing["cold"]), 1),
                "warm ms": round(1000 * max(timing["warm"]), 1),
                "subprocess s": timing["subprocess"],
                "sources": sorted(set(timing["sources"])),
                "explainers": timing["methods"],
                "torch in app": "yes" if found["torch"] else "no",
            }
        )
    text = format_table(rows, COLUMNS, title="One item's explanations, Explain page")
    text += (
        "\n\nitems: scored test items; stored: items whose explainers the run stored when it "
        "scored (top-scored first, 60 s budget); store s: what storing them added to the run; "
        "cold / warm ms: the slower of the top-scored and the median item, first and second "
        "read in a fresh torch-free process (the app's); subprocess s: the same item computed "
        "on demand in a process that imports torch and loads the model (the path before)."
    )
    print("\n" + text)
    path = options.output or RESULTS / "explain-latency.json"
    write_results(path, {"suite": "explain-latency", "rows": rows})
    command = command_line()
    path.with_suffix(".md").write_text(
        f"# explain-latency\n\nCommand: `{command}`\n\n```\n{text}\n```\n"
    )
