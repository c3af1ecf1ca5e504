"""``deepad bench score-memory``: peak memory of scoring 10,000 and 100,000 generated images.

Each measurement runs in a fresh process (peak RSS only grows): an autoencoder is fitted on
256 images of 16×16, then N images are scored either in one call (``whole``) or in chunks
(:func:`deepad.scoring.score_in_chunks`, as a run and ``deepad score`` do), and the growth of
the peak RSS while scoring is recorded. Bounded scoring keeps it flat as N grows tenfold;
the images themselves (N × 768 bytes) are held before scoring begins and are not counted.
``--set sizes=10000,100000`` chooses N.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deepad.bench import BenchOptions, suite
from deepad.bench.report import format_table, write_results

RESULTS = Path("benchmarks") / "results"
SIDE = 16


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n: int, mode: str) -> dict[str, Any]:
    """Score ``n`` generated images in this process; the peak RSS growth while scoring."""
    import numpy as np

    from deepad.data.types import DataKind, Dataset
    from deepad.models.ae import Autoencoder
    from deepad.scoring import score_in_chunks

    rng = np.random.default_rng(0)
    config = Autoencoder.Config(epochs=1, image_size=SIDE, device="cpu", checkpoint_every=0)
    detector = Autoencoder(config=config).fit(rng.integers(0, 256, (256, SIDE, SIDE, 3), "u1"))
    images = rng.integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)
    data = Dataset(DataKind.IMAGE, list(images), [str(i) for i in range(n)])
    before = _peak_mib()
    start = time.perf_counter()
    scores = detector.score(data) if mode == "whole" else score_in_chunks(detector, data)
    assert len(scores.score) == n
    return {
        "images": n,
        "scoring": mode,
        "peak RSS growth MiB": _peak_mib() - before,
        "peak RSS MiB": _peak_mib(),
        "seconds": time.perf_counter() - start,
    }


def _in_fresh_process(n: int, mode: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "deepad.bench.memory", str(n), mode]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@suite(
    "score-memory",
    "peak memory of scoring 10,000 vs 100,000 generated images, whole vs in chunks",
    needs_data=False,
)
def run_score_memory(options: BenchOptions) -> None:
    sizes = [int(s) for s in options.extra.get("sizes", "10000,100000").split(",")]
    rows = [_in_fresh_process(n, mode) for mode in ("chunks", "whole") for n in sizes]
    columns = ["images", "scoring", "peak RSS growth MiB", "peak RSS MiB", "seconds"]
    text = format_table(rows, columns, "peak RSS while scoring (autoencoder, 16x16 RGB)")
    print(text)
    path = options.output or RESULTS / "score-memory.json"
    write_results(path, {"suite": "score-memory", "rows": rows})
    command = "deepad bench score-memory" + (
        f" --set sizes={options.extra['sizes']}" if "sizes" in options.extra else ""
    )
    path.with_suffix(".md").write_text(
        f"# score-memory\n\nCommand: `{command}`\n\n```\n{text}\n```\n"
    )


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    print(json.dumps(measure(int(sys.argv[1]), sys.argv[2])))
