"""``deepad bench recommend``: every method on every kind of data, for ``method = auto``.

Each case is a small, real benchmark split: images (the textures demo with its masks,
Fashion-MNIST and MNIST one-class, and the real-photo categories where
:mod:`deepad.data.photos` is there), text (20 Newsgroups and Reuters one-vs-rest subsets) and
tables (the ODDS sets). Every method that works on the case's kind is fitted on the normal
training items with the settings the Train page starts from for that data on this machine
(its defaults and :meth:`~deepad.models.config.DetectorConfig.suggested_defaults`), scored
on the test items, and timed. To keep it CPU-sized, epoch counts above ``--set epochs=N``
(default 10) are cut to N; the row keeps the epochs it ran and the fit time scaled to the
default epochs, which is what the recommendation's time estimate uses.

Methods that use labeled anomalies are fitted a second time with a few of them (the demo's
own labeled set, else anomalies held out of the test set), as ``METHOD+labeled`` rows; the
test set is the same for every row of a case.

``--set adengine=true`` (the default) also runs PyOD's ``ADEngine`` on every table case: its
offline rule routing (``profile_data`` → ``plan_detection`` → ``build_detector``, no LLM)
picks and fits a detector on the same training rows.

The summary (mean AUROC per kind and condition, fit seconds per item) is what
:data:`deepad.models.recommend.MEASURED` holds; tests check the two agree.

``--set keep=table,text`` keeps the rows of those kinds from the output file of an earlier
run and measures only the other kinds (the committed table's image rows come from such a
run: its command is the last in ``recommend.md``).

Options: ``--set kinds=image,text,table``, ``--set images=textures,photos,fmnist,mnist``,
``--set photos=hubble,moon`` (real-photo categories of :mod:`deepad.data.benchmarks.photos`),
``--set fmnist=0,7`` (Fashion-MNIST classes), ``--set methods=a,b``, ``--set epochs=N`` /
``--set image_epochs=N`` (epoch caps), ``--set limit=S`` (seconds a fit may run),
``--set train=N`` / ``--set test=N`` (items per case), ``--quick`` (one case per kind).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepad import metrics
from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, write_results
from deepad.config import to_json, with_overrides
from deepad.data.summary import DataSummary
from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset
from deepad.models.recommend import KIND_ORDER, summarize

log = logging.getLogger(__name__)

RESULTS = Path("benchmarks") / "results"
DEFAULT_EPOCH_CAP = 10
IMAGE_EPOCH_CAP = 5
FIT_LIMIT_S = 180.0  # a fit still going after this is stopped and its row says so
LABELED_PER_CASE = 10
DEFAULT_PHOTOS = "hubble,moon"
ODDS_SETS = ("thyroid", "annthyroid", "arrhythmia", "cardio", "ionosphere", "pima")


@dataclass
class Case:
    kind: DataKind
    name: str
    train: Dataset
    test: Dataset
    labeled: Dataset | None = None


# --------------------------------------------------------------------------- the cases
def _balanced_test(data: Dataset, size: int, rng: np.random.Generator) -> Dataset:
    """Up to ``size`` items, half normal and half anomalous where there are enough."""
    normal = np.flatnonzero(data.labels == NORMAL)
    anomalous = np.flatnonzero(data.labels == ANOMALOUS)
    n_anom = min(len(anomalous), size // 2)
    n_norm = min(len(normal), size - n_anom)
    keep = np.concatenate(
        [rng.choice(normal, n_norm, replace=False), rng.choice(anomalous, n_anom, replace=False)]
    )
    return data.subset(np.sort(keep))


def _split_off_labeled(test: Dataset, rng: np.random.Generator) -> tuple[Dataset, Dataset]:
    """``LABELED_PER_CASE`` anomalies of ``test`` as the labeled set, the rest as the test."""
    anomalous = np.flatnonzero(test.labels == ANOMALOUS)
    take = rng.choice(anomalous, min(LABELED_PER_CASE, len(anomalous) // 4), replace=False)
    rest = np.setdiff1d(np.arange(len(test)), take)
    return test.subset(rest), test.subset(np.sort(take))


def _first(data: Dataset, n: int, rng: np.random.Generator) -> Dataset:
    if len(data) <= n:
        return data
    return data.subset(np.sort(rng.choice(len(data), n, replace=False)))


def image_cases(root: Path, options: BenchOptions, n_train: int, n_test: int) -> Iterator[Case]:
    from deepad.data.benchmarks.idx import (
        FASHION_CLASSES,
        MNIST_CLASSES,
        load_idx_dataset,
        one_vs_rest,
    )
    from deepad.data.demo import load_demo

    rng = np.random.default_rng(options.seed)
    wanted = set(options.extra.get("images", "textures,photos,fmnist,mnist").split(","))
    if "textures" in wanted:
        demo = load_demo("textures")
        yield Case(
            DataKind.IMAGE, "textures demo (128 px RGB)", demo.train, demo.test, demo.labeled
        )
    if options.quick:
        return
    if "photos" in wanted:
        yield from _photo_cases(options)
    if "fmnist" not in wanted:
        options = dataclasses.replace(options, extra={**options.extra, "fmnist": ""})
    fashion_train = load_idx_dataset(root / "fashion_mnist", "train")
    fashion_test = load_idx_dataset(root / "fashion_mnist", "test")
    for c in [int(c) for c in options.extra.get("fmnist", "0,7").split(",") if c]:
        train = one_vs_rest(fashion_train, c, FASHION_CLASSES, normal_only=True, name="fmnist")
        test = one_vs_rest(fashion_test, c, FASHION_CLASSES, normal_only=False, name="fmnist")
        test, labeled = _split_off_labeled(_balanced_test(test, n_test, rng), rng)
        name = f"Fashion-MNIST {FASHION_CLASSES[c]} (28 px)"
        yield Case(DataKind.IMAGE, name, _first(train, n_train, rng), test, labeled)
    if "mnist" not in wanted:
        return
    # MNIST's training images are not in the data folder: train and test both come from its
    # test split, disjoint
    mnist = load_idx_dataset(root / "mnist", "test")
    c = 3
    everything = one_vs_rest(mnist, c, MNIST_CLASSES, normal_only=False, name="mnist")
    normal = rng.permutation(np.flatnonzero(everything.labels == NORMAL))
    train = everything.subset(np.sort(normal[:n_train]))
    rest = np.setdiff1d(np.arange(len(everything)), normal[:n_train])
    test, labeled = _split_off_labeled(_balanced_test(everything.subset(rest), n_test, rng), rng)
    yield Case(DataKind.IMAGE, f"MNIST digit {c} (28 px)", train, test, labeled)


def _photo_cases(options: BenchOptions) -> Iterator[Case]:
    """Real-photo categories (120 gray 192-px crops to train on, pasted defects with masks
    to test) of :mod:`deepad.data.benchmarks.photos`: by default two of the categories its
    benchmark reports (the PatchCore defaults were chosen on the tuning categories, so these
    are data no detector setting was chosen with); tuning categories can be named too. The
    held-out photographs are never read."""
    from deepad.data.benchmarks.photos import CATEGORIES, TUNING_CATEGORIES, make_category

    rng = np.random.default_rng(options.seed)
    wanted = options.extra.get("photos", DEFAULT_PHOTOS).split(",")
    for category in [c for c in wanted if c]:
        if category not in CATEGORIES and category not in TUNING_CATEGORIES:
            known = ", ".join([*CATEGORIES, *TUNING_CATEGORIES])
            raise ValueError(f"photos: {category!r} is not a photo category ({known})")
        train, test = make_category(category, seed=options.seed)
        test, labeled = _split_off_labeled(test, rng)
        yield Case(DataKind.IMAGE, f"photo {category} (192 px grey)", train, test, labeled)


def text_cases(root: Path, options: BenchOptions, n_train: int, n_test: int) -> Iterator[Case]:
    from deepad.data.benchmarks.newsgroups import newsgroups_one_vs_rest
    from deepad.data.benchmarks.reuters import reuters_one_vs_rest

    rng = np.random.default_rng(options.seed)
    picks = [("20 Newsgroups", newsgroups_one_vs_rest, "comp")]
    if not options.quick:
        picks += [("20 Newsgroups", newsgroups_one_vs_rest, "rec")]
        picks += [("Reuters", reuters_one_vs_rest, "earn"), ("Reuters", reuters_one_vs_rest, "acq")]
    for title, load, c in picks:
        train, test = load(root, c)
        test = _balanced_test(test, n_test, rng)
        yield Case(DataKind.TEXT, f"{title} {c}", _first(train, n_train, rng), test)


def table_cases(root: Path, options: BenchOptions, n_train: int, n_test: int) -> Iterator[Case]:
    """ODDS: a random 60 % of the normal rows to train on (at most ``4 * n_train``); the
    other normal rows and every anomaly to test (at most ``4 * n_test``, anomalies kept in
    their share), a few anomalies held out as the labeled set."""
    from deepad.data.benchmarks.odds import find_odds_file, load_odds

    rng = np.random.default_rng(options.seed)
    for name in ODDS_SETS[:1] if options.quick else ODDS_SETS:
        data = load_odds(find_odds_file(root, name))
        normal = rng.permutation(np.flatnonzero(data.labels == NORMAL))
        cut = int(0.6 * len(normal))
        train = data.subset(np.sort(normal[:cut][: 4 * n_train]))
        rest = np.concatenate([normal[cut:], np.flatnonzero(data.labels == ANOMALOUS)])
        test = data.subset(np.sort(rng.choice(rest, min(len(rest), 4 * n_test), replace=False)))
        test, labeled = _split_off_labeled(test, rng)
        rows = f"{data.items.shape[1]} columns"
        yield Case(DataKind.TABLE, f"ODDS {name} ({rows})", train, test, labeled)


# --------------------------------------------------------------------------- one method
def summary_of(data: Dataset) -> DataSummary:
    """What the Train page knows of ``data`` (as :meth:`DataSummary.from_manifest` reads it)."""
    side = channels = features = None
    if data.kind == DataKind.IMAGE:
        shape = np.shape(data.items[0])
        side = int(max(shape[:2]))
        channels = int(shape[2]) if len(shape) == 3 else 1
    elif data.kind in (DataKind.TABLE, DataKind.SEQUENCE):
        features = int(np.shape(data.items)[-1])
    return DataSummary(
        kind=data.kind, count=len(data), side=side, channels=channels, features=features
    )


def app_config(method: str, data: Dataset, device: str, cap: int) -> tuple[Any, float]:
    """The config the Train page starts ``method`` from for ``data`` on ``device``, with
    epoch counts above ``cap`` cut to ``cap``; and how much longer the uncut epochs take
    (the ratio of the epoch sums, 1 when nothing was cut)."""
    from deepad.models.registry import method_info

    Config = method_info(method).Config
    suggested = Config.suggested_defaults(device, summary_of(data))
    config = with_overrides(Config(), suggested)
    full = cut = 0
    changes = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name.endswith("epochs") and isinstance(value, int) and not isinstance(value, bool):
            full += value
            cut += min(value, cap)
            if value > cap:
                changes[f.name] = cap
    if changes:
        config = dataclasses.replace(config, **changes)
    return config, (full / cut if cut else 1.0)


def run_method(
    case: Case,
    method: str,
    *,
    labeled: bool,
    device: str,
    cap: int,
    seed: int,
    limit: float = FIT_LIMIT_S,
) -> dict[str, Any]:
    from deepad.models import get_method

    cls = get_method(method)
    config, scale = app_config(method, case.train, device, cap)
    if any(f.name == "seed" for f in dataclasses.fields(config)):
        config = dataclasses.replace(config, seed=seed)
    row: dict[str, Any] = {
        "kind": case.kind.value,
        "case": case.name,
        "method": method + ("+labeled" if labeled else ""),
        "base": method,
        "labeled": labeled,
        "train": len(case.train),
        "test": len(case.test),
        **_shape(case.train),
    }
    start = time.perf_counter()

    def stop_when_over(report: Any) -> None:
        if time.perf_counter() - start > limit:
            row["epochs run"] = f"{report.epoch - 1}/{report.epochs}"
            raise TimeoutError(f"stopped after {limit:.0f} s at epoch {report.epoch}")

    try:
        detector = cls(config=config).fit(
            case.train, labeled=case.labeled if labeled else None, progress=stop_when_over
        )
        fit = time.perf_counter() - start
        start = time.perf_counter()
        scores = detector.decision_function(case.test)
        score = time.perf_counter() - start
    except Exception as error:  # a method that fails on a case is a row that says so
        log.warning("%s on %s failed: %s", method, case.name, error)
        return {**row, "error": f"{type(error).__name__}: {error}"[:200]}
    row.update(
        auroc=metrics.auroc(case.test.labels, scores),
        auprc=metrics.auprc(case.test.labels, scores),
        **{"fit s": fit, "score s": score, "default fit s": fit * scale},
        config=to_json(config),
    )
    if case.test.has_masks and cls.explains:
        rows = [
            i for i in range(len(case.test)) if metrics.pixel_masks(case.test, [i])[0] is not None
        ]
        try:
            maps = detector.explain(case.test.subset(rows)).maps
            row["pixel_auroc"] = metrics.pixel_auroc(
                metrics.pixel_masks(case.test, rows), list(maps), max_pixels=4_000_000
            )
        except Exception as error:
            log.warning("%s maps on %s failed: %s", method, case.name, error)
    return row


def embed_once(case: Case) -> dict[str, Any]:
    """Embed a text case's training and test documents once, with the text settings the text
    methods share by default, timed from scratch (no disk cache, an empty memo), and leave
    them in the process's memo: each method then reads them, and its row is charged this
    time (:func:`charge_embedding`), so every method pays for the embedding once and the
    order methods run in does not decide who pays."""
    from deepad.models.textbank.config import TextKNNConfig
    from deepad.text import embeddings

    config = TextKNNConfig()
    embeddings._MEMO.clear()
    seconds = {}
    for part, data in (("train", case.train), ("test", case.test)):
        start = time.perf_counter()
        embeddings.embed_documents(
            data.items,
            source=config.embedding,
            prep=config.preprocessing(),
            max_tokens=config.max_tokens,
        )
        seconds[part] = time.perf_counter() - start
    return {"settings": _text_settings(config), **seconds}


def _text_settings(config: Any) -> tuple[Any, ...] | None:
    if not hasattr(config, "preprocessing"):
        return None
    return (config.embedding, config.preprocessing(), config.max_tokens)


def charge_embedding(row: dict[str, Any], embedded: dict[str, Any] | None) -> dict[str, Any]:
    """Add the shared embedding's seconds to a text row whose method read it from the memo."""
    if embedded is None or "fit s" not in row:
        return row
    from deepad.config import from_json
    from deepad.models.registry import method_info

    config = from_json(method_info(row["base"]).Config, row["config"])
    if _text_settings(config) != embedded["settings"]:
        return row  # other text settings: the method embedded by itself, inside its own times
    row["embed s"] = embedded["train"] + embedded["test"]
    row["fit s"] += embedded["train"]
    row["default fit s"] += embedded["train"]
    row["score s"] += embedded["test"]
    return row


