"""The generic Inspect view: ranked items with heatmaps, highlighted words or feature weights.

A view is a :class:`View`, whose methods are the hooks the Inspect page calls. Method views
(pages/views/<method>.py, registered in ``pages.views.VIEWS``) subclass it, reuse the
functions here and override the hooks they need: ``panel`` (controls and plots above the
list), ``score_markers`` (labelled lines on the score histogram), ``orderings`` (extra ranking criteria), ``item_map`` (the map drawn over an image),
``item_tokens`` (the words and weights of a document) and ``item_details`` (extra content in
the item dialog).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from deepad import metrics, viz
from deepad.data.types import DataKind, Dataset
from deepad.markup import escape_markdown as md
from deepad.run_results import Explanations, RunResults
from deepad.service import Service

PAGE_SIZES = (12, 24, 48, 96)
# maps sampled (evenly over the ranking) to fix the whole-set colour scale
SET_RANGE_SAMPLE = 64
NORMALISATION = {
    "per image": "each map is scaled by its own minimum and maximum: every item shows its "
    "hottest spot in full colour, even a normal one, so compare locations, not colours",
    "whole set": "all maps share one scale (minimum to the 99.5th percentile over the run): "
    "colours compare across items and normals stay cold, but a weak defect may look faint; "
    "switch to per image to see where each map peaks",
}


@dataclass
class Context:
    """What a view needs about the run being inspected, plus its display settings."""

    svc: Service
    results: RunResults
    threshold: float
    dataset: Dataset
    explanations: Explanations | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"run{self.results.run_id}"

    @property
    def home(self) -> str:
        return str(self.svc.home)


# --------------------------------------------------------------------------- hooks
def panel(ctx: Context) -> None:
    """Method-specific controls and plots above the item list (none by default)."""


def score_markers(ctx: Context) -> list[tuple[float, str]]:
    """Labelled lines ``(score, label)`` the score histogram draws besides the threshold."""
    return []


def orderings(ctx: Context) -> dict[str, np.ndarray]:
    """Extra ranking criteria offered besides the score (e.g. one score component)."""
    return {}


def image_maps(ctx: Context) -> np.ndarray | None:
    """The per-image maps to draw (rows follow ``ctx.explanations.row``)."""
    if ctx.explanations is None or ctx.explanations.kind != "image":
        return None
    return ctx.explanations.explanation.maps


def item_map(ctx: Context, item: int) -> np.ndarray | None:
    maps = image_maps(ctx)
    if maps is None or not ctx.explanations.has(item):
        return None
    return np.asarray(maps[ctx.explanations.row[item]], dtype=np.float32)


def decorate(ctx: Context, item: int, picture: np.ndarray) -> np.ndarray:
    """Draw on an item's overlay (e.g. a predicted defect outline); unchanged by default."""
    return picture


def item_tokens(ctx: Context, item: int) -> tuple[list[str], np.ndarray, str] | None:
    """(tokens, one weight per token, caption) for a document, or None."""
    if ctx.explanations is None or ctx.explanations.kind != "tokens":
        return None
    if not ctx.explanations.has(item):
        return None
    found = ctx.explanations.explanation
    row = ctx.explanations.row[item]
    weights = np.atleast_2d(found.weights[row])
    return list(found.tokens[row]), weights.mean(axis=0), "mean weight over heads"


def item_note(ctx: Context, item: int) -> str:
    """A short line shown with an item in the list (e.g. per-context scores); none by default."""
    return ""


def item_details(ctx: Context, item: int) -> None:
    """Extra content in the item dialog (none by default)."""


def initial_normalisation(ctx: Context) -> str:
    """How heatmaps are scaled until the user picks otherwise (a key of ``NORMALISATION``)."""
    return "per image"


class View:
    """The hooks of an Inspect view, each the default function above; a method's view is a
    subclass that sets the ones it changes (``panel = staticmethod(panel)``)."""

    panel = staticmethod(panel)
    score_markers = staticmethod(score_markers)
    orderings = staticmethod(orderings)
    image_maps = staticmethod(image_maps)
    item_map = staticmethod(item_map)
    decorate = staticmethod(decorate)
    item_tokens = staticmethod(item_tokens)
    item_note = staticmethod(item_note)
    item_details = staticmethod(item_details)
    initial_normalisation = staticmethod(initial_normalisation)


