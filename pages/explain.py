"""Explain: one item's explanations side by side, and how well each explainer finds anomalies.

Explanations are computed outside this process (the app never imports torch): a run stores
its explainers for its top-scored items when it scores them (read here at once), any other item
is computed on demand by a short-lived subprocess, the whole test set by a background explain
job.
"""

import numpy as np
import streamlit as st

from deepad import viz
from deepad.data.types import DataKind
from deepad.markup import escape_markdown as md
from deepad.service import ServiceError
from pages.components import runinfo
from pages.components.state import EXPLAIN_ITEM, INSPECT_RUN, finished_runs, service
from pages.views import default
from pages.views.default import Context

TITLES = {
    "default": "own map",
    "lrp": "LRP",
    "gradient": "gradient |∂s/∂x|",
    "gradient_x_input": "gradient × input",
}


def _top_words(tokens: list[str], relevance: np.ndarray, n: int = 3) -> list[str]:
    """The ``n`` distinct words of highest relevance, highest first."""
    words: list[str] = []
    for j in np.argsort(-relevance, kind="stable"):
        if tokens[j] not in words:
            words.append(tokens[j])
        if len(words) == n:
            break
    return words


st.title("Explain")
svc = service()
done = finished_runs(svc, "No finished run yet. Train one on the Train page first.")
done.sort(key=lambda r: r.id, reverse=True)
ids = [r.id for r in done]
chosen = st.session_state.get(EXPLAIN_ITEM) or (st.session_state.get(INSPECT_RUN), None)
run_id = st.selectbox(
    "Run",
    ids,
    index=ids.index(chosen[0]) if chosen[0] in ids else 0,
    format_func=lambda i: f"Run {i} · {runinfo.method_title(svc, svc.run(i).method)}",
    key="explain_run_choice",
)
try:
    results = svc.results(run_id)
    dataset = svc.dataset(results.dataset_id)
except ServiceError as error:
    st.error(md(error))
    st.stop()
except Exception as error:  # a missing dataset: say so, no traceback
    st.error(f"Run {run_id} could not be opened: {md(error)}")
    st.stop()
if len(results) == 0:
    st.warning("This run scored no items.")
    st.stop()

order = [int(i) for i in results.order]
wanted = chosen[1] if chosen[0] == run_id and chosen[1] in order else order[0]
item = st.selectbox(
    "Item (by anomaly score)",
    order,
    index=order.index(wanted),
    format_func=lambda i: f"{results.names[i]} · score {results.scores[i]:.4g}",
    key=f"explain_item_{run_id}",
)
st.session_state[EXPLAIN_ITEM] = (run_id, item)

pending = svc.explanations_pending(run_id)
if pending is not None:
    where = (
        f"{pending['done']} of {pending['total']} items so far"
        if pending["status"] == "running" and pending["total"]
        else pending["status"]
    )
    st.info(
        f"The stored explanations of this run are being prepared (job {pending['job']}, "
        f"{where}; see the Runs page). Until they are ready, an item's explanations are "
        "computed when you open it, which takes a few seconds."
    )

cache = st.session_state.setdefault("explain_cache", {})
# computed while the stored ones were being prepared: read those once they are ready
key = (run_id, item, pending is not None)
if key not in cache:
    with st.spinner("Computing the explanations of this item…"):
        try:
            cache[key] = svc.explain_item(run_id, item)
        except ServiceError as error:
            st.error(md(error))
            st.stop()
found = cache[key]

line = f"score {found.score:.4g}"
if found.relevance_sum is not None:
    absorbed = found.absorbed or 0.0
    line += (
        f" · LRP relevance at the input Σ = {found.relevance_sum:.4g}"
        f" · absorbed by biases {absorbed:.4g} (sum {found.relevance_sum + absorbed:.4g})"
    )
if np.isfinite(found.seconds):
    how = (
        "read from the run's stored explanations" if found.source == "precomputed" else ("computed")
    )
    line += f" · {how} in {found.seconds:.2f} s"
st.caption(line)

if not found.maps:
    st.info("This method has no explanations.")
elif dataset.kind == DataKind.IMAGE:
    masks = dataset.masks or []
    truth = masks[item] if item < len(masks) else None
    # each map as its share of the evidence (|values| sum to 1), all on one colour scale
    shares = {m: v / max(float(np.abs(v).sum()), 1e-12) for m, v in found.maps.items()}
    limit = max(float(np.percentile(np.abs(v), 99.5)) for v in shares.values())
    left, right = st.columns([2, 1])
    alpha = left.slider(
        "opacity of the maps", 0.0, 1.0, 0.6, 0.05, key="explain_opacity",
        help="0 shows the image alone; 1 the map's colour wherever it has evidence.",
    )  # fmt: skip
    side = right.select_slider(
        "size", [224, 320, 448, 640], value=320, key="explain_side",
        help="Pixels per side of each panel (small images are enlarged without smoothing).",
    )  # fmt: skip
    image = viz.to_rgb(np.asarray(dataset.items[item]))
    panels = [("input", viz.upscale(image, side))]
    if truth is not None and np.any(np.asarray(truth) > 0):
        outlined = viz.draw_mask_outline(image, (np.asarray(truth) > 0).astype(np.uint8))
        panels.append(("ground truth (outlined)", viz.upscale(outlined, side)))
    for method, share in shares.items():
        picture = viz.signed_overlay(image, share, limit, alpha=alpha)
        panels.append((TITLES.get(method, method), viz.upscale(picture, side)))
    per_row = 3 if side <= 320 else 2
    for row in range(0, len(panels), per_row):
        columns = st.columns(per_row)
        for column, (title, picture) in zip(columns, panels[row : row + per_row], strict=False):
            column.image(picture, caption=title, width="stretch")
    st.caption(
        "Each explainer drawn over the image on one colour scale: its share of the evidence "
        "per pixel (absolute values sum to 1); red raises the score, blue lowers it, and "
        "pixels without evidence show the image."
    )
