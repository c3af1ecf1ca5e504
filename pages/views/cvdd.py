"""CVDD: a context picker, words highlighted by that context's attention head, per-context
scores beside each document and the top words of every context."""

from __future__ import annotations

import numpy as np
import streamlit as st

from deepad.models.cvdd.config import CLOSEST_CONTEXT, context_keys
from pages.views.default import Context, View

CLOSEST = "closest context (per document)"


def _contexts(ctx: Context) -> list[str]:
    """Component names ``context_1`` … ``context_r`` in order."""
    return context_keys(ctx.results.components)


def _labels(ctx: Context) -> list[str]:
    found = ctx.explanations
    if found is not None and found.kind == "tokens" and found.explanation.head_names:
        return list(found.explanation.head_names)
    return [f"c{k + 1}" for k in range(len(_contexts(ctx)))]


def _closest(ctx: Context, item: int) -> int:
    closest = ctx.results.components.get(CLOSEST_CONTEXT)
    if closest is not None:
        return int(closest[item])
    scores = [ctx.results.components[c][item] for c in _contexts(ctx)]
    return int(np.argmin(scores)) if scores else 0


def orderings(ctx: Context) -> dict[str, np.ndarray]:
    labels = _labels(ctx)
    return {
        f"score in {labels[k] if k < len(labels) else name}": ctx.results.components[name]
        for k, name in enumerate(_contexts(ctx))
    }


def panel(ctx: Context) -> None:
    labels = _labels(ctx)
    if not labels:
        return
    with st.container(border=True):
        st.markdown("**CVDD contexts**")
        chosen = st.selectbox(
            "Highlight words by the attention of",
            [CLOSEST, *labels],
            key=f"{ctx.key}_context",
            help="Each context has its own attention head; by default each document is shown "
            "with the head of the context it is closest to.",
        )
        ctx.settings["context"] = None if chosen == CLOSEST else labels.index(chosen)
        top = ctx.svc.model_meta(ctx.results.run_id).get("top_words") or []
        if top:
            width = max(len(t) for t in top)
            table = {"rank": list(range(1, width + 1))} | {
                labels[k] if k < len(labels) else f"c{k + 1}": [f"{w} ({c})" for w, c in words]
                + [""] * (width - len(words))
                for k, words in enumerate(top)
            }
            st.caption(
                "Top words per context: the most attended words of the training documents "
                "closest to each context, with how many of those documents have them in their "
                "top ten."
            )
            st.dataframe(table, hide_index=True, width="stretch", key=f"{ctx.key}_top_words")


def item_tokens(ctx: Context, item: int) -> tuple[list[str], np.ndarray, str] | None:
    found = ctx.explanations
    if found is None or found.kind != "tokens" or not found.has(item):
        return None
    row = int(found.row[item])
    weights = np.atleast_2d(found.explanation.weights[row])
    head = ctx.settings.get("context")
    closest = head is None
    if closest:
        head = _closest(ctx, item)
    head = min(int(head), weights.shape[0] - 1)
    labels = _labels(ctx)
    name = labels[head] if head < len(labels) else f"head {head + 1}"
    note = f"attention of {name}" + (" (closest context)" if closest else "")
    return list(found.explanation.tokens[row]), weights[head], note


def item_note(ctx: Context, item: int) -> str:
    labels = _labels(ctx)
    closest = _closest(ctx, item)
    parts = []
    for k, name in enumerate(_contexts(ctx)):
        label = labels[k].split(":")[0] if k < len(labels) else f"c{k + 1}"
        mark = "▸" if k == closest else ""
        parts.append(f"{mark}{label} {ctx.results.components[name][item]:.3f}")
    return "per-context scores: " + " · ".join(parts) if parts else ""


class CVDDView(View):
    """CVDD's hooks: the functions above."""

    panel = staticmethod(panel)
    orderings = staticmethod(orderings)
    item_tokens = staticmethod(item_tokens)
    item_note = staticmethod(item_note)
