"""The ranked, paged item list of the Inspect page and the item dialog."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from deepad import metrics, viz
from deepad.data.types import DataKind
from deepad.markup import escape_markdown as md
from deepad.run_results import ranked
from pages.views import default
from pages.views.default import Context

PAGE_SIZES = default.PAGE_SIZES
COLUMNS = 6


def ranked_items(ctx: Context, which: str, by: np.ndarray | None) -> np.ndarray:
    """Items passing the filter, ordered by score or by ``by`` (most anomalous first)."""
    return ranked(ctx.results, ctx.threshold, which, by=by)


@st.dialog("Item", width="large")
def open_item(ctx: Context, item: int, view: Any) -> None:
    default.item_dialog(ctx, item, view)


def show_page(ctx: Context, view: Any, order: np.ndarray, page: int, size: int) -> None:
    start = (int(page) - 1) * int(size)
    chosen = order[start : start + int(size)]
    if chosen.size == 0:
        st.info("No items match this filter.")
        return
    kind = ctx.dataset.kind
    if kind == DataKind.IMAGE:
        _image_grid(ctx, view, chosen, start)
    elif kind == DataKind.TEXT:
        _documents(ctx, view, chosen, start)
    else:
        _rows(ctx, view, chosen, start)


def _image_grid(ctx: Context, view: Any, chosen: np.ndarray, start: int) -> None:
    for row_start in range(0, chosen.size, COLUMNS):
        cols = st.columns(COLUMNS)
        for offset, item in enumerate(chosen[row_start : row_start + COLUMNS]):
            item = int(item)
            rank = start + row_start + offset + 1
            with cols[offset]:
                picture = default.item_overlay(ctx, item, view)
                st.image(
                    viz.upscale(picture, 160),
                    caption=default.caption(ctx, item, rank),
                    width="stretch",
                )
                if st.button("open", key=f"open_{ctx.key}_{item}", width="stretch"):
                    open_item(ctx, item, view)


def _documents(ctx: Context, view: Any, chosen: np.ndarray, start: int) -> None:
    for offset, item in enumerate(chosen):
        item = int(item)
        rank = start + offset + 1
        with st.container(border=True):
            head, button = st.columns([6, 1])
            head.markdown(
                f"**#{rank}** · score {ctx.results.scores[item]:.4g}"
                f"{' · ⚑ flagged' if metrics.flagged(ctx.results.scores[item], ctx.threshold) else ''}"
                f" · {md(default.label_of(ctx.results, item))} · {md(ctx.results.names[item])}"
            )
            note = view.item_note(ctx, item)
            if note:
                head.caption(note)
            found = view.item_tokens(ctx, item)
            if found is not None:
                tokens, weights, _ = found
                st.html(default.original_text_html(ctx, item, tokens, weights, limit=600))
            else:
                text = str(ctx.dataset.items[item])
                st.text(text[:600] + ("…" if len(text) > 600 else ""))
            if button.button("open", key=f"open_{ctx.key}_{item}"):
                open_item(ctx, item, view)


def _rows(ctx: Context, view: Any, chosen: np.ndarray, start: int) -> None:
    results = ctx.results
    rows = []
    for offset, item in enumerate(chosen):
        item = int(item)
        row = {
            "rank": start + offset + 1,
            "name": results.names[item],
            "score": float(results.scores[item]),
            "flagged": bool(metrics.flagged(results.scores[item], ctx.threshold)),
            "label": default.label_of(results, item),
        }
        row.update({k: float(v[item]) for k, v in results.components.items()})
        rows.append(row)
    event = st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"rows_{ctx.key}",
    )
    selected = event.selection.rows if event is not None else []
    if selected:
        item = int(chosen[selected[0]])
        with st.container(border=True):
            default.item_dialog(ctx, item, view)
    else:
        st.caption("Select a row to see its details.")
