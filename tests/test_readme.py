"""The README's benchmark table: every row names a results file that exists, holds each figure
the row quotes and records the command the row gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = ["suite: figure", "deepad", "peers on the same split, same run", "file", "command"]
FIGURE = re.compile(r"(?<![\w.=])\d+\.\d{3}(?![\d])")  # 0.921, 1.000 (not r=3, not 64×64)
NUMBER = re.compile(r"-?\d+\.\d+")


def benchmark_rows() -> list[dict[str, str]]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(COLUMNS), line
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def normalised_command(text: str) -> str:
    """A command without ``--output FILE`` (rows name the file themselves), spaces collapsed."""
    text = re.sub(r"--output\s+\S+", "", text.strip("` "))
    return " ".join(text.split())


def quoted_figures(row: dict[str, str]) -> list[str]:
    return FIGURE.findall(row["deepad"]) + FIGURE.findall(row["peers on the same split, same run"])


def holds(text: str, figure: str) -> bool:
    """``text`` has a number that rounds to ``figure`` at its precision."""
    decimals = len(figure.split(".")[1])
    wanted = float(figure)
    return any(
        abs(float(found) - wanted) <= 0.5 * 10**-decimals + 1e-12 for found in NUMBER.findall(text)
    )


ROWS = benchmark_rows()


def test_the_table_has_rows():
    assert len(ROWS) >= 10


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"].strip("`"))
def test_row_is_backed_by_its_results_file(row):
    path = RESULTS / row["file"].strip("`")
    assert path.is_file(), f"{path.name} is missing"
    text = path.read_text("utf-8")
    figures = quoted_figures(row)
    assert figures, f"no figure quoted in {row}"
    missing = [f for f in figures if not holds(text, f)]
    assert not missing, f"{path.name} does not hold {', '.join(missing)}"
    command = normalised_command(row["command"])
    assert command.startswith(("deepad ", "OMP_NUM_THREADS=1 deepad ")), command
    recorded = normalised_command(text.replace("`", " "))
    assert command in recorded, f"{path.name} does not record the command {command!r}"


def test_figure_check_rejects_a_wrong_figure():
    assert holds("mean 0.9212 0.9172", "0.921")
    assert not holds("mean 0.9212 0.9172", "0.925")
    assert FIGURE.findall("CVDD r=3 0.969, 64×64 1.000 / 0.995") == ["0.969", "1.000", "0.995"]


def other_tables_rows() -> list[tuple[str, dict[str, str]]]:
    """Rows of the README's other tables whose last two columns are ``file`` and ``command``
    (thresholds, near-duplicates, CPU defaults): ``(first cell, {column: cell})``."""
    text = (ROOT / "README.md").read_text("utf-8")
    outside = (
        text.split("## Benchmarks", 1)[0] + text.split("## Benchmarks", 1)[1].split("\n## ", 1)[1]
    )
    rows, header = [], None
    for line in outside.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: ") and header[-2:] == ["file", "command"]:
            rows.append((cells[0], dict(zip(header, cells, strict=True))))
    return rows


OTHER_ROWS = other_tables_rows()


def test_the_other_tables_have_rows():
    assert len(OTHER_ROWS) >= 5


@pytest.mark.parametrize("row", [r for _, r in OTHER_ROWS], ids=[f for f, _ in OTHER_ROWS])
def test_other_table_row_is_backed_by_its_results_file(row):
    path = RESULTS / row["file"].strip("`")
    assert path.is_file(), f"{path.name} is missing"
    text = path.read_text("utf-8")
    figures = other_figures(row)
    missing = [f for f in figures if not holds(text, f)]
    assert not missing, f"{path.name} does not hold {', '.join(missing)}"
    command = normalised_command(row["command"])
    assert command in normalised_command(text.replace("`", " ")), command


def other_figures(row: dict[str, str]) -> list[str]:
    """The figures an other table's row quotes: its cells after the first (what it is),
    before the file and the command."""
    quoted = [cell for column, cell in row.items() if column not in ("file", "command")][1:]
    return [f for cell in quoted for f in FIGURE.findall(cell)]


OUTPUT = re.compile(r"--output\s+(benchmarks/results/\S+\.json)")
WRITTEN = [
    (row["file"].strip("`"), found.group(1), figures)
    for row, figures in [
        *((r, quoted_figures(r)) for r in ROWS),
        *((r, other_figures(r)) for _, r in OTHER_ROWS),
    ]
    if (found := OUTPUT.search(row["command"]))
]


@pytest.mark.parametrize("name, output, figures", WRITTEN, ids=[w[1] for w in WRITTEN])
def test_the_json_a_row_s_command_writes_holds_its_figures_too(name, output, figures):
    # the row names the readable file; the command's --output names the JSON beside it
    text = (ROOT / output).read_text("utf-8")
    missing = [f for f in figures if not holds(text, f)]
    assert not missing, f"{output} does not hold {', '.join(missing)} (quoted from {name})"


def test_every_image_the_readme_shows_is_in_the_repository():
    text = (ROOT / "README.md").read_text("utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images
    for image in images:
        assert (ROOT / image).is_file(), image