def _shape(data: Dataset) -> dict[str, Any]:
    found = summary_of(data)
    return {k: getattr(found, k) for k in ("side", "channels", "features") if getattr(found, k)}


def auto_beside_engine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per table case: the method ``auto`` picks when that case is left out of the table it
    reads (so the case never helped choose it) and its AUROC there, beside ADEngine's."""
    from deepad.models.recommend import recommend

    out = []
    for engine in [r for r in rows if r.get("base") == "adengine" and "auroc" in r]:
        case = engine["case"]
        others = summarize([r for r in rows if r.get("case") != case])
        mine = {
            r["method"]: r
            for r in rows
            if r.get("case") == case
            and "auroc" in r
            and r.get("base") != "adengine"
            and not r.get("labeled")
        }
        data = DataSummary(
            kind=DataKind.TABLE, count=engine["train"], features=engine.get("features")
        )
        choice = recommend(
            data, available=sorted({r["base"] for r in mine.values()}), measured=others
        )
        out.append(
            {
                "case": case,
                "auto (case left out)": choice.method,
                "auto auroc": mine[choice.method]["auroc"],
                "ADEngine": engine["method"].removeprefix("ADEngine: "),
                "ADEngine auroc": engine["auroc"],
                "best here": max(mine.values(), key=lambda r: r["auroc"])["method"],
            }
        )
    return out


