"""Data-parallel training across processes launched by ``torchrun``.

``torchrun --nproc_per_node N -m deepad train ...`` starts N copies of the command with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set. :func:`current` reads them;
:func:`ensure_process_group` joins the group (NCCL on CUDA, gloo on the CPU). The shared loop
then wraps the network in ``DistributedDataParallel``, gives each process its share of every
global batch and lets only the primary process (rank 0) report progress and write
checkpoints; the CLI lets only rank 0 touch the run store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def primary(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: ``cuda:LOCAL_RANK`` when training on CUDA."""
        if self.distributed and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device


def current() -> World:
    """This process's place in a ``torchrun`` launch (a world of one otherwise)."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    return World(
        rank=int(os.environ.get("RANK", "0")),
        size=size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def ensure_process_group(device: torch.device) -> World:
    """Join the process group of a ``torchrun`` launch once; returns this process's world."""
    world = current()
    if world.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(world.device(device))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world


def shutdown(timeout: float = 60.0) -> None:
    """Leave the process group, then wait (``timeout`` seconds at most) until every process
    has left it before this one goes on to exit.

    gloo can abort a process that is still tearing its connections down when a peer's process
    has already exited (``terminate called without an active exception``, about one
    two-process CPU run in forty); the group's store, kept here past the group, tells each
    process when all have left. A process that never comes here (it failed) holds the others
    up for ``timeout`` at most."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    store = dist.distributed_c10d._get_default_store()
    rank, size = dist.get_rank(), dist.get_world_size()
    dist.destroy_process_group()
    store.set(f"deepad/left/{rank}", "1")
    try:
        store.wait([f"deepad/left/{r}" for r in range(size)], timedelta(seconds=timeout))
    except RuntimeError:  # timed out (DistStoreError), or the store's host is gone
        pass


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every process (e.g. the run id only rank 0 created)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(batch: Any, world: World) -> Any:
    """This process's contiguous share of a global batch (tensors split along dim 0)."""
    if isinstance(batch, torch.Tensor):
        return batch.tensor_split(world.size)[world.rank]
    if isinstance(batch, tuple | list):
        return type(batch)(shard(b, world) for b in batch)
    if isinstance(batch, dict):
        return {k: shard(v, world) for k, v in batch.items()}
    return batch


def sum_across(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def any_across(flag: bool, world: World, device: torch.device) -> bool:
    """True on every process when it is true on one (e.g. a cancel seen by rank 0)."""
    if not world.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
