"""The one training loop every network detector uses.

A detector supplies a module, a loss ``loss_fn(module, batch) -> scalar`` and its data; the loop
owns everything else: device placement, bf16 autocast and channels_last on CUDA, seeding, the
optimiser and learning-rate schedule, gradient clipping, progress reports, checkpoints, resume,
cooperative cancel and divergence checks, and early stopping: given a ``validation`` batch
source (the normal items :meth:`deepad.models.base.Detector.fit` held out) and
``patience > 0``, the loss on it is measured after every epoch, training stops once it has not
improved for ``patience`` epochs, and the weights of its best epoch are kept.

Checkpoints: ``last.*`` is the newest, ``prev.*`` the one before it, so a damaged newest one
(a killed write, a full disk) falls back to the previous one. A stop (``Cancelled``, from the
cancel flag or SIGTERM, or ``KeyboardInterrupt``) saves one for the epochs finished since
the last, so a resume continues from there. Method-specific behaviour (e.g. annealing a weight each
epoch) plugs in through :class:`Hook` objects.

On CUDA, cuDNN picks its fastest convolution algorithms (``cudnn.benchmark``), batches come from
pinned memory with non-blocking copies, and a ``TensorDataset`` that fits
:data:`DEVICE_RESIDENT_FRACTION` of the GPU's memory is copied to it once and batched there.
Under ``torchrun`` the network is wrapped in ``DistributedDataParallel`` (see
:mod:`deepad.train.distributed`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from deepad.device import select_device
from deepad.models.config import NetworkConfig, Optimizer, Precision, Schedule
from deepad.train import distributed
from deepad.train.checkpoint import checkpoint_stem, keep_only, load_checkpoint, rotate_and_save
from deepad.train.distributed import World
from deepad.train.progress import Cancelled, Progress, ProgressCallback, RunContext

log = logging.getLogger(__name__)

Batch = Any
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
BatchSource = TorchDataset | Callable[[int, torch.Generator], Iterable[Batch]]

# A TensorDataset up to this share of the GPU's memory is kept on the GPU for the whole run.
DEVICE_RESIDENT_FRACTION = 0.25


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class EpochStats:
    epoch: int
    loss: float
    lr: float
    items_per_second: float
    seconds: float
    val_loss: float | None = None  # loss on the validation set, where early stopping is on


@dataclass
class LoopState:
    """Passed to hooks; ``epoch`` is 1-based."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    epoch: int = 0
    epochs: int = 0
    history: list[EpochStats] = field(default_factory=list)
    # a hook sets this to end training before the next epoch (e.g. once a selection settles)
    stop: bool = False


class Hook(Protocol):
    def on_epoch_start(self, state: LoopState) -> None: ...


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (``auto``) or everywhere (``bf16``); plain fp32 otherwise."""
    use_bf16 = precision == Precision.BF16 or (
        precision == Precision.AUTO and device.type == "cuda"
    )
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def move_to_device(batch: Batch, device: torch.device, channels_last: bool = False) -> Batch:
    """Move tensors in a (nested) batch to ``device``; 4-D tensors optionally channels_last."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, tuple | list):
        return type(batch)(move_to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def batch_size_of(batch: Batch) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, tuple | list) and batch:
        return batch_size_of(batch[0])
    if isinstance(batch, dict) and batch:
        return batch_size_of(next(iter(batch.values())))
    return 0


