"""``deepad bench pages``: how long the dashboard's pages take to first paint.

Runs written straight into a temporary deepad home (no training) stand for what a user has
after a while: a 90-item FCDD run with heatmaps and masks, a 10,000-item one, and 50 runs in
the Runs list. Each page is rendered with Streamlit's ``AppTest`` in a fresh interpreter (so
deepad itself never imports streamlit, and every page starts with cold caches, as it does
for a new app process); the Data page is rendered first, and each page is timed twice: as
soon as the Data page is shown, and once the background import that app.py starts is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, write_results
from deepad.data.types import DataKind, Dataset
from deepad.results import ImageMaps

ROOT = Path(__file__).resolve().parents[2]
GOALS = {"inspect, 90 items (FCDD)": 1.5, "inspect, 10,000 items (FCDD)": 2.0, "runs, 50": 1.0}

RENDER = ROOT / "benchmarks" / "render_page.py"  # runs streamlit, in its own process
RESULTS = Path("benchmarks") / "results"


def fcdd_run(svc, n: int, side: int = 64, seed: int = 0) -> int:
    """A finished FCDD run over ``n`` labeled images with masks, maps and low-res maps."""
    from deepad.models.checksum import MODEL_FILES
    from deepad.runs.artifacts import write_explanations

    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 3 == 0).astype(np.int8)
    images = list(rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8))
    mask = np.zeros((side, side), np.uint8)
    mask[side // 4 : side // 2, side // 4 : side // 2] = 1
    masks = [mask if y else None for y in labels]
    defects = [
        "good" if not y else ("crack", "dent", "spot")[i // 3 % 3] for i, y in enumerate(labels)
    ]
    names = [f"{d}/{i:05d}.png" for i, d in enumerate(defects)]
    data = Dataset(DataKind.IMAGE, images, names, labels, classes=defects, masks=masks)
    dataset_id = svc.registry.add(data, name=f"textures {n}").id
    low = rng.random((n, side // 8, side // 8)).astype(np.float32) + labels[:, None, None]
    scores = low.mean(axis=(1, 2)).astype(np.float64)
    run_id = svc.store.create_run("fcdd", {"epochs": 1}, dataset_id, dataset_id)
    svc.store.write_scores(run_id, names=names, scores=scores, labels=labels, classes=defects)
    write_explanations(
        svc.run_folder(run_id).explain,
        lambda p: ImageMaps(maps=np.kron(low[p], np.ones((8, 8), np.float32)), low_res=low[p]),
        np.arange(n),
    )
    model = svc.run_folder(run_id).model
    model.mkdir(parents=True, exist_ok=True)
    meta = {"receptive_field": {"size": 18, "jump": 8, "start": 3.5}, "image_size": side}
    (model / MODEL_FILES[0]).write_text(json.dumps({"meta": {**meta, "sigma": 4.0}}))
    threshold = float(np.quantile(scores, 0.9))
    found = {**metrics.summary(labels, scores, threshold), "pixel_auroc": 0.9}
    svc.store.update(run_id, status="done", progress=1.0, threshold=threshold, metrics=found)
    return run_id


def first_paints(home: Path) -> list[dict]:
    from deepad.service import Service

    svc = Service(home)
    small, large = fcdd_run(svc, 90), fcdd_run(svc, 10_000, side=32, seed=1)
    for i in range(48):  # finished and failed ones: a queued run would start a real worker
        other = svc.store.create_run("fcdd", {"epochs": 1}, svc.run(small).train_dataset)
        status = "failed" if i % 4 == 0 else "done"
        svc.store.update(other, status=status, progress=1.0, metrics=svc.run(small).metrics)
    cases = {
        "inspect, 90 items (FCDD)": ["pages/inspect.py", {"inspect_run": small}],
        "inspect, 10,000 items (FCDD)": ["pages/inspect.py", {"inspect_run": large}],
        "runs, 50": ["pages/runs.py", {}],
    }
    env = {**os.environ, "DEEPAD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    rows = []
    for name, case in cases.items():
        row: dict = {"page": name}
        for settled, column in ((False, "new process s"), (True, "first paint s")):
            done = subprocess.run(
                [sys.executable, str(RENDER), json.dumps([*case, settled])],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"{name}: {done.stderr[-2000:]}")
            found = json.loads(done.stdout.strip().splitlines()[-1])
            row[column] = float(found["seconds"])
            row["errors"] = "; ".join(found["errors"])[:80]
        seconds = row["first paint s"]
        row.update({"goal s": GOALS[name], "met": "yes" if seconds <= GOALS[name] else "no"})
        rows.append(row)
    return rows


@suite("pages", "dashboard first paint (AppTest): Inspect at 90 and 10,000 items, Runs with 50")
def run(options: BenchOptions) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = first_paints(Path(folder) / "home")
    columns = ["page", "first paint s", "goal s", "met", "new process s", "errors"]
    text = format_table(rows, columns, "first paint")
    text += (
        "\n\nfirst paint: the page opened after the Data page, once what the app loads in the "
        "background at start (scikit-learn) is loaded; new process: opened at once after the "
        "first page of a new app process, that import included"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text += f"\n\nload average (1, 5, 15 min) at the end: {load}, on {os.cpu_count()} cores"
    print(text)
    path = Path(options.output) if options.output else RESULTS / "pages.json"
    write_results(path, {"suite": "pages", "rows": rows})
    path.with_suffix(".md").write_text(
        f"# pages\n\nCommand: `deepad bench pages`\n\n```\n{text}\n```\n"
    )
