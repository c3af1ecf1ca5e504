"""The DSEBM benchmark suites run end to end on tiny generated files in the real formats."""

import gzip
import json

import numpy as np
import scipy.io

from deepad.bench import BenchOptions, dsebm, run_suite
from deepad.bench.dsebm import ratio_metrics, select_on_validation, split_half, validation_split
from deepad.data.types import DataKind, Dataset
from deepad.models.dsebm import DSEBMConfig
from deepad.results import Scores

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


def test_validation_split_holds_out_normals_and_keeps_the_anomaly_ratio():
    labels = np.r_[np.zeros(800), np.ones(200)].astype(int)
    fit, val = validation_split(labels, 0, val_normals=100, fit_limit=500)
    assert len(np.intersect1d(fit, val)) == 0
    assert (labels[fit] == 0).all() and len(fit) == 500
    assert (labels[val] == 0).sum() == 100 and (labels[val] == 1).sum() == 25  # 20% as in labels
    _, val = validation_split(labels, 0, val_normals=0.25, match_ratio=False)
    assert (labels[val] == 0).sum() == 200 and (labels[val] == 1).sum() == 200


class _Oracle:
    """Stands in for DSEBM: only noise_std = 0.5 sees column 0 (the label) and only by energy."""

    fits: list[np.ndarray] = []

    def __init__(self, *, config):
        self.config = config

    def fit(self, data):
        _Oracle.fits.append(np.asarray(data.items))
        return self

    def score(self, data):
        x = np.asarray(data.items)[:, 0]
        good = self.config.noise_std == 0.5
        energy = x if good else np.zeros(len(x))
        return Scores(score=energy, components={"energy": energy, "reconstruction": -x})


def test_selection_picks_the_best_validation_setting_and_fits_on_normals_only(monkeypatch):
    _Oracle.fits = []
    monkeypatch.setattr(dsebm, "DSEBM", _Oracle)
    labels = np.r_[np.zeros(300), np.ones(60)].astype(int)
    items = np.c_[labels, np.arange(len(labels))].astype(np.float32)
    half = Dataset(DataKind.TABLE, items, [str(i) for i in range(len(items))], labels=labels)
    grid = {"noise_std": [0.1, 0.5, 1.0], "hidden": [(4,), (8, 4)]}
    chosen = select_on_validation(half, DSEBMConfig(), grid, seed=0, val_normals=0.3)
    assert chosen.config.noise_std == 0.5 and chosen.criterion == "energy"
    assert chosen.config.criterion == "energy"
    assert len(chosen.rows) == 12 and sum(r["chosen"] == "*" for r in chosen.rows) == 1
    assert len(_Oracle.fits) == 6 and all((fit[:, 0] == 0).all() for fit in _Oracle.fits)
    assert "validation split of the training half" in chosen.summary


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
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [r["method"] for r in rows] == ["DSEBM-e", "DSEBM-r"]
    assert max(r["auroc"] for r in rows) > 0.9  # normal traffic differs from smurf rows
    assert sum(r["selected"] == "*" for r in rows) == 1
    assert "training half" in result["selection"]["summary"]
    run_suite(
        "dsebm-thyroid",
        BenchOptions(data=tmp_path, classes=["thyroid"], peers=False, extra=dict(fast)),
    )
    printed = capsys.readouterr().out
    assert "ODDS thyroid: 75 training rows, 80 test rows" in printed
    assert "DSEBM-r" in printed and "paper DAGMM" in printed
    assert printed.count("selected on a validation split of the training half") == 2
    run_suite("dsebm-kdd", BenchOptions(data=tmp_path, peers=False, extra={**fast, "select": "0"}))
    assert "model selection" not in capsys.readouterr().out