def adengine_row(case: Case, seed: int) -> dict[str, Any]:
    """PyOD's ``ADEngine`` (offline rule routing, no LLM) on the same split."""
    from pyod.utils.ad_engine import ADEngine

    x_train = np.asarray(case.train.items, np.float64)
    x_test = np.asarray(case.test.items, np.float64)
    start = time.perf_counter()
    engine = ADEngine(random_state=seed)
    plan = engine.plan_detection(engine.profile_data(x_train), priority="balanced")
    detector = engine.build_detector(plan)
    detector.fit(x_train)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    scores = detector.decision_function(x_test)
    return {
        "kind": case.kind.value,
        "case": case.name,
        "method": f"ADEngine: {plan.get('detector_name') or plan.get('detector')}",
        "base": "adengine",
        "labeled": False,
        "train": len(case.train),
        "test": len(case.test),
        **_shape(case.train),
        "auroc": metrics.auroc(case.test.labels, scores),
        "auprc": metrics.auprc(case.test.labels, scores),
        "fit s": fit,
        "score s": time.perf_counter() - start,
        "plan": str(plan.get("reason", ""))[:200],
    }


# --------------------------------------------------------------------------- the suite
DEFAULT_KINDS = "table,text,image"
CASES = {DataKind.IMAGE: image_cases, DataKind.TEXT: text_cases, DataKind.TABLE: table_cases}
COLUMNS = (
    "case", "method", "auroc", "pixel_auroc", "fit s", "default fit s", "score s", "embed s",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "method", "cases", "auroc", "pixel_auroc", "fit s/100 items", "default fit s/100 items",
)  # fmt: skip


