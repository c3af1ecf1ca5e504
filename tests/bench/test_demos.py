"""``deepad bench demos`` trains a demo through the run workflow and reports its metrics."""

from deepad.bench.demos import DEMO_METHODS, run_demo
from deepad.data.demo import list_demos


def test_every_demo_set_has_methods_to_show():
    assert {d.name for d in list_demos()} == set(DEMO_METHODS)


def test_a_demo_run_reports_the_workflows_metrics(tmp_path):
    row = run_demo(tmp_path, "thyroid", "iforest")
    assert row["demo"] == "thyroid" and row["method"] == "iforest"
    assert 0.8 < row["auroc"] <= 1.0  # hyperfunction is easy for an isolation forest
    assert row["total s"] >= row["fit s"] > 0


def test_each_demo_also_runs_the_recommended_method(tmp_path):
    from deepad.bench.demos import demo_methods

    for demo, own in DEMO_METHODS.items():
        methods, auto = demo_methods(tmp_path, demo)
        assert auto in methods and methods[: len(own)] == own
        assert len(methods) == len(own) + (auto not in own)
