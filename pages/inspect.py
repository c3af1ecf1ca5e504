"""Inspect: a finished run's items by anomaly score, with explanations and a threshold."""

import streamlit as st

from deepad.data.types import DataKind
from deepad.markup import escape_markdown as md
from deepad.run_results import FILTERS
from deepad.service import ServiceError
from pages.components import export, items, runinfo
from pages.components.state import (
    EXPLAIN_ITEM,
    INSPECT_CHOSEN,
    INSPECT_RUN,
    finished_runs,
    service,
)
from pages.components.threshold import numbers, plots, threshold_control
from pages.views import default, view_for
from pages.views.default import Context

st.title("Inspect")


def _number(value, fmt: str = "{:.3f}") -> str:
    return "–" if value is None or value != value else fmt.format(value)


svc = service()

done = finished_runs(
    svc, "No finished run yet. Start one on the Train page and follow it on the Runs page."
)

done.sort(key=lambda r: r.id, reverse=True)
ids = [r.id for r in done]
PICKER = "inspect_run_choice"
shown_last = st.session_state.get(INSPECT_RUN)
chosen = st.session_state.get(INSPECT_CHOSEN)
try:
    linked = int(st.query_params.get("run", ""))
except ValueError:
    linked = None
if linked in ids and (linked != shown_last or PICKER not in st.session_state):
    # a link to a run other than the one shown last (/inspect?run=3, the Runs page's Inspect
    # links) opens it and counts as the user's choice; afterwards the picker decides
    st.session_state[PICKER] = linked
    st.session_state[INSPECT_CHOSEN] = (linked, ids[0])
elif st.session_state.get(PICKER) not in ids:
    # from the sidebar: the newest finished run, unless the user chose one in this session
    # since it finished (not merely the run shown last, older than one that just finished)
    still = chosen is not None and chosen[0] in ids and chosen[1] == ids[0]
    st.session_state[PICKER] = chosen[0] if still else ids[0]


def _chose() -> None:
    # the choice holds until a newer run finishes
    st.session_state[INSPECT_CHOSEN] = (st.session_state[PICKER], ids[0])


labels = {
    r.id: f"Run {r.id} · {runinfo.method_title(svc, r.method)} · "
    f"{runinfo.dataset_name(svc, r.test_dataset or r.train_dataset)}"
    for r in done
}
run_id = st.selectbox(
    "Run",
    ids,
    format_func=labels.get,
    key=PICKER,
    on_change=_chose,
)
st.session_state[INSPECT_RUN] = run_id
st.query_params["run"] = str(run_id)
record = next(r for r in done if r.id == run_id)

try:
    results = svc.results(run_id)
    dataset = svc.dataset(results.dataset_id)
    explanations = svc.explanations(run_id)
except ServiceError as error:
    st.error(md(error))
    st.stop()
except Exception as error:  # a missing dataset or unreadable artifact: say so, no traceback
    st.error(f"Run {run_id} could not be opened: {md(error)}")
    st.stop()
if len(results) == 0:
    st.warning("This run scored no items.")
    st.stop()

scored_on = record.metrics.get("scored_on", "test" if record.test_dataset else "train")
st.caption(
    f"{runinfo.data_line(svc, record)} · {len(results):,} items scored ({scored_on} set)"
    + (f" · {line}" if (line := runinfo.metrics_line(record.metrics or {})) else "")
    + " · flagged, precision and recall below follow the threshold"
)
if record.metrics.get("threshold_from"):
    st.caption(f"Default threshold: set on {record.metrics['threshold_from']}.")
if scored_on == "train":
    alone = str(record.metrics.get("threshold_from", "")).startswith("leave-one-out")
    st.info(
        "This run had no test set, so its training items were scored: flagged items are the "
        "most unusual training items, not held-out detections."
        + (" Each was scored without itself, as the threshold was set." if alone else "")
    )

view = view_for(record.method)
threshold = threshold_control(svc, results)
ctx = Context(
    svc=svc, results=results, threshold=threshold, dataset=dataset, explanations=explanations
)
point = numbers(results, threshold)
plots(svc, results, threshold, point, view.score_markers(ctx))

defects = svc.defect_table(run_id, threshold)
if defects:
    st.subheader("Results per defect type")
    st.table(
        [
            {
                "defect": row["defect"],
                "count": f"{row['count']:,}",
                "image AUROC": _number(row["image AUROC"]),
                "pixel AUROC": _number(row["pixel AUROC"]),
                "recall at the threshold": _number(row["recall"], "{:.0%}"),
            }
            for row in defects
        ]
    )
    st.caption(
        "Image AUROC: each defect type against the labeled normals (1 = always ranked above "
        "them). Pixel AUROC: its maps against its ground-truth masks. Recall: the share of "
        "that type above the current threshold."
    )

view.panel(ctx)

st.subheader("Items by anomaly score")
if explanations is not None and explanations.partial:
    st.caption("Maps were kept for the top-scored items only (the rest show no heatmap).")
if dataset.kind == DataKind.IMAGE:
    default.heatmap_settings(ctx, initial=view.initial_normalisation(ctx))
    default.colour_scale(ctx, view)
cols = st.columns([2, 2, 1, 1])
which = cols[0].radio(
    "show",
    FILTERS,
    horizontal=True,
    key=f"filter_{run_id}",
    help="Labeled filters use the scored set's labels.",
)
orders = {"anomaly score": None, **view.orderings(ctx)}
order_name = cols[1].selectbox("order by", list(orders), key=f"order_{run_id}")
page_size = cols[2].selectbox("per page", items.PAGE_SIZES, index=1, key=f"size_{run_id}")
ranked = items.ranked_items(ctx, which, orders[order_name])
pages = max(1, -(-len(ranked) // page_size))
page = cols[3].number_input("page", 1, pages, 1, key=f"page_{run_id}")
st.caption(f"{len(ranked):,} items · page {page} of {pages}")
items.show_page(ctx, view, ranked, page, page_size)
pick, go = st.columns([3, 1], vertical_alignment="bottom")
with pick:
    to_explain = st.selectbox(
        "Explain item",
        [int(i) for i in ranked],
        format_func=lambda i: results.names[i],
        key=f"explain_pick_{run_id}",
    )
with go:
    if st.button("Explain", key=f"explain_go_{run_id}", help="Open it on the Explain page"):
        st.session_state[EXPLAIN_ITEM] = (run_id, to_explain)
        st.switch_page("pages/explain.py")

st.subheader("Export")
export.export_section(ctx, view)
st.page_link(
    "pages/use.py",
    label="Score new data with this run, download the model or export it as ONNX",
    icon="🚀",
    query_params={"run": str(run_id)},
)
