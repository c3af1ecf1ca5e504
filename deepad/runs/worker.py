"""The background worker: ``python -m deepad.runs.worker --home H RUN_ID [--resume]``;
``--explain`` runs the explain job of a finished run instead (:mod:`deepad.explain.job`).

Started by :func:`deepad.runs.jobs.start_run` with stdout and stderr going to the run's
``run.log``. SIGTERM (the cancel fallback) stops the run as cancelled wherever it is.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from deepad.runs.store import DONE, RunStateError, RunStore
from deepad.runs.workflow import execute, one_line
from deepad.train.progress import Cancelled


def _on_sigterm(signum: int, frame: object) -> None:
    raise Cancelled("stopped by SIGTERM")


def _start_next(store: RunStore) -> None:
    """This run's slot is free now: start the oldest waiting run, if any."""
    from deepad.runs.jobs import start_queued

    try:
        start_queued(store)
    except Exception as error:  # the queue must never turn a finished run into a failure
        print(
            f"deepad worker: starting the next queued run failed: {one_line(error)}",
            file=sys.stderr,
        )




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepad.runs.worker")
    parser.add_argument("--home", type=Path, required=True, help="deepad home folder")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument(
        "--explain", action="store_true", help="explain a finished run's items (explain job)"
    )
    args = parser.parse_args(argv)
    if args.explain:  # a separate job kind: progress and cancel in the run's explainers/ folder
        from deepad.explain.job import run_job

        return run_job(args.home, args.run_id)
    # execute() logs into run.log itself; stderr (also run.log) gets only what escapes it,
    # so no console handler here, or every line would be written twice
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    store = RunStore(args.home)
    try:
        record = execute(store, args.run_id, resume=args.resume)
    except (RunStateError, KeyError) as error:
        print(f"deepad worker: {one_line(error)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        _start_next(store)
    return 0 if record.status == DONE else 1


if __name__ == "__main__":
    sys.exit(main())