# --------------------------------------------------------------------------- shared parts
@st.cache_data(show_spinner=False, max_entries=16)
def _set_range(home: str, run_id: int, variant: str, _maps: np.ndarray) -> tuple[float, float]:
    # a sample of maps is enough to fix the colour scale, and keeps 10,000 large maps cheap
    n = len(_maps)
    picks = np.linspace(0, n - 1, num=min(n, SET_RANGE_SAMPLE)).astype(int) if n else []
    if isinstance(_maps, np.ndarray):  # one read of the whole sample from the memory map
        return viz.map_range(np.asarray(_maps[np.asarray(picks, dtype=np.int64)], np.float32))
    if n > SET_RANGE_SAMPLE and hasattr(_maps, "take"):
        # maps made on demand from a large set: the sample at once (few of them are ever shown)
        return viz.map_range(np.asarray(_maps.take(np.asarray(picks)), dtype=np.float32))
    # a small set: one by one through the per-map cache, which the overlays then reuse
    return viz.map_range([np.asarray(_maps[int(i)], dtype=np.float32) for i in picks])


def heatmap_settings(ctx: Context, *, initial: str = "per image") -> None:
    """Opacity, colour map and normalisation controls for image overlays; ``initial`` is the
    normalisation selected until the user changes it."""
    cols = st.columns([2, 1, 2])
    ctx.settings["alpha"] = cols[0].slider(
        "heatmap opacity", 0.0, 1.0, 0.5, 0.05, key=f"{ctx.key}_alpha"
    )
    ctx.settings["colormap"] = cols[1].selectbox(
        "colour map", list(viz.COLORMAPS), key=f"{ctx.key}_cmap"
    )
    ctx.settings["normalisation"] = cols[2].radio(
        "normalisation",
        list(NORMALISATION),
        index=list(NORMALISATION).index(initial),
        horizontal=True,
        key=f"{ctx.key}_norm",
    )
    st.caption(
        f"Normalisation **{ctx.settings['normalisation']}**: "
        f"{NORMALISATION[ctx.settings['normalisation']]}."
    )


def colour_scale(ctx: Context, view: Any) -> None:
    """The colour bar of the overlays below, with its values in map units."""
    low, high = overlay_range(ctx, view)
    st.plotly_chart(
        viz.colour_scale_figure(low, high, ctx.settings.get("colormap", "jet")),
        key=f"{ctx.key}_colour_scale",
        width="stretch",
        config={"displayModeBar": False},
    )


def overlay_range(ctx: Context, view: Any = None) -> tuple[float | None, float | None]:
    if ctx.settings.get("normalisation") != "whole set":
        return None, None
    maps = view.image_maps(ctx) if view is not None else image_maps(ctx)
    if maps is None:
        return None, None
    return _set_range(ctx.home, ctx.results.run_id, ctx.settings.get("variant", ""), maps)


def item_image(ctx: Context, item: int) -> np.ndarray:
    return viz.to_rgb(ctx.dataset.items[item])


def item_overlay(ctx: Context, item: int, view: Any) -> np.ndarray:
    """The item's image with its map (from ``view.item_map``) blended over it."""
    image = item_image(ctx, item)
    amap = view.item_map(ctx, item)
    if amap is None:
        return image
    low, high = overlay_range(ctx, view)
    picture = viz.overlay(
        image,
        amap,
        alpha=ctx.settings.get("alpha", 0.5),
        colormap=ctx.settings.get("colormap", "jet"),
        low=low,
        high=high,
    )
    return view.decorate(ctx, item, picture)


