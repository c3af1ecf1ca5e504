"""Pictures of detection results: colour maps, heatmap overlays, token highlighting, figures.

Plain functions on numpy arrays that return arrays, HTML strings, PNG bytes or plotly figures,
so the dashboard, the CLI and notebooks draw the same things.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import plotly.graph_objects as go
from PIL import Image

# cv2 ships these as lookup tables, so colouring a map is one table lookup, not a matplotlib call.
COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
}

NORMAL_COLOR = "#1f77b4"
ANOMALY_COLOR = "#d62728"
UNKNOWN_COLOR = "#7f7f7f"
LABEL_NAMES = {0: "normal", 1: "anomalous", -1: "unlabeled"}
LABEL_COLORS = {0: NORMAL_COLOR, 1: ANOMALY_COLOR, -1: UNKNOWN_COLOR}
MARKER_COLOR = "#2ca02c"  # score histogram lines other than the threshold (a radius)
# defect-type names that only repeat the label (MVTec-AD calls its normal images "good")
_PLAIN_CLASSES = {"normal", "anomalous", "anomaly", "good", "ok", "unlabeled", ""}


def label_text(label: int | None, defect: str | None = None) -> str:
    """An item's label said once: "anomalous · crack", "normal", never "normal · normal"."""
    text = "unlabeled" if label is None else LABEL_NAMES.get(int(label), "?")
    if defect and str(defect).strip().lower() not in _PLAIN_CLASSES | {text}:
        text += f" · {defect}"
    return text


# --------------------------------------------------------------------------- maps and images
def map_range(maps: np.ndarray | Sequence[np.ndarray], *, percentile: float = 99.5) -> tuple:
    """(low, high) of a whole set of maps, for normalising every map on one scale.

    The upper end is a high percentile rather than the maximum so one hot pixel in one image
    does not wash out every other map.
    """
    flat = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps])
    if flat.size == 0:
        return 0.0, 1.0
    low = float(np.min(flat))
    high = float(np.percentile(flat, percentile))
    if high <= low:
        high = float(np.max(flat))
    return low, high if high > low else low + 1.0


