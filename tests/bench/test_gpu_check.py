"""``deepad bench gpu`` on the CPU at tiny sizes: every workload runs and the report is written."""

import json

from deepad.bench import BenchOptions, needs_data
from deepad.bench.gpu import WORKLOADS, format_report, run_check


def test_quick_cpu_check_writes_json_and_markdown(tmp_path):
    output = tmp_path / "gpu.json"
    options = BenchOptions(
        device="cpu",
        quick=True,
        output=output,
        # MiniLM loading and PatchCore's backbone take seconds on a CPU; the GPU check runs them
        extra={"scale": "0.1", "skip": "minilm,patchcore"},
    )
    payload = run_check(options)
    saved = json.loads(output.read_text())
    assert saved["machine"]["device"].startswith("CPU")
    names = [row["workload"] for row in saved["rows"]]
    assert [n.split()[0] for n in names[:4]] == ["FCDD", "DSEBM", "DSEBM", "CVDD"]
    for row in saved["rows"]:
        if "train x" in row:
            assert row["train x"] > 0 and row["score x"] > 0
    text = output.with_suffix(".md").read_text()
    assert "train x" in text and "peak GPU MiB" not in text  # ratios only on the CPU
    assert format_report(payload) == text
    assert not needs_data("gpu")
    assert set(WORKLOADS) >= {"fcdd", "cvdd", "minilm", "patchcore"}


def test_score_memory_measures_both_ways():
    from deepad.bench.memory import measure

    for mode in ("whole", "chunks"):
        row = measure(40, mode)
        assert row["images"] == 40 and row["peak RSS growth MiB"] >= 0
