"""A settings form rendered from a method's typed configuration (deepad.config.describe)."""

from __future__ import annotations

import enum
import math
from typing import Any

import streamlit as st

from deepad.config import ParamSpec


def _choice_value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def _help(spec: ParamSpec) -> str:
    parts = [spec.help]
    if spec.low is not None or spec.high is not None:
        low = "−∞" if spec.low is None else f"{spec.low:g}"
        high = "∞" if spec.high is None else f"{spec.high:g}"
        parts.append(f"Range: {low} … {high}.")
    parts.append(f"Default: {_display(spec.default)}.")
    return " ".join(parts)


def _display(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "empty"
    return str(value)


def field(spec: ParamSpec, *, key: str) -> Any:
    """One input widget for ``spec``; returns a typed value or a string the config parses."""
    label = spec.name.replace("_", " ") + (" · from your data" if spec.from_data else "")
    help_text = _help(spec)
    if spec.choices is not None:
        options = [_choice_value(c) for c in spec.choices]
        default = _choice_value(spec.default)
        index = options.index(default) if default in options else 0
        return st.selectbox(label, options, index=index, help=help_text, key=key)
    if spec.type is bool:
        return st.checkbox(label, value=bool(spec.default), help=help_text, key=key)
    if spec.optional or spec.type in (tuple, str) or spec.type not in (int, float):
        return st.text_input(
            label,
            value=_display(spec.default) if spec.default not in (None, ()) else "",
            help=help_text,
            key=key,
        )
    low = None if spec.low is None else spec.type(spec.low)
    high = None if spec.high is None else spec.type(spec.high)
    if spec.type is int:
        return int(
            st.number_input(
                label,
                min_value=low,
                max_value=high,
                value=int(spec.default),
                step=1,
                help=help_text,
                key=key,
            )
        )
    if spec.log:
        # log-scale settings span decades; a plain step would be useless, so show scientific
        return float(
            st.number_input(
                label,
                min_value=low,
                max_value=high,
                value=float(spec.default),
                step=float(spec.default) / 10 if spec.default else 1e-4,
                format="%.2e",
                help=help_text,
                key=key,
            )
        )
    span = (high - low) if low is not None and high is not None else None
    step = 10 ** math.floor(math.log10(span / 100)) if span else 0.01
    return float(
        st.number_input(
            label,
            min_value=low,
            max_value=high,
            value=float(spec.default),
            step=float(step),
            format="%g",
            help=help_text,
            key=key,
        )
    )


def config_form(specs: list[ParamSpec], *, key: str, columns: int = 3) -> dict[str, Any]:
    """All fields of a config, advanced ones in an expander; returns the changed values and
    every suggested one (its default is not the config's, so it must be sent)."""
    values: dict[str, Any] = {}
    basic = [s for s in specs if not s.advanced]
    advanced = [s for s in specs if s.advanced]
    for group, container in ((basic, st.container()), (advanced, None)):
        if not group:
            continue
        if container is None:
            container = st.expander(f"Advanced settings ({len(group)})")
        with container:
            cols = st.columns(columns)
            for i, spec in enumerate(group):
                with cols[i % columns]:
                    values[spec.name] = field(spec, key=f"{key}_{spec.name}")
    return {
        name: value
        for name, value in values.items()
        if (spec := next(s for s in specs if s.name == name)).suggested
        or _display(value) != _display(spec.default)
    }
