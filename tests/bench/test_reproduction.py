"""``deepad bench all`` collects each suite's printed tables into one report and goes on past a
suite that cannot run."""

import json

import deepad.bench as bench
from deepad.bench import BenchOptions, list_suites
from deepad.bench.reproduction import QUALITY_SUITES, run_all


def test_report_collects_every_suite(tmp_path, monkeypatch, capsys):
    def fine(options):
        print("class  auroc\nshirt  0.912\npublished  0.901")
        options.output.write_text(json.dumps({"quick": options.quick}))

    def missing(options):
        raise FileNotFoundError("benchmark data directory nowhere does not exist")

    list_suites()  # load the real suites first, so these two are added to them
    monkeypatch.setitem(bench._SUITES, "fake-fine", (fine, "a suite that runs"))
    monkeypatch.setitem(bench._SUITES, "fake-missing", (missing, "a suite without data"))
    options = BenchOptions(quick=True, output=tmp_path / "report.json")
    report = run_all(options, suites=("fake-fine", "fake-missing"))
    text = report.read_text()
    assert report == tmp_path / "report.md"
    assert "| fake-fine | done |" in text and "shirt  0.912" in text
    assert "did not run: FileNotFoundError" in text
    assert json.loads((tmp_path / "report" / "fake-fine.json").read_text()) == {"quick": True}
    assert "0.912" in (tmp_path / "report" / "fake-fine.txt").read_text()
    assert "shirt" in capsys.readouterr().out  # still printed as it runs
    assert set(QUALITY_SUITES) <= set(list_suites())