@suite("recommend", "every method on every kind of data: the table behind method = auto")
def run(options: BenchOptions) -> None:
    from deepad.hardware import device_type
    from deepad.models.registry import catalog

    extra = options.extra
    kinds = [DataKind(k) for k in extra.get("kinds", DEFAULT_KINDS).split(",")]
    only = set(extra["methods"].split(",")) if extra.get("methods") else None
    cap = int(extra.get("epochs", DEFAULT_EPOCH_CAP))
    image_cap = int(extra.get("image_epochs", IMAGE_EPOCH_CAP))
    limit = float(extra.get("limit", FIT_LIMIT_S))
    n_train = int(extra.get("train", 200))
    n_test = int(extra.get("test", 300))
    with_engine = extra.get("adengine", "true").lower() not in ("0", "false", "no")
    device = device_type() if options.device == "auto" else options.device
    root = options.root()
    rows: list[dict[str, Any]] = []
    out = options.output or RESULTS / "recommend.json"
    start = time.perf_counter()

    def save() -> None:
        payload = {
            "suite": "recommend",
            "device": device,
            "epoch_cap": cap,
            "image_epoch_cap": image_cap,
            "fit_limit_s": limit,
            "commands": commands,
            "rows": rows,
            "summary": summarize(rows),
            "seconds": time.perf_counter() - start,
        }
        write_results(out, payload)
        try:
            out.with_suffix(".md").write_text(report(payload, options))
        except Exception:  # the rows are saved; a report bug must not end the run
            log.exception("recommend: the report could not be written")

    keep = [DataKind(k) for k in extra.get("keep", "").split(",") if k]
    commands = [_command()]
    if keep:  # the rows of these kinds come from the earlier run in the output file
        earlier = json.loads(out.read_text())
        rows += [r for r in earlier["rows"] if r.get("kind") in {k.value for k in keep}]
        kinds = [k for k in kinds if k not in keep]
        commands = current_commands([*earlier.get("commands", []), _command()])
    for kind in kinds:
        methods = [m.name for m in catalog(kind) if only is None or m.name in only]
        for case in CASES[kind](root, options, n_train, n_test):
            embedded = embed_once(case) if kind == DataKind.TEXT else None
            log.warning(
                "recommend: %s (%d train, %d test)", case.name, len(case.train), len(case.test)
            )
            for method in methods:
                info = next(m for m in catalog(kind) if m.name == method)
                runs = [False] + ([True] if info.uses_labeled and case.labeled is not None else [])
                for labeled in runs:
                    row = run_method(
                        case,
                        method,
                        labeled=labeled,
                        device=device,
                        cap=image_cap if kind == DataKind.IMAGE else cap,
                        seed=options.seed,
                        limit=limit,
                    )
                    rows.append(charge_embedding(row, embedded))
                    print(format_table(rows[-1:], COLUMNS), flush=True)
            if kind == DataKind.TABLE and with_engine:
                try:
                    rows.append(adengine_row(case, options.seed))
                except Exception as error:
                    rows.append({"kind": "table", "case": case.name, "method": "ADEngine",
                                 "base": "adengine", "error": str(error)[:200]})  # fmt: skip
                print(format_table(rows[-1:], COLUMNS), flush=True)
            save()
    save()
    print(out.with_suffix(".md").read_text())


