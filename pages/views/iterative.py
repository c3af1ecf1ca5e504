"""Iterative clustering autoencoder: the normal subset each selection round kept.

The detector saves its rounds in the model metadata (``rounds``: the epoch after which it
selected, the items kept and, when the training set had labels, the labeled anomalies among
them; round 0 is the initial subset) and whether the selection settled (``converged``).
"""

from __future__ import annotations

import streamlit as st

from deepad import viz
from pages.views.default import Context, View


def selection_rounds(ctx: Context) -> list[dict]:
    rounds = ctx.svc.model_meta(ctx.results.run_id).get("rounds")
    if not isinstance(rounds, list):
        return []
    return [r for r in rounds if isinstance(r, dict) and isinstance(r.get("selected"), int)]


def panel(ctx: Context) -> None:
    rounds = selection_rounds(ctx)
    if not rounds:
        return
    meta = ctx.svc.model_meta(ctx.results.run_id)
    total = ctx.svc.run(ctx.results.run_id).metrics.get("train_items")
    labeled = all(isinstance(r.get("anomalies"), int) for r in rounds)
    rows = []
    for number, entry in enumerate(rounds):
        row = {
            "round": number,
            "after epoch": entry.get("epoch", "–"),
            "items kept": f"{entry['selected']:,}",
        }
        if isinstance(total, int) and total > 0:
            row["share of training items"] = f"{entry['selected'] / total:.1%}"
        if labeled:
            row["labeled anomalies kept"] = f"{entry['anomalies']:,}"
            row["anomalies in the kept set"] = (
                f"{entry['anomalies'] / entry['selected']:.1%}" if entry["selected"] else "–"
            )
        rows.append(row)
    with st.container(border=True):
        st.markdown("**Selection rounds: the training subset the autoencoder learned from**")
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(
                viz.selection_rounds_figure(rounds), key=f"{ctx.key}_rounds", width="stretch"
            )
        with right:
            st.table(rows)
        settled = (
            "the selection settled (the last round kept the same items as the one before)"
            if meta.get("converged")
            else "training ended at its epoch limit before the selection settled"
        )
        note = (
            "Anomalies kept count the training set's labels; the method never saw them."
            if labeled
            else "The training set has no labels, so how many anomalies each round kept is unknown."
        )
        st.caption(f"Round 0 is the initial subset from clustering the inputs; {settled}. {note}")


class IterativeView(View):
    panel = staticmethod(panel)