def normalize_map(
    amap: np.ndarray, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """Scale a map to [0, 1]; without ``low``/``high`` the map's own min and max are used."""
    amap = np.asarray(amap, dtype=np.float32)
    low = float(amap.min()) if low is None else float(low)
    high = float(amap.max()) if high is None else float(high)
    if high <= low:
        return np.zeros_like(amap)
    return np.clip((amap - low) / (high - low), 0.0, 1.0)


def colorize(unit_map: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map as an ``(h, w, 3)`` uint8 RGB picture."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    levels = np.clip(np.rint(np.asarray(unit_map, dtype=np.float32) * 255), 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(levels, COLORMAPS[colormap])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def signed_colorize(values: np.ndarray, limit: float) -> np.ndarray:
    """A signed map (relevance) as ``(h, w, 3)`` uint8 RGB on the scale ``[-limit, limit]``:
    blue below zero, white at zero, red above, so several maps share one colour scale."""
    unit = np.clip(np.asarray(values, dtype=np.float32) / max(float(limit), 1e-12), -1.0, 1.0)
    pos, neg = np.clip(unit, 0, 1), np.clip(-unit, 0, 1)
    red = 1.0 - neg
    green = 1.0 - pos - neg
    blue = 1.0 - pos
    rgb = np.stack([red, green, blue], axis=-1)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def signed_overlay(
    image: np.ndarray, values: np.ndarray, limit: float, *, alpha: float = 0.6
) -> np.ndarray:
    """A signed map drawn over ``image`` on the scale ``[-limit, limit]`` of
    :func:`signed_colorize` (red raises the score, blue lowers it): each pixel's colour is
    blended in by ``alpha`` times its strength, so pixels without evidence show the image."""
    rgb = to_rgb(image).astype(np.float32)
    shown = resize_map(values, rgb.shape[:2])
    strength = np.clip(np.abs(shown) / max(float(limit), 1e-12), 0.0, 1.0)
    weight = (float(alpha) * np.sqrt(strength))[..., None]
    # the full colour of the sign (the end of signed_colorize's scale), blended in by
    # strength: weak evidence tints the image lightly instead of whitening it
    heat = np.where((shown >= 0)[..., None], [[[255.0, 0.0, 0.0]]], [[[0.0, 0.0, 255.0]]])
    return np.clip(np.rint((1.0 - weight) * rgb + weight * heat), 0, 255).astype(np.uint8)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Any uint8 image (gray, gray with one channel, RGB, RGBA) as ``(h, w, 3)`` uint8 RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        scaled = image.astype(np.float32)
        if scaled.max(initial=0.0) <= 1.0:
            scaled = scaled * 255.0
        image = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3]


def resize_map(amap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float map to ``(height, width)`` with bilinear interpolation."""
    amap = np.asarray(amap, dtype=np.float32)
    height, width = size
    if amap.shape == (height, width):
        return amap
    return cv2.resize(amap, (width, height), interpolation=cv2.INTER_LINEAR)


def overlay(
    image: np.ndarray,
    amap: np.ndarray,
    *,
    alpha: float = 0.5,
    colormap: str = "jet",
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """Blend a coloured anomaly map over ``image`` (the map is resized to the image).

    ``low``/``high`` fix the colour scale (e.g. from :func:`map_range` over a whole set);
    left out, the map is scaled by its own min and max.
    """
    rgb = to_rgb(image)
    unit = normalize_map(resize_map(amap, rgb.shape[:2]), low, high)
    heat = colorize(unit, colormap).astype(np.float32)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * heat
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def colour_scale_figure(
    low: float | None, high: float | None, colormap: str = "jet", *, ticks: int = 5
) -> go.Figure:
    """The heatmap colour scale as a bar with its values: map values from ``low`` to
    ``high``, or (both None, maps scaled per image) each map's own minimum to maximum."""
    strip = colorize(np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (12, 1)), colormap)
    where = np.linspace(0, 255, ticks)
    if low is None or high is None:
        text = ["own min", *[f"{q:.0%}" for q in np.linspace(0, 1, ticks)[1:-1]], "own max"]
    else:
        text = [f"{v:.3g}" for v in np.linspace(low, high, ticks)]
    fig = go.Figure(go.Image(z=strip, hoverinfo="skip"))
    fig.update_xaxes(tickvals=where, ticktext=text, showgrid=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=84, margin={"l": 30, "r": 30, "t": 4, "b": 34})
    return fig


def draw_mask_outline(
    image: np.ndarray, mask: np.ndarray, *, color: tuple[int, int, int] = (0, 255, 0)
) -> np.ndarray:
    """``image`` (RGB) with the outline of a binary ``mask`` drawn one pixel wide."""
    rgb = to_rgb(image).copy()
    mask = np.asarray(mask) > 0
    if mask.shape != rgb.shape[:2]:
        mask = cv2.resize(
            mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, color, 1)
    return rgb


def upscale(image: np.ndarray, min_side: int = 224) -> np.ndarray:
    """Enlarge a small image (nearest neighbour, whole factor) so its shorter side is ≥ min_side."""
    image = np.asarray(image)
    factor = int(np.ceil(min_side / max(1, min(image.shape[:2]))))
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 gray or RGB array as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- text
def token_html(
    tokens: Sequence[str],
    weights: Sequence[float] | np.ndarray,
    *,
    colormap: str | None = None,
    max_alpha: float = 0.85,
    color: tuple[int, int, int] = (255, 127, 14),
) -> str:
    """Tokens as HTML spans whose background shows each token's weight (escaped, safe to render).

    Weights are scaled by the document's largest weight, so the most attended word is the
    strongest colour; a hover title shows the raw weight. Without ``colormap`` every token has
    the one ``color`` and only its opacity follows the weight, which reads best on text.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if len(tokens) != len(weights):
        raise ValueError(f"{len(tokens)} tokens but {len(weights)} weights")
    top = float(weights.max()) if weights.size and weights.max() > 0 else 1.0
    unit = np.clip(weights / top, 0.0, 1.0)
    if colormap is None:
        colors = np.tile(np.asarray(color, dtype=np.uint8), (unit.size, 1))
    else:
        colors = colorize(unit[None, :], colormap)[0] if unit.size else np.zeros((0, 3), np.uint8)
    spans = []
    for token, w, u, (r, g, b) in zip(tokens, weights, unit, colors, strict=True):
        spans.append(
            f'<span title="{float(w):.4f}" style="background: rgba({r},{g},{b},'
            f'{max_alpha * float(u):.2f}); padding: 1px 2px; border-radius: 3px">'
            f"{html.escape(str(token))}</span>"
        )
    return '<div style="line-height: 1.9">' + " ".join(spans) + "</div>"


def text_html(
    text: str,
    spans: Sequence[tuple[int, int] | None],
    weights: Sequence[float] | np.ndarray,
    *,
    limit: int | None = None,
    max_alpha: float = 0.85,
    color: tuple[int, int, int] = (255, 127, 14),
) -> str:
    """The original ``text`` as HTML with each weighted word's span (``spans[i]`` holds
    ``weights[i]``, character offsets into ``text``) highlighted as :func:`token_html` does;
    words that pre-processing dropped stay plain. ``limit`` cuts the text after that many
    characters. Everything is escaped, so the result is safe to render."""
    weights = np.asarray(weights, dtype=np.float32)
    if len(spans) != len(weights):
        raise ValueError(f"{len(spans)} spans but {len(weights)} weights")
    end_at = len(text) if limit is None else min(len(text), limit)
    top = float(weights.max()) if weights.size and weights.max() > 0 else 1.0
    r, g, b = color
    parts, at = [], 0
    for span, w in sorted(
        ((s, float(w)) for s, w in zip(spans, weights, strict=True) if s is not None),
        key=lambda pair: pair[0][0],
    ):
        start, end = span
        if start < at or end > end_at:
            continue
        parts.append(html.escape(text[at:start]))
        alpha = max_alpha * min(max(w / top, 0.0), 1.0)
        parts.append(
            f'<span title="{w:.4f}" style="background: rgba({r},{g},{b},{alpha:.2f}); '
            f'border-radius: 3px">{html.escape(text[start:end])}</span>'
        )
        at = end
    parts.append(html.escape(text[at:end_at]) + ("…" if end_at < len(text) else ""))
    return '<div style="line-height: 1.9; white-space: pre-wrap">' + "".join(parts) + "</div>"


# --------------------------------------------------------------------------- figures
def _label_groups(labels: np.ndarray | None, n: int) -> list[tuple[int, np.ndarray]]:
    if labels is None:
        return [(-1, np.ones(n, dtype=bool))]
    labels = np.asarray(labels)
    return [(value, labels == value) for value in (0, 1, -1) if np.any(labels == value)]


@dataclass(frozen=True)
class LogAxis:
    """An axis on ``log10(value - origin)``, ticks labelled with the original values.

    For scores whose tail lies decades above their bulk, which a linear axis squeezes into
    one bar. ``origin`` is 0 for positive scores; signed ones (energies) get an origin just
    below their smallest value, so they have a log view too.
    """

    origin: float

    def __call__(self, values: np.ndarray | float) -> np.ndarray:
        shifted = np.asarray(values, dtype=np.float64) - self.origin
        return np.log10(np.maximum(shifted, np.finfo(np.float64).tiny))

    def ticks(self, values: np.ndarray, count: int = 6, least: int = 4) -> dict:
        """Plotly axis settings for ``values``: whole decades where the range holds ``least``
        or more, else the 1-2-5 steps within it, else ``count`` even steps; each labelled
        with the value it stands for (in real units, origin added back)."""
        t = self(values)
        t = t[np.isfinite(t)]
        low, high = (float(t.min()), float(t.max())) if t.size else (0.0, 1.0)
        positions = np.arange(np.ceil(low), np.floor(high) + 1)
        if positions.size < least:
            steps = np.log10([1.0, 2.0, 5.0])
            grid = (np.arange(np.floor(low), np.ceil(high) + 1)[:, None] + steps).ravel()
            positions = grid[(grid >= low) & (grid <= high)]
        if positions.size < least:
            positions = np.linspace(low, high, count)
        real = np.unique([_round_to(10.0**p + self.origin, 2) for p in positions])
        real = real[real > self.origin]
        labels = [_tick_label(v) for v in real]
        return {"tickvals": self(real).tolist(), "ticktext": labels}

    def title(self) -> str:
        """What the axis shows, for its title."""
        if self.origin == 0.0:
            return "log scale"
        return f"log scale of value − ({_tick_label(self.origin)}); ticks in real units"


@dataclass(frozen=True)
class SymlogAxis:
    """A symmetric log axis around ``center``: ``sign(d) · log10(1 + |d|)`` with
    ``d = (value − center) / scale``, ticks labelled with plain values.

    For signed scores (energies) whose tail lies decades away from their bulk: the bulk stays
    spread out around its median, the tail is compressed, and every tick is a real value.
    """

    center: float
    scale: float

    def __call__(self, values: np.ndarray | float) -> np.ndarray:
        d = (np.asarray(values, dtype=np.float64) - self.center) / self.scale
        return np.sign(d) * np.log10(1.0 + np.abs(d))

    def inverse(self, positions: np.ndarray) -> np.ndarray:
        t = np.asarray(positions, dtype=np.float64)
        return self.center + self.scale * np.sign(t) * (10.0 ** np.abs(t) - 1.0)

    def ticks(self, values: np.ndarray, count: int = 7) -> dict:
        """Plotly axis settings: ``count`` positions spread evenly along the axis, each moved
        to a round value (two significant digits) and labelled with it."""
        t = self(values)
        t = t[np.isfinite(t)]
        low, high = (float(t.min()), float(t.max())) if t.size else (-1.0, 1.0)
        real = np.unique([_round_to(v, 2) for v in self.inverse(np.linspace(low, high, count))])
        return {"tickvals": self(real).tolist(), "ticktext": [_tick_label(v) for v in real]}

    def title(self) -> str:
        return "symmetric log scale; ticks in real units"


def _round_to(value: float, digits: int) -> float:
    """``value`` to ``digits`` significant digits (ticks at round numbers in real units)."""
    if value == 0 or not np.isfinite(value):
        return float(value)
    return float(round(value, digits - 1 - int(np.floor(np.log10(abs(value))))))


def _tick_label(value: float) -> str:
    """Three significant digits, written out below a million: 0.31, -42.5, 957, 1,000."""
    text = f"{value:.3g}"
    return f"{round(value):,}" if "e+" in text and abs(value) < 1e6 else text


def log_axis(
    values: np.ndarray, *, decades: float = 2.0, force: bool = False
) -> LogAxis | SymlogAxis | None:
    """For positive ``values`` a :class:`LogAxis` when their largest lies more than
    ``decades`` orders of magnitude above their median; for signed ones a
    :class:`SymlogAxis` around the median when the farthest lies more than ``decades``
    orders of magnitude of their spread (interquartile range) away (always with ``force``)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2:
        return LogAxis(0.0) if force else None
    low, high = float(finite.min()), float(finite.max())
    median = float(np.median(finite))
    if low > 0:
        axis = LogAxis(0.0)
        return axis if force or np.log10(high / median) > decades else None
    # signed values: a symmetric log around the median, in units of the bulk's spread
    q25, q75 = np.quantile(finite, [0.25, 0.75])
    spread = float(q75 - q25) or (high - low) * 1e-3 or 1.0
    far = max(high - median, median - low) / spread
    return SymlogAxis(median, spread) if force or np.log10(1.0 + far) > decades else None