def current_commands(commands: list[str]) -> list[str]:
    """The commands, oldest first, that wrote the rows now kept: for each kind the last one
    that measured it."""
    last = {kind: command for command in commands for kind in measured_kinds(command)}
    latest = reversed(dict.fromkeys(reversed(commands)))  # each at its last run
    return [c for c in latest if c in last.values()]


def measured_kinds(command: str) -> set[DataKind]:
    """The data kinds a recorded ``deepad bench recommend`` command measured: its ``kinds``
    (all by default) less those it kept from the run before."""
    settings = dict(arg.partition("=")[::2] for arg in shlex.split(command)[1:] if "=" in arg)
    kinds = settings.get("kinds", DEFAULT_KINDS)
    kept = settings.get("keep", "")
    return {DataKind(k) for k in kinds.split(",") if k} - {
        DataKind(k) for k in kept.split(",") if k
    }


def _command() -> str:
    if sys.argv[1:2] == ["bench"]:
        return command_line()
    return "deepad bench recommend"


def report(payload: dict[str, Any], options: BenchOptions) -> str:
    commands = payload.get("commands") or [_command()]
    several = " (each adds the kinds it measured to the rows of the ones before)"
    lines = [
        "# recommend: every method on every kind of data",
        "",
        f"Command{'s' + several if len(commands) > 1 else ''}: "
        + "; ".join(f"`{c}`" for c in commands),
        "",
        f"Device {payload['device']}; epoch counts above {payload['epoch_cap']} cut to "
        f"{payload['epoch_cap']} ({payload['image_epoch_cap']} on images; `default fit s` "
        "scales the fit time back to the default epochs, and the quality is the cut run's); "
        f"a fit still going after {payload['fit_limit_s']:.0f} s is stopped and left out of "
        f"its kind's summary{' (' + payload['fit_limit_note'] + ')' if payload.get('fit_limit_note') else ''}; wall time {payload['seconds']:.0f} s. Settings: what the Train page starts "
        "from for each data set on this machine. AUROC of the test items; pixel AUROC where "
        "the test set has masks and the method draws maps. Text rows include the MiniLM "
        "embedding of their documents (`embed s`, timed once per case from scratch and "
        "charged to every method that reads it).",
        "",
    ]
    summary = payload["summary"]
    for kind in KIND_ORDER:
        for condition in ("unlabeled", "labeled"):
            table = summary.get(kind, {}).get(condition)
            if not table:
                continue
            srows = [
                {
                    "method": m,
                    "cases": v["cases"],
                    "auroc": v["auroc"],
                    "pixel_auroc": v["pixel_auroc"] if v["pixel_auroc"] is not None else math.nan,
                    "fit s/100 items": 100 * v["fit_s_per_item"],
                    "default fit s/100 items": 100 * v["default_fit_s_per_item"],
                }
                for m, v in sorted(table.items(), key=lambda kv: -kv[1]["auroc"])
            ]
            title = f"{kind}, {'with' if condition == 'labeled' else 'without'} labeled anomalies: mean over cases"
            lines += ["```", format_table(srows, SUMMARY_COLUMNS, title=title), "```", ""]
    if payload.get("note"):
        lines += [payload["note"], ""]
    lines += ["## Every case", ""]
    for kind in KIND_ORDER:
        mine = [r for r in payload["rows"] if r.get("kind") == kind]
        if mine:
            lines += ["```", format_table(mine, COLUMNS + ("error",), title=kind), "```", ""]
    engine = [r for r in payload["rows"] if r.get("base") == "adengine"]
    if engine:
        lines += [
            "## PyOD ADEngine beside deepad's auto choice, on the same split",
            "",
            "ADEngine (pyod 3.6) routes offline by rules from its bundled knowledge base "
            "(`profile_data` → `plan_detection(priority='balanced')` → `build_detector`); an LLM "
            "is optional and not used. deepad's `auto` is chosen for each case from the table "
            "without that case (leave-one-case-out), so no case helps choose its own method. "
            "Both fit on the normal training rows only.",
            "",
            "```",
            format_table(engine, ("case", "method", "auroc", "fit s", "plan")),
            "",
        ]
        side = auto_beside_engine(payload["rows"])
        if side:
            mean = {
                "case": "mean",
                "auto auroc": float(np.mean([r["auto auroc"] for r in side])),
                "ADEngine auroc": float(np.mean([r["ADEngine auroc"] for r in side])),
            }
            columns = ("case", "auto (case left out)", "auto auroc", "ADEngine",
                       "ADEngine auroc", "best here")  # fmt: skip
            lines += [format_table([*side, mean], columns)]
        lines += ["```", ""]
    return "\n".join(lines) + "\n"
