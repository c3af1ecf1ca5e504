import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from deepad import metrics
from deepad.data.types import UNKNOWN, DataKind, as_dataset
from deepad.run_results import (
    RunResults,
    flagged_csv,
    ranked,
    safe_stem,
    threshold_presets,
    write_scores_csv,
    zip_pngs,
)
from deepad.service import Service, ServiceError


def results(n: int = 10, labels: bool = True, seed: int = 0) -> RunResults:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    return RunResults(
        run_id=1,
        method="ae",
        dataset_id="x",
        kind=DataKind.TABLE,
        names=[f"item{i}.png" for i in range(n)],
        scores=scores,
        labels=(scores > 0.5).astype(np.int8) if labels else None,
        classes=None,
        default_threshold=0.0,
        contamination=0.2,
    )


def test_ranked_orders_by_score_and_filters():
    r = results(50)
    order = ranked(r, 0.0, "all")
    assert np.all(np.diff(r.scores[order]) <= 0)
    flagged = ranked(r, 0.0, "flagged")
    assert set(flagged) == set(np.flatnonzero(r.scores > 0.0))
    assert np.all(np.diff(r.scores[flagged]) <= 0)
    assert set(ranked(r, 0.0, "unflagged")) == set(np.flatnonzero(r.scores <= 0.0))
    assert set(ranked(r, 0.0, "labeled anomalous")) == set(np.flatnonzero(r.labels == 1))
    assert set(ranked(r, 0.0, "labeled normal")) == set(np.flatnonzero(r.labels == 0))
    assert ranked(results(5, labels=False), 0.0, "labeled normal").size == 0
    by = -r.scores
    assert list(ranked(r, 0.0, "all", by=by)) == list(order[::-1])
    with pytest.raises(ValueError):
        ranked(r, 0.0, "weird")


def test_ranking_10000_items_pages_consistently():
    r = results(10_000)
    order = ranked(r, 0.5, "flagged")
    pages = [order[i : i + 24] for i in range(0, order.size, 24)]
    assert sum(p.size for p in pages) == int((r.scores > 0.5).sum())
    assert r.scores[pages[0][0]] == r.scores.max()


def test_threshold_presets_use_labels_only_when_present():
    r = results(200)
    presets = threshold_presets(r, target_fpr=0.1)
    assert presets["default (from training scores)"] == 0.0
    assert presets["top 20.0%"] == metrics.threshold_for_contamination(r.scores, 0.2)
    assert presets["best F1 (uses labels)"] == metrics.best_f1_threshold(r.labels, r.scores)[0]
    fpr = metrics.operating_point(r.labels, r.scores, presets["FPR ≤ 10% (uses labels)"])
    assert fpr.false_positive_rate <= 0.1
    unlabeled = threshold_presets(results(200, labels=False))
    assert not any("labels" in name for name in unlabeled)


def test_flagged_csv_lists_exactly_the_flagged_items():
    r = results(30)
    rows = list(csv.DictReader(io.StringIO(flagged_csv(r, 0.3).decode())))
    assert [int(row["id"]) for row in rows] == list(ranked(r, 0.3, "flagged"))
    assert all(float(row["score"]) == r.scores[int(row["id"])] for row in rows)
    assert all(row["name"] == r.names[int(row["id"])] for row in rows)
    assert all(int(row["label"]) == r.labels[int(row["id"])] for row in rows)
    assert all(row["flagged"] == "1" for row in rows)


def test_scores_csv_has_a_column_per_component_and_leaves_unknown_labels_empty():
    buffer = io.StringIO()
    write_scores_csv(
        buffer,
        [2, 0],
        ["a", "b", "c"],
        np.array([0.1, 0.5, 0.9]),
        0.3,
        labels=np.array([0, UNKNOWN, 1]),
        components={"energy": np.array([1.0, 2.0, 3.0])},
    )
    assert buffer.getvalue().splitlines() == [
        "id,name,score,flagged,label,energy",
        "2,c,0.9,1,1,3.0",
        "0,a,0.1,0,0,1.0",
    ]


def test_zip_pngs_and_safe_names():
    data = zip_pngs([("a.png", b"1"), ("b.png", b"22")])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["a.png", "b.png"]
        assert archive.read("b.png") == b"22"
    assert safe_stem("anomalous/crack/../x y.png") == "x_y"


def test_build_config_validates_against_the_typed_config(tmp_path):
    svc = Service(tmp_path)
    config = svc.build_config("ae", {"epochs": "3", "lr_milestones": "1, 2"})
    assert config["epochs"] == 3 and config["lr_milestones"] == [1, 2]
    with pytest.raises(ServiceError, match="epochs"):
        svc.build_config("ae", {"epochs": 0})
    with pytest.raises(ServiceError, match="unknown setting"):
        svc.build_config("ae", {"bogus": 1})


def test_ingest_reports_unreadable_upload(tmp_path):
    svc = Service(tmp_path)
    with pytest.raises(ServiceError, match="broken.png"):
        svc.ingest([("broken.png", b"not a png")], "image")
    with pytest.raises(ServiceError, match="no files"):
        svc.ingest([], "image")


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_uploaded_mvtec_category_becomes_a_training_and_a_test_set(tmp_path):
    files = [(f"bottle/train/good/{i}.png", _png(i)) for i in range(5)]
    files += [("bottle/test/good/0.png", _png(100)), ("bottle/test/crack/0.png", _png(250))]
    svc = Service(tmp_path)
    done = svc.ingest(files, "image", split_test=True)
    assert len(done.dataset) == 5 and (done.dataset.labels == 0).all()
    assert done.test_dataset.labels.tolist() == [0, 1]
    assert done.test_record.name.endswith("(test)")
    assert svc.dataset(done.test_record.id).labels.tolist() == [0, 1]
    whole = svc.ingest(files, "image")  # as a test set it stays one dataset
    assert whole.test_record is None and len(whole.dataset) == 7


