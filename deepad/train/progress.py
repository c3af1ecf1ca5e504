"""What a run reports and how it is steered, without torch: progress, stages and cancel.

The training loop (:mod:`deepad.train.loop`) and every detector's ``fit`` use these; they live
apart from the loop so that code that only reads or steers runs (the detector contract, the
dashboard) never imports torch. Import them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Cancelled(Exception):
    """Training stopped because it was asked to; the last checkpoint can resume it."""


@dataclass
class Progress:
    """What a progress callback receives: at each epoch end and about once a second."""

    epoch: int  # 1-based epoch being trained
    epochs: int
    batch: int
    batches: int | None
    loss: float  # running mean over the epoch so far
    lr: float
    items_per_second: float
    elapsed: float  # seconds since (re)start
    eta: float | None
    epoch_end: bool = False

    @property
    def fraction(self) -> float:
        done = self.epoch - 1 + (self.batch / self.batches if self.batches else 0.0)
        if self.epoch_end:
            done = self.epoch
        return min(1.0, done / max(1, self.epochs))


ProgressCallback = Callable[[Progress], None]


@dataclass
class RunContext:
    """Runtime options of one training run, as opposed to the method's configuration."""

    checkpoint_dir: Path | None = None
    resume: bool = False
    should_stop: Callable[[], bool] = lambda: False
    # Long work before the first epoch (e.g. embedding the documents) reports
    # ``(what, done, total)`` here, so the run shows it and can be cancelled during it.
    on_stage: Callable[[str, int, int], None] = lambda what, done, total: None
    # Where dataset ids named in a configuration are looked up (``get(id) -> Dataset``, e.g.
    # the dataset registry; FCDD's oe_dataset); None: the registry in the deepad home.
    datasets: Any = None

    def stage(self, what: str, done: int, total: int) -> None:
        """Report preparation progress; raises ``Cancelled`` when the run should stop."""
        self.on_stage(what, done, total)
        if self.should_stop():
            raise Cancelled(f"cancelled while {what}")