def short_name(name: str, width: int = 24) -> str:
    """The file name without folders, shortened in the middle so grid captions align."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if len(base) <= width:
        return base
    half = (width - 1) // 2
    return base[:half] + "…" + base[-half:]


def caption(ctx: Context, item: int, rank: int) -> str:
    results = ctx.results
    flag = " ⚑" if metrics.flagged(results.scores[item], ctx.threshold) else ""
    return (
        f"#{rank} · {results.scores[item]:.4g}{flag} · {label_of(results, item)} · "
        f"{short_name(results.names[item])}"
    )


def label_of(results: RunResults, item: int) -> str:
    label = None if results.labels is None else int(results.labels[item])
    return viz.label_text(label, results.classes[item] if results.classes is not None else None)


def item_dialog(ctx: Context, item: int, view: Any) -> None:
    """Everything about one item: full-size image and map, or the whole document."""
    results = ctx.results
    flagged = bool(metrics.flagged(results.scores[item], ctx.threshold))
    st.markdown(
        f"**{md(results.names[item])}** · score {results.scores[item]:.5g} · "
        f"{'flagged' if flagged else 'not flagged'} · {md(label_of(results, item))}"
    )
    if results.components:
        st.caption(" · ".join(f"{k}: {float(v[item]):.5g}" for k, v in results.components.items()))
    if ctx.dataset.kind == DataKind.IMAGE:
        image = item_image(ctx, item)
        cols = st.columns(2)
        cols[0].image(viz.upscale(image, 448), caption="image", width="stretch")
        cols[1].image(
            viz.upscale(item_overlay(ctx, item, view), 448), caption="heatmap", width="stretch"
        )
        mask = None if ctx.dataset.masks is None else ctx.dataset.masks[item]
        if mask is not None:
            st.image(
                viz.upscale(viz.draw_mask_outline(image, mask), 448),
                caption="ground truth outline",
                width=448,
            )
    elif ctx.dataset.kind == DataKind.TEXT:
        found = view.item_tokens(ctx, item)
        if found is not None:
            tokens, weights, note = found
            st.caption(f"Word weights: {note}. Words that pre-processing dropped are plain.")
            st.html(original_text_html(ctx, item, tokens, weights))
            with st.expander("The words the method read (after pre-processing)"):
                st.html(viz.token_html(tokens, weights))
        else:
            st.text_area("document", str(ctx.dataset.items[item]), height=200, disabled=True)
    else:
        feature_weights(ctx, item)
    view.item_details(ctx, item)


def original_text_html(
    ctx: Context,
    item: int,
    tokens: list[str],
    weights: np.ndarray,
    limit: int | None = None,
    color: tuple[int, int, int] = (255, 127, 14),
) -> str:
    """The document as written, its kept words highlighted by ``weights`` (mapped back
    with the run's own pre-processing settings)."""
    from deepad.text.preprocess import TextPreprocessing, align_words

    if "text_prep" not in ctx.settings:
        config = ctx.svc.run(ctx.results.run_id).config or {}
        fields = {"lowercase", "strip_punctuation", "strip_numbers", "remove_stopwords"}
        ctx.settings["text_prep"] = TextPreprocessing(
            **{k: bool(config[k]) for k in fields if k in config},
            min_length=int(config.get("min_word_length", 3)),
        )
    text = str(ctx.dataset.items[item])
    spans = align_words(text, list(tokens), ctx.settings["text_prep"])
    return viz.text_html(text, spans, weights, limit=limit, color=color)


def feature_weights(ctx: Context, item: int) -> None:
    if ctx.explanations is None or ctx.explanations.kind != "features":
        return
    if not ctx.explanations.has(item):
        return
    found = ctx.explanations.explanation
    weights = np.asarray(found.weights[ctx.explanations.row[item]], dtype=np.float32)
    if weights.ndim == 1:
        names = found.feature_names or ctx.dataset.columns or [f"x{j}" for j in range(weights.size)]
        st.caption("Per-feature contribution to the score")
        st.bar_chart(dict(zip(names, weights.tolist(), strict=False)), height=220)
    else:
        st.caption("Per-step contribution to the score")
        st.line_chart(weights.reshape(weights.shape[0], -1).sum(axis=1), height=220)