def has_convolutions(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in module.modules())


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight initialisation, dropout) and return a generator for
    shuffling; :func:`forked_rng` around a fit keeps the caller's global state as it was.
    numpy's global RNG is left alone: deepad draws from local ``np.random.default_rng``."""
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def forked_rng() -> Iterator[None]:
    """Seed and draw freely inside: torch's global RNG state (the CPU's and every CUDA
    device's, where CUDA is available) and numpy's are put back on exit, so fitting a
    detector does not change what the caller draws next. numpy's is there for libraries
    that draw from it unasked (scikit-learn's OneClassSVM takes one number per fit)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        np.random.set_state(numpy_state)


def _make_optimizer(params: Iterable[nn.Parameter], cfg: NetworkConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == Optimizer.SGD:
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == Optimizer.ADAMW:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: NetworkConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if cfg.schedule == Schedule.STEP and cfg.lr_milestones:
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(cfg.lr_milestones), gamma=cfg.lr_gamma
        )
    if cfg.schedule == Schedule.COSINE:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs))
    return None


class DeviceResident:
    """A ``TensorDataset`` copied to the device once and batched there by a seeded shuffle,
    instead of a ``DataLoader`` copying every batch from host memory."""

    def __init__(self, dataset: TensorDataset, device: torch.device, batch_size: int) -> None:
        self.tensors = [t.to(device) for t in dataset.tensors]
        self.batch_size = batch_size

    def __call__(self, epoch: int, generator: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=generator).to(self.tensors[0].device)
        steps = range(0, n, self.batch_size)
        if n > 1 and n % self.batch_size == 1:  # as the DataLoader: no one-item last batch
            steps = range(0, n - 1, self.batch_size)
        return [tuple(t[order[i : i + self.batch_size]] for t in self.tensors) for i in steps]


def fits_on_device(dataset: TorchDataset, device: torch.device) -> bool:
    """Whether ``dataset`` is a ``TensorDataset`` small enough to live on the GPU."""
    if device.type != "cuda" or not isinstance(dataset, TensorDataset):
        return False
    size = sum(t.element_size() * t.nelement() for t in dataset.tensors)
    total = torch.cuda.get_device_properties(device).total_memory
    return size <= DEVICE_RESIDENT_FRACTION * total


class _Sharded:
    """Each process's share of the global batches a batch source yields under ``torchrun``."""

    def __init__(self, batches: Iterable[Batch], world: World) -> None:
        self.batches, self.world = batches, world

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self):
        for batch in self.batches:
            yield distributed.shard(batch, self.world)


