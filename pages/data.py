"""Data: choose a demo set or upload the training set, a labeled test set and labeled anomalies."""

import streamlit as st

from deepad.data.types import DataKind
from deepad.markup import escape_markdown as md
from pages.components import datasets
from pages.components.state import LABELED, ROLES, TEST, TRAIN, service

st.title("Data")
svc = service()
st.markdown(
    "**deepad finds the unusual items in images, texts, tables and sequences:** it learns what "
    "normal looks like from a training set, then ranks new items by an anomaly score and "
    "shows why.  \n"
    "Work from left to right: **Data** (choose the sets) → **Train** (pick a method) → "
    "**Runs** (follow training) → **Inspect** (ranked items, threshold, explanations). "
    "New here? Use a demo set just below: one click."
)

with st.container(border=True):
    st.subheader("Start from a demo set")
    try:
        demos = svc.demos()
    except Exception as error:
        demos = []
        st.error(f"Demo sets are unavailable: {md(error)}")
    if demos:
        names = {d.name: f"{d.title} ({d.kind})" for d in demos}
        chosen = st.selectbox("Demo set", list(names), format_func=names.get, key="demo_choice")
        info = next(d for d in demos if d.name == chosen)
        st.caption(f"{info.description}  \n*{info.attribution}*")
        if st.button("Use this demo set", key="demo_use", type="primary"):
            with st.spinner("Loading the demo set…"):
                try:
                    picked = svc.use_demo(chosen)
                except Exception as error:
                    st.error(f"The demo set could not be loaded: {md(error)}")
                else:
                    st.session_state[TRAIN] = picked.train
                    st.session_state[TEST] = picked.test
                    st.session_state[LABELED] = picked.labeled
                    st.success("Demo set selected; continue on the Train page.")
                    st.page_link("pages/train.py", label="Go to Train", icon="⚙️")

note = st.session_state.pop("ingest_note", None)
if note is not None:
    st.info(md(note))
restored = st.session_state.pop("selection_restored", None)
if restored is not None:
    st.caption(f"Data selection restored from run {restored} (the latest run).")
train_id = st.session_state.get(TRAIN)
train_kind = None
if train_id:
    try:
        train_kind = DataKind(svc.record(train_id).kind)
    except Exception:
        st.session_state[TRAIN] = train_id = None

# keyed, so the tab a user works in stays open when the page reruns after an upload (and a
# note appears above it), instead of jumping back to the first tab
tabs = st.tabs(
    ["Training set", "Labeled test set (optional)", "Labeled anomalies (optional)"],
    key="data_tab",
    on_change="rerun",
)
for tab, role in zip(tabs, (TRAIN, TEST, LABELED), strict=True):
    with tab:
        kind = None if role == TRAIN else train_kind
        if role != TRAIN and train_kind is None:
            st.info("Choose the training set first.")
            continue
        if role == TEST:
            st.caption(
                "Scored after training; with labels the Inspect page shows precision, recall and "
                "ROC/PR curves. Without a test set the training set itself is scored."
            )
        if role == LABELED:
            st.caption(
                "A few known anomalies; methods that use them (semi-supervised) learn from them, "
                "the others ignore them."
            )
        current = st.session_state.get(role)
        if current:
            try:
                record = svc.record(current)
                dataset = svc.dataset(current)
            except Exception as error:
                st.error(f"The selected dataset is unavailable: {md(error)}")
                st.session_state[role] = None
            else:
                left, right = st.columns([4, 1])
                left.markdown(f"**Selected {ROLES[role]}:** {md(record.name)} ({record.kind})")
                if right.button("Clear", key=f"{role}_clear"):
                    st.session_state[role] = None
                    if role == TRAIN:
                        st.session_state[TEST] = st.session_state[LABELED] = None
                    st.rerun()
                datasets.preview(dataset, record, key=role)
        chooser = (
            st.expander(f"Choose another {ROLES[role]}")
            if st.session_state.get(role)
            else st.container()
        )
        with chooser:
            source = st.radio(
                "Source",
                ["Upload files", "Saved dataset"],
                horizontal=True,
                key=f"{role}_source",
            )
            split_test = None
            if source == "Upload files":
                done = datasets.upload_form(role, kind=kind)
                new_id = done.record.id if done else None
                if done and done.known_as is not None:
                    st.session_state["ingest_note"] = (
                        f"This upload ({done.record.name}, {len(done.dataset):,} items, "
                        f"{len(done.dataset.skipped)} file(s) skipped) holds the same items as "
                        f"the dataset stored before as {done.known_as}; that one is used."
                    )
                if done and done.test_record is not None:
                    split_test = done.test_record.id
                    st.session_state["ingest_note"] = (
                        f"MVTec-AD layout: its {len(done.dataset):,} train/ images are the "
                        f"training set, its {len(done.test_dataset):,} test/ images the test set."
                    )
            else:
                new_id = datasets.saved_picker(role, kind=kind)
        if new_id:
            previous = st.session_state.get(role)
            st.session_state[role] = new_id
            if role == TRAIN and new_id != previous:
                # a test set or labeled anomalies chosen for another training set (a demo's,
                # of another image size) must never be scored beside this one silently
                dropped = [ROLES[r] for r in (TEST, LABELED) if st.session_state.get(r) is not None]
                st.session_state[TEST] = st.session_state[LABELED] = None
                if dropped and split_test is None:
                    st.session_state["ingest_note"] = (
                        f"New training set: the {' and the '.join(dropped)} chosen before "
                        "were cleared. Choose ones that match it in the other tabs."
                    )
            if split_test is not None:
                st.session_state[TEST] = split_test
            st.rerun()
