"""The Explain page: one item's explanations side by side, the explainer table."""

from __future__ import annotations

import numpy as np

from deepad.data.types import DataKind, Dataset
from deepad.run_results import ItemExplanation
from pages.components.state import EXPLAIN_ITEM
from tests.pages.helpers import SIZE, app, fake_run, no_errors, scored_run

ROWS = [
    {"group": g, "method": m, "items": 10, "pixel_auroc": 0.8, "cosine": 0.3,
     "detection_auroc": 0.9, "clever_hans": 60.0}
    for g in ("all", "noise", "stripe") for m in ("default", "lrp")
]  # fmt: skip


def _canned(jobless, maps):
    calls = []

    def explain_item(run_id, item, **_):
        calls.append((run_id, item))
        return ItemExplanation(maps=maps, score=1.5, relevance_sum=1.2, absorbed=0.3, seconds=0.4)

    jobless.explain_item = explain_item
    jobless.explain_job = lambda run_id: {"status": "done", "done": 20, "total": 20}
    jobless.explainer_table = lambda run_id: ROWS
    return calls


def test_image_item_shows_input_and_every_map_with_the_relevance_sum(jobless):
    run_id = scored_run(jobless)
    maps = {m: np.random.default_rng(0).normal(size=(SIZE, SIZE)) for m in ("default", "lrp")}
    calls = _canned(jobless, maps)
    at = app("pages/explain.py", **{EXPLAIN_ITEM: (run_id, 3)})
    no_errors(at)
    assert calls == [(run_id, 3)]
    captions = " ".join(c.value for c in at.caption)
    assert "Σ = 1.2" in captions and "score 1.5" in captions
    assert len(at.dataframe) == 2  # explainers, and the Clever Hans table per group


def test_table_item_shows_feature_relevance_against_training(jobless):
    rng = np.random.default_rng(0)
    data = Dataset(
        DataKind.TABLE, rng.normal(size=(20, 3)), [f"row{i}" for i in range(20)],
        labels=np.array([0] * 15 + [1] * 5), columns=["a", "b", "c"],
    )  # fmt: skip
    run_id = fake_run(jobless, "ae", data, rng.normal(size=20))
    _canned(jobless, {"gradient": np.ones(3), "lrp": np.array([0.1, -0.2, 0.5])})
    at = app("pages/explain.py")
    no_errors(at)
    assert at.radio[0].options == ["gradient |∂s/∂x|", "LRP"]
    assert at.radio[0].value == "lrp"
    assert "training percentile" in at.dataframe[0].value.columns
    assert run_id


def test_starting_the_job(jobless):
    run_id = scored_run(jobless)
    _canned(jobless, {"default": np.zeros((SIZE, SIZE))})
    started = []
    jobless.explain_job = lambda rid: None
    jobless.start_explain_job = lambda rid: started.append(rid)
    at = app("pages/explain.py")
    at.button(key="explain_start").click().run()
    no_errors(at)
    assert started == [run_id]


def test_a_queued_explain_job_shows_its_place_in_the_run_queue(jobless, monkeypatch):
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")  # queued, and nothing starts it here
    run_id = scored_run(jobless)
    _canned(jobless, {"default": np.zeros((SIZE, SIZE))})
    del jobless.explain_job  # the real one: the job's row in the store
    jobless.store.create_run("ae", {"epochs": 1}, "d" * 16)  # a training run waits first
    job = jobless.start_explain_job(run_id)
    assert jobless.run(job).kind == "explain"
    at = app("pages/explain.py")
    no_errors(at)
    assert any("place 2 in the run queue" in p.proto.text for p in at.get("progress"))
    at.button(key="explain_cancel").click().run()
    assert jobless.run(job).status == "cancelled"


def test_text_item_shows_attention_and_relevance_on_the_text_as_written(jobless):
    """Issue 23, defect 7: Explain showed the lower-cased tokens; Inspect the text as written."""
    from deepad.results import TokenWeights

    docs = ["Profit, shares: FRAUD dividend!", "Profit bank earnings quarter."]
    data = Dataset(DataKind.TEXT, docs, ["d0", "d1"], labels=np.array([1, 0]))
    tokens = [["profit", "shares", "fraud", "dividend"], ["profit", "bank", "earnings", "quarter"]]
    attention = [np.array([[0.5, 0.3, 0.05, 0.15]]), np.array([[0.25, 0.25, 0.25, 0.25]])]
    run_id = fake_run(
        jobless,
        "cvdd",
        data,
        np.array([0.4, 0.1]),
        explanation=lambda p: TokenWeights([tokens[i] for i in p], [attention[i] for i in p]),
    )
    relevance = np.array([0.01, 0.02, 0.3, -0.05])
    _canned(jobless, {"default": attention[0], "lrp": relevance})
    at = app("pages/explain.py", **{EXPLAIN_ITEM: (run_id, 0)})
    no_errors(at)
    text = [m.value for m in at.markdown]
    assert [m for m in text if m.startswith("**")][:2] == [
        text[i] for i, m in enumerate(text) if m.startswith(("**attention**", "**relevance"))
    ]
    shown = [h.proto.body for h in at.get("html")]
    assert len(shown) == 2  # attention, then relevance
    attention_html, relevance_html = shown
    for body in shown:  # capitals and punctuation as written
        assert "Profit</span>, " in body and "dividend</span>!" in body
    # the relevance row marks the planted word strongest; the attention row the first word
    assert 'rgba(214,39,40,0.85); border-radius: 3px">FRAUD' in relevance_html
    assert '0.85); border-radius: 3px">Profit' in attention_html
    assert "Largest: fraud" in " ".join(c.value for c in at.caption)


def test_explanations_being_prepared_are_said_so_and_read_once_ready(jobless, monkeypatch):
    from deepad.runs.store import PRECOMPUTE

    monkeypatch.setenv("DEEPAD_RUNNER", "workers")  # queued, and nothing starts it here
    run_id = scored_run(jobless)
    calls = _canned(jobless, {"default": np.zeros((SIZE, SIZE))})
    job = jobless.store.create_job(PRECOMPUTE, run_id)  # as the run queued it when it ended
    at = app("pages/explain.py", **{EXPLAIN_ITEM: (run_id, 3)})
    no_errors(at)
    said = " ".join(i.value for i in at.info)
    assert "being prepared" in said and f"job {job}" in said and "queued" in said
    assert calls == [(run_id, 3)]  # computed meanwhile, no error
    jobless.store.update(job, status="done")
    at.run()
    no_errors(at)
    assert not any("being prepared" in i.value for i in at.info)
    assert calls == [(run_id, 3), (run_id, 3)]  # read again: the stored ones now
