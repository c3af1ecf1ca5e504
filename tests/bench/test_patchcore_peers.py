"""The side-by-side PatchCore suite: weights mapped into timm exactly, a tiny run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("skimage")

from deepad.bench import BenchOptions, list_suites, run_suite  # noqa: E402


def test_lite0_weights_in_timm_give_deepads_stages():
    timm = pytest.importorskip("timm")
    import torch

    from deepad.bench.patchcore_peers import load_lite0_into_timm
    from deepad.features.backbone import pretrained_backbone

    network = timm.create_model(
        "tf_efficientnet_lite0", pretrained=False, features_only=True, out_indices=[2, 3]
    ).eval()
    assert network.feature_info.module_name() == ["blocks.2", "blocks.4"]
    load_lite0_into_timm(network)
    x = torch.randn(2, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = pretrained_backbone()(x, ("s8", "s16"))
        theirs = network(x)
    torch.testing.assert_close(theirs[0], ours["s8"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(theirs[1], ours["s16"], atol=1e-4, rtol=1e-4)


def test_deepad_side_of_the_suite_writes_its_table(tmp_path):
    assert "patchcore-peers" in list_suites()
    output = tmp_path / "peers.json"
    extra = {
        "categories": "moon",
        "tools": "deepad",
        "n_train": "6",
        "n_test_good": "3",
        "n_per_defect": "1",
        "size": "96",
    }
    run_suite("patchcore-peers", BenchOptions(extra=extra, output=output))
    payload = json.loads(output.read_text())
    assert payload["command"].startswith("deepad bench patchcore-peers --set categories=moon")
    rows = payload["rows"]
    assert [r["category"] for r in rows] == ["moon", "mean"]
    for key in ("image AUROC", "pixel AUROC", "AUPRO"):
        assert 0.0 <= rows[0][key] <= 1.0 and np.isfinite(rows[0][key])
    assert rows[0]["fit cpu s"] > 0 and rows[0]["peak MB"] > 0
    assert "AUPRO" in output.with_suffix(".md").read_text()


def test_repeated_runs_are_averaged_per_category():
    from deepad.bench.patchcore_peers import COLUMNS, per_category, summarise

    def run(category, tool, number, image):
        row = {c: 1.0 for c in COLUMNS[2:] if c != "image AUROC range"}
        return {**row, "category": category, "tool": tool, "run": number, "image AUROC": image}

    runs = [
        run("moon", "deepad", 0, 0.90),
        run("moon", "anomalib", 0, 0.80),
        run("moon", "deepad", 1, 0.96),
        run("moon", "anomalib", 1, 0.80),
        run("skin", "deepad", 0, 0.70),
        run("skin", "anomalib", 0, 0.75),
    ]
    rows = summarise(per_category(runs), ["anomalib", "deepad"])
    by = {(r["category"], r["tool"]): r for r in rows}
    assert by["moon", "deepad"]["image AUROC"] == pytest.approx(0.93)
    assert by["moon", "deepad"]["image AUROC range"] == pytest.approx(0.06)
    assert by["moon", "deepad"]["runs"] == 2 and by["skin", "deepad"]["runs"] == 1
    assert by["moon", "anomalib"]["image AUROC range"] == 0.0
    # the mean row weighs each category once, however many runs it had
    assert by["mean", "deepad"]["image AUROC"] == pytest.approx((0.93 + 0.70) / 2)
    assert by["mean", "anomalib"]["image AUROC"] == pytest.approx((0.80 + 0.75) / 2)
