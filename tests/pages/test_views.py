"""The per-method Inspect views, on runs written straight into the store (no training)."""

import importlib
import sys

import numpy as np
import pytest

from deepad import metrics, viz
from deepad.data.types import DataKind, Dataset
from pages.components.state import INSPECT_RUN
from tests.pages.helpers import app, blob, fake_run, no_errors, noise


def metric(at, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def _fcdd_run(svc):
    from deepad.results import ImageMaps

    rng = np.random.default_rng(0)
    n = 12
    images = [blob(rng) for _ in range(n // 2)] + [noise(rng) for _ in range(n // 2)]
    masks = [None] * (n // 2) + [np.pad(np.ones((8, 8), np.uint8), 4)] * (n // 2)
    labels = np.array([0] * (n // 2) + [1] * (n // 2))
    data = Dataset(DataKind.IMAGE, images, [f"i{i}.png" for i in range(n)], labels, masks=masks)
    # low-res 4x4 maps, hot in the middle exactly for the anomalies (whose masks are central)
    low = np.zeros((n, 4, 4), np.float32)
    low[n // 2 :, 1:3, 1:3] = 1.0
    rf = {"size": 10, "jump": 4, "start": 1.5}
    run_id = fake_run(
        svc, "fcdd", data, low.mean(axis=(1, 2)) + rng.normal(0, 0.01, n),
        explanation=lambda p: ImageMaps(maps=np.repeat(np.repeat(low[p], 4, 1), 4, 2),
                                        low_res=low[p]),
        meta={"receptive_field": rf, "image_size": 16, "sigma": 2.0},
    )  # fmt: skip
    return run_id, n


def test_fcdd_view_resamples_with_sigma_and_reports_pixel_auroc(svc):
    run_id, _ = _fcdd_run(svc)
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    assert at.radio(key=f"run{run_id}_norm").value == "whole set"  # FCDD maps share one scale
    sigma = at.slider(key=f"run{run_id}_sigma")
    assert sigma.value == 2.0
    assert float(metric(at, "pixel AUROC at σ = 2")) > 0.9
    sigma.set_value(4.0)
    at.run()
    no_errors(at)
    assert any(m.label.startswith("pixel AUROC at σ = 4") for m in at.metric)
    at.slider(key=f"run{run_id}_pixel_threshold").set_value(0.01)
    at.run()
    no_errors(at)


def test_fcdd_view_upsamples_each_map_once_per_sigma(svc, monkeypatch):
    import streamlit as st

    from pages.views import fcdd

    run_id, n = _fcdd_run(svc)
    st.cache_data.clear()
    calls = []
    upsample = fcdd.fcdd_upsample
    monkeypatch.setattr(
        fcdd,
        "fcdd_upsample",
        lambda low, meta, sigma: calls.append(sigma) or upsample(low, meta, sigma),
    )
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    # overlays, outlines, the colour range and the pixel AUROC all read the same maps
    assert 0 < len(calls) <= n and set(calls) == {2.0}
    at.run()
    assert len(calls) <= n  # a rerun at the same σ upsamples nothing again
    at.slider(key=f"run{run_id}_sigma").set_value(4.0)
    at.run()
    no_errors(at)
    assert calls.count(4.0) <= n


def test_cvdd_view_picks_context_and_shows_per_context_scores(svc):
    from deepad.results import TokenWeights

    docs = ["cats sleep on sofas", "dogs chase balls", "oil prices fell", "cats purr"]
    data = Dataset(DataKind.TEXT, docs, [f"d{i}" for i in range(4)], np.array([0, 0, 1, 0]))
    distances = np.array([[0.1, 0.4], [0.5, 0.2], [0.6, 0.7], [0.15, 0.3]])
    tokens = [d.split() for d in docs]
    weights = [np.stack([np.linspace(1, 0, len(t)), np.linspace(0, 1, len(t))]) for t in tokens]
    run_id = fake_run(
        svc, "cvdd", data, distances.mean(axis=1),
        components={"context_1": distances[:, 0], "context_2": distances[:, 1],
                    "closest_context": distances.argmin(axis=1).astype(float)},
        explanation=lambda p: TokenWeights(
            tokens=[tokens[i] for i in p], weights=[weights[i] for i in p],
            head_names=["c1: cats, sofas", "c2: dogs, balls"],
        ),
        meta={"top_words": [[["cats", 3], ["sofas", 1]], [["dogs", 2]]]},
    )  # fmt: skip
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    notes = [c.value for c in at.caption if c.value.startswith("per-context scores")]
    assert len(notes) == 4
    assert "▸c2 0.700" not in " ".join(notes) and "▸c1 0.600" in " ".join(notes)
    assert at.selectbox(key=f"run{run_id}_context").value.startswith("closest")
    at.selectbox(key=f"run{run_id}_context").set_value("c2: dogs, balls")
    at.run()
    no_errors(at)
    order = at.selectbox(key=f"order_{run_id}")
    assert "score in c2: dogs, balls" in order.options


def test_dsebm_view_counts_items_by_criterion(svc):
    rng = np.random.default_rng(1)
    n = 40
    table = rng.normal(size=(n, 3)).astype(np.float32)
    labels = (np.arange(n) >= 30).astype(np.int8)
    energy = rng.normal(size=n) + 3 * labels
    error = rng.normal(size=n) + 3 * labels
    data = Dataset(DataKind.TABLE, table, [f"r{i}" for i in range(n)], labels)
    run_id = fake_run(
        svc, "dsebm", data, energy, components={"energy": energy, "reconstruction": error}
    )
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    energy_t = at.select_slider(key=f"run{run_id}_energy_threshold").value
    error_t = at.select_slider(key=f"run{run_id}_reconstruction_threshold").value
    both = int(np.sum((energy > energy_t) & (error > error_t)))
    assert metric(at, "flagged by both") == f"{both:,}"
    neither = int(np.sum((energy <= energy_t) & (error <= error_t)))
    assert metric(at, "flagged by neither") == f"{neither:,}"
    assert "reconstruction error (DSEBM-r)" in at.selectbox(key=f"order_{run_id}").options
    point = metrics.operating_point(labels, energy, svc.threshold(run_id))
    assert metric(at, "recall") == f"{point.recall:.3f}"


def test_a_method_without_a_view_gets_the_default_and_registered_views_override_hooks():
    from deepad.models.registry import catalog
    from pages.views import DEFAULT, VIEWS, view_for
    from pages.views import fcdd as fcdd_view
    from pages.views.default import View
    from pages.views.default import panel as default_panel

    assert view_for("ae") is DEFAULT and view_for("no such method") is DEFAULT
    assert set(VIEWS) <= {e.name for e in catalog()}  # a misspelt key would silently show the default view
    fcdd = view_for("fcdd")
    assert isinstance(fcdd, View)
    assert fcdd.panel is fcdd_view.panel and fcdd.image_maps is fcdd_view.image_maps
    assert fcdd.initial_normalisation(None) == "whole set"
    assert DEFAULT.initial_normalisation(None) == "per image"
    assert fcdd.item_tokens is DEFAULT.item_tokens  # not overridden: the default hook
    assert view_for("cvdd").panel is not default_panel


def test_an_import_error_inside_a_view_is_an_error(monkeypatch):
    import pages.views

    monkeypatch.setitem(sys.modules, "pages.views.cvdd", None)  # importing it now fails
    with pytest.raises(ImportError):
        importlib.reload(pages.views)
    monkeypatch.undo()
    importlib.reload(pages.views)


def test_token_bank_view_names_each_document_s_most_anomalous_word(svc):
    from deepad.results import TokenWeights

    docs = ["cats sleep on sofas", "dogs chase balls", "cats trade oil futures"]
    data = Dataset(DataKind.TEXT, docs, [f"d{i}" for i in range(3)], np.array([0, 0, 1]))
    tokens = [d.split() for d in docs]
    distances = [np.array([[0.1, 0.2, 0.1, 0.3]]), np.array([[0.2, 0.1, 0.1]]),
                 np.array([[0.1, 0.5, 0.9, 0.6]])]  # fmt: skip
    run_id = fake_run(
        svc, "token_bank", data, np.array([0.3, 0.2, 0.9]),
        components={"max_word": np.array([0.3, 0.2, 0.9])},
        explanation=lambda p: TokenWeights(
            tokens=[tokens[i] for i in p], weights=[distances[i] for i in p],
            head_names=["distance to the nearest normal word"],
        ),
    )  # fmt: skip
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    notes = " ".join(c.value for c in at.caption)
    assert "most anomalous word: oil (0.900)" in notes
    assert "most anomalous word: sofas (0.300)" in notes


def test_documents_are_shown_as_written_with_weights_on_their_words(svc):
    from deepad.results import TokenWeights
    from deepad.text.preprocess import preprocess

    docs = ["The Doctor said: take Aspirin!", "Dogs chase the balls.", "Oil prices fell, 3%"]
    tokens = [preprocess(d) for d in docs]  # lower-case, no stop words, no punctuation
    data = Dataset(DataKind.TEXT, docs, [f"d{i}" for i in range(3)], np.array([0, 0, 1]))
    run_id = fake_run(
        svc, "cvdd", data, np.array([0.1, 0.2, 0.9]),
        explanation=lambda p: TokenWeights(
            tokens=[tokens[i] for i in p],
            weights=[np.ones((1, len(tokens[i]))) for i in p], head_names=["c1"],
        ),
    )  # fmt: skip
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    shown = " ".join(h.proto.body for h in at.get("html"))
    assert "Doctor</span>" in shown and "The " in shown and "take" in shown  # as written
    assert "Aspirin</span>!" in shown and "doctor" not in shown


def test_text_html_highlights_spans_and_leaves_the_rest_plain():
    html = viz.text_html("a <b>Word</b> here", [(5, 9)], [1.0])
    assert html.count("<span") == 1 and "&lt;b&gt;<span" in html and ">Word</span>" in html
    assert viz.text_html("abcdef", [], [], limit=3).endswith("abc…</div>")


def _hypersphere_run(svc, method: str, radius_sq: float) -> tuple[int, np.ndarray]:
    rng = np.random.default_rng(0)
    images = [blob(rng) for _ in range(8)] + [noise(rng) for _ in range(4)]
    labels = np.array([0] * 8 + [1] * 4)
    data = Dataset(DataKind.IMAGE, images, [f"i{i}.png" for i in range(12)], labels)
    scores = np.concatenate([rng.uniform(0.1, 0.5, 8), rng.uniform(1.0, 2.0, 4)])
    return fake_run(svc, method, data, scores, meta={"radius_sq": radius_sq}), scores


def _histogram(at) -> dict:
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c for c in charts if "Score distribution" in str(c["layout"].get("title")))


@pytest.mark.parametrize("method", ["deepsvdd", "deepsad"])
def test_soft_boundary_radius_is_a_labelled_line_on_the_histogram(svc, method):
    run_id, scores = _hypersphere_run(svc, method, 0.8)
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    layout = _histogram(at)["layout"]
    lines = {
        a["text"]: s["x0"] for a, s in zip(layout["annotations"], layout["shapes"], strict=True)
    }
    assert lines["radius R² = 0.8"] == pytest.approx(0.8)
    assert "threshold" in lines
    outside = int((scores > 0.8).sum())
    assert any(f"{outside:,} of 12 scored items lie outside" in c.value for c in at.caption)


def test_no_radius_line_for_the_one_class_objective(svc):
    run_id, _ = _hypersphere_run(svc, "deepsvdd", 0.0)  # one-class Deep SVDD saves R² = 0
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    texts = [a["text"] for a in _histogram(at)["layout"]["annotations"]]
    assert texts == ["threshold"]


ROUNDS = [
    {"epoch": 0, "selected": 60, "anomalies": 9},
    {"epoch": 10, "selected": 52, "anomalies": 3},
    {"epoch": 20, "selected": 50, "anomalies": 1},
]


def _iterative_run(svc, rounds, converged=True) -> int:
    rng = np.random.default_rng(0)
    data = Dataset(
        DataKind.TABLE, rng.normal(size=(12, 3)).astype(np.float32), [f"r{i}" for i in range(12)],
        np.array([0] * 9 + [1] * 3),
    )  # fmt: skip
    run_id = fake_run(
        svc, "iterative_ae", data, rng.random(12), meta={"rounds": rounds, "converged": converged}
    )
    svc.store.update(run_id, metrics={**svc.run(run_id).metrics, "train_items": 80})
    return run_id


def test_iterative_run_shows_its_selection_rounds(svc):
    import json

    run_id = _iterative_run(svc, ROUNDS)
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    assert any("Selection rounds" in m.value for m in at.markdown)
    table = at.table[0].value
    assert list(table["items kept"]) == ["60", "52", "50"]
    assert list(table["labeled anomalies kept"]) == ["9", "3", "1"]
    assert list(table["share of training items"]) == ["75.0%", "65.0%", "62.5%"]
    assert list(table["anomalies in the kept set"]) == ["15.0%", "5.8%", "2.0%"]
    chart = next(
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Selection" in c.proto.spec
    )
    assert [t["y"] for t in chart["data"]] == [[60, 52, 50], [9, 3, 1]]
    assert any("the selection settled" in c.value for c in at.caption)


def test_iterative_rounds_without_labels_say_the_anomalies_are_unknown(svc):
    run_id = _iterative_run(svc, [{k: r[k] for k in ("epoch", "selected")} for r in ROUNDS], False)
    at = app("pages/inspect.py", **{INSPECT_RUN: run_id})
    no_errors(at)
    table = at.table[0].value
    assert "labeled anomalies kept" not in table.columns
    assert list(table["items kept"]) == ["60", "52", "50"]
    caption = " ".join(c.value for c in at.caption)
    assert "epoch limit" in caption and "no labels" in caption
