"""The names a view shares with its model (criteria, component and metadata keys) come from the
method's torch-free settings module, never from a second string literal in the pages."""

import ast

from deepad.models.cvdd.config import CLOSEST_CONTEXT, CONTEXT_PREFIX, context_key, context_keys
from deepad.models.deepsvdd.config import MINUS_RADIUS, RADIUS_SQ
from deepad.models.dsebm.config import Criterion
from deepad.models.patchcore.config import MAX_PATCH, SMOOTHED_MAP
from tests.pages.helpers import ROOT

SHARED = {
    *(c.value for c in Criterion),
    CLOSEST_CONTEXT,
    RADIUS_SQ,
    MINUS_RADIUS,
    MAX_PATCH,
    SMOOTHED_MAP,
}


def _literals(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        if isinstance(node, ast.JoinedStr) and node.values:  # f"context_{k}"
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def test_pages_spell_no_shared_model_name():
    found = []
    for path in sorted((ROOT / "pages").rglob("*.py")):
        for text in _literals(path):
            if text in SHARED or text.startswith(CONTEXT_PREFIX):
                found.append(f"{path.relative_to(ROOT)}: {text!r}")
    assert found == []


def test_context_keys_round_trip_in_context_order():
    keys = [context_key(k) for k in range(12)]
    assert keys[0] == "context_1"  # the stored runs' component names
    assert context_keys([*reversed(keys), "mean", "min", CLOSEST_CONTEXT]) == keys
