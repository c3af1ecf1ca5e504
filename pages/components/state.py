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
