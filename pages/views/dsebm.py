"""DSEBM: energy against reconstruction error, a threshold on each, and the items each flags."""

from __future__ import annotations

import numpy as np
import streamlit as st

from deepad import metrics, viz
from deepad.models.dsebm.config import Criterion
from pages.components.threshold import quantile_stops
from pages.views.default import Context, View

ENERGY, RECONSTRUCTION = Criterion.ENERGY.value, Criterion.RECONSTRUCTION.value


def _both(ctx: Context) -> bool:
    return ENERGY in ctx.results.components and RECONSTRUCTION in ctx.results.components


def orderings(ctx: Context) -> dict[str, np.ndarray]:
    if not _both(ctx):
        return {}
    return {
        "energy (DSEBM-e)": ctx.results.components[ENERGY],
        "reconstruction error (DSEBM-r)": ctx.results.components[RECONSTRUCTION],
    }


def _criterion_slider(ctx: Context, name: str, label: str, share: float) -> float:
    values = ctx.results.components[name]
    stops = quantile_stops(values, 501)
    key = f"{ctx.key}_{name}_threshold"
    if key not in st.session_state or st.session_state[key] not in stops:
        # start by flagging the same share of items as the main threshold does
        wanted = metrics.threshold_for_contamination(values, share)
        st.session_state[key] = min(stops, key=lambda s: abs(s - wanted))
    return float(st.select_slider(label, options=stops, format_func=lambda v: f"{v:.5g}", key=key))


def panel(ctx: Context) -> None:
    if not _both(ctx):
        return
    from pages.components.items import open_item
    from pages.views import view_for

    results = ctx.results
    energy, error = results.components[ENERGY], results.components[RECONSTRUCTION]
    share = float(np.mean(metrics.flagged(results.scores, ctx.threshold)))
    with st.container(border=True):
        st.markdown("**DSEBM: both decision criteria**")
        cols = st.columns(2)
        with cols[0]:
            t_energy = _criterion_slider(ctx, ENERGY, "energy threshold (DSEBM-e)", share)
        with cols[1]:
            t_error = _criterion_slider(
                ctx, RECONSTRUCTION, "reconstruction-error threshold (DSEBM-r)", share
            )
        by_energy, by_error = energy > t_energy, error > t_error
        counts = {
            "energy only": int(np.sum(by_energy & ~by_error)),
            "reconstruction only": int(np.sum(~by_energy & by_error)),
            "both": int(np.sum(by_energy & by_error)),
            "neither": int(np.sum(~by_energy & ~by_error)),
        }
        for column, (name, value) in zip(st.columns(4), counts.items(), strict=True):
            column.metric(
                f"flagged by {name}" if name != "neither" else "flagged by neither", f"{value:,}"
            )
        figure = viz.two_score_scatter(
            energy,
            error,
            results.labels,
            x_threshold=t_energy,
            y_threshold=t_error,
            names=results.names,
        )
        event = st.plotly_chart(
            figure,
            key=f"{ctx.key}_scatter",
            on_select="rerun",
            selection_mode="points",
            width="stretch",
        )
        st.caption(
            "Each point is an item"
            + "; click one to open it. The main threshold above applies to the run's primary "
            "criterion; these two sliders compare the criteria."
        )
        points = [] if event is None else event.selection.get("points", [])
        if points:
            item = points[0].get("customdata")
            if isinstance(item, list):
                item = item[0]
            # open once per new selection, not again on every later rerun
            seen = f"{ctx.key}_scatter_opened"
            if item is not None and st.session_state.get(seen) != item:
                st.session_state[seen] = item
                open_item(ctx, int(item), view_for("dsebm"))


class DSEBMView(View):
    """DSEBM's hooks: the functions above."""

    panel = staticmethod(panel)
    orderings = staticmethod(orderings)