def score_histogram(
    scores: np.ndarray,
    labels: np.ndarray | None = None,
    threshold: float | None = None,
    *,
    bins: int = 60,
    title: str = "Score distribution",
    log_scale: bool | None = None,
    markers: Sequence[tuple[float, str]] = (),
) -> go.Figure:
    """Overlaid score histograms per label (normal / anomalous / unlabeled) and the threshold.

    ``log_scale`` bins the scores on a :class:`LogAxis`; left as None it is used when
    :func:`log_axis` finds the scores span decades. ``markers`` are further labelled
    vertical lines ``(score, label)``, e.g. a hypersphere's radius; non-finite ones are left
    out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    fig = go.Figure()
    x_title = "anomaly score"
    axis = None if log_scale is False else log_axis(scores, force=bool(log_scale))
    if axis is not None:
        fig.update_xaxes(**axis.ticks(scores))
        scores = axis(scores)
        threshold = None if threshold is None else float(axis(threshold))
        x_title = f"anomaly score ({axis.title()})"
    finite = scores[np.isfinite(scores)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    size = (high - low) / bins if high > low else 1.0
    for value, keep in _label_groups(labels, scores.size):
        fig.add_trace(
            go.Histogram(
                x=scores[keep],
                name=LABEL_NAMES[value],
                marker_color=LABEL_COLORS[value],
                opacity=0.6,
                xbins={"start": low, "end": high + size, "size": size},
            )
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold, line_dash="dash", line_color="black", annotation_text="threshold"
        )
    for value, label in markers:
        if not np.isfinite(value) or (
            axis is not None and value <= getattr(axis, "origin", -np.inf)
        ):
            continue
        fig.add_vline(
            x=float(axis(value)) if axis is not None else float(value),
            line_dash="dot",
            line_color=MARKER_COLOR,
            annotation_text=label,
            annotation_position="top left",
            annotation_font_color=MARKER_COLOR,
        )
    fig.update_layout(
        barmode="overlay",
        title=title,
        xaxis_title=x_title,
        yaxis_title="items",
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        height=320,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def roc_figure(
    fpr: np.ndarray,
    tpr: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    auc: float | None = None,
) -> go.Figure:
    """ROC curve with the current operating point (false-positive rate, recall) marked."""
    name = "ROC" if auc is None else f"ROC (AUROC {auc:.3f})"
    chance = go.Scatter(
        x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "gray"}, name="chance"
    )
    return _curve_figure(
        fpr, tpr, name, point, "false-positive rate", "true-positive rate (recall)", chance
    )


def pr_figure(
    precision: np.ndarray,
    recall: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    ap: float | None = None,
) -> go.Figure:
    """Precision-recall curve with the current operating point (recall, precision) marked."""
    name = "Precision-recall" if ap is None else f"Precision-recall (AUPRC {ap:.3f})"
    fig = _curve_figure(recall, precision, name, point, "recall", "precision")
    fig.update_layout(yaxis_range=[0, 1.05])
    return fig


def _curve_figure(
    x: np.ndarray,
    y: np.ndarray,
    name: str,
    point: tuple[float, float] | None,
    x_title: str,
    y_title: str,
    reference: go.Scatter | None = None,
) -> go.Figure:
    """A curve, an optional reference line, and the operating point marked last."""
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name=name))
    if reference is not None:
        fig.add_trace(reference)
    if point is not None:
        fig.add_trace(
            go.Scatter(
                x=[point[0]],
                y=[point[1]],
                mode="markers",
                marker={"size": 12, "color": "black", "symbol": "x"},
                name="threshold",
            )
        )
    fig.update_layout(
        title=name,
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=320,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        showlegend=False,
    )
    return fig


def loss_curve(history: Sequence[dict], *, title: str = "Training loss") -> go.Figure:
    """Per-epoch loss (and learning rate on a second axis when it changes)."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    losses = [h.get("loss") for h in history]
    fig = go.Figure(go.Scatter(x=epochs, y=losses, mode="lines+markers", name="loss"))
    rates = [h.get("lr") for h in history]
    if len({r for r in rates if r is not None}) > 1:
        fig.add_trace(
            go.Scatter(
                x=epochs, y=rates, mode="lines", name="learning rate", yaxis="y2", opacity=0.5
            )
        )
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "lr"})
    if len(epochs) <= 12:
        fig.update_xaxes(dtick=1)  # whole epochs only, not 1.5
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="loss",
        height=260,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        showlegend=False,
    )
    return fig


