"""FCDD: heatmaps re-upsampled from the stored low-resolution maps with a chosen σ, a pixel
threshold that draws the defect mask, and pixel AUROC against ground-truth masks."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from deepad import metrics, viz
from deepad.run_results import fcdd_upsample
from pages.views import default
from pages.views.default import Context, View

MAX_PIXEL_AUROC_IMAGES = 400
LOW_RES_IN_MEMORY_BYTES = 64 * 2**20
PREDICTED = (255, 40, 40)
TRUTH = (40, 255, 40)


class Upsampled:
    """Full-resolution maps computed on access, so a σ change costs nothing until drawn; each
    (run, row, σ) is upsampled once and cached, as the overlay, the outline, the dialog and
    the pixel AUROC all read the same map."""

    def __init__(
        self, ctx: Context, low_res: np.ndarray, meta: dict[str, Any], sigma: float
    ) -> None:
        self.home, self.run_id = ctx.home, ctx.results.run_id
        # low-resolution maps are small (a few numbers per image): read once, not per row
        # through the memory map, whose every slice costs a new memmap object
        if low_res.nbytes <= LOW_RES_IN_MEMORY_BYTES:
            low_res = np.asarray(low_res)
        self.low_res, self.meta, self.sigma = low_res, meta, sigma

    def __len__(self) -> int:
        return len(self.low_res)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Several maps in one matrix product, not cached (a sample for the colour scale)."""
        return fcdd_upsample(np.asarray(self.low_res[np.asarray(rows)]), self.meta, self.sigma)

    def __getitem__(self, row: int) -> np.ndarray:
        return _upsampled(self.home, self.run_id, int(row), self.sigma, self.low_res, self.meta)


@st.cache_data(show_spinner=False, max_entries=1024)
def _upsampled(
    home: str, run_id: int, row: int, sigma: float, _low_res: np.ndarray, _meta: dict[str, Any]
) -> np.ndarray:
    return fcdd_upsample(_low_res[row], _meta, sigma)


def _low_res(ctx: Context) -> np.ndarray | None:
    found = ctx.explanations
    if found is None or found.kind != "image":
        return None
    return found.explanation.low_res


def _meta(ctx: Context) -> dict[str, Any]:
    if "fcdd_meta" not in ctx.settings:
        ctx.settings["fcdd_meta"] = ctx.svc.model_meta(ctx.results.run_id)
    return ctx.settings["fcdd_meta"]


def _ready(ctx: Context) -> bool:
    meta = _meta(ctx)
    return _low_res(ctx) is not None and "receptive_field" in meta and "image_size" in meta


def image_maps(ctx: Context) -> Any:
    if not _ready(ctx):
        return default.image_maps(ctx)
    # before the panel sets σ (or without it), the σ the model was trained with
    sigma = ctx.settings.get("sigma", _meta(ctx).get("sigma"))
    if sigma is None:
        return default.image_maps(ctx)
    return Upsampled(ctx, _low_res(ctx), _meta(ctx), float(sigma))


def item_map(ctx: Context, item: int) -> np.ndarray | None:
    maps = image_maps(ctx)
    if maps is None or not ctx.explanations.has(item):
        return None
    return np.asarray(maps[int(ctx.explanations.row[item])], dtype=np.float32)


def _mask_at_image_size(ctx: Context, item: int) -> np.ndarray | None:
    threshold = ctx.settings.get("pixel_threshold")
    amap = item_map(ctx, item)
    if threshold is None or amap is None:
        return None
    shape = np.shape(ctx.dataset.items[item])[:2]
    return (viz.resize_map(amap, shape) > threshold).astype(np.uint8)


def decorate(ctx: Context, item: int, picture: np.ndarray) -> np.ndarray:
    if not ctx.settings.get("outline"):
        return picture
    mask = _mask_at_image_size(ctx, item)
    if mask is None or not mask.any():
        return picture
    return viz.draw_mask_outline(picture, mask, color=PREDICTED)


@st.cache_data(show_spinner="Computing pixel AUROC…", max_entries=32)
def _pixel_auroc(home: str, run_id: int, sigma: float, _ctx: Context) -> tuple[float, int]:
    """Pixel AUROC at this σ over the explained images, by the same rule as the run's own
    metric (:func:`deepad.metrics.pixel_auroc`)."""
    maps, row = image_maps(_ctx), _ctx.explanations.row
    items = np.flatnonzero(row >= 0)[:MAX_PIXEL_AUROC_IMAGES]
    masks = metrics.pixel_masks(_ctx.dataset, items)
    counted = [(m, maps[int(row[i])]) for m, i in zip(masks, items, strict=True) if m is not None]
    if not counted:
        return float("nan"), 0
    masks_, maps_ = zip(*counted, strict=True)
    value = metrics.pixel_auroc(masks_, maps_, max_pixels=metrics.PIXEL_AUROC_MAX_PIXELS)
    return value, len(counted)


