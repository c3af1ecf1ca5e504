"""Threshold slider with presets, the numbers it implies, and the score plots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from deepad import metrics, viz
from deepad.markup import escape_markdown as md
from deepad.run_results import RunResults, curves, threshold_presets
from deepad.service import Service


@st.cache_data(show_spinner=False, max_entries=16)
def cached_curves(home: str, run_id: int, _results: RunResults):
    return curves(_results)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_presets(
    home: str, run_id: int, contamination: float, target_fpr: float, _results: RunResults
):
    try:
        return threshold_presets(_results, contamination=contamination, target_fpr=target_fpr)
    except ValueError:
        return threshold_presets(_results, contamination=contamination)


@st.cache_data(show_spinner=False, max_entries=16)
def candidate_thresholds(home: str, run_id: int, _results: RunResults) -> list[float]:
    """Slider stops: score quantiles, so each step moves about the same number of items.

    Scores often span decades (a few items with huge reconstruction errors), where a linear
    slider would jump over the whole normal range in one step; with up to 1,001 stops every
    item of a small run is its own stop.
    """
    return quantile_stops(_results.scores)


def quantile_stops(values: np.ndarray, count: int = 1001) -> list[float]:
    """``count`` quantiles of ``values`` (deduplicated), plus one stop below them all."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    stops = np.unique(np.quantile(values, np.linspace(0.0, 1.0, count)))
    below = stops[0] - max(abs(stops[0]) * 1e-3, 1e-9)  # flags everything
    return [float(below), *map(float, stops)]


def with_stops(stops: list[float], extra: list[float]) -> list[float]:
    return sorted(set(stops).union(float(v) for v in extra if np.isfinite(v)))


def preset_source(name: str) -> str:
    """A preset's name as the source of a threshold, in words."""
    if name.startswith("default"):
        return "contamination (the run's default, from the training scores)"
    if name.startswith("top"):
        return f"contamination ({name} of the scored items)"
    if name.startswith("FPR"):
        return f"target FPR ({name.split(' (')[0]}, uses labels)"
    return name.replace("uses labels", "uses the labels")


def threshold_control(svc: Service, results: RunResults) -> float:
    """Slider + presets for the run's threshold. The numbers and lists below follow the slider;
    saving it for ``deepad score`` is its own button."""
    run_id = results.run_id
    key = f"threshold_{run_id}"
    source_key = f"{key}_source"
    saved = float(svc.threshold(run_id))
    if key not in st.session_state:
        st.session_state[key] = saved
        st.session_state[source_key] = svc.threshold_source(run_id)

    def save() -> None:
        try:
            svc.set_threshold(run_id, float(st.session_state[key]), st.session_state[source_key])
        except Exception as error:
            st.session_state[f"{key}_error"] = str(error)

    def apply(value: float, name: str) -> None:
        st.session_state[key] = float(value)
        st.session_state[source_key] = preset_source(name)

    def moved() -> None:
        st.session_state[source_key] = "manual (set with the slider)"

    with st.container(border=True):
        cols = st.columns([3, 1, 1])
        contamination = cols[1].number_input(
            "contamination",
            min_value=0.0,
            max_value=0.5,
            value=float(results.contamination),
            step=0.01,
            format="%.3f",
            key=f"contamination_{run_id}",
            help="Share of items expected to be anomalous: the preset flags this top share.",
        )
        target_fpr = cols[2].number_input(
            "target false-positive rate",
            min_value=0.0,
            max_value=1.0,
            value=0.05,
            step=0.01,
            format="%.3f",
            key=f"fpr_{run_id}",
            help="The preset flags at most this share of labeled normal items.",
            disabled=not results.has_labels,
        )
        presets = cached_presets(str(svc.home), run_id, contamination, target_fpr, results)
        with cols[0]:
            st.markdown("**Presets**")
            buttons = st.columns(len(presets))
            for button, (name, value) in zip(buttons, presets.items(), strict=True):
                button.button(
                    name.split(" (")[0],
                    key=f"preset_{run_id}_{name}",
                    on_click=apply,
                    args=(value, name),
                    help=f"{name}: threshold {value:.5g}",
                    width="stretch",
                )
        stops = with_stops(
            candidate_thresholds(str(svc.home), run_id, results),
            [*presets.values(), float(st.session_state[key]), saved],
        )
        st.select_slider(
            "Threshold on the anomaly score (items above it are flagged)",
            options=stops,
            format_func=lambda v: f"{v:.5g}",
            key=key,
            on_change=moved,
            help="Stops are score quantiles, so each step flags about the same number of "
            "items more or fewer, however skewed the scores are.",
        )
        current = float(st.session_state[key])
        source = st.session_state[source_key]
        line, button = st.columns([3, 1])
        if np.isclose(current, saved, rtol=1e-12, atol=0.0):
            line.markdown(
                f"**Threshold {current:.5g}** · from {source} · used for scoring "
                "(`deepad score`) and everywhere on this page."
            )
        else:
            line.markdown(
                f"**Threshold {current:.5g}** · from {source} · shown on this page; scoring "
                f"still uses the saved {saved:.5g} until you save this one."
            )
        button.button(
            "Use this threshold for scoring",
            key=f"{key}_save",
            on_click=save,
            disabled=bool(np.isclose(current, saved, rtol=1e-12, atol=0.0)),
            type="primary",
        )
        excess = metrics.excess_flagged(
            results.labels, results.scores, current, results.contamination
        )
        if excess is not None:
            what, share = excess
            st.warning(
                f"This threshold flags {share:.0%} of the {what}. A threshold from the "
                "training scores flags nearly everything when new items score higher than the "
                "training items (a model that fits its training set too closely, or settings "
                "that do not suit the data): try the *top* preset, or *best F1* with labels."
            )
        error = st.session_state.pop(f"{key}_error", None)
        if error:
            st.error(f"The threshold could not be saved: {md(error)}")
    return current


