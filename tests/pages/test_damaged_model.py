"""A run whose saved detector.json is damaged still opens on Inspect and Explain (without
the method's extras), with no traceback."""

import pytest

from pages.components.state import EXPLAIN_ITEM, INSPECT_RUN
from tests.pages.helpers import app, scored_run


@pytest.mark.parametrize("content", [b"{broken", b"[" * 50_000, b"\xff\xfe", b'"a string"'])
@pytest.mark.parametrize("page", ["pages/inspect.py", "pages/explain.py"])
def test_broken_detector_json_does_not_break_the_page(jobless, content, page):
    run_id = scored_run(jobless)
    (jobless.store.folder(run_id).model / "detector.json").write_bytes(content)
    at = app(page, **{INSPECT_RUN: run_id, EXPLAIN_ITEM: (run_id, 0)})
    assert not at.exception, [e.message for e in at.exception]
    assert jobless.model_meta(run_id) == {}


@pytest.mark.parametrize("page", ["pages/data.py", "pages/runs.py", "pages/inspect.py"])
def test_lost_run_index_is_a_message_on_the_pages(home, page):
    from deepad.runs.store import RunStore

    store = RunStore(home)
    (store.artifacts_dir(store.create_run("ae", {}, "0" * 16)) / "run.log").write_text("x")
    store.close()
    (home / "runs.db").write_bytes(b"")
    at = app(page)
    assert not at.exception, [e.message for e in at.exception]
    assert any("rebuild-index" in e.value for e in at.error)
