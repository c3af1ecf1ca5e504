"""Cancel writes a checkpoint, two are kept, and a damaged newest one falls back."""

import pytest
import torch
from torch import nn

from deepad.errors import ModelFileError
from deepad.models.config import NetworkConfig
from deepad.train.checkpoint import load_checkpoint
from deepad.train.loop import fit_network
from deepad.train.progress import Cancelled, RunContext

CFG = NetworkConfig(epochs=4, batch_size=8, checkpoint_every=1, device="cpu")


def _train(tmp_path, *, resume=False, stop_after=None):
    torch.manual_seed(0)
    module = nn.Linear(2, 1)
    data = torch.utils.data.TensorDataset(torch.randn(32, 2))
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return stop_after is not None and calls["n"] > stop_after

    context = RunContext(checkpoint_dir=tmp_path, resume=resume, should_stop=should_stop)
    return fit_network(module, lambda m, b: m(b[0]).pow(2).mean(), data, CFG, context=context)


def test_cancel_checkpoints_the_finished_epochs(tmp_path):
    with pytest.raises(Cancelled):
        _train(tmp_path, stop_after=9)  # 4 batches an epoch: stops in epoch 3
    _, saved = load_checkpoint(tmp_path)
    assert saved["epoch"] == 2 and [h["epoch"] for h in saved["history"]] == [1, 2]
    history = _train(tmp_path, resume=True)
    assert [h.epoch for h in history] == [1, 2, 3, 4]


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    _train(tmp_path)
    (tmp_path / "last.safetensors").write_bytes(b"\0" * 10)
    files, saved = load_checkpoint(tmp_path)
    assert [f.name for f in files] == ["prev.json", "prev.safetensors"] and saved["epoch"] == 3
    (tmp_path / "prev.json").write_text("{")
    with pytest.raises(ModelFileError, match=r"delete last\.json and last\.safetensors and prev"):
        load_checkpoint(tmp_path)


def test_a_kill_between_two_renames_keeps_a_matching_pair(tmp_path):
    _train(tmp_path)
    # as if killed while the newest was being moved to prev: one half moved, one not
    (tmp_path / "last.json").replace(tmp_path / "prev.json")
    files, saved = load_checkpoint(tmp_path)
    assert [f.name for f in files] == ["prev.json", "last.safetensors"] and saved["epoch"] == 4
    history = _train(tmp_path, resume=True)  # nothing left to train; the pair becomes last
    assert len(history) == 4 and sorted(p.name for p in tmp_path.iterdir()) == [
        "last.json",
        "last.safetensors",
    ]
