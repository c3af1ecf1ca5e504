"""PatchCore settings compared on the photo suite's tuning categories (never the reported ones).

Usage: ``python scripts/patchcore_tuning.py CATEGORIES VARIANTS N_TRAIN``, e.g.
``python scripts/patchcore_tuning.py coins,cell,coffee,motorcycle old,zeros,zeros+each 40``.
Each variant is a full set of the settings that were compared (below); every other setting
is the detector's default. Prints one JSON line per category and variant (image AUROC, the
image AUROC of the smoothed map's peak ``imgmap``, pixel AUROC, AUPRO, CPU seconds with the
backbone features cached after the first variant) and a mean per variant.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from deepad import metrics
from deepad.data.benchmarks.photos import make_category
from deepad.models.patchcore import PatchCore, PatchCoreConfig

OLD = {"pool_border": "inside", "pool_each_stage": False, "coreset_share": 0.1}
ZEROS = {**OLD, "pool_border": "zeros"}
ZE = {**ZEROS, "pool_each_stage": True}
VARIANTS = {
    "old": OLD,
    "zeros": ZEROS,
    "zeros+each": ZE,
    "zeros+reweight": {**ZEROS, "reweight": True},
    "zeros+each+reweight": {**ZE, "reweight": True},
    "ze+noproj": {**ZE, "projection_dim": 0},
    "ze+fullgreedy": {**ZE, "coreset_block": 0},
    "ze+sigma2": {**ZE, "sigma": 2.0},
    "ze+sigma8": {**ZE, "sigma": 8.0},
    "ze+share25": {**ZE, "coreset_share": 0.25},
    "ze+share05": {**ZE, "coreset_share": 0.05},
    "ze+noproj+share05": {**ZE, "projection_dim": 0, "coreset_share": 0.05},
    # the map's upsampling, on top of the defaults chosen above (ze+share05)
    "geometry": {"upsample": "geometry"},
    "nearest": {"upsample": "nearest"},
    "nearest+sigma2": {"upsample": "nearest", "sigma": 2.0},
    "nearest+greedy10": {"upsample": "nearest", "coreset_share": 0.1, "coreset_block": 0},
    # against anomalib's PatchCore, on top of the defaults chosen above (nearest)
    "base": {},
    "reweight": {"reweight": True},
    "share10": {"coreset_share": 0.1},
    "proj0": {"projection_dim": 0},
    "block16k": {"coreset_block": 16384},
    "smoothed": {"image_score": "smoothed_map"},
    "bilinear": {"stage_align": "bilinear"},
    "bilinear+reweight": {"stage_align": "bilinear", "reweight": True},
    "upbilinear": {"upsample": "bilinear"},
    "upbilinear+bilinear": {"upsample": "bilinear", "stage_align": "bilinear"},
    "size224": {"image_size": 224},
    "seed1": {"seed": 1},
    "seed2": {"seed": 2},
    "share10+seed1": {"coreset_share": 0.1, "seed": 1},
    "share10+seed2": {"coreset_share": 0.1, "seed": 2},
    "bilinear+seed1": {"stage_align": "bilinear", "seed": 1},
    "bilinear+seed2": {"stage_align": "bilinear", "seed": 2},
}


def main() -> None:
    torch.set_num_threads(1)
    categories, names, n_train = sys.argv[1].split(","), sys.argv[2].split(","), int(sys.argv[3])
    rows = []
    for category in categories:
        train, test = make_category(category, n_train=n_train)
        masks = metrics.pixel_masks(test, range(len(test)))
        for name in names:
            start = time.process_time()
            config = PatchCoreConfig(device="cpu", **VARIANTS[name])
            detector = PatchCore(config=config).fit(train)
            scores = detector.score(test).score
            maps = detector.explain(test).maps
            peaks = maps.reshape(len(maps), -1).max(axis=1)
            row = {
                "cat": category,
                "v": name,
                "img": round(metrics.auroc(test.labels, scores), 4),
                "imgmap": round(metrics.auroc(test.labels, peaks), 4),
                "pix": round(metrics.pixel_auroc(masks, maps), 4),
                "aupro": round(metrics.aupro(masks, maps), 4),
                "cpu": round(time.process_time() - start, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name in names:
        mine = [r for r in rows if r["v"] == name]
        means = {k: np.mean([r[k] for r in mine]) for k in ("img", "imgmap", "pix", "aupro")}
        print(f"MEAN {name:22s} " + " ".join(f"{k} {v:.4f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
