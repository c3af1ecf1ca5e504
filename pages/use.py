"""Use: a finished run at work. Score new data (uploaded, or a saved dataset) in the
background with the run's saved threshold and browse the results like a test set; download
the model; export it as ONNX."""

import streamlit as st

from deepad import metrics, viz
from deepad.data.types import DataKind
from deepad.markup import escape_markdown as md
from deepad.run_results import FILTERS, flagged_csv, ranked, write_scores_csv
from deepad.service import ServiceError
from pages.components import datasets, items, runinfo
from pages.components.state import TRAIN, finished_runs, service
from pages.views import view_for
from pages.views.default import Context

st.title("Use")
svc = service()
done = finished_runs(svc, "No finished run yet: train one first, then score new data with it here.")
done.sort(key=lambda r: r.id, reverse=True)
ids = [r.id for r in done]
best = set(svc.best_runs().values())
PICKER = "use_run"
try:
    linked = int(st.query_params.get("run", ""))
except ValueError:
    linked = None
if linked in ids and st.session_state.get("use_linked") != linked:
    st.session_state[PICKER] = st.session_state["use_linked"] = linked
elif st.session_state.get(PICKER) not in ids:
    # the best run of the training set in use (else of any), else the newest finished one
    chosen = svc.default_run(st.session_state.get(TRAIN)) or svc.default_run()
    st.session_state[PICKER] = chosen if chosen in ids else ids[0]
labels = {
    r.id: f"{'★ ' if r.id in best else ''}Run {r.id} · {runinfo.method_title(svc, r.method)} · "
    f"train: {runinfo.dataset_name(svc, r.train_dataset)}"
    for r in done
}
run_id = st.selectbox("Run", ids, format_func=labels.get, key=PICKER)
st.query_params["run"] = str(run_id)
record = next(r for r in done if r.id == run_id)
kind = DataKind(svc.record(record.train_dataset).kind)
threshold = svc.threshold(run_id)
line, star = st.columns([4, 1])
line.caption(
    f"{runinfo.data_line(svc, record)}"
    + (f" · {runinfo.metrics_line(record.metrics)}" if record.metrics else "")
    + f"  \nThreshold {threshold:.5g} (from {svc.threshold_source(run_id)}): new items scoring "
    "above it are flagged. Change it on the Inspect page."
)
if run_id in best:
    star.markdown("★ **best run** of its training set")
elif star.button("☆ Mark as the best run", key="use_mark_best"):
    try:
        svc.mark_best(run_id)
    except ServiceError as error:
        st.error(md(error))
    else:
        st.rerun()

# --------------------------------------------------------------------------- score new data
st.subheader("Score new data")
st.caption(
    f"{kind.value.capitalize()} data like the training set. Scoring runs in the background "
    "(the same scoring as `deepad score`); you can leave this page meanwhile."
)
source = st.radio("Data", ["Upload files", "Saved dataset"], horizontal=True, key="use_source")
if source == "Upload files":
    ingested = datasets.upload_form("selected_new", kind=kind)
    new_id = ingested.record.id if ingested else None
else:
    new_id = datasets.saved_picker("selected_new", kind=kind)
if new_id:
    try:
        job = svc.start_score_job(run_id, new_id)
    except ServiceError as error:
        st.error(md(error))
    except Exception as error:  # never a traceback in the page
        st.error(f"Scoring could not start: {md(error)}")
    else:
        st.session_state["use_job"] = (run_id, job)
        st.rerun()


@st.fragment(run_every="2s")
def job_progress() -> None:
    jobs = svc.score_jobs(run_id)
    active = [j for j in jobs if j.get("status") in ("queued", "running")]
    for job in active:
        total = max(int(job.get("total") or 0), 1)
        name = runinfo.dataset_name(svc, job.get("dataset")) or "new data"
        st.progress(
            min(1.0, int(job.get("done") or 0) / total),
            text=f"scoring {name} · {job['status']} · {int(job.get('done') or 0):,} of "
            f"{int(job.get('total') or 0):,} items",
        )
    waiting = st.session_state.get("use_job")
    if waiting and waiting[0] == run_id and not active:
        st.session_state.pop("use_job")
        st.rerun()  # the whole page: the new results appear below


job_progress()

jobs = svc.score_jobs(run_id)
for job in jobs[:3]:
    if job.get("status") == "failed":
        st.error(f"Scoring job {job['job']} failed: {md(job.get('error', 'no reason recorded'))}")
