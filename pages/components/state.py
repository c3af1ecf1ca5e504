"""Shared, cached handles (the service per deepad home) and the session keys pages exchange."""

from __future__ import annotations

import logging

import streamlit as st

from deepad import metrics
from deepad.data.registry import home_dir
from deepad.errors import DeepadError
from deepad.markup import escape_markdown as md
from deepad.service import Service

log = logging.getLogger(__name__)

# Session keys that carry choices from one page to the next (not widget keys, so they survive
# page switches).
TRAIN = "selected_train"
TEST = "selected_test"
LABELED = "selected_labeled"
INSPECT_RUN = "inspect_run"  # the run Inspect showed last (Explain starts from it)
INSPECT_CHOSEN = "inspect_chosen"  # the run the user picked on Inspect in this session
RETRY_RUN = "retry_run"  # a run whose settings the Train page starts from ("edit and retry")
EXPLAIN_ITEM = "explain_item"  # (run id, item) chosen on Inspect for the Explain page
ROLES = {TRAIN: "training set", TEST: "labeled test set", LABELED: "labeled anomalies"}


def current_home() -> str:
    """The deepad home this process serves (``$DEEPAD_HOME``, default ``~/.deepad``)."""
    return str(home_dir())


@st.cache_resource(show_spinner=False)
def _service(home: str) -> Service:
    return Service(home)


def service() -> Service:
    """The process-wide service for the current home (store, registry, dataset cache); a
    run store that cannot be opened (lost or damaged index, a home that is a file) stops
    the page with its one-line message."""
    try:
        return _service(current_home())
    except DeepadError as error:
        st.error(f"The run store cannot be opened: {md(error)}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _reconciled(home: str) -> bool:
    # Runs whose worker died with a previous app host show as interrupted, once per process.
    try:
        _service(home).reconcile()
    except DeepadError as error:  # the page says it (service()); the log gets one line
        log.warning("reconciling runs failed: %s", error)
    except Exception:
        log.exception("reconciling runs failed")
    return True


def finished_runs(svc: Service, empty_message: str) -> list:
    """The finished runs, or stop the page with a message when there are none or the store
    cannot be read."""
    try:
        done = [r for r in svc.runs() if r.status == "done"]
    except Exception as error:
        st.error(f"The run store could not be read: {md(error)}")
        st.stop()
    if not done:
        st.info(empty_message)
        st.stop()
    return done


def reconcile_once() -> None:
    _reconciled(current_home())


def warm_up_once() -> None:
    """Load what the metric pages need (scikit-learn, seconds to import) in the background
    while the first page is shown, once per app process."""
    metrics.preload()


def restore_selection() -> None:
    """After a browser reload the session is new: pick up the data of the latest run, so a
    reload in the middle of work does not drop the chosen datasets."""
    if "selection_checked" in st.session_state:
        return
    st.session_state["selection_checked"] = True
    if st.session_state.get(TRAIN):
        return
    try:
        runs = service().runs()
    except Exception:
        log.exception("reading runs to restore the data selection failed")
        return
    if not runs:
        return
    latest = max(runs, key=lambda r: r.id)
    st.session_state[TRAIN] = latest.train_dataset
    st.session_state[TEST] = latest.test_dataset
    st.session_state[LABELED] = latest.labeled_dataset
    st.session_state["selection_restored"] = latest.id
