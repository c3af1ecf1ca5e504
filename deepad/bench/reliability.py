"""``deepad bench reliability``: hostile inputs, killed workers, damaged files, a full disk.

Every hostile input is generated from a seed and goes through the ingest the app and the CLI
use (:func:`deepad.data.ingest.load_any`, then the dataset registry), in this process, with
good files beside it that must come through, under a per-input time limit (a hang counts as
a crash). Tables and sequences that load are also scored by a fitted detector. Then worker
processes training runs are killed with ``SIGKILL`` at random moments (some of their newest
checkpoints damaged after the kill) and resumed; model files are tampered with and scored;
and the run store and the registry are used on a simulated full disk (``ENOSPC``).

It counts:

- **crashes**: an exception other than a one-line ``ValueError`` / ``OSError`` naming the
  problem (``TypeError``, ``RecursionError``, a ``UnicodeError``, ...), or a hang;
- **silent NaN**: a NaN or infinite value in a loaded dataset or in returned scores;
- **good files lost**: a good file beside a hostile one that did not come through;
- **kills / resumed**: workers killed, and runs that then finished from a checkpoint.

Decoded-size limits are scaled down while the hostile inputs run (see ``BENCH_LIMITS``), so
a bomb is refused in milliseconds rather than after gigabytes; a few bombs also run at the
real limits. ``--quick`` runs a tenth of the inputs and three kills.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import resource
import signal
import socket
import sqlite3
import struct
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deepad.bench import BenchOptions, suite

RESULTS = Path("benchmarks") / "results"
TIME_LIMIT_S = 20.0

# module, attribute, value: limits while the hostile inputs run
BENCH_LIMITS: tuple[tuple[str, str, int], ...] = (
    ("deepad.data.sources", "MAX_ENTRY_BYTES", 8 * 2**20),
    ("deepad.data.sources", "MAX_TOTAL_BYTES", 48 * 2**20),
    ("deepad.data.images", "MAX_PIXELS_PER_IMAGE", 4_000_000),
    ("deepad.data.images", "MAX_DECODED_BYTES", 64 * 2**20),
    ("deepad.data.text", "MAX_TEXT_CHARS", 4 * 2**20),
    ("deepad.data.text", "MAX_RECORD_CELLS", 1_000_000),
)


class Hang(Exception):
    """The per-input time limit ran out."""


@dataclass
class Case:
    """One hostile input: its files (relative path -> bytes, or a special-file marker) and
    how it is handed to the loader (``folder``, ``uploads`` or ``zip``)."""

    kind: str
    label: str
    files: dict[str, Any]
    mode: str = "folder"


@dataclass
class Tally:
    inputs: int = 0
    crashes: list[str] = field(default_factory=list)
    silent_nan: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    refused: int = 0  # hostile files skipped or refused with a reason
    baseline_mib: float = 0.0  # peak RSS before the first input: imports and fitted scorers
    kills: int = 0
    resumed: int = 0
    runs_done: int = 0
    run_failures: list[str] = field(default_factory=list)
    tampered: int = 0
    full_disk_checks: int = 0
    # second round: lost run index, server paths in settings, Markdown in names, damaged
    # forests, FIFOs in place of model files, changed model files of a run
    store_checks: int = 0
    data_lost: list[str] = field(default_factory=list)
    path_settings: int = 0
    markdown_names: int = 0
    forests: int = 0
    fifos: int = 0
    checksum_checks: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------ file makers
def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _image_bytes(rng: random.Random, fmt: str, size: int = 24) -> bytes:
    pixels = np.random.default_rng(rng.randrange(2**32)).integers(
        0, 255, (size, size, 3), dtype=np.uint8
    )
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def _png_header_bomb(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming ``width`` x ``height``, with a tiny IDAT."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


_BIG_PNGS: dict[int, bytes] = {}


def _big_png(side: int) -> bytes:
    """A real PNG of ``side`` x ``side`` gray zeros (small on disk, large decoded)."""
    if side not in _BIG_PNGS:
        _BIG_PNGS[side] = _png(np.zeros((side, side), np.uint8))
    return _BIG_PNGS[side]


def _zip(entries: dict[str, bytes], *, links: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = (0o120777 << 16) | 0
            archive.writestr(info, data)
    return out.getvalue()


def _corrupt(data: bytes, rng: random.Random, flips: int = 8) -> bytes:
    buf = bytearray(data)
    for _ in range(flips):
        at = rng.randrange(min(len(buf), 64), len(buf)) if len(buf) > 64 else 0
        buf[at] = rng.randrange(256)
    return bytes(buf)


def _csv(rows: list[list[object]], header: str | None) -> bytes:
    lines = [header] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


FIFO, LINK_OUT, LINK_LOOP, LINK_DANGLING, LINK_DIR_OUT, SOCKET = (
    "<fifo>",
    "<link-out>",
    "<link-loop>",
    "<link-dangling>",
    "<link-dir-out>",
    "<socket>",
)
SPECIAL = {FIFO, LINK_OUT, LINK_LOOP, LINK_DANGLING, LINK_DIR_OUT, SOCKET}


# ------------------------------------------------------------------ good files per kind
def good_files(kind: str, rng: random.Random) -> dict[str, bytes]:
    if kind == "image":
        return {"good_a.png": _image_bytes(rng, "PNG"), "good_b.png": _image_bytes(rng, "PNG")}
    if kind == "text":
        return {"good_a.txt": b"a normal document", "good_b.txt": b"another normal document"}
    if kind == "table":
        rows = [[rng.random(), rng.random()] for _ in range(5)]
        return {"good_a.csv": _csv(rows, "a,b"), "good_b.csv": _csv(rows, "a,b")}
    rows = [[t, rng.random(), rng.random()] for t in range(6)]
    return {"good_a.csv": _csv(rows, "time,x,y"), "good_b.csv": _csv(rows, "time,x,y")}


def good_names(kind: str) -> set[str]:
    if kind == "sequence":
        return {"good_a", "good_b"}
    if kind in ("table",):
        return {"good_a.csv", "good_b.csv"}
    return {"good_a.png", "good_b.png"} if kind == "image" else {"good_a.txt", "good_b.txt"}


# ------------------------------------------------------------------ hostile templates
def _image_cases(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    fmt = rng.choice(["PNG", "JPEG", "BMP", "TIFF", "WEBP"])
    suffix = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}[fmt]
    data = _image_bytes(rng, fmt, size=rng.choice([8, 24, 64]))
    cut = rng.randrange(0, max(1, len(data)))
    side = rng.choice([3000, 5000])
    return [
        (f"truncated {fmt}", {f"bad{suffix}": data[:cut]}),
        (f"corrupt {fmt}", {f"bad{suffix}": _corrupt(data, rng, rng.randint(1, 40))}),
        ("header bomb", {"bomb.png": _png_header_bomb(rng.choice([10**5, 2**31 - 1]), 99_999)}),
        ("decoded-size bomb", lambda: {"big.png": _big_png(side)}),
        (
            "many decoded images",
            lambda: {f"m{i}.png": _big_png(1800) for i in range(rng.randint(6, 12))},
        ),
        ("empty image", {"empty.png": b""}),
        ("binary named .png", {"noise.png": rng.randbytes(rng.randint(1, 4000))}),
        ("text named .jpg", {"note.jpg": b"hello, not a picture"}),
        ("unsupported type", {"anim.gif": b"GIF89a" + rng.randbytes(50)}),
        ("wrong kind", {"table.csv": b"a,b\n1,2\n"}),
        ("16-bit gray", {"deep.png": _png(np.full((9, 9), 60000, np.uint16))}),
        (
            "mask of another aspect",
            {
                "normal/n.png": _image_bytes(rng, "PNG", 32),
                "anomalous/cut/x.png": _image_bytes(rng, "PNG", 32),
                "ground_truth/cut/x_mask.png": _png(np.ones((7, 300), np.uint8) * 255),
            },
        ),
    ]


def _text_cases(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    deep = "[" * rng.choice([5000, 200_000]) + "]" * 10
    times = rng.choice([1, 2]) * 1_000_000
    return [
        ("non-UTF-8 text", {"latin.txt": "café olé".encode("latin-1")}),
        ("UTF-16 text", {"wide.txt": "hello".encode("utf-16")}),
        ("binary named .txt", {"noise.txt": rng.randbytes(rng.randint(1, 3000))}),
        ("empty text", {"empty.txt": b""}),
        ("NUL bytes", {"nul.txt": b"a\x00b\x00c"}),
        ("ragged csv", {"rag.csv": b"text,label\na,0\nb,1,2\n"}),
        ("csv without a text column", {"two.csv": b"x,y\n1,2\n"}),
        ("bad quotes", {"q.csv": b'text\n"a"b"\n'}),
        (
            "jsonl lone surrogate",
            {"s.jsonl": b'{"text": "ok"}\n{"text": "\\ud800 bad"}\n{"text": "fine"}\n'},
        ),
        ("jsonl not JSON", {"j.jsonl": b'{"text": "a"}\n{nope\n'}),
        ("jsonl deep nesting", {"d.jsonl": ('{"text": ' + deep + "}\n").encode()}),
        ("jsonl list line", {"l.jsonl": b"[1, 2]\n"}),
        ("text bomb", lambda: {"huge.txt": b"word " * times}),
        ("header only csv", {"h.csv": b"text\n"}),
    ]


def _table_cases(rng: random.Random, kind: str) -> list[tuple[str, dict[str, Any]]]:
    head = "a,b" if kind == "table" else "time,x,y"
    width = 2 if kind == "table" else 3

    def rows_with(value: object) -> bytes:
        rows = [[rng.random() for _ in range(width)] for _ in range(4)]
        rows[rng.randrange(4)][rng.randrange(width)] = value
        return _csv(rows, head)

    wide = rng.choice([2_000, 10_000])
    return [
        ("NaN cell", {"nan.csv": rows_with("NaN")}),
        ("inf cell", {"inf.csv": rows_with(rng.choice(["inf", "-inf", "Infinity"]))}),
        ("beyond float32", {"big.csv": rows_with(rng.choice(["1e39", "-3.5e38", "1e300"]))}),
        ("mixed types", {"mixed.csv": rows_with("abc")}),
        ("empty cell", {"hole.csv": rows_with("")}),
        ("ragged rows", {"rag.csv": (head + "\n1,2\n1,2,3,4,5\n").encode()}),
        ("header only", {"h.csv": (head + "\n").encode()}),
        ("empty file", {"e.csv": b""}),
        ("binary named .csv", {"noise.csv": rng.randbytes(rng.randint(1, 3000))}),
        ("non-UTF-8 csv", {"latin.csv": (head + "\n1,2\n").encode() + b"\xe9,\xff\n"}),
        ("other columns", {"pqr.csv": b"p,q,r\n1,2,3\n4,5,6\n"}),
        (
            f"{wide} columns",
            {"wide.csv": _csv([[1] * wide, [2] * wide], ",".join(f"c{i}" for i in range(wide)))},
        ),
        ("cell bomb", lambda: {"cells.csv": _csv([[0] * 1000 for _ in range(1200)], None)}),
        ("duplicate header", {"dup.csv": b"a,a\n1,2\n"}),
        (
            "jsonl surrogate",
            {"s.jsonl": b'{"a": 1, "b": 2}\n{"a": "\\udfff", "b": 3}\n'},
        ),
        ("wrong kind", {"picture.png": _image_bytes(rng, "PNG")}),
    ]


def _name_cases(rng: random.Random, kind: str) -> list[tuple[str, dict[str, Any], str]]:
    """Hostile names and special files; the mode is fixed where only one makes sense."""
    suffix = {"image": ".png", "text": ".txt"}.get(kind, ".csv")
    payload = good_files(kind, rng)["good_a" + (suffix if kind != "sequence" else ".csv")]
    escape = rng.choice(["\x1b[31mred", "bell\x07", "cr\rlf\n", "\x9b2J"])
    return [
        ("control characters in a name", {f"{escape}{suffix}": payload}, "uploads"),
        (
            "invalid UTF-8 name",
            {b"bad\xff\xfe".decode("utf-8", "surrogateescape") + suffix: payload},
            "folder",
        ),
        ("surrogate in an upload name", {"x\udc80y" + suffix: payload}, "uploads"),
        ("FIFO", {f"pipe{suffix}": FIFO}, "folder"),
        ("socket", {f"sock{suffix}": SOCKET}, "folder"),
        ("link out of the folder", {f"out{suffix}": LINK_OUT}, "folder"),
        ("link loop", {f"loop{suffix}": LINK_LOOP}, "folder"),
        ("dangling link", {f"gone{suffix}": LINK_DANGLING}, "folder"),
        ("linked folder out", {"outside": LINK_DIR_OUT}, "folder"),
        ("'..' entry", {f"../escape{suffix}": payload}, "zip"),
        ("absolute entry", {f"/abs{suffix}": payload}, "zip"),
        ("link entry", {f"<zlink>link{suffix}": b"/etc/passwd"}, "zip"),
        ("nested zip", {"inner.zip": _zip({f"n{suffix}": payload})}, rng.choice(["zip", "folder"])),
        (
            "zip bomb by ratio",
            lambda: {"bomb.zip": _zip({f"zeros{suffix}": b"\0" * (12 * 2**20)})},
            "uploads",
        ),
        (
            "zip bomb by total size",
            lambda: {"many.zip": _zip({f"z{i}{suffix}": b"1" * (7 * 2**20) for i in range(8)})},
            "uploads",
        ),
        (
            "damaged zip",
            {"broken.zip": _corrupt(_zip({f"a{suffix}": payload}), rng, 30)},
            "uploads",
        ),
        ("truncated gzip", {f"t{suffix}.gz": zlib.compress(payload)[:5]}, "uploads"),
    ]


def generate(seed: int, count: int, *, heavy: bool = True) -> list[Case]:
    """``count`` hostile cases, cycling through every template of every kind; without
    ``heavy``, the templates that take megabytes to build (the bombs) are left out."""
    rng = random.Random(seed)
    cases: list[Case] = []
    kinds = ["image", "text", "table", "sequence"]
    while len(cases) < count:
        for kind in kinds:
            templates: list[tuple[str, dict[str, Any], str | None]] = []
            if kind == "image":
                templates += [(a, b, None) for a, b in _image_cases(rng)]
            elif kind == "text":
                templates += [(a, b, None) for a, b in _text_cases(rng)]
            else:
                templates += [(a, b, None) for a, b in _table_cases(rng, kind)]
            templates += [(a, b, m) for a, b, m in _name_cases(rng, kind)]
            for label, files, mode in templates:
                if callable(files):
                    if not heavy:
                        continue
                    files = files()
                chosen = mode or rng.choice(["folder", "uploads", "zip"])
                cases.append(Case(kind, label, files, chosen))
    return cases[:count]


# ------------------------------------------------------------------ one input
@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def limits(values: tuple[tuple[str, str, int], ...] = BENCH_LIMITS) -> Iterator[None]:
    import importlib

    saved = []
    for module_name, attr, value in values:
        module = importlib.import_module(module_name)
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, value)
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def _place(folder: Path, files: dict[str, Any], outside: Path) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data == FIFO:
            os.mkfifo(path)
        elif data == SOCKET:
            sock = socket.socket(socket.AF_UNIX)
            with contextlib.suppress(OSError):
                sock.bind(str(path))
            sock.close()
        elif data == LINK_OUT:
            path.symlink_to(outside / "secret.txt")
        elif data == LINK_LOOP:
            path.symlink_to(path)
        elif data == LINK_DANGLING:
            path.symlink_to(folder / "nothing-here")
        elif data == LINK_DIR_OUT:
            path.symlink_to(outside, target_is_directory=True)
        else:
            path.write_bytes(data)


def build_source(case: Case, folder: Path, rng: random.Random) -> Any:
    """Write ``case`` and its good files, and return the source to load."""
    from deepad.data.sources import Upload

    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_bytes(b"not yours")
    files = {**good_files(case.kind, rng), **case.files}
    if case.mode == "folder":
        folder.mkdir()
        _place(folder, {k.replace("<zlink>", ""): v for k, v in files.items()}, outside)
        return folder
    plain = {k: v for k, v in files.items() if v not in SPECIAL}
    if case.mode == "uploads":
        return [Upload(k.replace("<zlink>", ""), v) for k, v in plain.items()]
    links = tuple(k.replace("<zlink>", "") for k in plain if k.startswith("<zlink>"))
    entries = {k.replace("<zlink>", ""): v for k, v in plain.items()}
    return Upload("upload.zip", _zip(entries, links=links))


def _load_and_score(folder: Path, data: Any, tag: str, tally: Any) -> np.ndarray | None:
    """Scores of ``data`` by the model saved in ``folder``, or None when loading or scoring
    refused it: a clean error naming the folder is what a damaged model should give; a hang,
    or any other error, goes to ``tally.crashes``."""
    from deepad.models import Detector

    try:
        with time_limit(TIME_LIMIT_S):
            return Detector.load(folder).score(data).score
    except Hang:
        tally.crashes.append(f"{tag}: hang")
    except Exception as exc:
        if not _clean_error(exc) or str(folder) not in str(exc):
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            tally.crashes.append(f"{tag}: {detail}")
    return None


def _clean_error(error: BaseException) -> bool:
    """A refusal the front ends show as one line (not a crash)."""
    if isinstance(error, UnicodeError | RecursionError):
        return False
    from deepad.errors import DeepadError

    if not isinstance(error, ValueError | OSError | DeepadError):
        return False
    text = str(error)
    return bool(text.strip()) and "\n" not in text.strip() and "Traceback" not in text


def _non_finite(dataset: Any) -> bool:
    if dataset.kind.value == "table":
        return not bool(np.isfinite(np.asarray(dataset.items)).all())
    if dataset.kind.value == "sequence":
        return any(not np.isfinite(np.asarray(s)).all() for s in dataset.items)
    return False


def _loaded_names(dataset: Any) -> set[str]:
    names = set()
    for name in dataset.names:
        head, _, tail = name.rpartition(":")
        if head and tail.isdigit():  # a row or line of a file
            name = head
        names.add(name.split("/")[-1])
    return names


def run_case(
    case: Case, work: Path, rng: random.Random, tally: Tally, scorers: dict[str, Any]
) -> None:
    from deepad.data.ingest import load_any
    from deepad.data.registry import DatasetRegistry

    tally.inputs += 1
    tally.by_kind[case.kind] = tally.by_kind.get(case.kind, 0) + 1
    tag = f"{case.kind}/{case.label}/{case.mode}"
    try:
        source = build_source(case, work / "in", rng)
    except OSError as exc:  # e.g. a name this file system refuses: nothing to test
        tally.refused += 1
        del exc
        return
    try:
        with time_limit(TIME_LIMIT_S):
            dataset = load_any(source, case.kind)
            record = DatasetRegistry(work / "home").add(dataset, name=case.label)
            DatasetRegistry(work / "home").get(record.id)
    except Hang as exc:
        tally.crashes.append(f"{tag}: hang ({exc})")
        return
    except Exception as exc:
        if _clean_error(exc):
            tally.lost.append(f"{tag}: load refused ({exc})")
        else:
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            tally.crashes.append(f"{tag}: {detail}")
        return
    if _non_finite(dataset):
        tally.silent_nan.append(f"{tag}: a non-finite value was loaded")
    missing = good_names(case.kind) - _loaded_names(dataset)
    if missing:
        tally.lost.append(f"{tag}: {sorted(missing)} not loaded")
    if dataset.skipped:
        tally.refused += 1
    for name in dataset.names + [s.name for s in dataset.skipped]:
        if not name.isprintable():
            tally.crashes.append(f"{tag}: unprintable name {name!r} recorded")
            break
    scorer = scorers.get(case.kind)
    if scorer is not None and len(dataset):
        try:
            scores = scorer.score(dataset).score
        except ValueError:
            return  # e.g. columns that do not fit the model: refused in one line
        if not np.isfinite(scores).all():
            tally.silent_nan.append(f"{tag}: NaN scores returned")


def _scorers() -> dict[str, Any]:
    from deepad.models import get_method

    rng = np.random.default_rng(0)
    table = get_method("iforest")(n_estimators=20).fit(rng.normal(size=(40, 2)).astype(np.float32))
    from deepad.data.types import DataKind, Dataset

    seqs = [rng.normal(size=(6, 2)).astype(np.float32) for _ in range(12)]
    data = Dataset(DataKind.SEQUENCE, seqs, [f"s{i}" for i in range(12)], columns=["x", "y"])
    seq = get_method("dsebm")(epochs=1, device="cpu").fit(data)
    table.columns_ = ["a", "b"]
    return {"table": table, "sequence": seq}


# ------------------------------------------------------------------ killed workers
def _training_home(home: Path) -> tuple[Any, str]:
    from deepad.data.registry import DatasetRegistry
    from deepad.data.types import DataKind, Dataset

    rng = np.random.default_rng(1)
    table = rng.normal(size=(400, 8)).astype(np.float32)
    data = Dataset(DataKind.TABLE, table, [f"r{i}" for i in range(len(table))], columns=None)
    record = DatasetRegistry(home).add(data, name="kill-test")
    from deepad.runs.store import RunStore

    return RunStore(home), record.id


def _wait(store: Any, run_id: int, timeout: float) -> Any:
    from deepad.runs.store import ACTIVE

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(run_id)
        if record.status not in ACTIVE:
            return record
        time.sleep(0.2)
    return store.get(run_id)


KILL_RUN_CONFIG = {
    "epochs": 12,
    "batch_size": 100,
    "checkpoint_every": 1,
    "device": "cpu",
    "hidden": [16],
    "code_size": 4,
}


def kill_and_resume(
    home: Path, kills_wanted: int, rng: random.Random, tally: Tally, *, parallel: int = 3
) -> None:
    """Train small runs in worker processes, ``SIGKILL`` each several times at random
    moments (while starting, mid-epoch, right after an epoch's checkpoint), sometimes
    truncate its newest checkpoint, resume it, and check it ends done with every epoch's
    history row and finite scores."""
    from deepad.runs import jobs
    from deepad.runs.store import ACTIVE, DONE

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the workers share a few cores
    store, dataset_id = _training_home(home)
    epochs = int(KILL_RUN_CONFIG["epochs"])  # type: ignore[call-overload]
    runs: dict[int, dict[str, Any]] = {}
    per_run = 3
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        active = [r for r in runs if store.get(r).status in ACTIVE]
        planned = tally.kills + sum(runs[r]["left"] for r in active)
        if len(active) < parallel and planned < kills_wanted:
            run_id = store.create_run("ae", KILL_RUN_CONFIG, dataset_id)
            runs[run_id] = {"pid": jobs.start_run(store, run_id), "left": per_run, "plan": None}
            continue
        busy = False
        for run_id, state in list(runs.items()):
            record = store.get(run_id)
            if record.status not in ACTIVE:
                continue
            busy = True
            if state["left"] == 0 or tally.kills >= kills_wanted:
                continue
            if state["plan"] is None:  # kill once this epoch is reached (0: while starting)
                state["plan"] = (rng.randint(0, epochs - 1), time.monotonic() + rng.uniform(0, 2))
            at_epoch, not_before = state["plan"]
            if record.epoch < at_epoch or time.monotonic() < not_before:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signal.SIGKILL)
                tally.kills += 1
            state["left"] -= 1
            state["plan"] = None
            time.sleep(0.5)
            jobs.reconcile(store, stale_after=3600)
            from deepad.train.checkpoint import checkpoint_files, checkpoint_stem, has_checkpoint

            checkpoints = store.folder(run_id).checkpoints
            newest = checkpoint_files(checkpoint_stem(checkpoints))[1]  # its tensors
            if rng.random() < 0.3 and newest.exists():
                with open(newest, "r+b") as f:
                    f.truncate(rng.randint(0, 64))  # a damaged newest checkpoint
            if has_checkpoint(checkpoints):
                tally.resumed += 1
            state["pid"] = jobs.start_run(store, run_id, resume=True)
        if not busy:
            break
        time.sleep(0.2)
    for run_id in runs:
        record = store.get(run_id)
        history = [row["epoch"] for row in store.history(run_id)]
        if record.status != DONE:
            error = str(record.error).replace(str(store.home), "HOME")  # no machine path
            tally.run_failures.append(f"run {run_id}: {record.status} ({error})")
        elif history != list(range(1, epochs + 1)):
            tally.run_failures.append(f"run {run_id}: history epochs {history}")
        elif not np.isfinite(store.scores(run_id)["score"]).all():
            tally.silent_nan.append(f"run {run_id}: non-finite scores stored")
        else:
            tally.runs_done += 1
        if record.status in ACTIVE and record.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)


# ------------------------------------------------------------------ tampered models
def tamper_models(work: Path, count: int, rng: random.Random, tally: Tally) -> None:
    from deepad.models import get_method

    data = np.random.default_rng(2).normal(size=(80, 4)).astype(np.float32)
    models = {}
    for method, params in (("ae", {"epochs": 1, "device": "cpu"}), ("kde", {})):
        folder = work / f"model-{method}"
        get_method(method)(**params).fit(data).save(folder)
        models[method] = {p.name: p.read_bytes() for p in folder.iterdir()}
    for i in range(count):
        method = rng.choice(sorted(models))
        folder = work / f"tampered-{i}"
        folder.mkdir()
        files = dict(models[method])
        target = rng.choice(["detector.json", "detector.safetensors"])
        files[target] = _tampered(files[target], target, rng)
        for name, content in files.items():
            if content is None:
                (folder / name).mkdir()
            else:
                (folder / name).write_bytes(content)
        tally.tampered += 1
        tag = f"model {method}/{target}#{i}"
        scores = _load_and_score(folder, data, tag, tally)
        if scores is None:
            continue
        if not np.isfinite(scores).all():
            tally.silent_nan.append(f"{tag}: NaN scores")


def _tampered(data: bytes, name: str, rng: random.Random) -> bytes | None:
    how = rng.choice(["truncate", "flip", "empty", "pickle", "folder", "header", "dtype"])
    if how == "truncate":
        return data[: rng.randrange(len(data))]
    if how == "flip":
        return _corrupt(data, rng, rng.randint(1, 64))
    if how == "empty":
        return b""
    if how == "pickle":
        return b"\x80\x04\x95" + rng.randbytes(40)  # what pickle.dumps starts with
    if how == "folder":
        return None
    if name.endswith(".json"):
        tree = json.loads(data)
        key = rng.choice(sorted(tree))
        tree[key] = rng.choice(["x", [], {}, None, 1e309, -1, [[[]]]])
        if how == "dtype":
            return b"[" * 50_000 + b"]" * 50_000
        return json.dumps(tree).encode()
    size = struct.unpack("<Q", data[:8])[0]
    header = data[8 : 8 + size]
    if how == "dtype":
        header = header.replace(b'"F32"', b'"I32"').replace(b'"F64"', b'"I64"')
        return data[:8] + header + data[8 + size :]
    return struct.pack("<Q", rng.choice([2**40, size + 10, 3])) + data[8:]


# ------------------------------------------------------------------ second round
def _refusal(tally: Tally, tag: str, action: Callable[[], Any], *, must_say: str = "") -> None:
    """``action`` must fail with a clean one-line error (containing ``must_say``) in time;
    a result is a silent acceptance, anything else a crash."""
    try:
        with time_limit(TIME_LIMIT_S):
            action()
    except Hang:
        tally.crashes.append(f"{tag}: hang")
    except Exception as exc:
        if not _clean_error(exc) or must_say not in str(exc):
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            tally.crashes.append(f"{tag}: {detail}")
    else:
        tally.silent_nan.append(f"{tag}: accepted")


def _tree_of(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def lost_index(work: Path, rng: random.Random, tally: Tally) -> None:
    """A run index deleted, emptied or overwritten with garbage while run folders exist:
    opening it is one clear error, no run folder is written into, and rebuild-index brings
    every run back."""
    from deepad.cli import main
    from deepad.runs.store import RunStore

    for how in ("emptied", "deleted", "garbage", "truncated"):
        home = work / f"index-{how}"
        store = RunStore(home)
        for i in range(3):
            run_id = store.create_run("kde", {"seed": i}, f"{i:016d}")
            store.folder(run_id).log.write_text(f"run {run_id}\n")
        store.close()
        runs = store.artifacts.root
        before = _tree_of(runs)
        db = home / "runs.db"
        for side in ("runs.db-wal", "runs.db-shm"):
            (home / side).unlink(missing_ok=True)
        if how == "emptied":
            db.write_bytes(b"")
        elif how == "deleted":
            db.unlink()
        elif how == "garbage":
            db.write_bytes(rng.randbytes(8192))
        else:
            db.write_bytes(db.read_bytes()[:100] + bytes(100))
        tally.store_checks += 1
        tag = f"run index {how}"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            for argv in (["runs", "list"], ["train", "--method", "kde", "--data", str(work)]):
                code = main(["--home", str(home), *argv])
                if code == 0:
                    tally.silent_nan.append(f"{tag}: `deepad {' '.join(argv)}` went on")
        if "Traceback" in err.getvalue() or "rebuild-index" not in err.getvalue():
            tally.crashes.append(f"{tag}: {err.getvalue().strip()[:200]!r}")
        changed = [k for k, v in before.items() if _tree_of(runs).get(k) != v]
        if changed:
            tally.data_lost.append(f"{tag}: {', '.join(changed)} changed")
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["--home", str(home), "runs", "rebuild-index"])
        store = RunStore(home)
        if code != 0 or [r.id for r in store.list_runs()] != [3, 2, 1]:
            tally.data_lost.append(f"{tag}: rebuild-index did not bring runs 1-3 back")
        elif store.create_run("kde", {}, "0" * 16) != 4:
            tally.data_lost.append(f"{tag}: a new run reused an old id")
        store.close()


def server_paths(work: Path, tally: Tally) -> None:
    """Settings naming files outside the operator's word-vector folder: refused unread, and
    no message quotes a file's content."""
    from deepad.models import Detector
    from deepad.models.textbank import TextKNN

    allowed = work / "vectors"
    allowed.mkdir()
    words = [f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(40)]
    rows = [
        f"{w} " + " ".join(f"{np.sin(i + j):.4f}" for j in range(8)) for i, w in enumerate(words)
    ]
    (allowed / "glove.txt").write_text("\n".join(rows) + "\n")
    secret = work / "secret.txt"
    secret.write_text("List of secrets: root:x:0:0\n" * 4)
    (allowed / "notes.txt").write_text(secret.read_text())
    (allowed / "link.txt").symlink_to(secret)
    docs = [" ".join(words[(i * 7 + j) % 40] for j in range(12)) for i in range(10)]
    previous = os.environ.get("DEEPAD_WORD_VECTORS")
    os.environ["DEEPAD_WORD_VECTORS"] = str(allowed)

    def fit(name: str) -> Any:
        return TextKNN(embedding="file", embedding_file=name, cache_embeddings=False).fit(docs)

    def quiet(name: str) -> Callable[[], Any]:
        def action() -> Any:
            try:
                return fit(name)
            except ValueError as exc:
                if "List" in str(exc) or "root:" in str(exc):
                    raise RuntimeError(f"the message quotes the file: {exc}") from None
                raise

        return action

    try:
        names = [str(secret), "../secret.txt", "/etc/passwd", "../../../../../../etc/passwd",
                 "link.txt", "notes.txt", str(secret) + ".missing", "/proc/self/environ"]  # fmt: skip
        for name in names:
            tally.path_settings += 1
            _refusal(tally, f"setting embedding_file={name!r}", quiet(name))
        folder = work / "path-model"
        fit("glove.txt").save(folder)
        tree = json.loads((folder / "detector.json").read_text())
        tree["config"]["embedding_file"] = "../../../../../../etc/passwd"
        (folder / "detector.json").write_text(json.dumps(tree))
        tally.path_settings += 1
        _refusal(
            tally,
            "model file naming /etc/passwd",
            lambda: Detector.load(folder).score(docs[:2]),
            must_say="word-vector folder",
        )
    finally:
        if previous is None:
            os.environ.pop("DEEPAD_WORD_VECTORS", None)
        else:
            os.environ["DEEPAD_WORD_VECTORS"] = previous


def markdown_names(rng: random.Random, tally: Tally) -> None:
    """Hostile names escaped as the pages escape them make no image and no link."""
    from markdown_it import MarkdownIt

    from deepad.markup import escape_markdown

    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    pieces = ["![x](https://evil.example/{}.png)", "[l](https://evil.example/{})",
              "<img src=https://evil.example/{}>", "<https://evil.example/{}>",
              ":red[{}]", "**{}**", "`{}", "[r][{}]\n\n[{}]: https://evil.example/r",
              "![a]\n[a]: https://evil.example/{}.png", "$x^{}$", "~~{}~~", "\\![x](https://evil.example/{})"]  # fmt: skip
    for i in range(200):
        name = " ".join(rng.choice(pieces).format(i, i) for _ in range(rng.randint(1, 3)))
        tally.markdown_names += 1
        html = parser.render(escape_markdown(name))
        if "evil.example" in html and ("<img" in html or "href=" in html):
            tally.crashes.append(f"Markdown name {name!r} renders as {html.strip()!r}")


def damaged_forests(work: Path, rng: random.Random, count: int, tally: Tally) -> None:
    """Isolation forests whose node arrays are changed (cycles, indices out of range, wrong
    lengths, negative roots) are refused on load, never scored or looped over."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from deepad.models import Detector, get_method

    data = np.random.default_rng(3).normal(size=(60, 4)).astype(np.float32)
    base = work / "forest"
    get_method("iforest")(n_estimators=4).fit(data).save(base)
    for i in range(count):
        folder = work / f"forest-{i}"
        folder.mkdir()
        for p in base.iterdir():
            (folder / p.name).write_bytes(p.read_bytes())
        path = folder / "detector.safetensors"
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as opened:
            meta = opened.metadata()
        key = rng.choice(["left", "right", "feature", "roots"])
        name = next(k for k in tensors if k.endswith("model." + key))
        value = tensors[name].clone()
        spots = torch.nonzero(value >= 0).flatten().tolist() or [0]
        where = rng.choice(spots)
        how = rng.choice(["self", "back", "far", "negative", "root"])
        value[where] = {
            "self": where, "back": max(0, where - rng.randint(1, 5)), "far": 10**9,
            "negative": -rng.randint(2, 10**6), "root": int(value[0]) if len(value) else 0,
        }[how]  # fmt: skip
        if how == "self" and key in ("left", "right"):
            value[value >= 0] = torch.arange(len(value))[value >= 0]  # every node: itself
        tensors[name] = value
        save_file(tensors, str(path), metadata=meta)
        tally.forests += 1
        tag = f"forest {key}/{how}#{i}"
        before = Detector.load(base).score(data).score
        scores = _load_and_score(folder, data, tag, tally)
        if scores is None:
            continue
        # a change the checks allow (e.g. a split feature changed within range) is a valid
        # forest; one that is not valid yet scores is a silent result
        if not np.isfinite(scores).all():
            tally.silent_nan.append(f"{tag}: non-finite scores")
        elif how in ("self", "back", "far", "negative") and key in ("left", "right"):
            tally.silent_nan.append(f"{tag}: accepted ({np.allclose(scores, before)=})")


def fifo_models(work: Path, tally: Tally) -> None:
    """A FIFO in place of either model file: refused at once, never waited on."""
    from deepad.models import Detector, get_method
    from deepad.models.checksum import model_checksum

    data = np.random.default_rng(4).normal(size=(40, 3)).astype(np.float32)
    for method in ("kde", "iforest", "ae"):
        params = {"epochs": 1, "device": "cpu"} if method == "ae" else {}
        base = work / f"fifo-{method}"
        get_method(method)(**params).fit(data).save(base)
        for target in ("detector.json", "detector.safetensors"):
            folder = work / f"fifo-{method}-{target}"
            folder.mkdir()
            for p in base.iterdir():
                if p.name != target:
                    (folder / p.name).write_bytes(p.read_bytes())
            os.mkfifo(folder / target)
            for label, action in (
                ("load", lambda f=folder: Detector.load(f).score(data)),
                ("checksum", lambda f=folder: model_checksum(f)),
            ):
                tally.fifos += 1
                _refusal(tally, f"FIFO as {method}/{target} ({label})", action,
                         must_say="not a regular file")  # fmt: skip


def checksum_mismatch(work: Path, rng: random.Random, tally: Tally) -> None:
    """A run's model files changed after the run saved them (valid files, other content;
    another method's model; a model for other data): scoring refuses them."""
    from deepad.data.types import DataKind, Dataset
    from deepad.models import get_method
    from deepad.models.checksum import model_checksum
    from deepad.service import Service

    data = np.random.default_rng(5).normal(size=(50, 3)).astype(np.float32)
    table = Dataset(DataKind.TABLE, data, [f"r{i}" for i in range(50)], columns=["a", "b", "c"])
    csv = work / "score.csv"
    csv.write_text("a,b,c\n" + "\n".join(",".join(map(str, r)) for r in data[:5]))
    for i, how in enumerate(["threshold", "bytes", "swap", "method", "kind"]):
        svc = Service(work / f"checksum-{i}")
        train = svc.registry.add(table, name="t").id
        method = "iforest" if how == "method" else "kde"
        if how == "kind":
            images = [np.zeros((8, 8), np.uint8)] * 3
            train = svc.registry.add(Dataset(DataKind.IMAGE, images, ["a", "b", "c"])).id
        run_id = svc.store.create_run(method, {}, train)
        folder = svc.run_folder(run_id).model
        get_method("kde")().fit(table).save(folder)
        checksum = model_checksum(folder) if how not in ("method", "kind") else None
        svc.store.update(run_id, status="done", threshold=1.0, model_checksum=checksum)
        if how in ("threshold", "bytes", "swap"):
            svc.score_path(run_id, csv)  # the files as saved score
        if how == "threshold":
            tree = json.loads((folder / "detector.json").read_text())
            tree["threshold"] = -1.0
            (folder / "detector.json").write_text(json.dumps(tree))
        elif how == "bytes":
            raw = bytearray((folder / "detector.safetensors").read_bytes())
            raw[-rng.randint(1, 64)] ^= 0x55  # a flipped bit in a weight: still loads
            (folder / "detector.safetensors").write_bytes(bytes(raw))
        elif how == "swap":
            get_method("kde")(bandwidth=0.3).fit(table).save(folder)
        tally.checksum_checks += 1
        expected = {"method": "trained iforest", "kind": "trained on image data"}
        _refusal(tally, f"changed model of a run ({how})", lambda s=svc, r=run_id: s.score_path(r, csv),
                 must_say=expected.get(how, "checksum mismatch"))  # fmt: skip


# ------------------------------------------------------------------ full disk
def _writes(sql: str) -> bool:
    words = sql.upper().replace("=", " = ").split()
    return words[0] in {"INSERT", "UPDATE", "DELETE", "CREATE", "BEGIN", "REPLACE"} or (
        words[:2] in (["PRAGMA", "JOURNAL_MODE"], ["PRAGMA", "USER_VERSION"]) and "=" in words
    )


class _FullDiskCursor:
    """A cursor of :class:`_FullDiskConnection` (SQLAlchemy executes through cursors)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, *args: Any) -> Any:
        if _writes(sql):
            raise sqlite3.OperationalError("database or disk is full")
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        if _writes(sql):
            raise sqlite3.OperationalError("database or disk is full")
        return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Any:
        return iter(self._cursor)


class _FullDiskConnection:
    """An sqlite connection on a full disk: statements that write fail with SQLITE_FULL."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def execute(self, sql: str, *args: Any) -> Any:
        if _writes(sql):
            raise sqlite3.OperationalError("database or disk is full")
        return self._con.execute(sql, *args)

    def cursor(self, *args: Any) -> _FullDiskCursor:
        return _FullDiskCursor(self._con.cursor(*args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def full_connect(*args: Any, **kwargs: Any) -> _FullDiskConnection:
    """``sqlite3.connect`` on a full disk, for :class:`deepad.runs.store.RunStore`'s
    ``connect``: opening and reading work, every write fails with SQLITE_FULL."""
    return _FullDiskConnection(sqlite3.connect(*args, **kwargs))


def no_space(path: Path, array: np.ndarray) -> None:
    """A ``save_array`` for :class:`deepad.data.registry.DatasetRegistry` on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def full_disk(work: Path, tally: Tally) -> None:
    """The run store and the dataset registry on a full disk, injected through their
    ``connect`` and ``save_array`` parameters (nothing global is replaced): reading runs
    works, writing gives a clean one-line error. The command line on a full disk is
    tests/reliability/test_home.py."""
    from deepad.data.registry import DatasetRegistry
    from deepad.data.types import DataKind, Dataset
    from deepad.runs.store import RunStore

    home = work / "full-home"
    RunStore(home).create_run("kde", {}, "0" * 16)

    def full_store() -> RunStore:
        return RunStore(home, connect=full_connect)

    table = Dataset(DataKind.TABLE, np.ones((2, 2), np.float32), ["a", "b"])
    fails: Any = object()  # the expected outcome of a write: a clean error, no result
    checks: list[tuple[str, Callable[[], Any], Any]] = [
        ("list runs", lambda: [r.id for r in full_store().list_runs()], [1]),
        ("show a run", lambda: full_store().get(1).method, "kde"),
        ("create run", lambda: full_store().create_run("kde", {}, "0" * 16), fails),
        ("register dataset", lambda: DatasetRegistry(home, save_array=no_space).add(table), fails),
    ]
    for label, check, expected in checks:
        must_work = expected is not fails
        tally.full_disk_checks += 1
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                result = check()
        except Exception as exc:
            if must_work or not _clean_error(exc):
                detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                tally.crashes.append(f"full disk, {label}: {detail}")
            continue
        if must_work and result != expected:
            tally.crashes.append(f"full disk, {label}: {result!r}, not {expected!r}")
        elif not must_work:
            tally.crashes.append(f"full disk, {label}: the write did not fail")
        if "Traceback" in err.getvalue():
            tally.crashes.append(f"full disk, {label}: traceback printed")


# ------------------------------------------------------------------ the suite
def run(*, inputs: int, kills: int, tampered: int, seed: int, work: Path, log: Any = None) -> Tally:
    """Everything above, in ``work``; returns the counts."""
    tally = Tally()
    rng = random.Random(seed)
    scorers = _scorers()
    tally.baseline_mib = _peak_mib()
    with limits():
        for i, case in enumerate(generate(seed, inputs)):
            folder = work / f"case-{i}"
            folder.mkdir(parents=True)
            run_case(case, folder, rng, tally, scorers)
            _remove(folder)
            if log is not None and (i + 1) % 100 == 0:
                print(f"  {i + 1} inputs, peak RSS {_peak_mib():.0f} MiB", file=log, flush=True)
    # a few bombs at the real limits, so those are exercised too
    for side in (9000,):
        case = Case("image", f"{side}x{side} bomb at the real limits", {"big.png": _big_png(side)})
        folder = work / f"real-{side}"
        folder.mkdir()
        run_case(case, folder, rng, tally, scorers)
    (work / "models").mkdir()
    tamper_models(work / "models", tampered, rng, tally)
    full_disk(work, tally)
    for name, check in (
        ("index", lambda folder: lost_index(folder, rng, tally)),
        ("paths", lambda folder: server_paths(folder, tally)),
        ("markdown", lambda folder: markdown_names(rng, tally)),
        ("forests", lambda folder: damaged_forests(folder, rng, max(10, tampered // 4), tally)),
        ("fifos", lambda folder: fifo_models(folder, tally)),
        ("checksums", lambda folder: checksum_mismatch(folder, rng, tally)),
    ):
        (work / name).mkdir()
        check(work / name)
    if kills:
        kill_and_resume(work / "kill-home", kills, rng, tally)
    return tally


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(tally: Tally, *, command: str, seconds: float) -> str:
    peak = _peak_mib()
    lines = [
        "# Reliability bench",
        "",
        f"Command: `{command}`",
        "",
        f"Time: {seconds:.0f} s on {os.cpu_count()} CPU(s).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| hostile inputs tried | {tally.inputs} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(tally.by_kind.items()))}) |",
        f"| inputs refused or skipped with a reason | {tally.refused} |",
        f"| tampered model files scored | {tally.tampered} |",
        f"| full-disk checks | {tally.full_disk_checks} |",
        f"| run index lost, emptied or damaged while run folders exist | {tally.store_checks} |",
        f"| settings or model files naming server paths | {tally.path_settings} |",
        f"| hostile names rendered as Markdown after escaping | {tally.markdown_names} |",
        f"| isolation forests with damaged node arrays | {tally.forests} |",
        f"| FIFOs in place of model files | {tally.fifos} |",
        f"| run models changed after saving (checksum, method, kind) | {tally.checksum_checks} |",
        f"| crashes (traceback or hang) | {len(tally.crashes)} |",
        f"| silent wrong results (NaN/inf loaded or scored, damaged input accepted) "
        f"| {len(tally.silent_nan)} |",
        f"| good files lost | {len(tally.lost)} |",
        f"| run data lost or overwritten | {len(tally.data_lost)} |",
        f"| workers killed with SIGKILL | {tally.kills} |",
        f"| runs resumed from a checkpoint | {tally.resumed} |",
        f"| killed runs finished with a full history | {tally.runs_done} |",
        f"| killed runs that did not finish | {len(tally.run_failures)} |",
        f"| peak RSS of the bench process | {peak:.0f} MiB "
        f"({tally.baseline_mib:.0f} MiB before the first input: torch, scikit-learn, "
        "two fitted scorers) |",
        "",
        "Limits while the hostile inputs ran (scaled down so bombs are refused quickly): "
        + ", ".join(f"`{m.rsplit('.', 1)[-1]}.{a}` = {v:,}" for m, a, v in BENCH_LIMITS)
        + ".",
    ]
    for title, items in (
        ("Crashes", tally.crashes),
        ("Silent NaN", tally.silent_nan),
        ("Good files lost", tally.lost),
        ("Run data lost", tally.data_lost),
        ("Killed runs that did not finish", tally.run_failures),
    ):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {item}" for item in items[:50]]
    return "\n".join(lines) + "\n"


@suite("reliability", "hostile inputs, killed workers, damaged model files and a full disk")
def reliability_suite(options: BenchOptions) -> None:
    inputs = int(options.extra.get("inputs", 120 if options.quick else 1200))
    kills = int(options.extra.get("kills", 3 if options.quick else 24))
    tampered = int(options.extra.get("tampered", 20 if options.quick else 200))
    command = "deepad bench reliability" + (" --quick" if options.quick else "")
    command += "".join(f" --set {k}={v}" for k, v in sorted(options.extra.items()))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepad-reliability-") as work:
        tally = run(
            inputs=inputs,
            kills=kills,
            tampered=tampered,
            seed=options.seed,
            work=Path(work),
            log=sys.stderr,
        )
    text = report(tally, command=command, seconds=time.perf_counter() - start)
    print(text)
    if not options.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "reliability.md").write_text(text, encoding="utf-8")