def two_score_scatter(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    x_threshold: float | None = None,
    y_threshold: float | None = None,
    x_title: str = "energy",
    y_title: str = "reconstruction error",
    names: Sequence[str] | None = None,
    log: bool | None = None,
) -> go.Figure:
    """Items as points on two scores, coloured by label, with a threshold line on each axis.

    ``log`` None puts each axis whose scores span decades on a :class:`LogAxis`, True puts
    both there, False keeps both linear (as ``log_scale`` of :func:`score_histogram`). Each point carries its item index as ``customdata`` so a selection can open
    that item; hovering shows the item's name and both scores.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x_axis = None if log is False else log_axis(x, force=bool(log))
    y_axis = None if log is False else log_axis(y, force=bool(log))
    fig = go.Figure()
    index = np.arange(x.size)
    for value, keep in _label_groups(labels, x.size):
        hover = [
            ("" if names is None else f"{names[i]}<br>")
            + f"{x_title} {x[i]:.4g}<br>{y_title} {y[i]:.4g}"
            for i in index[keep]
        ]
        fig.add_trace(
            go.Scattergl(
                x=x[keep] if x_axis is None else x_axis(x[keep]),
                y=y[keep] if y_axis is None else y_axis(y[keep]),
                mode="markers",
                name=LABEL_NAMES[value],
                marker={"color": LABEL_COLORS[value], "size": 6, "opacity": 0.7},
                customdata=index[keep],
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if x_threshold is not None:
        x_line = x_threshold if x_axis is None else float(x_axis(x_threshold))
        fig.add_vline(x=x_line, line_dash="dash", line_color="black")
    if y_threshold is not None:
        y_line = y_threshold if y_axis is None else float(y_axis(y_threshold))
        fig.add_hline(y=y_line, line_dash="dash", line_color="black")
    fig.update_layout(
        xaxis_title=x_title + ("" if x_axis is None else f" ({x_axis.title()})"),
        yaxis_title=y_title + ("" if y_axis is None else f" ({y_axis.title()})"),
        height=420,
        margin={"l": 40, "r": 10, "t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    if x_axis is not None:
        fig.update_xaxes(**x_axis.ticks(x))
    if y_axis is not None:
        fig.update_yaxes(**y_axis.ticks(y))
    return fig


def confusion_matrix_figure(tp: int, fp: int, fn: int, tn: int) -> go.Figure:
    """A 2×2 confusion matrix (rows: true label, columns: flagged or not) as a heatmap."""
    z = [[tn, fp], [fn, tp]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=["not flagged", "flagged"],
            y=["normal", "anomalous"],
            text=[[str(v) for v in row] for row in z],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 10, "b": 30})
    fig.update_yaxes(autorange="reversed")
    return fig


def selection_rounds_figure(rounds: Sequence[dict]) -> go.Figure:
    """Items kept by each selection round of the iterative clustering autoencoder (round 0 is
    the initial subset), with the labeled anomalies among them when they are known."""
    numbers = list(range(len(rounds)))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=numbers,
            y=[r["selected"] for r in rounds],
            mode="lines+markers",
            name="items kept",
            line={"color": NORMAL_COLOR},
        )
    )
    if rounds and all("anomalies" in r for r in rounds):
        fig.add_trace(
            go.Scatter(
                x=numbers,
                y=[r["anomalies"] for r in rounds],
                mode="lines+markers",
                name="labeled anomalies kept",
                line={"color": ANOMALY_COLOR},
                yaxis="y2",
            )
        )
        fig.update_layout(
            yaxis2={
                "title": "anomalies kept",
                "tickformat": ",d",
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            }
        )
    fig.update_layout(
        title="Selection rounds",
        xaxis={"title": "round (0 = initial subset)", "dtick": 1},
        yaxis={"title": "items kept", "rangemode": "tozero", "tickformat": ",d"},
        margin={"l": 40, "r": 40, "t": 40, "b": 40},
        height=300,
        legend={"orientation": "h", "y": -0.3},
    )
    return fig
