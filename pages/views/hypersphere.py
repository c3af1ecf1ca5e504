"""Deep SVDD, Deep SAD and HSC: the hypersphere's radius on the score histogram.

The soft-boundary objective learns a radius R with the network; a run saves R² in its model
metadata (``radius_sq``, 0 for the other objectives) on the scale of the scores, the squared
distances to the centre, so it is drawn as a line on the histogram when there is one.
"""

from __future__ import annotations

import math

import streamlit as st

from deepad.models.deepsvdd.config import RADIUS_SQ
from pages.views.default import Context, View


def radius_sq(ctx: Context) -> float | None:
    value = ctx.svc.model_meta(ctx.results.run_id).get(RADIUS_SQ)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def score_markers(ctx: Context) -> list[tuple[float, str]]:
    found = radius_sq(ctx)
    return [] if found is None else [(found, f"radius R² = {found:.4g}")]


def panel(ctx: Context) -> None:
    found = radius_sq(ctx)
    if found is None:
        return
    outside = int((ctx.results.scores > found).sum())
    st.caption(
        f"Dotted line: the soft boundary's radius, R² = {found:.4g} (scores are squared "
        f"distances to the centre). {outside:,} of {len(ctx.results):,} scored items lie "
        "outside the sphere; training let a share ν of the training items outside."
    )


class HypersphereView(View):
    score_markers = staticmethod(score_markers)
    panel = staticmethod(panel)
