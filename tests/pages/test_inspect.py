from deepad import metrics
from pages.components.state import INSPECT_RUN
from pages.components.threshold import quantile_stops
from tests.pages.helpers import app, large_run, no_errors, scored_run


def metric(at, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_inspect_without_runs_says_so(home):
    at = app("pages/inspect.py")
    no_errors(at)
    assert "No finished run" in at.info[0].value


def test_inspect_shows_ranked_items_and_threshold_moves_numbers(svc):
    run_id = scored_run(svc)
    at = app("pages/inspect.py")
    no_errors(at)
    results = svc.results(run_id)
    saved = svc.threshold(run_id)
    expected = metrics.operating_point(results.labels, results.scores, saved)
    assert metric(at, "flagged") == f"{expected.flagged:,}"
    assert metric(at, "precision") == f"{expected.precision:.3f}"
    assert metric(at, "F1") == f"{expected.f1:.3f}"
    # the first page shows the top-ranked items with their overlays, most anomalous first
    assert len(at.image) >= 20

    # move the threshold down to the lowest stop: everything is flagged, recall is 1
    at.select_slider[0].set_value(quantile_stops(results.scores)[0])
    at.run()
    no_errors(at)
    assert metric(at, "flagged") == f"{len(results):,}"
    assert metric(at, "recall") == "1.000"
    assert svc.threshold(run_id) == saved  # scoring keeps the saved one until asked
    assert "manual" in markdown(at)
    at.button(key=f"threshold_{run_id}_save").click().run()
    assert svc.threshold(run_id) < results.scores.min()
    assert svc.threshold_source(run_id).startswith("manual")

    # the best-F1 preset sets the slider and the numbers together; saving records its source
    next(b for b in at.button if b.label == "best F1").click()
    at.run()
    no_errors(at)
    best, f1 = metrics.best_f1_threshold(results.labels, results.scores)
    assert metric(at, "F1") == f"{f1:.3f}"
    at.button(key=f"threshold_{run_id}_save").click().run()
    assert svc.threshold(run_id) == best
    assert svc.threshold_source(run_id).startswith("best F1")
    assert "used for scoring" in markdown(at)


def test_a_link_to_a_run_opens_it_then_the_picker_decides(svc):
    first = scored_run(svc)
    second = scored_run(svc, seed=1)
    at = app("pages/inspect.py", **{INSPECT_RUN: first})
    at.query_params["run"] = str(first)
    at.switch_page("pages/inspect.py").run()
    no_errors(at)
    assert at.selectbox(key="inspect_run_choice").value == first
    # the Runs page's Inspect link for the other run, with the first one shown last
    at.query_params["run"] = str(second)
    at.switch_page("pages/inspect.py").run()
    no_errors(at)
    assert at.selectbox(key="inspect_run_choice").value == second
    assert at.session_state[INSPECT_RUN] == second
    at.selectbox(key="inspect_run_choice").set_value(first).run()
    no_errors(at)
    assert at.selectbox(key="inspect_run_choice").value == first
    assert at.query_params["run"] == str(first)


def test_inspect_filter_and_dialog(svc):
    scored_run(svc)
    at = app("pages/inspect.py")
    at.radio(key=f"filter_{svc.runs()[0].id}").set_value("labeled normal")
    at.run()
    no_errors(at)
    assert "10 items" in " ".join(c.value for c in at.caption)
    next(b for b in at.button if b.label == "open").click()
    at.run()
    no_errors(at)
    assert any(i for i in at.image)


def test_inspect_run_without_test_set_warns_it_scored_training_items(svc):
    scored_run(svc, test=False)
    at = app("pages/inspect.py")
    no_errors(at)
    assert any("no test set" in i.value for i in at.info)
    assert metric(at, "flagged")


def test_inspect_pages_through_10000_items(svc):
    """Its speed is measured by ``deepad bench pages`` (benchmarks/results/pages.md), not
    asserted here: wall-clock limits fail on a loaded machine with nothing wrong."""
    run_id = large_run(svc)
    at = app("pages/inspect.py")
    no_errors(at)
    assert (
        metric(at, "flagged")
        == f"{int((svc.results(run_id).scores > svc.threshold(run_id)).sum()):,}"
    )
    # later reruns (threshold moves, paging) reuse the cached scores, order and curves
    at.select_slider[0].set_value(quantile_stops(svc.results(run_id).scores)[500])
    at.run()
    at.number_input(key=f"page_{run_id}").set_value(300)
    at.run()
    no_errors(at)
    assert len(at.image) == 24


def test_heatmap_zip_holds_one_png_per_flagged_item(svc):
    import io
    import zipfile

    from PIL import Image

    from pages.components import export
    from pages.views import view_for
    from pages.views.default import Context

    run_id = scored_run(svc)
    results = svc.results(run_id)
    threshold = svc.threshold(run_id)
    ctx = Context(
        svc=svc,
        results=results,
        threshold=threshold,
        dataset=svc.dataset(results.dataset_id),
        explanations=svc.explanations(run_id),
        settings={"alpha": 0.5, "colormap": "jet", "normalisation": "whole set"},
    )
    with zipfile.ZipFile(io.BytesIO(export.heatmaps_zip(ctx, view_for("ae")))) as archive:
        names = archive.namelist()
        assert len(names) == int((results.scores > threshold).sum())
        first = Image.open(io.BytesIO(archive.read(names[0])))
        assert first.size == (16, 16) and first.mode == "RGB"
    top = results.names[int(results.order[0])]
    # the item's path kept, its rank before the file name (anomalous/noise/00001_007.png)
    folder, file = top.rsplit("/", 1)
    assert names[0] == f"{folder}/00001_{file}"


def test_inspect_shows_results_per_defect_type(svc):
    run_id = scored_run(svc)
    at = app("pages/inspect.py")
    no_errors(at)
    rows = svc.defect_table(run_id, svc.threshold(run_id))
    assert [r["defect"] for r in rows] == ["noise"] and rows[0]["count"] == 10
    assert rows[0]["image AUROC"] > 0.9
    assert any("noise" in str(t.value) for t in at.table)


def _by_sidebar(at, page: str = "pages/inspect.py"):
    """Leave for the Runs page and come back as a sidebar click does (no ?run= in the URL)."""
    at.query_params.clear()
    at.switch_page("pages/runs.py").run()
    at.query_params.clear()
    return at.switch_page(page).run()


def test_the_sidebar_opens_the_newest_finished_run_unless_one_was_chosen(svc):
    """Issue 23, defect 2: Inspect opened the run shown before, not the one just finished."""
    first = scored_run(svc)
    at = app("pages/inspect.py")
    assert at.selectbox(key="inspect_run_choice").value == first
    second = scored_run(svc, seed=1)  # finishes while the user is elsewhere
    _by_sidebar(at)
    no_errors(at)
    assert at.selectbox(key="inspect_run_choice").value == second
    # a run the user picks stays picked while they come and go
    at.selectbox(key="inspect_run_choice").set_value(first).run()
    _by_sidebar(at)
    assert at.selectbox(key="inspect_run_choice").value == first
    # until a newer run finishes
    third = scored_run(svc, seed=2)
    _by_sidebar(at)
    assert at.selectbox(key="inspect_run_choice").value == third
    no_errors(at)
