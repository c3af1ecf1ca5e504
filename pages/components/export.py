"""Downloads of the Inspect page: flagged items as CSV, their heatmaps as PNGs in a zip."""

from __future__ import annotations

from typing import Any

import streamlit as st

from deepad import metrics, viz
from deepad.data.types import DataKind
from deepad.run_results import flagged_csv, heatmap_file_name, ranked, zip_pngs
from pages.views import default
from pages.views.default import Context

MAX_PNGS = 2000


def heatmaps_zip(ctx: Context, view: Any) -> bytes:
    flagged = ranked(ctx.results, ctx.threshold, "flagged")[:MAX_PNGS]
    entries = []
    for rank, item in enumerate(flagged, start=1):
        item = int(item)
        picture = default.item_overlay(ctx, item, view)
        entries.append((heatmap_file_name(rank, ctx.results.names[item]), viz.png_bytes(picture)))
    return zip_pngs(entries)


def export_section(ctx: Context, view: Any) -> None:
    flagged = int(metrics.flagged(ctx.results.scores, ctx.threshold).sum())
    cols = st.columns(2)
    cols[0].download_button(
        f"Flagged items as CSV ({flagged:,})",
        data=flagged_csv(ctx.results, ctx.threshold),
        file_name=f"run{ctx.results.run_id}_flagged.csv",
        mime="text/csv",
        key=f"csv_{ctx.key}",
    )
    if ctx.dataset.kind == DataKind.IMAGE and ctx.explanations is not None:
        cols[1].download_button(
            f"Heatmaps of flagged items as PNG (zip, up to {MAX_PNGS:,})",
            data=lambda: heatmaps_zip(ctx, view),
            file_name=f"run{ctx.results.run_id}_heatmaps.zip",
            mime="application/zip",
            key=f"zip_{ctx.key}",
        )
    st.caption(
        "The CSV lists id (position in the scored set), file name, score, flagged, label "
        "(1 anomalous, 0 normal, empty if unknown) and the method's score components (e.g. "
        "both DSEBM criteria, each CVDD context), most anomalous first. Heatmaps use the "
        "current opacity, colour map and normalisation; each keeps its item's path (e.g. "
        "hole/00001_011.png). CSV, zip and the counts above flag the same items: those "
        "scoring above the threshold."
    )