elif dataset.kind == DataKind.TEXT:
    saved = svc.explanations(run_id)
    tokens = None
    attention = found.maps.get("default")
    if saved is not None and saved.kind == "tokens" and saved.has(item):
        row = saved.row[item]
        tokens = saved.explanation.tokens[row]
        attention = saved.explanation.weights[row]
    relevance = found.maps.get("lrp")
    # the words are highlighted in the text as written (capitals, punctuation), as on Inspect
    ctx = Context(
        svc=svc, results=results, threshold=svc.threshold(run_id), dataset=dataset,
        explanations=saved,
    )  # fmt: skip
    if tokens is None or attention is None:
        st.info("The words of this document were not stored with the run.")
    else:
        # the strongest head per word: what the contexts looked at
        attention = np.asarray(attention, np.float64).reshape(-1, len(tokens)).max(0)
        st.markdown(
            "**attention** · what the model looked at to place the text in a context "
            "(what looks normal)"
        )
        st.html(default.original_text_html(ctx, item, list(tokens), attention))
        if relevance is not None and np.asarray(relevance).size == len(tokens):
            st.markdown(
                "**relevance (LRP)** · which words raise the distance to the contexts "
                "(what makes it anomalous)"
            )
            relevance = np.asarray(relevance, np.float64).ravel()
            st.html(
                default.original_text_html(ctx, item, list(tokens), relevance, color=(214, 39, 40))
            )
            st.caption(
                "Relevance is the score split over the words (the attention held constant); "
                "words that pull towards a context get negative relevance and stay unmarked. "
                f"Largest: {', '.join(_top_words(tokens, relevance))}."
            )
        else:
            st.caption("Per-word relevance is not available for this method.")
else:
    names = dataset.columns or [f"x{j}" for j in range(len(next(iter(found.maps.values()))))]
    method = st.radio(
        "explainer",
        list(found.maps),
        index=list(found.maps).index("lrp") if "lrp" in found.maps else 0,
        format_func=lambda m: TITLES.get(m, m),
        horizontal=True,
        key=f"explain_method_{run_id}",
    )
    weights = np.asarray(found.maps[method], np.float64).ravel()
    st.caption("Per-feature relevance of this item")
    # bars in the table's (the data's) column order
    st.bar_chart(dict(zip(names, weights.tolist(), strict=False)), height=240, sort=False)
    try:
        train = np.asarray(svc.dataset(svc.run(run_id).train_dataset).items, np.float64)
        value = np.asarray(dataset.items[item], np.float64).ravel()
        mean, std = train.mean(0), train.std(0) + 1e-12
        st.caption("The item's values against the training distribution of each feature")
        st.dataframe(
            {
                "feature": names,
                "relevance": weights,
                "value": value,
                "training mean": mean,
                "training std": std,
                "z": (value - mean) / std,
                "training percentile": 100.0 * (train <= value).mean(0),
            },
            hide_index=True,
        )
    except Exception as error:  # a training set that cannot be read: the chart still stands
        st.caption(f"The training distribution is not available: {md(error)}")

st.subheader("Explainers over the test set")


@st.fragment(run_every="2s")
def job_panel() -> None:
    progress = svc.explain_job(run_id)
    status = (progress or {}).get("status")
    if status in ("queued", "running"):
        total = max(int(progress.get("total", 0)), 1)
        place = svc.queue().get(int(progress["job"])) if status == "queued" else None
        waiting = f" · place {place} in the run queue (Runs page)" if place else ""
        st.progress(
            min(1.0, progress.get("done", 0) / total), text=f"explaining · {status}{waiting}"
        )
        if st.button("Cancel", key="explain_cancel"):
            svc.cancel_explain_job(run_id)
        return
    if status == "failed":
        st.error(f"The explain job failed: {md(progress.get('error', ''))}")
    elif status == "cancelled":
        st.warning("The explain job was cancelled.")
    rows = svc.explainer_table(run_id) if status == "done" else []
    if rows:
        show = [
            {**r, "method": TITLES.get(r["method"], r["method"])}
            for r in rows
            if r["group"] == "all"
        ]
        st.dataframe(show, hide_index=True)
        st.caption(
            "pixel_auroc: the rule Inspect uses for the run's own map, over every image with a "
            "ground truth (labeled normals count as all normal pixels), maps resized to each "
            "mask; per defect kind below, over that kind's images."
        )
        groups = sorted({r["group"] for r in rows} - {"all"})
        if len(groups) > 1 and "clever_hans" in rows[0]:
            st.caption(
                "Clever Hans score per defect kind / corruption: detection AUROC − explanation "
                "accuracy (cosine to the ground truth), in points; high = right answer, "
                "wrong reason."
            )
            table = {"group": groups}
            for method in dict.fromkeys(r["method"] for r in rows):
                by = {r["group"]: r["clever_hans"] for r in rows if r["method"] == method}
                table[TITLES.get(method, method)] = [by.get(g) for g in groups]
            st.dataframe(table, hide_index=True)
    elif status == "done":
        st.caption("The scored set has no ground-truth masks, so there is nothing to compare.")
    if st.button("Compute explainer accuracy", key="explain_start"):
        svc.start_explain_job(run_id)
        st.rerun()


job_panel()
