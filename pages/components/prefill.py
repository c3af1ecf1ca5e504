"""The Train page opened from "Edit and retry" on the Runs page (``train?retry=<run>``): that
run's data chosen, and its method and settings in the form as the starting point."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import streamlit as st

from deepad.config import ParamSpec
from pages.components.state import LABELED, RETRY_RUN, TEST, TRAIN


def from_link(svc: Any) -> Any | None:
    """The run to start from: named in the link (its data become the selection), or the one
    named before in this session; None without one."""
    raw = st.query_params.get("retry")
    if raw is not None:
        del st.query_params["retry"]
        try:
            record = svc.run(int(raw))
        except Exception as error:  # an old link to a run deleted since
            st.warning(f"Run {raw} cannot be retried: {error}")
            st.session_state.pop(RETRY_RUN, None)
            return None
        st.session_state[TRAIN] = record.train_dataset
        st.session_state[TEST] = record.test_dataset
        st.session_state[LABELED] = record.labeled_dataset
        st.session_state[RETRY_RUN] = record.id
        st.session_state.pop("train_method", None)  # the form starts from the run's method
        return record
    run_id = st.session_state.get(RETRY_RUN)
    if run_id is None:
        return None
    try:
        record = svc.run(run_id)
    except Exception:
        st.session_state.pop(RETRY_RUN, None)
        return None
    if record.train_dataset != st.session_state.get(TRAIN):
        st.session_state.pop(RETRY_RUN, None)  # another training set chosen since
        return None
    return record


def _form_value(spec: ParamSpec, value: Any) -> Any:
    if isinstance(value, list):
        value = tuple(value)
    if spec.choices is not None:
        for choice in spec.choices:
            if (choice.value if isinstance(choice, enum.Enum) else choice) == value:
                return choice
        return spec.default
    return value


def with_values(specs: list[ParamSpec], config: dict[str, Any]) -> list[ParamSpec]:
    """``specs`` whose defaults are the run's settings, each sent with the form (so a
    setting left as it is keeps the run's value)."""
    out = []
    for spec in specs:
        if spec.name in config:
            value = _form_value(spec, config[spec.name])
            spec = dataclasses.replace(spec, default=value, suggested=True)
        out.append(spec)
    return out
