"""Shared, cached handles (the service per deepad home) and the session keys pages exchange."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st

from deepad.service import Service

log = logging.getLogger(__name__)

# Session keys that carry choices from one page to the next (not widget keys, so they survive
# page switches).
TRAIN = "selected_train"
TEST = "selected_test"
LABELED = "selected_labeled"
INSPECT_RUN = "inspect_run"
ROLES = {TRAIN: "training set", TEST: "labeled test set", LABELED: "labeled anomalies"}


def current_home() -> str:
    """The deepad home this process serves (``$DEEPAD_HOME``, default ``~/.deepad``)."""
    return str(Path(os.environ.get("DEEPAD_HOME") or Path.home() / ".deepad").expanduser())


@st.cache_resource(show_spinner=False)
def _service(home: str) -> Service:
    return Service(home)


def service() -> Service:
    """The process-wide service for the current home (store, registry, dataset cache)."""
    return _service(current_home())


@st.cache_resource(show_spinner=False)
def _reconciled(home: str) -> bool:
    # Runs whose worker died with a previous app host show as interrupted, once per process.
    try:
        _service(home).reconcile()
    except Exception:
        log.exception("reconciling runs failed")
    return True


def reconcile_once() -> None:
    _reconciled(current_home())


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
