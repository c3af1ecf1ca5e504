import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from deepad.models.config import NetworkConfig, Precision
from deepad.train.checkpoint import load_state, save_state
from deepad.train.loop import TrainingDiverged, fit_network
from deepad.train.progress import Cancelled, RunContext


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    return TensorDataset(x, y)


def _mse(module, batch):
    x, y = batch
    return ((module(x).squeeze(-1) - y) ** 2).mean()


CFG = NetworkConfig(epochs=20, batch_size=32, lr=0.05, device="cpu", checkpoint_every=5)


def test_loop_fits_and_reports_progress():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    reports = []
    history = fit_network(model, _mse, _regression(), CFG, progress=reports.append)
    assert len(history) == 20
    assert history[-1].loss < 0.01 < history[0].loss
    ends = [r for r in reports if r.epoch_end]
    assert [r.epoch for r in ends] == list(range(1, 21))
    assert ends[-1].fraction == 1.0 and ends[-1].items_per_second > 0


def test_resume_continues_from_last_checkpoint(tmp_path):
    cfg = dataclasses.replace(CFG, epochs=10)
    model = nn.Linear(4, 1)
    fit_network(model, _mse, _regression(), cfg, context=RunContext(checkpoint_dir=tmp_path))
    longer = dataclasses.replace(cfg, epochs=15)
    resumed = nn.Linear(4, 1)
    history = fit_network(
        resumed,
        _mse,
        _regression(),
        longer,
        context=RunContext(checkpoint_dir=tmp_path, resume=True),
    )
    assert [h.epoch for h in history] == list(range(1, 16))
    assert history[-1].loss <= history[9].loss + 1e-6


def test_cancel_raises_and_keeps_a_checkpoint(tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 20

    with pytest.raises(Cancelled):
        fit_network(
            nn.Linear(4, 1),
            _mse,
            _regression(),
            CFG,
            context=RunContext(checkpoint_dir=tmp_path, should_stop=stop),
        )
    assert (tmp_path / "last.safetensors").exists()


def test_nan_loss_stops_with_clear_error():
    def bad_loss(module, batch):
        return module(batch[0]).sum() * float("nan")

    with pytest.raises(TrainingDiverged, match="nan"):
        fit_network(nn.Linear(4, 1), bad_loss, _regression(), CFG)


def test_bf16_autocast_path_runs_on_cpu():
    cfg = dataclasses.replace(CFG, epochs=2, precision=Precision.BF16)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(1))
    seen = []

    def loss(module, batch):
        out = module(batch[0])
        seen.append(out.dtype)
        return out.float().pow(2).mean()

    data = TensorDataset(torch.randn(16, 1, 8, 8))
    fit_network(conv, loss, data, cfg)
    assert torch.bfloat16 in seen


def test_state_roundtrip_without_pickle(tmp_path):
    import numpy as np

    state = {"a": torch.arange(3), "b": {"c": np.ones(2), "d": (1, "x")}, "e": [1.5, None]}
    save_state(tmp_path / "s", state)
    back = load_state(tmp_path / "s")
    assert torch.equal(back["a"], state["a"]) and back["b"]["d"] == (1, "x")
    assert isinstance(back["b"]["c"], np.ndarray) and back["e"] == [1.5, None]


def test_one_item_last_batch_is_dropped_so_batchnorm_trains():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    cfg = dataclasses.replace(CFG, epochs=2, batch_size=32)
    history = fit_network(model, _mse, _regression(n=33), cfg)
    assert len(history) == 2


class _Scalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, target):
        return ((self.w - target) ** 2).mean()


def _to_target(module, batch):
    return module(batch[0])


def test_early_stopping_ends_training_and_keeps_the_best_epoch():
    # training pulls w from 0 towards 1; the validation targets sit at 0, so its loss is
    # lowest after the first epoch and rises after it
    module = _Scalar()
    cfg = NetworkConfig(epochs=20, batch_size=8, lr=0.05, device="cpu", patience=2)
    history = fit_network(
        module,
        _to_target,
        TensorDataset(torch.ones(32)),
        cfg,
        validation=TensorDataset(torch.zeros(16)),
    )
    assert len(history) == 1 + cfg.patience  # the best epoch, then `patience` without gain
    losses = [h.val_loss for h in history]
    assert losses[0] == min(losses) and losses == sorted(losses)
    # the weights are those of the first epoch: their validation loss is w²
    assert float(module.w.detach()) ** 2 == pytest.approx(losses[0])


def test_without_patience_every_epoch_runs_and_validation_is_not_scored():
    module = _Scalar()
    cfg = NetworkConfig(epochs=4, batch_size=8, lr=0.05, device="cpu")
    history = fit_network(
        module,
        _to_target,
        TensorDataset(torch.ones(32)),
        cfg,
        validation=TensorDataset(torch.zeros(16)),
    )
    assert len(history) == 4 and all(h.val_loss is None for h in history)
    assert float(module.w.detach()) > 0.5  # the last epoch's weights, not the first's


def test_validation_batches_from_a_callable_are_drawn_alike_each_epoch():
    draws = []

    def source(epoch, generator):
        value = torch.rand((), generator=generator)
        draws.append(float(value))
        return [(value.expand(4),)]

    module = _Scalar()
    cfg = NetworkConfig(epochs=3, batch_size=4, lr=0.01, device="cpu", patience=5)
    fit_network(module, _to_target, TensorDataset(torch.ones(8)), cfg, validation=source)
    assert len(draws) == 3 and len(set(draws)) == 1