def numbers(results: RunResults, threshold: float) -> metrics.OperatingPoint:
    """Flagged count and, with labels, precision / recall / F1 and the confusion matrix."""
    point = metrics.operating_point(results.labels, results.scores, threshold)
    n = len(results)
    if not results.has_labels:
        st.metric(
            f"flagged (of {n:,})",
            f"{point.flagged:,}",
            f"{point.flagged / max(n, 1):.1%}",
            delta_color="off",
        )
        return point
    cols = st.columns([1, 1, 1, 1, 2])
    cols[0].metric(f"flagged (of {n:,})", f"{point.flagged:,}")
    cols[1].metric("precision", f"{point.precision:.3f}")
    cols[2].metric("recall", f"{point.recall:.3f}")
    cols[3].metric("F1", f"{point.f1:.3f}")
    with cols[4]:
        st.plotly_chart(
            viz.confusion_matrix_figure(point.tp, point.fp, point.fn, point.tn),
            key=f"confusion_{results.run_id}",
            width="stretch",
        )
    return point


def plots(
    svc: Service,
    results: RunResults,
    threshold: float,
    point: metrics.OperatingPoint,
    markers: Sequence[tuple[float, str]] = (),
) -> None:
    """Score histogram (with the threshold and ``markers``, labelled lines from the method's
    view), ROC and precision-recall curves."""
    found = cached_curves(str(svc.home), results.run_id, results)
    if found is None:
        st.plotly_chart(
            viz.score_histogram(results.scores, results.labels, threshold, markers=markers),
            key=f"hist_{results.run_id}",
            width="stretch",
        )
        st.caption("No labels in the scored set, so no ROC or precision-recall curve.")
        return
    cols = st.columns(3)
    with cols[0]:
        st.plotly_chart(
            viz.score_histogram(results.scores, results.labels, threshold, markers=markers),
            key=f"hist_{results.run_id}",
            width="stretch",
        )
    with cols[1]:
        st.plotly_chart(
            viz.roc_figure(
                found.fpr,
                found.tpr,
                point=(point.false_positive_rate, point.recall),
                auc=found.auroc,
            ),
            key=f"roc_{results.run_id}",
            width="stretch",
        )
    with cols[2]:
        st.plotly_chart(
            viz.pr_figure(
                found.precision,
                found.recall,
                point=(point.recall, point.precision),
                ap=found.auprc,
            ),
            key=f"pr_{results.run_id}",
            width="stretch",
        )
