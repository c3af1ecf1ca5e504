"""fcdd-defects' ``eval_epochs``: the weights kept after an earlier epoch are the weights a run
of that many epochs ends with (constant learning rate, same seed), so one long run stands for
the shorter ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from deepad.bench.fcdd import _DefectJob
from deepad.models.fcdd import FCDD, FCDDConfig


def _images(n=24, side=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_snapshot_after_an_epoch_equals_the_shorter_run():
    config = FCDDConfig(epochs=3, batch_size=8, device="cpu", checkpoint_every=0, width=0.25)
    long = FCDD(config=config)
    kept = {}

    def keep(p):
        if p.epoch_end and p.epoch == 2:
            kept.update({k: v.detach().clone() for k, v in long.network_.state_dict().items()})

    long.fit(_images(), progress=keep)
    short = FCDD(config=dataclasses.replace(config, epochs=2)).fit(_images())
    final = long.network_.state_dict()
    assert any(not torch.equal(final[k], kept[k]) for k in kept)  # epoch 3 moved on
    for name, value in short.network_.state_dict().items():
        assert torch.equal(value, kept[name]), name


def test_defect_job_reports_each_evaluated_epoch():
    config = FCDDConfig(
        epochs=2, batch_size=8, device="cpu", checkpoint_every=0, width=0.25, image_size=32
    )
    job = _DefectJob(
        config=config,
        modes=("unsupervised",),
        size=32,
        n_train=12,
        quick=True,
        seed=0,
        eval_epochs=(1, 2),
        threads=1,
    )
    rows = job("round_part")
    assert [r["epochs"] for r in rows] == [1, 2]
    assert all(0.0 <= r["pixel AUROC"] <= 1.0 for r in rows)
    assert rows[0]["pixel AUROC"] != rows[1]["pixel AUROC"]