def test_score_in_chunks_keeps_every_component_and_reports_progress(monkeypatch):
    from deepad import service
    from deepad.models import Scores

    class Halves:
        def score(self, data):
            x = np.asarray(data.items, dtype=np.float64)[:, 0]
            return Scores(score=x, components={"half": x / 2})

    monkeypatch.setattr(service, "SCORE_CHUNK", 3)
    data = as_dataset(np.arange(8, dtype=np.float64)[:, None])
    seen = []
    scores = service.score_in_chunks(Halves(), data, progress=lambda *p: seen.append(p))
    np.testing.assert_array_equal(scores.score, np.arange(8))
    np.testing.assert_array_equal(scores.components["half"], np.arange(8) / 2)
    assert seen == [(3, 8), (6, 8), (8, 8)]


PLUGIN = '''
from deepad.data.types import DataKind
from deepad.models import register
from deepad.models.base import Detector
from deepad.models.config import DetectorConfig


@register
class Median(Detector):
    name = "plugin_median"
    title = "Median distance (plugin)"
    Config = DetectorConfig
    kinds = frozenset({DataKind.TABLE})
'''


def test_a_plugin_method_is_offered_by_the_service(tmp_path, monkeypatch):
    (tmp_path / "deepad_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DEEPAD_PLUGINS", "deepad_test_plugin")
    svc = Service(tmp_path / "home")
    assert "plugin_median" in [m.name for m in svc.methods("table")]
    assert svc.method("plugin_median").title == "Median distance (plugin)"
    monkeypatch.setenv("DEEPAD_PLUGINS", "no_such_plugin_module")
    with pytest.raises(ServiceError, match="no_such_plugin_module"):
        Service(tmp_path / "home")


# A plugin that lists its method without importing the detector: the catalogue entry lives in
# a module that imports neither torch nor the detector, which loads only when a run needs it.
PLUGIN_ENTRY = '''
from deepad.data.types import DataKind
from deepad.models import MethodInfo, register_method
from deepad.models.config import DetectorConfig

register_method(MethodInfo(
    name="plugin_lazy", title="Lazy plugin", Config=DetectorConfig,
    kinds=frozenset({DataKind.TABLE}), detector="deepad_test_lazy_detector:Lazy",
    summary="Lists itself without loading.",
))
'''

PLUGIN_DETECTOR = '''
import numpy as np
from deepad.data.types import DataKind
from deepad.models import Scores, register
from deepad.models.base import Detector
from deepad.models.config import DetectorConfig


@register
class Lazy(Detector):
    name = "plugin_lazy"
    title = "Lazy plugin"
    Config = DetectorConfig
    kinds = frozenset({DataKind.TABLE})

    def _fit(self, train, **kwargs):
        self.mean_ = np.asarray(train.items, dtype=np.float64).mean(0)

    def _score(self, data):
        return Scores(np.abs(np.asarray(data.items, dtype=np.float64) - self.mean_).sum(1))

    def _state(self):
        return {"mean": self.mean_}, {}

    def _restore(self, tensors, meta):
        self.mean_ = np.asarray(tensors["mean"])
'''


def test_a_plugin_catalogue_entry_lists_the_method_before_its_detector_loads(
    tmp_path, monkeypatch
):
    import sys

    from deepad.models import get_method

    (tmp_path / "deepad_test_lazy.py").write_text(PLUGIN_ENTRY)
    (tmp_path / "deepad_test_lazy_detector.py").write_text(PLUGIN_DETECTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DEEPAD_PLUGINS", "deepad_test_lazy")
    svc = Service(tmp_path / "home")
    assert "plugin_lazy" in [m.name for m in svc.methods("table")]
    assert svc.method("plugin_lazy").summary == "Lists itself without loading."
    # a plugin's Config inherits the settings every detector has
    assert [s.name for s in svc.config_fields("plugin_lazy")] == [
        "contamination",
        "threshold_holdout",
    ]
    assert "deepad_test_lazy_detector" not in sys.modules
    detector = get_method("plugin_lazy")().fit(np.array([[0.0], [1.0], [2.0]]))
    assert "deepad_test_lazy_detector" in sys.modules
    np.testing.assert_allclose(detector.decision_function(np.array([[1.0], [5.0]])), [0, 4])


def test_a_path_is_ingested_like_an_upload_and_its_kind_inferred(tmp_path):
    table = tmp_path / "sensors.csv"
    table.write_text("a,b\n1,2\n3,4\n5,6\n")
    svc = Service(tmp_path / "home")
    done = svc.ingest_path(table)
    assert done.dataset.kind == DataKind.TABLE and done.kind_reason == "numeric columns a, b"
    assert done.record.name == "sensors" and done.record.manifest["source"] == str(table)
    assert svc.ingest_path(table, "table").kind_reason == ""
    with pytest.raises(ServiceError, match=r"reads as table data .*; only sequence or text data fits"):
        svc.ingest_path(table, kinds=frozenset({DataKind.TEXT, DataKind.SEQUENCE}))
    with pytest.raises(ServiceError, match="no such file or folder"):
        svc.ingest_path(tmp_path / "missing.csv")
