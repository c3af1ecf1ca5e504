"""The pretrained-feature benchmark suites: registered, and a tiny defects run end to end."""

from __future__ import annotations

import json

from deepad.bench import BenchOptions, list_suites, run_suite
from deepad.bench.report import split_settings


def test_suites_are_registered():
    suites = list_suites()
    for name in (
        "patchcore-defects",
        "pretrained-fmnist",
        "pretrained-fmnist-heldout",
        "patchcore-speed",
    ):
        assert name in suites


def test_set_pairs_split_into_suite_settings_and_overrides():
    own, overrides = split_settings({"size": "64", "k": "3"}, ("size",))
    assert own == {"size": "64"} and overrides == {"k": "3"}


def test_defects_suite_writes_its_table(tmp_path):
    output = tmp_path / "defects.json"
    extra = {"size": "48", "n_train": "6", "n_threshold": "2", "coreset_share": "0.2"}
    run_suite(
        "patchcore-defects",
        BenchOptions(quick=True, classes=["fabric"], device="cpu", output=output, extra=extra),
    )
    payload = json.loads(output.read_text())
    first = payload["rows"][0]
    assert first["texture"] == "fabric" and 0.0 <= first["pixel AUROC"] <= 1.0
    assert "px scratch" in first and output.with_suffix(".md").exists()
