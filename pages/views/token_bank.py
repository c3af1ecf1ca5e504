"""Word-state memory bank: each word coloured by its distance to the nearest normal word, and
the most anomalous word named beside each document."""

from __future__ import annotations

import numpy as np

from pages.views import default
from pages.views.default import Context


def item_tokens(ctx: Context, item: int) -> tuple[list[str], np.ndarray, str] | None:
    found = default.item_tokens(ctx, item)
    if found is None:
        return None
    tokens, distances, _ = found
    # Every word is some distance from the bank; colouring from the document's closest word
    # up makes the few far words stand out instead of tinting the whole document.
    floor = float(distances.min()) if distances.size else 0.0
    return (
        tokens,
        distances - floor,
        f"distance to the nearest normal word, above this document's closest word ({floor:.3f})",
    )


def item_note(ctx: Context, item: int) -> str:
    found = default.item_tokens(ctx, item)
    if found is None or not found[0]:
        return ""
    tokens, distances, _ = found
    top = int(np.argmax(distances))
    return f"most anomalous word: {tokens[top]} ({float(distances[top]):.3f})"


class TokenBankView(default.View):
    """The word-state memory bank's hooks: the functions above."""

    item_tokens = staticmethod(item_tokens)
    item_note = staticmethod(item_note)
