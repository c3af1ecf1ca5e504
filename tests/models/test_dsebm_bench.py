"""The DSEBM benchmark suites run end to end on tiny generated files in the real formats."""

import gzip
import json

import numpy as np
import scipy.io

from deepad.bench import BenchOptions, run_suite
from deepad.bench.dsebm import ratio_metrics, split_half

KDD_NORMAL = "0,tcp,http,SF,{b},5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal."
KDD_SMURF = "0,icmp,ecr_i,SF,{b},0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,511,511,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,255,1.00,0.00,1.00,0.00,0.00,0.00,0.00,0.00,smurf."


def test_split_half_is_disjoint_and_stratified():
    labels = np.r_[np.zeros(90), np.ones(10)].astype(int)
    first, second = split_half(labels, 0, stratify=True)
    assert len(np.intersect1d(first, second)) == 0 and len(first) + len(second) == 100
    assert labels[first].sum() == 5 and labels[second].sum() == 5


def test_ratio_metrics_flag_the_top_share():
    labels = np.array([0, 0, 0, 1, 1])
    m = ratio_metrics(labels, np.array([0.1, 0.2, 0.9, 0.8, 1.0]), 0.4)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["auroc"] == 5 / 6


def test_kdd_and_thyroid_suites_run_on_tiny_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "kddcup99").mkdir()
    lines = [KDD_SMURF.format(b=int(b)) for b in rng.integers(1000, 1040, 160)]
    lines += [KDD_NORMAL.format(b=int(b)) for b in rng.integers(100, 400, 40)]
    text = "\n".join(rng.permutation(lines)) + "\n"
    (tmp_path / "kddcup99" / "kddcup.data_10_percent.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "odds").mkdir()
    x = np.r_[rng.normal(0.3, 0.05, (150, 3)), rng.normal(0.8, 0.05, (10, 3))]
    y = np.r_[np.zeros(150), np.ones(10)][:, None]
    scipy.io.savemat(tmp_path / "odds" / "thyroid.mat", {"X": x, "y": y})
    fast = {"epochs": "3", "device": "cpu"}
    out = tmp_path / "kdd.json"
    run_suite("dsebm-kdd", BenchOptions(data=tmp_path, peers=False, output=out, extra=dict(fast)))
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["DSEBM-e", "DSEBM-r"]
    assert rows[0]["auroc"] > 0.9  # normal traffic differs from the smurf rows in every field
    run_suite(
        "dsebm-thyroid",
        BenchOptions(data=tmp_path, classes=["thyroid"], peers=False, extra=dict(fast)),
    )
    printed = capsys.readouterr().out
    assert "ODDS thyroid: 75 training rows, 80 test rows" in printed
    assert "DSEBM-r" in printed and "paper DAGMM" in printed
