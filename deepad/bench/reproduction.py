"""``deepad bench all``: every quality suite in one run, collected into one markdown report.

Each suite runs with its own settings and ``--quick`` when given; what it prints (its tables,
the PyOD peers on the same split and, where the suite has them, the seed paper's published
figures) becomes one section of the report, and its JSON results lie beside it. A suite that
cannot run (e.g. its data is missing) is recorded with the reason and the others go on.

The report is ``benchmarks/results/reproduction.md`` (``reproduction-quick.md`` with
``--quick``), or ``--output``'s name with ``.md``; the suites' files go in a folder of the same
name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from deepad.bench import BenchOptions, list_suites, run_suite, suite

log = logging.getLogger(__name__)

RESULTS = Path("benchmarks") / "results"
# the suites that measure detection quality against published or peer figures
QUALITY_SUITES = (
    "ae-fmnist",
    "fcdd-fmnist",
    "fcdd-defects",
    "dsebm-kdd",
    "dsebm-thyroid",
    "dsebm-mnist",
    "cvdd-reuters",
    "cvdd-20ng",
)


class _Tee(io.TextIOBase):
    """Writes to the console and keeps a copy for the report."""

    def __init__(self, console: TextIO) -> None:
        self.console, self.copy = console, io.StringIO()

    def write(self, text: str) -> int:
        self.console.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self.console.flush()


def _report_path(options: BenchOptions) -> Path:
    if options.output:
        return options.output.with_suffix(".md")
    return RESULTS / ("reproduction-quick.md" if options.quick else "reproduction.md")


def run_all(options: BenchOptions, suites: tuple[str, ...] = QUALITY_SUITES) -> Path:
    """Run ``suites`` one after another; returns the report's path."""
    report = _report_path(options)
    folder = report.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    descriptions = list_suites()
    sections = []
    start = time.perf_counter()
    for name in suites:
        began = time.perf_counter()
        tee = _Tee(sys.stdout)
        status = "done"
        try:
            with contextlib.redirect_stdout(tee):
                run_suite(name, dataclasses.replace(options, output=folder / f"{name}.json"))
        except Exception as error:  # one suite's failure must not end the others
            log.warning("suite %s did not run: %s", name, error)
            status = f"did not run: {type(error).__name__}: {error}"
        text = tee.copy.getvalue().strip()
        (folder / f"{name}.txt").write_text(text + "\n")
        sections.append(
            {
                "name": name,
                "description": descriptions.get(name, ""),
                "status": status,
                "seconds": time.perf_counter() - began,
                "text": text,
            }
        )
    report.write_text(format_report(options, sections, time.perf_counter() - start))
    return report


def format_report(options: BenchOptions, sections: list[dict[str, Any]], seconds: float) -> str:
    quick = " --quick" if options.quick else ""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    lines = [
        f"# Reproduction report ({stamp})",
        "",
        f"`deepad bench all{quick}`: every quality suite, with the PyOD peers run on the same "
        "split and, where a suite prints them, the seed paper's published figures.",
        "",
        "| suite | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.0f} |" for s in sections]
    for s in sections:
        lines += ["", f"## {s['name']}", "", s["description"], ""]
        if s["status"] != "done":
            lines += [f"Not run: {s['status']}", ""]
        if s["text"]:
            lines += ["```", s["text"], "```"]
    lines += ["", f"Wall time {seconds:.0f} s.", ""]
    return "\n".join(lines)


@suite("all", "every quality suite in one run, collected into one markdown report")
def run_every_suite(options: BenchOptions) -> None:
    path = run_all(options)
    print(f"report: {path}")
