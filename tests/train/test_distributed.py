"""DistributedDataParallel through the shared loop: two CPU processes on the gloo backend train
a tiny autoencoder with the same global batch as one process, and their loss curve matches."""

import dataclasses
import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.distributed import TCPStore
from torch.utils.data import TensorDataset

from deepad.models.config import NetworkConfig
from deepad.train import distributed
from deepad.train.loop import fit_network
from deepad.train.progress import RunContext

CFG = NetworkConfig(epochs=4, batch_size=32, lr=0.01, device="cpu", checkpoint_every=0)
# Sampled batches differ between one and two processes (DistributedSampler deals its own
# shuffle), so the per-epoch loss agrees to this relative tolerance; with the same global
# batches (a batch source) the gradients average to one process's, up to float rounding.
SAMPLED_TOLERANCE = 0.05
SAME_BATCHES_TOLERANCE = 1e-4


def _data(n=256):
    g = torch.Generator().manual_seed(0)
    code = torch.randn(n, 3, generator=g)
    return code @ torch.randn(3, 12, generator=g) + 0.05 * torch.randn(n, 12, generator=g)


def _autoencoder():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(12, 3), nn.Tanh(), nn.Linear(3, 12))


def _reconstruction(module, batch):
    (x,) = batch
    return ((module(x) - x) ** 2).mean()


def _fixed_batches(epoch, generator):
    x = _data()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
    return [(x[order[i : i + 32]],) for i in range(0, len(x), 32)]


def _train_both(checkpoint_dir=None):
    sampled = fit_network(
        _autoencoder(),
        _reconstruction,
        TensorDataset(_data()),
        CFG,
        context=RunContext(checkpoint_dir=checkpoint_dir),
    )
    same = fit_network(_autoencoder(), _reconstruction, _fixed_batches, CFG)
    return [h.loss for h in sampled], [h.loss for h in same]


def _join(rank, world_size, port):
    """This spawned process's torchrun environment. As under torchrun, the store the ranks
    meet at is served by their launcher (the test's process, which holds the port from the
    start), not by rank 0."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world_size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        TORCHELASTIC_USE_AGENT_STORE="True",
    )


def _rank(rank, world_size, port, out_dir):
    _join(rank, world_size, port)
    torch.set_num_threads(1)
    try:
        sampled, same = _train_both(checkpoint_dir=out_dir)
    finally:
        distributed.shutdown()
    (out_dir / f"rank{rank}.json").write_text(json.dumps({"sampled": sampled, "same": same}))


@pytest.mark.slow
def test_two_gloo_processes_match_one(tmp_path, monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    single_sampled, single_same = _train_both()
    # a port the operating system picks and this process keeps bound: no other test's
    # service can take it between choosing it and the ranks' meeting
    store = TCPStore("127.0.0.1", 0, world_size=None, is_master=True, wait_for_workers=False)
    mp.spawn(_rank, args=(2, store.port, tmp_path), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    # both processes report the same (all-reduced) curve
    assert ranks[0] == ranks[1]
    for one, two in zip(single_same, ranks[0]["same"], strict=True):
        assert abs(one - two) <= SAME_BATCHES_TOLERANCE * one
    for one, two in zip(single_sampled, ranks[0]["sampled"], strict=True):
        assert abs(one - two) <= SAMPLED_TOLERANCE * one
    assert single_sampled[-1] < single_sampled[0]
    # only rank 0 writes the checkpoint
    assert (tmp_path / "last.safetensors").exists()


def test_world_of_one_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = distributed.current()
    assert not world.distributed and world.primary
    batch = {"x": torch.arange(6)}
    two = dataclasses.replace(world, size=2, rank=1)
    assert distributed.shard(batch, two)["x"].tolist() == [3, 4, 5]


def _leave_late(rank, port, out_dir):
    import time

    _join(rank, 2, port)
    distributed.ensure_process_group(torch.device("cpu"))
    if rank == 1:
        time.sleep(1.5)
    entered = time.time()
    distributed.shutdown()
    (out_dir / f"rank{rank}.json").write_text(json.dumps([entered, time.time()]))


@pytest.mark.slow
def test_no_process_leaves_before_every_process_has_left_the_group(tmp_path, monkeypatch):
    """A process whose peer has exited while it is still tearing gloo down can be aborted:
    shutdown returns only once every process has left the group."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    store = TCPStore("127.0.0.1", 0, world_size=None, is_master=True, wait_for_workers=False)
    mp.spawn(_leave_late, args=(store.port, tmp_path), nprocs=2, join=True)
    (first_in, first_out), (late_in, _) = (
        json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)
    )
    assert late_in > first_in + 1.0  # rank 1 came to shutdown later
    assert first_out >= late_in  # and rank 0 waited for it there
