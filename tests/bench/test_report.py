"""What a results file records of the command that wrote it."""

import re
from pathlib import Path

from deepad.bench.report import command_line


def test_command_line_names_no_path_of_the_machine_that_ran_it():
    argv = [
        "bench", "thresholds", "--data", "/srv/data", "--threads", "1",
        "--output", "/tmp/wt/benchmarks/results/thresholds-photo.json",
    ]  # fmt: skip
    assert command_line(argv) == (
        "deepad bench thresholds --data DATA --threads 1 "
        "--output benchmarks/results/thresholds-photo.json"
    )


def test_command_line_keeps_relative_outputs_and_reads_the_equals_form():
    assert command_line(["bench", "demos", "--data=/srv/d", "--output=out/demos.json"]) == (
        "deepad bench demos --data=DATA --output=out/demos.json"
    )
    assert command_line(["bench", "demos", "--output", "/home/u/demos.json"]) == (
        "deepad bench demos --output demos.json"
    )


def test_committed_results_record_no_machine_paths():
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    absolute = re.compile(r"(^|[\s=\"'])/[A-Za-z]")
    for path in sorted(p for p in results.rglob("*") if p.suffix in (".json", ".md", ".txt")):
        for line in path.read_text().splitlines():
            if "deepad bench" in line:
                assert not absolute.search(line.split("deepad bench", 1)[1]), (path.name, line)