def _iterate(
    source: BatchSource,
    cfg: NetworkConfig,
    device: torch.device,
    generator: torch.Generator,
    epoch: int,
    world: World = World(),
) -> tuple[Iterable[Batch], int | None]:
    if callable(source) and not isinstance(source, TorchDataset):
        batches = source(epoch, generator)
        count = len(batches) if hasattr(batches, "__len__") else None
        return (_Sharded(batches, world) if world.distributed else batches), count
    if world.distributed:
        # the same global batch as one process: each of N takes batch_size / N items
        sampler = DistributedSampler(
            source, num_replicas=world.size, rank=world.rank, shuffle=True, seed=cfg.seed
        )
        sampler.set_epoch(epoch)
        loader = DataLoader(
            source,
            batch_size=max(1, cfg.batch_size // world.size),
            sampler=sampler,
            pin_memory=device.type == "cuda",
            num_workers=cfg.num_workers,
        )
        return loader, len(loader)
    loader = DataLoader(
        source,
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=generator,
        pin_memory=device.type == "cuda",
        num_workers=cfg.num_workers,
        persistent_workers=False,
        # a one-item last batch breaks BatchNorm in training mode; it is reshuffled next epoch
        drop_last=len(source) > 1 and len(source) % cfg.batch_size == 1,
    )
    return loader, len(loader)


def fit_network(
    module: nn.Module,
    loss_fn: LossFn,
    data: BatchSource,
    cfg: NetworkConfig,
    *,
    hooks: Sequence[Hook] = (),
    progress: ProgressCallback | None = None,
    context: RunContext | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
    validation: BatchSource | None = None,
) -> list[EpochStats]:
    """Train ``module`` in place by minimising ``loss_fn`` over ``data``; return the history.

    ``data`` is a torch ``Dataset`` (batched by a seeded, shuffling ``DataLoader``) or a
    callable ``(epoch, generator) -> iterable of batches`` for data that is already on the
    device. ``parameters`` restricts what the optimiser updates (default: all of ``module``).
    ``validation`` (the same kinds of source; a callable is called with a fixed seed, so
    every epoch sees the same batches) is scored with ``loss_fn`` in eval mode after each
    epoch when ``cfg.patience > 0``: see :class:`EarlyStopping`. A resumed run starts its
    count of epochs without improvement afresh.
    """
    context = context or RunContext()
    device = select_device(cfg.device)
    world = distributed.ensure_process_group(device)
    device = world.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed batch shapes: pick the fastest kernels
    generator = seed_everything(cfg.seed)
    channels_last = device.type == "cuda" and cfg.channels_last and has_convolutions(module)
    module.to(device)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(parameters if parameters is not None else module.parameters(), cfg)
    scheduler = _make_scheduler(optimizer, cfg)
    state = LoopState(module=module, optimizer=optimizer, device=device, epochs=cfg.epochs)

    start_epoch = 1
    stem = checkpoint_stem(context.checkpoint_dir) if context.checkpoint_dir else None
    if context.resume:
        found = load_checkpoint(context.checkpoint_dir, device) if stem is not None else None
        if found is None:
            raise FileNotFoundError("no checkpoint to resume from")
        if world.primary:  # one process tidies the shared folder
            keep_only(context.checkpoint_dir, found[0])
        saved = found[1]
        module.load_state_dict(saved["module"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved.get("scheduler"):
            scheduler.load_state_dict(saved["scheduler"])
        state.history = [EpochStats(**h) for h in saved["history"]]
        start_epoch = int(saved["epoch"]) + 1
        generator.manual_seed(cfg.seed + start_epoch)
        log.info("resumed from epoch %d", start_epoch - 1)

    step_module: nn.Module = module
    if world.distributed:
        step_module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile and device.type == "cuda":
        step_module = torch.compile(step_module)
    if world.distributed or not fits_on_device(data, device):
        source = data
    else:
        source = DeviceResident(data, device, cfg.batch_size)  # type: ignore[arg-type]
        log.info("training data kept on %s", device)
    if not world.primary:
        progress = None

    saved_epoch = start_epoch - 1
    stopper = (
        EarlyStopping(validation, loss_fn, cfg, device, channels_last)
        if validation is not None and cfg.patience > 0
        else None
    )

    def save_checkpoint(epoch: int) -> None:
        nonlocal saved_epoch
        if stem is None or not world.primary:
            return
        saved_epoch = epoch
        rotate_and_save(
            stem,
            {
                "module": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else {},
                "epoch": epoch,
                "history": [h.__dict__ for h in state.history],
            },
        )

    run_start = time.perf_counter()
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            state.epoch = epoch
            for hook in hooks:
                hook.on_epoch_start(state)
            if state.stop:
                log.info("a hook ended training before epoch %d", epoch)
                break
            module.train()
            batches, n_batches = _iterate(source, cfg, device, generator, epoch, world)
            epoch_start = last_report = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            n_items = 0
            n_steps = 0
            for n_steps, batch in enumerate(batches, start=1):
                if distributed.any_across(context.should_stop(), world, device):
                    raise Cancelled(f"cancelled during epoch {epoch}")
                batch = move_to_device(batch, device, channels_last)
                with autocast(device, cfg.precision):
                    loss = loss_fn(step_module, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(
                        [p for g in optimizer.param_groups for p in g["params"]], cfg.grad_clip
                    )
                optimizer.step()
                loss_sum += loss.detach().float()
                n_items += batch_size_of(batch)
                now = time.perf_counter()
                if progress is not None and now - last_report >= 1.0:
                    last_report = now
                    mean_loss = _checked_loss(loss_sum, n_steps, epoch)
                    progress(
                        _progress(
                            state,
                            n_steps,
                            n_batches,
                            mean_loss,
                            optimizer,
                            n_items,
                            now - epoch_start,
                            now - run_start,
                            start_epoch,
                        )
                    )
            if n_steps == 0:
                raise ValueError("no training batches: the training set is empty")
            if world.distributed:  # the epoch's loss and count over all processes
                loss_sum = distributed.sum_across(loss_sum, world) / world.size
                n_items = int(distributed.sum_across(torch.tensor(n_items, device=device), world))
            mean_loss = _checked_loss(loss_sum, n_steps, epoch)
            seconds = time.perf_counter() - epoch_start
            lr = optimizer.param_groups[0]["lr"]
            val_loss = stopper.measure(step_module, module, epoch) if stopper is not None else None
            state.history.append(
                EpochStats(epoch, mean_loss, lr, n_items / max(seconds, 1e-9), seconds, val_loss)
            )
            log.info(
                "epoch %d/%d loss %.6g%s lr %.3g %.0f items/s",
                epoch,
                cfg.epochs,
                mean_loss,
                "" if val_loss is None else f" validation {val_loss:.6g}",
                lr,
                n_items / max(seconds, 1e-9),
            )
            if scheduler is not None:
                scheduler.step()
            last = epoch == cfg.epochs or (stopper is not None and stopper.exhausted(epoch))
            if stopper is not None and last:
                stopper.restore(module)  # the checkpoint and the model: the best epoch's
            if (cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0) or last:
                save_checkpoint(epoch)
            if progress is not None:
                report = _progress(
                    state,
                    n_steps,
                    n_batches or n_steps,
                    mean_loss,
                    optimizer,
                    n_items,
                    seconds,
                    time.perf_counter() - run_start,
                    start_epoch,
                )
                report.epoch_end = True
                if last:
                    report.epochs = epoch  # an early stop ends the run here
                progress(report)
            if last and epoch < cfg.epochs:
                log.info(
                    "early stop after epoch %d: the validation loss was lowest at epoch %d",
                    epoch,
                    stopper.best_epoch if stopper is not None else epoch,
                )
                break
    except (Cancelled, KeyboardInterrupt):
        # keep the epochs finished since the last checkpoint: SIGTERM may stop us anywhere
        done = state.history[-1].epoch if state.history else 0
        if done > saved_epoch:
            save_checkpoint(done)
        raise
    module.eval()
    return state.history


class EarlyStopping:
    """The validation loss after each epoch; ends training once ``cfg.patience`` epochs pass
    without a lower one and puts back the weights of the epoch where it was lowest."""

    def __init__(
        self,
        validation: BatchSource,
        loss_fn: LossFn,
        cfg: NetworkConfig,
        device: torch.device,
        channels_last: bool,
    ) -> None:
        self.validation, self.loss_fn, self.cfg = validation, loss_fn, cfg
        self.device, self.channels_last = device, channels_last
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _batches(self) -> Iterable[Batch]:
        if callable(self.validation) and not isinstance(self.validation, TorchDataset):
            # the same draws every epoch (e.g. FCDD's confetti), so losses compare
            return self.validation(0, torch.Generator().manual_seed(self.cfg.seed))
        return DataLoader(self.validation, batch_size=self.cfg.batch_size, shuffle=False)

    def measure(self, module: nn.Module, raw: nn.Module, epoch: int) -> float:
        """The mean validation loss of ``module`` (the stepped one: compiled or wrapped) now;
        remembers the weights of ``raw`` (the plain module) at the best epoch."""
        was_training = module.training
        module.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in self._batches():
                batch = move_to_device(batch, self.device, self.channels_last)
                with autocast(self.device, self.cfg.precision):
                    total += float(self.loss_fn(module, batch).float())
                count += 1
        module.train(was_training)
        value = total / max(count, 1)
        if math.isfinite(value) and value < self.best_loss:
            self.best_loss, self.best_epoch = value, epoch
            self.best_state = {k: v.detach().clone() for k, v in raw.state_dict().items()}
        return value

    def exhausted(self, epoch: int) -> bool:
        """Whether ``patience`` epochs have passed since the best one."""
        return epoch - self.best_epoch >= self.cfg.patience

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


def _checked_loss(loss_sum: torch.Tensor, steps: int, epoch: int) -> float:
    value = float(loss_sum) / max(steps, 1)
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"the loss became {value} in epoch {epoch}; lower the learning rate or enable "
            "gradient clipping (the last good checkpoint is kept)"
        )
    return value


def _progress(
    state: LoopState,
    batch: int,
    batches: int | None,
    loss: float,
    optimizer: torch.optim.Optimizer,
    n_items: int,
    epoch_seconds: float,
    elapsed: float,
    start_epoch: int,
) -> Progress:
    epochs_done = state.epoch - start_epoch + (batch / batches if batches else 0.0)
    remaining = state.epochs - start_epoch + 1 - epochs_done
    eta = elapsed / epochs_done * remaining if epochs_done > 0 else None
    return Progress(
        epoch=state.epoch,
        epochs=state.epochs,
        batch=batch,
        batches=batches,
        loss=loss,
        lr=optimizer.param_groups[0]["lr"],
        items_per_second=n_items / max(epoch_seconds, 1e-9),
        elapsed=elapsed,
        eta=eta,
    )
