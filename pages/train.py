"""Train: pick a method that fits the data, set it up from its typed config, start a run."""

import streamlit as st

from deepad.markup import escape_markdown as md
from deepad.service import AUTO, ServiceError
from pages.components import prefill
from pages.components.config_form import config_form
from pages.components.state import INSPECT_RUN, LABELED, ROLES, TEST, TRAIN, service

st.title("Train")
svc = service()
retry = prefill.from_link(svc)  # "Edit and retry" on the Runs page: that run's data and method


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    return svc.device_name()


train_id = st.session_state.get(TRAIN)
if not train_id:
    st.info("Choose a training set on the Data page first.")
    st.page_link("pages/data.py", label="Go to Data", icon="📂")
    st.stop()

try:
    record = svc.record(train_id)
except Exception as error:
    st.error(f"The training set is unavailable: {md(error)}")
    st.stop()

for role in (TEST, LABELED):  # never score a set of another kind or image size silently
    try:
        problem = svc.mismatch(train_id, st.session_state.get(role))
    except Exception as error:
        problem = str(error)
    if problem:
        st.warning(
            f"The chosen {ROLES[role]} was dropped: it does not fit the training set "
            f"({md(problem)})."
        )
        st.session_state[role] = None
test_id = st.session_state.get(TEST)
labeled_id = st.session_state.get(LABELED)
parts = [f"**Training set:** {md(record.name)} ({record.kind}, {record.count:,} items)"]
for role, dataset_id in (("test set", test_id), ("labeled anomalies", labeled_id)):
    if dataset_id:
        try:
            other = svc.record(dataset_id)
            parts.append(f"**{role.capitalize()}:** {md(other.name)} ({other.count:,} items)")
        except Exception:
            pass
st.markdown("  \n".join(parts))
data = svc.data_summary(train_id)
st.caption(f"Your training set: {data.describe()}.")
if data.anomalous:
    st.warning(
        f"This training set holds {data.anomalous:,} items labeled anomalous: it looks like a "
        "test set. Methods learn what normal looks like from the training set, so training on "
        "anomalies hides them. Choose the set uploaded as the training set on the Data page, "
        "or confirm below."
    )
    st.page_link("pages/data.py", label="Choose another training set", icon="📂")
st.caption(f"Device: {device_name()} (settings → device “auto” picks it)")

try:
    methods = svc.methods(record.kind)
except Exception as error:
    st.error(f"Methods could not be loaded: {error}")
    st.stop()
if not methods:
    st.warning(f"No method works on {record.kind} data yet.")
    st.stop()

# the short name only where the title does not already say it ("CVDD (context vector …)")
titles = {
    m.name: m.title if m.name.lower() in m.title.lower() else f"{m.title} ({m.name})"
    for m in methods
}
try:
    choice = svc.recommend(train_id, test_id, labeled_id)
except Exception as error:  # no recommendation: every method is still listed
    choice = None
    st.caption(f"No recommendation for this data: {md(error)}")
if choice is not None:
    titles = {AUTO: f"auto — {choice.reason.partition(' → ')[2]}", **titles}
default = 0
if retry is not None and retry.method in titles:  # "edit and retry": the failed run's method
    default = list(titles).index(retry.method)
picked = st.selectbox(
    "Method",
    list(titles),
    index=default,
    format_func=titles.get,
    key="train_method",
    help="auto: the method measured best on this kind of data (benchmarks/results/"
    "recommend.md). Only methods that work on this data type are listed.",
)
method_name = choice.method if picked == AUTO else picked
if picked == AUTO:
    st.info(f"Recommended: {choice.reason}.", icon="✨")
cls = svc.method(method_name)  # the catalogue entry: no detector (nor torch) is loaded
if cls.summary:
    st.caption(cls.summary)
notes = []
if cls.explains:
    notes.append("explains its scores (maps or word weights on the Inspect page)")
if cls.uses_labeled:
    notes.append(
        "uses the labeled anomalies" if labeled_id else "can use labeled anomalies (none chosen)"
    )
if notes:
    st.caption("This method " + "; ".join(notes) + ".")

# no st.form: Enter in a number field would submit it and start a run; here only the button does
specs = svc.config_fields(method_name, train_id)
if retry is not None and retry.method == method_name:
    specs = prefill.with_values(specs, retry.config)
    st.info(
        f"Settings of run {retry.id} (failed: {md(retry.error or 'no reason recorded')}); "
        "change what you need and start it again."
    )
with st.container(border=True):
    values = config_form(specs, key=f"cfg_{method_name}")
    if any(s.from_data for s in specs):
        st.caption(
            "Fields marked “from your data” start from the training set's image size and "
            "colour channels."
        )
    st.caption(
        "Threshold: set so that about a `contamination` share of normal items is flagged, "
        "from the scores of normal training items held out of training (or leave-one-out "
        "scores); change it on the Inspect page."
    )
try:  # large photos: tiled at the backbone's scale, or resized whole (small defects shrink)
    plan = svc.input_plan(method_name, values, train_id)
except Exception:  # a help only: without it the page still works
    plan = None
if plan:
    st.caption(f"Input: {md(plan)}.")
try:  # from a measured cost per item and this machine's speed; never torch in this process
    estimate = svc.training_estimate(method_name, values, train_id)
except Exception:  # an estimate is a help: without one the page still works
    estimate = None
trains = any(s.name == "patience" for s in specs)  # a training loop (else one pass)
if estimate is not None and estimate.long and trains:
    st.warning(
        f"Training will take {estimate.text} on this machine, more than ten minutes. Fewer "
        "epochs or a smaller image size finish sooner."
    )
elif estimate is not None and estimate.long:
    st.warning(
        f"Fitting will take {estimate.text} on this machine, more than ten minutes. Fewer "
        "training images, `tiling` off or a smaller `tile_max_side` finish sooner."
    )
elif estimate is not None and trains:
    st.caption(
        f"Expected training time on this machine: {estimate.text} at most (early stopping "
        "may end it sooner)."
    )
elif estimate is not None:  # no training loop: one pass over the images (or their tiles)
    st.caption(f"Expected fitting time on this machine: {estimate.text}.")
confirmed = not data.anomalous or st.checkbox(
    "Train on this set although it holds labeled anomalies", key="train_confirm_anomalies"
)
submitted = st.button("Start training", type="primary", key="train_start", disabled=not confirmed)

if submitted:
    try:
        run_id = svc.start(method_name, values, train_id, test_id, labeled_id)
    except ServiceError as error:
        st.error(str(error))
    except Exception as error:  # never a traceback in the page
        st.error(f"The run could not be started: {md(error)}")
    else:
        st.session_state[INSPECT_RUN] = run_id
        place = svc.queue().get(run_id)
        if place is None:
            st.success(
                f"Run {run_id} started in the background. Follow it on the Runs page; closing "
                "or reloading this page does not stop it."
            )
        else:
            st.info(
                f"Run {run_id} waits in the queue (place {place}): {svc.max_runs()} run(s) train "
                "at once here. It starts by itself when a slot frees; the Runs page shows it."
            )
        st.page_link("pages/runs.py", label="Go to Runs", icon="⏱️")