def initial_normalisation(ctx: Context) -> str:
    # FCDD's maps A′ share one scale; scaled per image, every defect-free image would show a
    # hot spot of its own, which reads as a false detection
    return "whole set"


def panel(ctx: Context) -> None:
    if not _ready(ctx):
        st.caption("This run kept no low-resolution maps, so σ cannot be changed.")
        return
    meta = _meta(ctx)
    rf = meta["receptive_field"]
    trained_sigma = float(meta.get("sigma", 1.0))
    with st.container(border=True):
        st.markdown("**FCDD heatmaps**")
        cols = st.columns([2, 2, 1])
        sigma = cols[0].slider(
            "σ of the Gaussian upsampling",
            min_value=0.25,
            max_value=float(max(rf["size"], 2 * trained_sigma)),
            value=trained_sigma,
            step=0.25,
            key=f"{ctx.key}_sigma",
            help=f"Each low-resolution pixel spreads as a Gaussian over its {rf['size']}-pixel "
            f"receptive field; the model used σ = {trained_sigma:g}.",
        )
        ctx.settings["sigma"] = float(sigma)
        ctx.settings["variant"] = f"sigma={sigma}"
        low, high = default._set_range(
            ctx.home, ctx.results.run_id, ctx.settings["variant"], image_maps(ctx)
        )
        key = f"{ctx.key}_pixel_threshold"
        if key not in st.session_state or not low <= st.session_state[key] <= high:
            # start where a tenth of the colour scale is left: a visible but small mask
            st.session_state[key] = float(low + 0.9 * (high - low))
        ctx.settings["pixel_threshold"] = cols[1].slider(
            "pixel threshold (defect mask)",
            min_value=float(low),
            max_value=float(high),
            step=float((high - low) / 200 or 1e-6),
            format="%.4g",
            key=key,
            help="Pixels whose upsampled anomaly score is above this form the defect mask "
            "(outlined in red).",
        )
        ctx.settings["outline"] = cols[2].checkbox(
            "outline defects", value=True, key=f"{ctx.key}_outline"
        )
        saved = ctx.svc.run(ctx.results.run_id).metrics.get("pixel_auroc")
        if ctx.dataset.has_masks and sigma == trained_sigma and saved is not None:
            # computed once when the run ended, over every image with a mask
            st.metric(f"pixel AUROC at σ = {sigma:g} (when the run ended)", f"{saved:.3f}")
        elif ctx.dataset.has_masks:
            value, count = _pixel_auroc(ctx.home, ctx.results.run_id, float(sigma), ctx)
            st.metric(
                f"pixel AUROC at σ = {sigma:g} ({count} images)",
                "–" if value != value else f"{value:.3f}",
            )
        else:
            st.caption("The scored set has no ground-truth masks, so no pixel AUROC.")


def item_details(ctx: Context, item: int) -> None:
    if not _ready(ctx):
        return
    image = default.item_image(ctx, item)
    predicted = _mask_at_image_size(ctx, item)
    truth = None if ctx.dataset.masks is None else ctx.dataset.masks[item]
    cols = st.columns(2)
    if predicted is not None:
        cols[0].image(
            viz.upscale(viz.draw_mask_outline(image, predicted, color=PREDICTED), 448),
            caption=f"predicted defect mask (pixel threshold {ctx.settings['pixel_threshold']:.4g})",
            width="stretch",
        )
    if truth is not None:
        both = viz.draw_mask_outline(image, truth, color=TRUTH)
        if predicted is not None:
            both = viz.draw_mask_outline(both, predicted, color=PREDICTED)
        cols[1].image(
            viz.upscale(both, 448),
            caption="ground truth (green) and prediction (red)",
            width="stretch",
        )


class FCDDView(View):
    """FCDD's hooks: the functions above."""

    panel = staticmethod(panel)
    image_maps = staticmethod(image_maps)
    item_map = staticmethod(item_map)
    decorate = staticmethod(decorate)
    item_details = staticmethod(item_details)
    initial_normalisation = staticmethod(initial_normalisation)
