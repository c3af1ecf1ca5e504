"""``deepad bench cold-start``: how long a new dashboard process takes to show the Train page.

Two measures, each in a fresh interpreter (cold imports, as for a new app process), over a
temporary deepad home holding one image dataset:

- **methods + forms**: from interpreter start, ``import deepad.service``, ``Service()``, the
  methods for image data, every one's settings form (``config_fields`` from the data), their
  titles and the device name: what the Train page asks the service for;
- **Train page**: the first paint of the Train page with Streamlit's ``AppTest``
  (``benchmarks/render_page.py``: the Data page is rendered first, so Streamlit's own imports
  are not timed, the method catalogue and the page's work are), and the whole process's wall
  time.

With ``--set baseline=REV`` (a git revision) the same measures run on that revision's code,
exported with ``git archive`` to a temporary folder, alternating with this checkout's, so both
see the same machine load. Each figure is the median of ``--set repeats=N`` (default 5) runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results
from deepad.data.types import DataKind, Dataset

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path("benchmarks") / "results"

# Run in the measured interpreter; prints JSON. Works on the code of any revision whose
# Service has methods(kind), config_fields(name, dataset_id), method_title and device_name.
PROBE = """
import time
start = time.perf_counter()
import json, sys
from deepad.service import Service
svc = Service()
methods = svc.methods("image")
forms = [svc.config_fields(m.name, sys.argv[1]) for m in methods]
titles = [svc.method_title(m.name) for m in methods]
device = svc.device_name()
print(json.dumps({"seconds": time.perf_counter() - start, "methods": len(methods),
                  "torch": "torch" in sys.modules}))
"""


def _image_dataset(home: Path) -> str:
    from deepad.data.registry import DatasetRegistry

    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, (32, 64, 64, 3), dtype=np.uint8))
    data = Dataset(DataKind.IMAGE, images, [f"{i:03d}.png" for i in range(32)])
    return DatasetRegistry(home).add(data, name="images 64 px").id


def _run(code: Path, home: Path, args: list[str]) -> tuple[dict, float]:
    env = {
        **os.environ,
        "DEEPAD_HOME": str(home),
        "PYTHONPATH": str(code),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.pop("DEEPAD_PLUGINS", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=code, env=env, capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def measure(code: Path, home: Path, dataset_id: str) -> dict:
    """One cold run of each measure on the code under ``code``."""
    probe, probe_wall = _run(code, home, ["-c", PROBE, dataset_id])
    page = json.dumps(["pages/train.py", {"selected_train": dataset_id}])
    paint, page_wall = _run(code, home, [str(code / "benchmarks" / "render_page.py"), page])
    if paint["errors"]:
        raise RuntimeError(f"the Train page failed: {paint['errors']}")
    return {
        "methods + forms s": probe["seconds"],
        "methods + forms process s": probe_wall,
        "train page paint s": paint["seconds"],
        "train page process s": page_wall,
        "methods": probe["methods"],
        "torch": probe["torch"],
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _export(revision: str, folder: Path) -> str:
    """The code of ``revision`` under ``folder``; returns its commit."""
    commit = _git("rev-parse", "--verify", f"{revision}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return commit


MEASURES = [
    "methods + forms s",
    "methods + forms process s",
    "train page paint s",
    "train page process s",
]


@suite(
    "cold-start",
    "a new app process: methods, their forms and the Train page's first paint "
    "(--set baseline=REV compares a git revision)",
    needs_data=False,
)
def run(options: BenchOptions) -> None:
    repeats = int(options.extra.get("repeats", "5"))
    load_before = os.getloadavg()[0]
    baseline = options.extra.get("baseline")
    with tempfile.TemporaryDirectory(prefix="deepad-cold-") as folder:
        home = Path(folder) / "home"
        dataset_id = _image_dataset(home)
        codes = {"this checkout": ROOT}
        commits = {"this checkout": _git("rev-parse", "HEAD")}
        if _git("status", "--porcelain", "--untracked-files=no"):
            commits["this checkout"] += " + uncommitted changes"
        if baseline:
            (Path(folder) / "baseline").mkdir()
            commits[f"baseline {baseline}"] = _export(baseline, Path(folder) / "baseline")
            codes[f"baseline {baseline}"] = Path(folder) / "baseline"
        runs: dict[str, list[dict]] = {name: [] for name in codes}
        for i in range(repeats):
            for name, code in reversed(codes.items()) if i % 2 else codes.items():
                runs[name].append(measure(code, home, dataset_id))
                print(f"{name} run {i + 1}: {json.dumps(runs[name][-1])}", flush=True)
    rows = []
    for name, found in runs.items():
        row = {"code": name, "commit": commits[name][:12] + commits[name][40:]}
        row.update({m: statistics.median(r[m] for r in found) for m in MEASURES})
        row["torch imported"] = "yes" if any(r["torch"] for r in found) else "no"
        row["methods"] = found[0]["methods"]
        rows.append(row)
    columns = ["code", "commit", *MEASURES, "torch imported", "methods"]
    shown = [{k: f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    text = format_table(
        shown, columns, title=f"App cold start, median of {repeats} fresh processes"
    )
    cores = os.cpu_count() or 1
    text += (
        f"\n\n1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at "
        f"the end, on {cores} cores"
    )
    print("\n" + text)
    path = options.output or RESULTS / "app-cold-start.json"
    write_results(
        path,
        {"suite": "cold-start", "rows": rows, "runs": runs, "commits": commits, "cores": cores},
    )
    command = command_line()
    path.with_suffix(".md").write_text(
        f"# app cold start\n\nCommand: `{command}`\n\n```\n{text}\n```\n\n"
        "methods + forms: `import deepad.service`, `Service()`, the image methods, each one's "
        "settings form for a 64 px image dataset, their titles and the device name, timed from "
        "interpreter start. train page paint: the Train page's first paint in AppTest after "
        "the Data page (benchmarks/render_page.py); process: the wall time of that whole "
        "process. Runs alternate between the two codes; one CPU thread each "
        "(OMP_NUM_THREADS=1).\n"
    )