finished = [j for j in jobs if j.get("status") == "done"]
if finished:
    names = {
        j["job"]: f"{runinfo.dataset_name(svc, j.get('dataset'))} · {int(j.get('total') or 0):,} "
        f"items · {int(j.get('flagged') or 0):,} flagged · {runinfo.ago(j.get('finished') or 0)}"
        for j in finished
    }
    picked = st.selectbox(
        "Scored data", list(names), format_func=names.get, key=f"use_job_{run_id}"
    )
    try:
        results, explanations = svc.scored_results(run_id, picked)
        dataset = svc.dataset(results.dataset_id)
    except ServiceError as error:
        st.error(md(error))
        st.stop()
    except Exception as error:
        st.error(f"The scored data could not be opened: {md(error)}")
        st.stop()
    ctx = Context(
        svc=svc, results=results, threshold=threshold, dataset=dataset, explanations=explanations
    )
    point = metrics.operating_point(results.labels, results.scores, threshold)
    cols = st.columns(4)
    cols[0].metric(f"flagged (of {len(results):,})", f"{point.flagged:,}")
    if results.has_labels:
        cols[1].metric("precision", f"{point.precision:.3f}")
        cols[2].metric("recall", f"{point.recall:.3f}")
        cols[3].metric("F1", f"{point.f1:.3f}")
    st.plotly_chart(
        viz.score_histogram(results.scores, results.labels, threshold),
        key=f"use_hist_{run_id}_{picked}",
        width="stretch",
    )
    view = view_for(record.method)
    top = st.columns([2, 1, 1])
    which = top[0].radio("show", FILTERS[:3], horizontal=True, key=f"use_filter_{run_id}")
    size = top[1].selectbox("per page", items.PAGE_SIZES, key=f"use_size_{run_id}")
    order = ranked(results, threshold, which)
    pages = max(1, -(-len(order) // size))
    page = top[2].number_input("page", 1, pages, 1, key=f"use_page_{run_id}")
    st.caption(f"{len(order):,} items, most anomalous first · page {page} of {pages}")
    items.show_page(ctx, view, order, page, size)

    import io

    everything = io.StringIO()
    write_scores_csv(
        everything, results.order, results.names, results.scores, threshold,
        labels=results.labels, components=results.components,
    )  # fmt: skip
    down = st.columns(2)
    down[0].download_button(
        f"Flagged items as CSV ({point.flagged:,})",
        data=flagged_csv(results, threshold),
        file_name=f"run{run_id}_scored{picked}_flagged.csv",
        mime="text/csv",
        key=f"use_csv_flagged_{run_id}_{picked}",
    )
    down[1].download_button(
        f"All scores as CSV ({len(results):,})",
        data=everything.getvalue().encode(),
        file_name=f"run{run_id}_scored{picked}.csv",
        mime="text/csv",
        key=f"use_csv_all_{run_id}_{picked}",
    )
elif not jobs:
    st.info("Nothing scored with this run yet: upload files or pick a saved dataset above.")

# --------------------------------------------------------------------------- the model
st.subheader("The model")
left, right = st.columns(2)
with left:
    st.download_button(
        "Download the model (zip)",
        data=lambda: svc.model_archive(run_id),
        file_name=f"run{run_id}_model.zip",
        mime="application/zip",
        key=f"use_model_{run_id}",
    )
    st.caption(
        "Weights as safetensors, the detector's settings as JSON, and the saved threshold; "
        "`Detector.load` reads the folder back (nothing is unpickled)."
    )
with right:
    if kind == DataKind.IMAGE and svc.exportable(record.method):
        exported_key = f"use_onnx_{run_id}"
        if st.button("Export as ONNX", key=f"use_export_{run_id}"):
            with st.spinner("Exporting and checking ONNX Runtime against PyTorch…"):
                try:
                    st.session_state[exported_key] = svc.export_in_background(run_id)
                except ServiceError as error:
                    st.error(md(error))
        found = st.session_state.get(exported_key)
        if found:
            shape = "×".join(str(s) for s in found["input_shape"])
            parity = found.get("max_score_error")
            st.markdown(
                f"Input: uint8 images (batch, {shape}); outputs: {', '.join(found['outputs'])}.  \n"
                + (
                    f"**Parity:** largest relative score difference, ONNX Runtime against "
                    f"PyTorch on sample images: **{parity:.2g}**"
                    if parity is not None
                    else "Parity not checked: onnxruntime is not installed."
                )
            )
            try:
                with open(found["path"], "rb") as onnx_file:
                    onnx_bytes = onnx_file.read()
            except OSError as error:
                st.error(f"The ONNX file could not be read: {md(error)}")
            else:
                st.download_button(
                    "Download model.onnx",
                    data=onnx_bytes,
                    file_name=f"run{run_id}_model.onnx",
                    mime="application/octet-stream",
                    key=f"use_onnx_download_{run_id}",
                )
    else:
        st.caption(
            "ONNX export (as `deepad export`) is for image runs of AE, Deep SVDD/SAD, FCDD, "
            "HSC and PatchCore."
        )
