"""``method = auto``: the detector to start from for a training set, and why, in one line.

The choice is read off a measured table, not guessed: :data:`MEASURED` is the summary of
``benchmarks/results/recommend.json`` (``deepad bench recommend --threads 1``; the readable
table is ``benchmarks/results/recommend.md``): per data kind and with or without labeled
anomalies, each method's mean AUROC over the benchmark cases of that kind, its mean pixel
AUROC where the cases have masks, and its fit seconds per training item at the Train page's
settings. A test checks that :data:`MEASURED` and the committed JSON agree.

The rule (:func:`recommend`):

1. candidates: the methods measured on the data's kind, in the condition that applies
   (labeled anomalies chosen or not), that this installation offers;
2. on a CPU, drop those whose estimated fit time for this many items (measured seconds per
   item × items) is over :data:`CPU_BUDGET_S` — unless that drops every one;
3. quality: the mean AUROC; for images whose test set has defect masks, the mean of image
   and pixel AUROC over the methods that draw maps (the maps are what such a user wants);
4. among the methods within :data:`TOLERANCE` of the best quality, the fastest.

Torch-free: the dashboard imports it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from deepad.data.summary import DataSummary
from deepad.data.types import DataKind
from deepad.models.cost import describe_estimate

AUTO = "auto"
KIND_ORDER = ("image", "text", "table")
CPU_BUDGET_S = 300.0  # a default the user waits for on a CPU: five minutes at most
TOLERANCE = 0.01  # AUROC differences below this are noise at these test-set sizes
SOURCE = "benchmarks/results/recommend.md"

# Summary of benchmarks/results/recommend.json (its commands are in recommend.md), rounded
# to 4 digits; kind -> condition -> method -> measurements. Printed by
# `python -m deepad.models.recommend benchmarks/results/recommend.json`.
MEASURED: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "image": {
        "labeled": {
            "ae": {"cases": 5, "auroc": 0.7065, "pixel_auroc": 0.8519, "fit_s_per_item": 0.0119, "default_fit_s_per_item": 0.3561},
            "cance": {"cases": 5, "auroc": 0.701, "pixel_auroc": None, "fit_s_per_item": 0.0005, "default_fit_s_per_item": 0.0412},
            "deepsad": {"cases": 5, "auroc": 0.5937, "pixel_auroc": 0.6668, "fit_s_per_item": 0.0167, "default_fit_s_per_item": 0.5025},
            "deepsvdd": {"cases": 5, "auroc": 0.5812, "pixel_auroc": 0.6443, "fit_s_per_item": 0.0161, "default_fit_s_per_item": 0.3767},
            "dsebm": {"cases": 5, "auroc": 0.7293, "pixel_auroc": 0.8506, "fit_s_per_item": 0.0057, "default_fit_s_per_item": 0.1705},
            "embedding_knn": {"cases": 5, "auroc": 0.8905, "pixel_auroc": None, "fit_s_per_item": 0.0155, "default_fit_s_per_item": 0.0155},
            "fcdd": {"cases": 5, "auroc": 0.6912, "pixel_auroc": 0.9474, "fit_s_per_item": 0.04, "default_fit_s_per_item": 0.4805},
            "hsc": {"cases": 5, "auroc": 0.5903, "pixel_auroc": 0.7648, "fit_s_per_item": 0.008, "default_fit_s_per_item": 0.4004},
            "iforest": {"cases": 5, "auroc": 0.7037, "pixel_auroc": None, "fit_s_per_item": 0.0078, "default_fit_s_per_item": 0.0078},
            "iterative_ae": {"cases": 5, "auroc": 0.5401, "pixel_auroc": None, "fit_s_per_item": 0.0005, "default_fit_s_per_item": 0.1088},
            "kde": {"cases": 5, "auroc": 0.7836, "pixel_auroc": None, "fit_s_per_item": 0.0082, "default_fit_s_per_item": 0.0082},
            "kernel_pca": {"cases": 5, "auroc": 0.7895, "pixel_auroc": None, "fit_s_per_item": 0.0007, "default_fit_s_per_item": 0.0007},
            "ocsvm": {"cases": 5, "auroc": 0.7719, "pixel_auroc": None, "fit_s_per_item": 0.0007, "default_fit_s_per_item": 0.0007},
            "patchcore": {"cases": 5, "auroc": 0.9478, "pixel_auroc": 0.982, "fit_s_per_item": 0.0432, "default_fit_s_per_item": 0.0432},
            "pca": {"cases": 5, "auroc": 0.8015, "pixel_auroc": 0.8408, "fit_s_per_item": 0.001, "default_fit_s_per_item": 0.001},
        },
        "unlabeled": {
            "ae": {"cases": 5, "auroc": 0.7065, "pixel_auroc": 0.8519, "fit_s_per_item": 0.0119, "default_fit_s_per_item": 0.3561},
            "cance": {"cases": 5, "auroc": 0.701, "pixel_auroc": None, "fit_s_per_item": 0.0005, "default_fit_s_per_item": 0.0412},
            "deepsad": {"cases": 5, "auroc": 0.5812, "pixel_auroc": 0.6443, "fit_s_per_item": 0.0169, "default_fit_s_per_item": 0.5059},
            "deepsvdd": {"cases": 5, "auroc": 0.5812, "pixel_auroc": 0.6443, "fit_s_per_item": 0.0161, "default_fit_s_per_item": 0.3767},
            "dsebm": {"cases": 5, "auroc": 0.7293, "pixel_auroc": 0.8506, "fit_s_per_item": 0.0057, "default_fit_s_per_item": 0.1705},
            "embedding_knn": {"cases": 5, "auroc": 0.8905, "pixel_auroc": None, "fit_s_per_item": 0.0155, "default_fit_s_per_item": 0.0155},
            "fcdd": {"cases": 5, "auroc": 0.6076, "pixel_auroc": 0.874, "fit_s_per_item": 0.0421, "default_fit_s_per_item": 0.5046},
            "hsc": {"cases": 5, "auroc": 0.5658, "pixel_auroc": 0.7485, "fit_s_per_item": 0.0077, "default_fit_s_per_item": 0.3871},
            "iforest": {"cases": 5, "auroc": 0.7037, "pixel_auroc": None, "fit_s_per_item": 0.0078, "default_fit_s_per_item": 0.0078},
            "iterative_ae": {"cases": 5, "auroc": 0.5401, "pixel_auroc": None, "fit_s_per_item": 0.0005, "default_fit_s_per_item": 0.1088},
            "kde": {"cases": 5, "auroc": 0.7836, "pixel_auroc": None, "fit_s_per_item": 0.0082, "default_fit_s_per_item": 0.0082},
            "kernel_pca": {"cases": 5, "auroc": 0.7895, "pixel_auroc": None, "fit_s_per_item": 0.0007, "default_fit_s_per_item": 0.0007},
            "ocsvm": {"cases": 5, "auroc": 0.7719, "pixel_auroc": None, "fit_s_per_item": 0.0007, "default_fit_s_per_item": 0.0007},
            "patchcore": {"cases": 5, "auroc": 0.9478, "pixel_auroc": 0.982, "fit_s_per_item": 0.0432, "default_fit_s_per_item": 0.0432},
            "pca": {"cases": 5, "auroc": 0.8015, "pixel_auroc": 0.8408, "fit_s_per_item": 0.001, "default_fit_s_per_item": 0.001},
        },
    },
    "table": {
        "labeled": {
            "ae": {"cases": 6, "auroc": 0.8791, "pixel_auroc": None, "fit_s_per_item": 0.0049, "default_fit_s_per_item": 0.0146},
            "cance": {"cases": 6, "auroc": 0.8532, "pixel_auroc": None, "fit_s_per_item": 0.0073, "default_fit_s_per_item": 0.0612},
            "deepsad": {"cases": 6, "auroc": 0.8021, "pixel_auroc": None, "fit_s_per_item": 0.0039, "default_fit_s_per_item": 0.0117},
            "deepsvdd": {"cases": 6, "auroc": 0.8309, "pixel_auroc": None, "fit_s_per_item": 0.0036, "default_fit_s_per_item": 0.0084},
            "dsebm": {"cases": 6, "auroc": 0.8551, "pixel_auroc": None, "fit_s_per_item": 0.0014, "default_fit_s_per_item": 0.0043},
            "hsc": {"cases": 6, "auroc": 0.774, "pixel_auroc": None, "fit_s_per_item": 0.002, "default_fit_s_per_item": 0.0098},
            "iforest": {"cases": 6, "auroc": 0.8968, "pixel_auroc": None, "fit_s_per_item": 0.0031, "default_fit_s_per_item": 0.0031},
            "iterative_ae": {"cases": 6, "auroc": 0.6305, "pixel_auroc": None, "fit_s_per_item": 0.0027, "default_fit_s_per_item": 0.0539},
            "kde": {"cases": 6, "auroc": 0.8958, "pixel_auroc": None, "fit_s_per_item": 0.0069, "default_fit_s_per_item": 0.0069},
            "kernel_pca": {"cases": 6, "auroc": 0.9016, "pixel_auroc": None, "fit_s_per_item": 0.0006, "default_fit_s_per_item": 0.0006},
            "ocsvm": {"cases": 6, "auroc": 0.866, "pixel_auroc": None, "fit_s_per_item": 0.0, "default_fit_s_per_item": 0.0},
            "pca": {"cases": 6, "auroc": 0.7988, "pixel_auroc": None, "fit_s_per_item": 0.0001, "default_fit_s_per_item": 0.0001},
        },
        "unlabeled": {
            "ae": {"cases": 6, "auroc": 0.8791, "pixel_auroc": None, "fit_s_per_item": 0.0049, "default_fit_s_per_item": 0.0146},
            "cance": {"cases": 6, "auroc": 0.8532, "pixel_auroc": None, "fit_s_per_item": 0.0073, "default_fit_s_per_item": 0.0612},
            "deepsad": {"cases": 6, "auroc": 0.8309, "pixel_auroc": None, "fit_s_per_item": 0.0036, "default_fit_s_per_item": 0.0108},
            "deepsvdd": {"cases": 6, "auroc": 0.8309, "pixel_auroc": None, "fit_s_per_item": 0.0036, "default_fit_s_per_item": 0.0084},
            "dsebm": {"cases": 6, "auroc": 0.8551, "pixel_auroc": None, "fit_s_per_item": 0.0014, "default_fit_s_per_item": 0.0043},
            "hsc": {"cases": 6, "auroc": 0.8244, "pixel_auroc": None, "fit_s_per_item": 0.0017, "default_fit_s_per_item": 0.0087},
            "iforest": {"cases": 6, "auroc": 0.8968, "pixel_auroc": None, "fit_s_per_item": 0.0031, "default_fit_s_per_item": 0.0031},
            "iterative_ae": {"cases": 6, "auroc": 0.6305, "pixel_auroc": None, "fit_s_per_item": 0.0027, "default_fit_s_per_item": 0.0539},
            "kde": {"cases": 6, "auroc": 0.8958, "pixel_auroc": None, "fit_s_per_item": 0.0069, "default_fit_s_per_item": 0.0069},
            "kernel_pca": {"cases": 6, "auroc": 0.9016, "pixel_auroc": None, "fit_s_per_item": 0.0006, "default_fit_s_per_item": 0.0006},
            "ocsvm": {"cases": 6, "auroc": 0.866, "pixel_auroc": None, "fit_s_per_item": 0.0, "default_fit_s_per_item": 0.0},
            "pca": {"cases": 6, "auroc": 0.7988, "pixel_auroc": None, "fit_s_per_item": 0.0001, "default_fit_s_per_item": 0.0001},
        },
    },
    "text": {
        "unlabeled": {
            "cvdd": {"cases": 4, "auroc": 0.8593, "pixel_auroc": None, "fit_s_per_item": 0.0827, "default_fit_s_per_item": 0.1424},
            "embedding_ocsvm": {"cases": 4, "auroc": 0.8771, "pixel_auroc": None, "fit_s_per_item": 0.0764, "default_fit_s_per_item": 0.0764},
            "text_knn": {"cases": 4, "auroc": 0.919, "pixel_auroc": None, "fit_s_per_item": 0.0763, "default_fit_s_per_item": 0.0763},
            "token_bank": {"cases": 4, "auroc": 0.8732, "pixel_auroc": None, "fit_s_per_item": 0.0864, "default_fit_s_per_item": 0.0864},
        },
    },
}  # fmt: skip


@dataclass(frozen=True)
class Recommendation:
    """The method ``auto`` stands for on one training set, and the line that says why."""

    method: str
    reason: str
    quality: float | None = None  # the measured mean AUROC (or image/pixel mean) it was chosen on
    seconds: float | None = None  # estimated fit time on this machine's kind of device
    ranking: tuple[str, ...] = ()  # the candidates, best first


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """The :data:`MEASURED` form of the bench's rows: per kind, ``unlabeled`` (every method
    without labeled anomalies) and ``labeled`` (over the cases that had a labeled set: a
    method that uses them with them, every other method as it is), each method's mean
    over the cases it finished. A method that failed on a case of its kind is left out of
    that kind (its mean would be over easier cases)."""
    rows = [r for r in rows if r.get("base") != "adengine"]
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        cases = sorted({r["case"] for r in mine})
        labeled_cases = sorted({r["case"] for r in mine if r.get("labeled")})
        failed = {r["base"] for r in mine if "error" in r}
        plain = {
            (r["case"], r["base"]): r for r in mine if not r.get("labeled") and "error" not in r
        }
        helped = {(r["case"], r["base"]): r for r in mine if r.get("labeled") and "error" not in r}
        methods = sorted({r["base"] for r in mine} - failed)
        conditions = {"unlabeled": (cases, plain)}
        if labeled_cases:
            conditions["labeled"] = (labeled_cases, {**plain, **helped})
        out[kind] = {}
        for condition, (over, found) in conditions.items():
            table = {}
            for method in methods:
                got = [found[(c, method)] for c in over if (c, method) in found]
                if len(got) != len(over):
                    continue
                table[method] = _mean_of(got)
            out[kind][condition] = table
    return out


def _mean_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(values: list[float]) -> float | None:
        values = [v for v in values if v is not None and math.isfinite(v)]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "cases": len(rows),
        "auroc": mean([r["auroc"] for r in rows]),
        "pixel_auroc": mean([r.get("pixel_auroc") for r in rows]),
        "fit_s_per_item": mean([r["fit s"] / r["train"] for r in rows]),
        "default_fit_s_per_item": mean([r["default fit s"] / r["train"] for r in rows]),
    }


def recommend(
    data: DataSummary,
    *,
    available: Collection[str],
    titles: dict[str, str] | None = None,
    labeled: bool = False,
    test_masks: bool = False,
    gpu: bool = False,
    measured: dict[str, Any] | None = None,
    estimate: Callable[[str], float | None] | None = None,
) -> Recommendation:
    """The method to start from for the training set ``data`` (see the module's rule).

    ``available`` are the methods that work on its kind here (plugins included), ``titles``
    their display names; ``labeled``: labeled anomalies are chosen; ``test_masks``: the test
    set has defect masks; ``gpu``: a GPU will train it; ``estimate``: this machine's
    expected seconds for a method at its defaults on this data (the Train page's estimate,
    which counts tiles of large images), where it has one; the measured table's time per
    item otherwise."""
    measured = MEASURED if measured is None else measured
    titles = titles or {}
    kind = DataKind(data.kind).value
    if not available:
        raise ValueError(f"no method works on {kind} data")
    what = describe(data) + (", labeled anomalies" if labeled else "")
    where = "GPU" if gpu else "CPU"
    by_kind = measured.get(kind) or {}
    condition = "labeled" if labeled and by_kind.get("labeled") else "unlabeled"
    table = {m: v for m, v in (by_kind.get(condition) or {}).items() if m in available}
    if not table:
        method = sorted(available)[0]
        return Recommendation(
            method=method,
            reason=f"{what}, {where} → {_short(titles.get(method, method))}: no method is "
            f"measured on {kind} data yet ({SOURCE}); the first that works on it",
            ranking=tuple(sorted(available)),
        )

    @functools.cache  # the ranking asks again for each method; an estimate builds its config
    def seconds(method: str) -> float:
        found = estimate(method) if estimate is not None else None
        if found is not None:
            return found
        return table[method]["default_fit_s_per_item"] * max(data.count, 1)

    quality = {m: v["auroc"] for m, v in table.items() if v["auroc"] is not None}
    maps_note = ""
    if test_masks and kind == DataKind.IMAGE.value:
        with_maps = {
            m: (v["auroc"] + v["pixel_auroc"]) / 2
            for m, v in table.items()
            if v["auroc"] is not None and v["pixel_auroc"] is not None
        }
        if with_maps:
            quality, maps_note = with_maps, "image and pixel AUROC"
    candidates = dict(quality)
    budget_note = ""
    if not gpu:
        fast = {m: q for m, q in candidates.items() if seconds(m) <= CPU_BUDGET_S}
        if fast:
            # said only where a better method was passed over for its time
            if max(candidates.values()) > max(fast.values()):
                budget_note = " within 5 minutes"
            candidates = fast
        else:
            fastest = min(candidates, key=seconds)
            candidates = {fastest: candidates[fastest]}
    best = max(candidates.values())
    near = [m for m, q in candidates.items() if q >= best - TOLERANCE]
    method = min(near, key=lambda m: (seconds(m), m))
    ranking = tuple(sorted(candidates, key=lambda m: (-candidates[m], seconds(m))))
    entry = table[method]
    measure = maps_note or "AUROC"
    why = [
        f"best measured {measure}{budget_note} on {_plural(kind)} "
        f"({candidates[method]:.3f} over {entry['cases']} sets)"
        if method == ranking[0]
        else f"{measure} within {TOLERANCE} of the best{budget_note} on {_plural(kind)} "
        f"({candidates[method]:.3f} over {entry['cases']} sets) and faster"
    ]
    if entry["fit_s_per_item"] == entry["default_fit_s_per_item"] and _no_training(method):
        why.append("no training")
    estimate = seconds(method)
    if not gpu or _no_training(method):
        why.append(describe_estimate(estimate))
    return Recommendation(
        method=method,
        reason=f"{what}, {where} → {_short(titles.get(method, method))}: {', '.join(why)}",
        quality=candidates[method],
        seconds=estimate,
        ranking=ranking,
    )


# methods that fit without gradient steps (a memory bank, an embedding, a classical model)
_NO_TRAINING = frozenset(
    {
        "patchcore", "embedding_knn", "text_knn", "token_bank", "embedding_ocsvm",
        "gaussian", "iforest", "kde", "kernel_pca", "ocsvm", "pca",
    }
)  # fmt: skip


def _no_training(method: str) -> bool:
    return method in _NO_TRAINING


def describe(data: DataSummary) -> str:
    """The data in a few words: "120 grey images, 192 px", "300 documents", "2,000 rows × 21
    columns"."""
    count = f"{data.count:,}"
    if data.kind == DataKind.IMAGE:
        colour = {1: "grey ", 3: "RGB "}.get(data.channels or 0, "")
        side = f", {data.side} px" if data.side else ""
        return f"{count} {colour}images{side}"
    if data.kind == DataKind.TEXT:
        return f"{count} documents"
    if data.kind == DataKind.TABLE:
        columns = f" × {data.features} columns" if data.features else ""
        return f"{count} rows{columns}"
    return f"{count} {DataKind(data.kind).value} items"


def _plural(kind: str) -> str:
    return {"image": "images", "text": "texts", "table": "tables"}.get(kind, kind)


def _short(title: str) -> str:
    """ "PatchCore (pretrained memory bank)" -> "PatchCore"."""
    return title.split(" (")[0]


def measured_literal(summary: dict[str, Any]) -> str:
    """:data:`MEASURED`'s source text for a :func:`summarize` result, one method a line."""
    keys = ("cases", "auroc", "pixel_auroc", "fit_s_per_item", "default_fit_s_per_item")
    lines = ["{"]
    for kind in sorted(summary):
        lines.append(f'    "{kind}": {{')
        for condition in sorted(summary[kind]):
            lines.append(f'        "{condition}": {{')
            for method, found in sorted(summary[kind][condition].items()):
                body = ", ".join(f'"{k}": {found[k]!r}' for k in keys)
                lines.append(f'            "{method}": {{{body}}},')
            lines.append("        },")
        lines.append("    },")
    return "\n".join([*lines, "}  # fmt: skip"])


if __name__ == "__main__":  # MEASURED's text from a results file
    import json
    import sys
    from pathlib import Path

    print(measured_literal(summarize(json.loads(Path(sys.argv[1]).read_text())["rows"])))
