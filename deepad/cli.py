"""The ``deepad`` command line: ingest data, train and score, manage runs, run benchmarks.

It parses arguments and prints; every operation is a call to the dashboard's front end,
:class:`deepad.service.Service`, so a run started here shows up in the app and the other way
round, and both read data the same way. User errors (a bad path, an unknown setting, a run in
the wrong state) come back as a :class:`~deepad.service.ServiceError` and end with one line
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from deepad.config import ConfigError
from deepad.data.types import printable
from deepad.errors import DeepadError
from deepad.models.recommend import AUTO
from deepad.service import Ingested, Service, ServiceError

log = logging.getLogger("deepad.cli")

EXIT_USER_ERROR = 2
_DATASET_ID = re.compile(r"[0-9a-f]{16}")


# --------------------------------------------------------------------------- helpers
def _service(args: argparse.Namespace) -> Service:
    return Service(Path(args.home).expanduser() if args.home is not None else None)


def _parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ServiceError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def _loader_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "text_column": getattr(args, "text_column", None),
        "label_column": getattr(args, "label_column", None),
        "normal_label": getattr(args, "normal_label", None),
    }
    return {k: v for k, v in options.items() if v is not None}


def _records(done: Ingested) -> dict[str, Any]:
    """The registered parts of an ingest by role: ``train``, and ``test`` for a split
    MVTec-AD category."""
    return {"train": done.record, **({"test": done.test_record} if done.test_record else {})}


def _print_kind_reason(done: Ingested) -> None:
    if done.kind_reason:
        kind = done.dataset.kind.value
        print(f"read as {kind} data ({done.kind_reason}); pass --kind to choose")


def _print_dataset(record: Any) -> None:
    counts = record.manifest.get("counts") or {}
    parts = [f"{v} {k}" for k, v in counts.items() if v]
    print(
        f"dataset {record.id}  {printable(record.name)}  ({record.kind.value}, {record.count} items)"
    )
    if parts:
        print("  " + ", ".join(parts))
    classes = record.manifest.get("classes")
    if classes:
        print("  classes: " + ", ".join(f"{printable(k)} {v}" for k, v in sorted(classes.items())))
    skipped = record.manifest.get("skipped") or []
    if skipped:
        print(f"  skipped {len(skipped)} file(s):")
        for entry in skipped:
            print(f"    {printable(str(entry['name']))}: {printable(str(entry['reason']))}")


def _resolve_data(
    args: argparse.Namespace, svc: Service, spec: str, role: str, kinds: frozenset | None
) -> dict[str, str | None]:
    """A dataset argument (registry id, ``demo:NAME`` or a path) as registry ids by role."""
    if spec.startswith("demo:"):
        demo = svc.use_demo(spec[len("demo:") :])
        return {"train": demo.train, "test": demo.test, "labeled": demo.labeled}
    if _DATASET_ID.fullmatch(spec) and not Path(spec).exists():
        svc.record(spec)  # a clear error when there is no such dataset
        return {role: spec}
    done = svc.ingest_path(
        spec, args.kind, split_test=role == "train", kinds=kinds, **_loader_options(args)
    )
    _print_kind_reason(done)
    records = _records(done)
    for part, record in records.items():
        where = f" ({part}/ part)" if len(records) > 1 else ""
        print(f"ingested {spec}{where} as dataset {record.id} ({record.count} items)")
    if len(records) == 1:
        return {role: done.record.id}
    return {part: record.id for part, record in records.items()}


def _format_time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _format_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_COUNTS = frozenset({"flagged", "items", "train_items"})


def _format_metric(value: Any, key: str = "") -> str:
    if key in _COUNTS and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return "-" if value is None else str(value)


# --------------------------------------------------------------------------- commands
def cmd_ingest(args: argparse.Namespace) -> int:
    done = _service(args).ingest_path(
        args.path, args.kind, name=args.name or "", split_test=True, **_loader_options(args)
    )
    _print_kind_reason(done)
    if done.known_as is not None:
        print(f"the same items were stored before as {printable(done.known_as)}; reusing them")
    for record in _records(done).values():
        _print_dataset(record)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return _train_under_torchrun(args)
    svc = _service(args)
    if args.resume is not None:
        if args.method or args.data:
            raise ServiceError("--resume takes only a run id (its method and data are recorded)")
        svc.reconcile()
        return _launch(args, svc, args.resume, resume=True)
    return _launch(args, svc, _new_run(args, svc), resume=False)


def _train_under_torchrun(args: argparse.Namespace) -> int:
    """``torchrun --nproc_per_node N -m deepad train ...``: rank 0 records the run and trains
    with progress and checkpoints; the other ranks train their share and write nothing."""
    from deepad.device import select_device
    from deepad.train import distributed

    if args.background:
        raise ServiceError("--background cannot be combined with torchrun")
    svc = _service(args)
    world = distributed.ensure_process_group(
        select_device(_parse_sets(args.set).get("device", "auto"))
    )
    try:
        plan: tuple[int, bool] | None = None
        if world.primary:
            try:
                if args.resume is not None:
                    svc.reconcile()
                    plan = (args.resume, True)
                else:
                    plan = (_new_run(args, svc), False)
            finally:  # the other ranks wait for this, also when it failed
                distributed.broadcast(plan, world)
            return _train_foreground(svc, plan[0], resume=plan[1])
        plan = distributed.broadcast(None, world)
        if plan is None:
            return EXIT_USER_ERROR  # rank 0 reported why
        svc.execute_replica(plan[0], resume=plan[1])
        return 0
    finally:
        distributed.shutdown()


def _new_run(args: argparse.Namespace, svc: Service) -> int:
    """Record the run that ``deepad train --method ... --data ...`` asks for; its id. Without
    ``--method`` (or with ``--method auto``) the method is the one recommended for the data,
    printed with the reason before it trains. As the Train form, the settings start from those
    suggested for this machine and this data; ``--set`` overrides them."""
    if not args.data:
        raise ServiceError("train needs --data (and optionally --method), or --resume RUN_ID")
    given = _parse_sets(args.set)
    if args.method in (None, AUTO):
        # the data decides the method: read it first, as whatever kind it is
        train, test, labeled = _data_parts(args, svc, None)
        choice = svc.recommend(train, test, labeled)
        print(f"method auto: {choice.reason}")
        print("  (choose another with --method; every method: deepad methods)")
        method = choice.method
        svc.build_config(method, given)
    else:  # a bad method or setting is reported before any data is read
        method = args.method
        svc.build_config(method, given)
        train, test, labeled = _data_parts(args, svc, svc.method(method).kinds)
    suggested = {k: v for k, v in svc.suggested_settings(method, train).items() if k not in given}
    config = svc.build_config(method, {**suggested, **given})
    if suggested:
        shown = " ".join(f"{k}={getattr(v, 'value', v)}" for k, v in sorted(suggested.items()))
        print(f"settings for this machine and data: {shown} (change with --set)")
    plan = svc.input_plan(method, config, train)  # large photos: tiled or resized whole
    if plan:
        print(f"input: {plan}")
    cls = svc.method(method)
    labeled = labeled if cls.uses_labeled else None
    run_id = svc.create_run(method, config, train, test, labeled, memory_mb=args.memory_mb)
    print(f"run {run_id}: {cls.title} on {svc.record(train).name}")
    return run_id


def _data_parts(
    args: argparse.Namespace, svc: Service, kinds: frozenset | None
) -> tuple[str, str | None, str | None]:
    """Registry ids of the training, test and labeled sets that ``--data``, ``--test`` and
    ``--labeled`` name (a demo or an MVTec-AD category brings its own test / labeled part)."""
    ids = _resolve_data(args, svc, args.data, "train", kinds)
    test, labeled = ids.get("test"), ids.get("labeled")
    if args.test:
        test = _pick(_resolve_data(args, svc, args.test, "test", kinds), "test")
    if args.labeled:
        labeled = _pick(_resolve_data(args, svc, args.labeled, "labeled", kinds), "labeled")
    return ids["train"], test, labeled


def _pick(ids: dict[str, str | None], role: str) -> str | None:
    """The part of a resolved argument for ``role``: a demo's own test or labeled part,
    else its training part (a plain path or id resolves to one part only)."""
    return ids.get(role) or ids.get("train")


def _launch(args: argparse.Namespace, svc: Service, run_id: int, *, resume: bool) -> int:
    if args.background:
        # the Train page's queue: beyond DEEPAD_MAX_RUNS active runs, a run waits its turn
        started = svc.resume(run_id) if resume else svc.submit(run_id)
        if started:
            pid = svc.run(run_id).pid
            where = f"process {pid}" if pid else "a task on the Ray cluster"
            print(f"run {run_id} started in the background ({where})")
        else:
            queue = svc.queue()
            place = queue.get(run_id)
            where = f"position {place} of {len(queue)}" if place else "waiting"
            print(
                f"run {run_id} is queued ({where}): {svc.max_runs()} run(s) train at once "
                "(DEEPAD_MAX_RUNS); it starts when one ends"
            )
        print(f"  follow it with: deepad runs show {run_id}   log: {svc.log_path(run_id)}")
        return 0
    return _train_foreground(svc, run_id, resume=resume)


def _train_foreground(svc: Service, run_id: int, *, resume: bool) -> int:
    from tqdm import tqdm

    from deepad.runs.store import CANCELLED, DONE
    from deepad.train.progress import Cancelled

    bar: tqdm | None = None

    def on_progress(report: Any) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=report.epochs, unit="epoch", desc=f"run {run_id}", file=sys.stderr)
            bar.n = report.epoch - 1
        bar.n = report.epoch if report.epoch_end else report.epoch - 1
        bar.set_postfix(loss=f"{report.loss:.4g}", items_s=f"{report.items_per_second:.0f}")

    def on_phase(name: str) -> None:
        if name != "training" and bar is not None:
            bar.close()
        if name not in ("training", "loading"):
            print(f"  {name}…", file=sys.stderr)

    stage_bar: tqdm | None = None

    def on_stage(what: str, done: int, total: int) -> None:
        nonlocal stage_bar
        if stage_bar is None:
            stage_bar = tqdm(total=total, desc=f"  {what}", unit="item", file=sys.stderr)
        stage_bar.n = done
        stage_bar.refresh()
        if done >= total:
            stage_bar.close()
            stage_bar = None

    def on_sigterm(signum: int, frame: object) -> None:  # the cancel fallback of jobs
        raise Cancelled("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        record = svc.execute(
            run_id, resume=resume, progress=on_progress, on_phase=on_phase, on_stage=on_stage
        )
    except KeyboardInterrupt:
        print(f"\nrun {run_id} cancelled; resume with: deepad train --resume {run_id}")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        for open_bar in (bar, stage_bar):
            if open_bar is not None:
                open_bar.close()
    if record.status == DONE:
        print(f"run {run_id} done")
        _print_metrics(record.metrics)
        pending = svc.explanations_pending(run_id)
        if pending is not None:
            svc.reconcile()  # started in the background when a slot is free
            print(
                f"the explanations of its top-scored items are prepared as job {pending['job']} "
                "(deepad runs list --jobs)"
            )
        return 0
    if record.status == CANCELLED:
        print(f"run {run_id} cancelled; resume with: deepad train --resume {run_id}")
        return 1
    print(f"run {run_id} {record.status}: {record.error}", file=sys.stderr)
    print(f"  details in {svc.log_path(run_id)}", file=sys.stderr)
    return 1


def _print_metrics(metrics: dict[str, Any]) -> None:
    order = ("auroc", "auprc", "pixel_auroc", "f1", "precision", "recall", "threshold", "flagged")
    keys = [k for k in order if k in metrics] + sorted(
        k for k in metrics if k not in order and not k.endswith("_seconds")
    )
    width = max([len(k) for k in keys] + [4])
    for key in keys:
        print(f"  {key:<{width}}  {_format_metric(metrics[key], key)}")
    seconds = {k: v for k, v in metrics.items() if k.endswith("_seconds") and v is not None}
    if seconds:
        times = ", ".join(f"{k[:-8]} {v:.1f}s" for k, v in seconds.items())
        print(f"  {'time':<{width}}  {times}")


def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deepad.run_results import write_scores_csv

    bar: tqdm | None = None

    def on_chunk(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="item", desc="scoring", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        scored = _service(args).score_path(
            args.run_id, args.path, progress=on_chunk, **_loader_options(args)
        )
    finally:
        if bar is not None:
            bar.close()
    data = scored.dataset
    for skipped in data.skipped:
        print(f"skipped {skipped.name}: {skipped.reason}", file=sys.stderr)
    out: TextIO = sys.stdout
    if args.output:
        try:
            out = open(args.output, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise ServiceError(f"{args.output}: {error.strerror}") from error
    try:
        write_scores_csv(
            out,
            range(len(data)),
            data.names,
            scored.scores.score,
            scored.threshold,
            labels=data.labels,
            components=scored.scores.components,
        )
    finally:
        if args.output:
            out.close()
    summary = (
        f"scored {len(data)} items; {scored.flagged} above the threshold {scored.threshold:.6g}"
    )
    print(summary + (f"; written to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    done = _service(args).export(args.run_id, format=args.format, output=args.output)
    shape = "x".join(str(s) for s in done.input_shape)
    print(f"run {args.run_id} ({done.method}) exported to {done.path}")
    outputs = ", ".join("score (batch)" if o == "score" else o for o in done.outputs)
    print(f"  input: images uint8 (batch, {shape}); outputs: {outputs}")
    if done.max_score_error is not None:
        print(
            f"  ONNX Runtime vs PyTorch: largest relative score difference {done.max_score_error:.2g}"
        )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from deepad.tasks import JOB_BODIES

    svc = _service(args)
    print(
        f"worker on {svc.worker_name()} serving {svc.store_location}; queued jobs that fit "
        "this machine run here (Ctrl+C stops)",
        file=sys.stderr,
    )
    try:
        done = svc.serve_jobs(
            until_idle=args.until_idle,
            max_jobs=args.max_jobs,
            stale_after=args.stale_after,
            cpu_only=args.cpu_only,
            memory_mb=args.memory_mb,
            on_job=lambda r: print(f"{r.kind} job {r.id}: {r.status}", flush=True),
            bodies=JOB_BODIES,
        )
    except KeyboardInterrupt:
        print("worker stopped", file=sys.stderr)
        return 130
    print(f"worker done: {done} job(s)", file=sys.stderr)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "rebuild-index":
        return _rebuild_index(args)
    svc = _service(args)
    svc.reconcile()
    if args.action == "list":
        return _runs_list(svc, jobs=args.jobs, run_id=args.run_id)
    if args.run_id is None:
        raise ServiceError(f"runs {args.action} needs a run id")
    if args.action == "show":
        return _runs_show(svc, args.run_id)
    if args.action == "cancel":
        record = svc.cancel(args.run_id, wait=True)
        print(f"run {args.run_id} {record.status}")
        return 0
    if args.action == "delete":
        svc.delete(args.run_id, wait=True)
        print(f"run {args.run_id} deleted")
        return 0
    raise ServiceError(f"unknown runs action {args.action!r}")


def _rebuild_index(args: argparse.Namespace) -> int:
    """``deepad runs rebuild-index``: a run index that is missing, emptied or damaged is
    rebuilt from the run folders (a damaged file is kept beside it, renamed)."""
    from deepad.runs.store import rebuild_index

    home = Path(args.home).expanduser() if args.home is not None else None
    added, moved = rebuild_index(home)
    if moved is not None:
        print(f"the damaged run index was moved to {printable(str(moved))}")
    if added:
        shown = ", ".join(str(i) for i in added)
        print(f"rebuilt the run index: {len(added)} run(s) recovered from their folders ({shown})")
        print("  their per-item scores were not in the folders; `deepad score` scores again")
    else:
        print("the run index already lists every run folder; nothing to rebuild")
    return 0


JOB_TITLES = {
    "score": "score new data",
    "explain": "explain every item",
    "export": "export ONNX",
    "precompute": "prepare explanations",
}


def _runs_list(svc: Service, *, jobs: bool = False, run_id: int | None = None) -> int:
    """Training runs; with ``jobs`` the jobs of finished runs too (only ``run_id``'s when
    given), from the same queue. Without it a line says how many jobs wait or run."""
    damaged: list[tuple[int, str]] = []
    runs = svc.runs(with_trash=True, damaged=damaged)
    for bad, reason in damaged:
        print(f"run {bad} skipped: {reason}", file=sys.stderr)
    found = svc.jobs(run_id)
    if not runs and not found:
        print("no runs yet; start one with: deepad train --method ae --data demo:fashion")
        return 0
    from deepad.bench.report import format_table

    rows = []
    for r in runs if run_id is None or not jobs else [svc.run(run_id)]:
        data = svc.recorded_dataset(r.test_dataset or r.train_dataset)
        rows.append(
            {
                "id": str(r.id),
                "method": r.method,
                "status": r.status + (f" ({r.phase})" if r.active and r.phase else ""),
                "progress": f"{100 * r.progress:.0f}%",
                "epoch": f"{r.epoch}/{r.epochs}" if r.epochs else "-",
                "data": printable(data["name"]) if data else (r.test_dataset or r.train_dataset),
                "auroc": _format_metric(r.metrics.get("auroc")),
                "created": _format_time(r.created),
                "elapsed": _format_seconds(r.elapsed),
            }
        )
    columns = ["id", "method", "status", "progress", "epoch", "data", "auroc", "created", "elapsed"]
    if rows:
        print(format_table(rows, columns))
    if not jobs:
        active = sum(j.active for j in found)
        if active:
            print(f"\n{active} job(s) of finished runs waiting or running: deepad runs list --jobs")
        return 0
    print("\njobs of finished runs:" if rows else "jobs of finished runs:")
    if not found:
        print("none")
        return 0
    job_rows = []
    for j in found:
        where = f" on {j.host}" if j.host and j.status == "running" else ""
        job_rows.append(
            {
                "id": str(j.id),
                "job": JOB_TITLES.get(j.kind, j.kind),
                "run": str(j.parent),
                "status": j.status + where,
                "done": f"{j.epoch}/{j.epochs}" if j.epochs else "-",
                "attempts": str(j.attempts),
                "created": _format_time(j.created),
                "elapsed": _format_seconds(j.elapsed),
                "error": printable(j.error or "")[:60],
            }
        )
    names = ["id", "job", "run", "status", "done", "attempts", "created", "elapsed", "error"]
    print(format_table(job_rows, names))
    return 0


def _runs_show(svc: Service, run_id: int) -> int:
    r = svc.run(run_id)
    print(f"run {r.id}: {r.method}  {r.status}" + (f" ({r.phase})" if r.phase else ""))
    if r.error:
        print(f"  error: {printable(r.error)}")
    for role, dataset_id in (
        ("train", r.train_dataset),
        ("test", r.test_dataset),
        ("labeled", r.labeled_dataset),
    ):
        if dataset_id:
            summary = svc.recorded_dataset(dataset_id)
            label = f"{printable(summary['name'])} ({summary['count']} items)" if summary else ""
            print(f"  {role:<8} {dataset_id} {label}")
    print(f"  progress {100 * r.progress:.0f}%  epoch {r.epoch}/{r.epochs}", end="")
    if r.loss is not None:
        print(f"  loss {r.loss:.4g}", end="")
    if r.items_per_second:
        print(f"  {r.items_per_second:.0f} items/s", end="")
    if r.active and r.eta is not None:
        print(f"  eta {_format_seconds(r.eta)}", end="")
    print()
    print(
        f"  created {_format_time(r.created)}  started {_format_time(r.started)}  "
        f"finished {_format_time(r.finished)}  elapsed {_format_seconds(r.elapsed)}"
    )
    if r.pid:
        print(f"  process {r.pid}")
    if r.threshold is not None:
        source = svc.threshold_source(run_id) if r.status == "done" else "the training scores"
        print(f"  threshold {r.threshold:.6g} (from {source}; `deepad score` uses it)")
    print("  config " + json.dumps(r.config, sort_keys=True))
    if r.metrics:
        found = dict(r.metrics)
        if r.status == "done" and r.threshold is not None:
            # flagged / P / R / F1 at the threshold printed above, not the one training set
            found.update(svc.metrics_at(run_id, r.threshold))
        found.pop("threshold", None)
        print("  metrics")
        _print_metrics(found)
    history = svc.history(run_id)
    if history:
        last = history[-5:]
        print("  last epochs: " + ", ".join(f"{h['epoch']}: {h['loss']:.4g}" for h in last))
    print(f"  folder {svc.run_folder(run_id).path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    demos = _service(args).demos()
    if not demos:
        print("no demo sets found")
        return 0
    for demo in demos:
        print(f"{demo.name:<12} {demo.kind.value:<9} {demo.title}")
        if demo.description:
            print(f"{'':<23}{demo.description}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from deepad.config import describe

    svc = _service(args)
    methods = [svc.method(args.name)] if args.name else svc.methods()
    # one method: every setting; the overview: the main settings unless --all
    show_advanced = bool(args.name) or args.all
    hidden = 0
    for cls in methods:
        kinds = ", ".join(sorted(k.value for k in cls.kinds))
        extras = [x for x, on in (("explains", cls.explains), ("labeled", cls.uses_labeled)) if on]
        print(
            f"{cls.name}: {cls.title}  [{kinds}]" + (f"  ({', '.join(extras)})" if extras else "")
        )
        for spec in describe(cls.Config):
            if spec.advanced and not show_advanced:
                hidden += 1
                continue
            print(f"    {_describe_setting(spec)}")
        print()
    if hidden:
        print("advanced settings: deepad methods NAME, or deepad methods --all")
    return 0


def _describe_setting(spec: Any) -> str:
    default = spec.default
    if isinstance(default, tuple):
        default = ",".join(str(v) for v in default)
    default = getattr(default, "value", default)
    bounds = ""
    if spec.choices:
        bounds = " {" + ", ".join(str(getattr(c, "value", c)) for c in spec.choices) + "}"
    elif spec.low is not None or spec.high is not None:
        low = "" if spec.low is None else f"{spec.low:g}"
        high = "" if spec.high is None else f"{spec.high:g}"
        bounds = f" [{low}, {high}]"
    flag = " (advanced)" if spec.advanced else ""
    return f"{spec.name}={default!s}{bounds}{flag}  {spec.help}"


def cmd_bench(args: argparse.Namespace) -> int:
    from deepad.bench import BenchOptions, list_suites, needs_data, run_suite

    if args.name == "list":
        for name, description in list_suites().items():
            print(f"{name:<18} {description}")
        return 0
    suites = list_suites()
    if args.name not in suites:
        raise ServiceError(f"unknown benchmark {args.name!r}; known: {', '.join(suites)}")
    classes = None
    if args.classes:
        classes = [c for part in args.classes for c in part.split(",") if c.strip()]
    options = BenchOptions(
        data=Path(args.data) if args.data else None,
        classes=classes,
        quick=args.quick,
        peers=not args.no_peers,
        device=args.device,
        seed=args.seed,
        output=Path(args.output) if args.output else None,
        extra=_parse_sets(args.set),
    )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        if needs_data(args.name):
            options.root()  # a missing data folder is a user error, reported before any work
        run_suite(args.name, options)
    except (ConfigError, FileNotFoundError, NotADirectoryError, ValueError) as error:
        raise ServiceError(str(error)) from error
    print(f"\n{args.name}: {time.perf_counter() - start:.1f} s wall", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepad", description="Deep anomaly detection: data, training runs and benchmarks."
    )
    parser.add_argument(
        "--home", help="deepad home folder (default: $DEEPAD_HOME or ~/.deepad)", default=None
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="run store database, e.g. postgresql+psycopg://user@host/deepad (default: "
        "$DEEPAD_STORE_URL, else runs.db in the home)",
    )
    parser.add_argument(
        "--artifacts",
        metavar="PATH",
        default=None,
        help="shared folder of the run folders, e.g. a network mount every machine of a shared "
        "store reaches (default: $DEEPAD_ARTIFACTS, else runs/ in the home)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def loader_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--text-column", help="csv/jsonl column with the documents")
        p.add_argument("--label-column", help="column with normal/anomalous labels")
        p.add_argument("--normal-label", help="value of the label column that means normal")

    kinds = ("image", "text", "table", "sequence")
    p = sub.add_parser("ingest", help="read files into the dataset registry")
    p.add_argument("path", help="file, folder or zip archive")
    p.add_argument("--kind", choices=kinds, help="kind of data (inferred if omitted)")
    p.add_argument("--name", help="display name (default: the file or folder name)")
    loader_options(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("train", help="train a detector (foreground with a progress bar)")
    p.add_argument(
        "--method",
        help="method name (see: deepad methods); default auto: the method recommended for the "
        "data, printed with the reason",
    )
    p.add_argument("--data", help="training data: a path, a dataset id or demo:NAME")
    p.add_argument("--test", help="test data to score (default: the training data)")
    p.add_argument("--labeled", help="labeled anomalies, for methods that use them")
    p.add_argument("--kind", choices=kinds, help="kind of data at a path (inferred if omitted)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a method setting")
    p.add_argument("--background", action="store_true", help="train in a background process")
    p.add_argument(
        "--memory-mb", type=int,
        help="memory the run needs free on the worker that takes it (deepad worker)",
    )  # fmt: skip
    p.add_argument("--resume", type=int, metavar="RUN_ID", help="continue an interrupted run")
    loader_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score new data with a finished run's model")
    p.add_argument("run_id", type=int)
    p.add_argument("path", help="file, folder or zip archive of the run's kind of data")
    p.add_argument(
        "--output",
        help="write the scores as CSV (id, name, score, flagged, label, one column per score "
        "component) to this file",
    )
    loader_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("export", help="export a finished run's image network (ONNX)")
    p.add_argument("run_id", type=int)
    p.add_argument("--format", default="onnx", choices=("onnx",))
    p.add_argument("--output", help="file to write (default: beside the run's model, in its folder)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "runs", help="list, show, cancel or delete runs; rebuild-index recovers a lost run index"
    )
    p.add_argument("action", choices=("list", "show", "cancel", "delete", "rebuild-index"))
    p.add_argument("run_id", type=int, nargs="?")
    p.add_argument(
        "--jobs",
        action="store_true",
        help="list: the jobs of finished runs too (scoring, explaining, exporting; only "
        "RUN_ID's when given), rows of the same queue as training runs",
    )
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "worker",
        help="carry out queued jobs of a shared run store (--store) on this machine, in a loop",
    )
    p.add_argument("--until-idle", action="store_true", help="stop when no job is waiting")
    p.add_argument("--max-jobs", type=int, metavar="N", help="stop after N jobs")
    p.add_argument(
        "--stale-after", type=float, metavar="SECONDS",
        help="queue again the jobs of workers silent this long (default 120)",
    )  # fmt: skip
    p.add_argument("--cpu-only", action="store_true", help="take no job that needs a GPU")
    p.add_argument(
        "--memory-mb", type=int, help="memory this worker offers (default: what is free)"
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="bundled demo sets")
    p.add_argument("action", choices=("list",))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("methods", help="detection methods and their settings")
    p.add_argument("name", nargs="?", help="show the settings of this method")
    p.add_argument("--all", action="store_true", help="show the settings of every method")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("bench", help="run a benchmark suite (deepad bench list)")
    p.add_argument("name", help="suite name, or 'list'")
    p.add_argument("--data", help="benchmark data folder (default: $DEEPAD_DATA)")
    p.add_argument("--classes", nargs="+", help="only these classes (names or indices)")
    p.add_argument("--quick", action="store_true", help="a short smoke run")
    p.add_argument("--no-peers", action="store_true", help="skip the PyOD peer rows")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="suite setting")
    p.add_argument("--output", help="write the results as JSON to this file")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The level sits on the handler: a run raises deepad's logger to INFO for its log file,
    # and the console should still show only warnings unless -v is given.
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[console])
    if args.store:  # through the environment, so that background workers use it too
        from deepad.runs.database import STORE_URL_ENV

        os.environ[STORE_URL_ENV] = args.store
    if args.artifacts:  # likewise
        from deepad.runs.layout import ARTIFACTS_ENV

        os.environ[ARTIFACTS_ENV] = str(Path(args.artifacts).expanduser())
    try:
        return int(args.func(args) or 0)
    except DeepadError as error:  # ServiceError, and a store or model file that fails
        return _fail(str(error))
    except BrokenPipeError:  # e.g. `deepad score ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _fail(message: str) -> int:
    first = printable(message.strip().splitlines()[0]) if message.strip() else "failed"
    print(f"deepad: error: {first}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
