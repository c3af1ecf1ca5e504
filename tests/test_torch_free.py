"""The dashboard process never imports torch: its modules, the method catalogue and every
method's settings form, and its pages (the Train page on image, table and text data with its
recommended method and others, and runs of every explanation kind), checked in a fresh
interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from deepad.data.types import DataKind, Dataset
from deepad.results import FeatureWeights, ImageMaps, TokenWeights, explanation_kind
from deepad.run_results import Explanations
from deepad.service import Service
from pages.components.state import TRAIN
from tests.pages.helpers import ROOT, blob, fake_run, noise

APP_MODULES = [
    "deepad.service",
    "deepad.runs.store",
    "deepad.runs.artifacts",
    "deepad.explain.precompute",
    "deepad.data",
    "deepad.viz",
    "deepad.metrics",
    "deepad.models",
    "deepad.models.registry",
    "deepad.models.recommend",
    "deepad.hardware",
    "deepad.plugins",
    *sorted(
        f"pages.{folder}{path.stem}"
        for folder in ("components.", "views.")
        for path in (ROOT / "pages" / folder.rstrip(".")).glob("*.py")
        if path.stem != "__init__"
    ),
]

# Renders each page as the app does (app.py routes to it) and prints the torch modules loaded.
RENDER = textwrap.dedent(
    """
    import importlib, json, sys
    from streamlit.testing.v1 import AppTest

    for name in json.loads(sys.argv[1]):
        importlib.import_module(name)
    failures = []
    for page, state, choices in json.loads(sys.argv[2]):
        at = AppTest.from_file("app.py", default_timeout=60)
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        at.switch_page(page)
        at.run()
        for key, value in choices.items():  # e.g. another method on the Train page
            at.selectbox(key=key).set_value(value).run()
        failures += [f"{page} {choices}: {e.message}" for e in at.exception]
        failures += [f"{page} {choices}: {e.value}" for e in at.error]
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print(json.dumps({"failures": failures, "torch": loaded}))
    """
)


def _runs_of_every_kind(svc: Service) -> list[int]:
    """Finished FCDD (image maps with low-resolution maps), CVDD (token weights) and DSEBM
    (feature weights, score components) runs, written straight into the store."""
    rng = np.random.default_rng(0)
    images = [blob(rng) for _ in range(4)] + [noise(rng) for _ in range(4)]
    masks = [None] * 4 + [np.pad(np.ones((8, 8), np.uint8), 4)] * 4
    labels = np.array([0] * 4 + [1] * 4)
    low = rng.random((8, 4, 4)).astype(np.float32)
    fcdd = fake_run(
        svc, "fcdd", Dataset(DataKind.IMAGE, images, [f"i{i}.png" for i in range(8)], labels,
                             masks=masks),
        low.mean(axis=(1, 2)),
        explanation=lambda p: ImageMaps(maps=np.kron(low[p], np.ones((4, 4), np.float32)),
                                        low_res=low[p]),
        meta={"receptive_field": {"size": 10, "jump": 4, "start": 1.5}, "image_size": 16,
              "sigma": 2.0},
    )  # fmt: skip
    docs = ["cats sleep", "dogs run", "oil fell", "cats purr"]
    tokens = [d.split() for d in docs]
    cvdd = fake_run(
        svc, "cvdd", Dataset(DataKind.TEXT, docs, list(docs), np.array([0, 0, 1, 0])),
        np.array([0.1, 0.2, 0.9, 0.15]),
        components={"context_1": np.array([0.1, 0.5, 0.9, 0.1]),
                    "context_2": np.array([0.4, 0.2, 0.8, 0.3])},
        explanation=lambda p: TokenWeights(tokens=[tokens[i] for i in p],
                                           weights=[np.ones((2, 2)) for _ in p]),
    )  # fmt: skip
    table = rng.normal(size=(20, 3)).astype(np.float32)
    energy, error = rng.normal(size=20), rng.normal(size=20)
    dsebm = fake_run(
        svc, "dsebm", Dataset(DataKind.TABLE, table, [f"r{i}" for i in range(20)],
                              (np.arange(20) >= 16).astype(np.int8), columns=["a", "b", "c"]),
        energy, components={"energy": energy, "reconstruction": error},
        explanation=lambda p: FeatureWeights(weights=list(np.abs(table[p]))),
    )  # fmt: skip
    return [fcdd, cvdd, dsebm]


def _in_fresh_interpreter(home, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "DEEPAD_HOME": str(home), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_app_pages_render_runs_and_the_train_page_without_importing_torch(tmp_path):
    home = tmp_path / "home"
    svc = Service(home)
    runs = _runs_of_every_kind(svc)
    images, text, table = (svc.run(r).train_dataset for r in runs)
    pages = [["pages/data.py", {}, {}], ["pages/runs.py", {}, {}], ["pages/compare.py", {}, {}]]
    pages += [["pages/inspect.py", {"inspect_run": run_id}, {}] for run_id in runs]
    pages += [
        # method = auto, its recommendation and its form, on each kind
        *(["pages/train.py", {TRAIN: data}, {}] for data in (images, table, text)),
        ["pages/train.py", {TRAIN: images}, {"train_method": "fcdd"}],  # fields from the data
        ["pages/train.py", {TRAIN: table}, {"train_method": "dsebm"}],
        ["pages/train.py", {TRAIN: text}, {"train_method": "cvdd"}],
    ]
    done = _in_fresh_interpreter(home, RENDER, json.dumps(APP_MODULES), json.dumps(pages))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failures"] == []
    assert report["torch"] == [], "the app process imported torch"


# What the Train page asks the service for, for every method, on data of each of its kinds.
METHOD_FORMS = textwrap.dedent(
    """
    import json, sys
    from deepad.service import Service

    svc = Service()
    datasets = json.loads(sys.argv[1])
    shown = {}
    for entry in svc.methods():
        assert svc.method_title(entry.name) == entry.title and svc.method(entry.name) == entry
        for kind in sorted(k.value for k in entry.kinds if k.value in datasets):
            assert entry in svc.methods(kind)
            specs = svc.config_fields(entry.name, datasets[kind])
            config = svc.build_config(entry.name, {s.name: s.default for s in specs})
            shown[f"{entry.name}/{kind}"] = len(config)
    print(json.dumps({"device": svc.device_name(), "forms": shown,
                      "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch"),
                      "sklearn": "sklearn" in sys.modules}))
    """
)  # fmt: skip


def test_every_method_form_is_built_without_importing_torch(tmp_path):
    home = tmp_path / "home"
    svc = Service(home)
    images, text, table = (svc.run(r).train_dataset for r in _runs_of_every_kind(svc))
    rng = np.random.default_rng(1)
    steps = [rng.normal(size=(12, 2)).astype(np.float32) for _ in range(4)]
    sequences = svc.registry.add(
        Dataset(DataKind.SEQUENCE, steps, [f"s{i}" for i in range(4)], columns=["a", "b"]),
        name="sequences",
    ).id
    datasets = {"image": images, "text": text, "table": table, "sequence": sequences}
    done = _in_fresh_interpreter(home, METHOD_FORMS, json.dumps(datasets))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch"] == [], "listing methods or building their forms imported torch"
    assert not report["sklearn"], "the Train page waited for scikit-learn to import"
    assert report["device"] and not report["device"].startswith("unknown")
    built_in = [e for e in svc.methods() if e.detector.startswith("deepad.")]  # no test's
    expected = {f"{e.name}/{k.value}" for e in built_in for k in e.kinds}
    assert set(report["forms"]) == expected  # every method, on every kind it works on
    assert all(count > 1 for count in report["forms"].values())


def test_explanation_kinds_follow_the_types():
    assert explanation_kind(ImageMaps(maps=np.zeros((1, 2, 2)))) == "image"
    assert explanation_kind(TokenWeights(tokens=[["a"]], weights=[np.ones((1, 1))])) == "tokens"
    assert explanation_kind(FeatureWeights(weights=[np.ones(2)])) == "features"
    assert explanation_kind(object()) == "other"
    found = Explanations(FeatureWeights(weights=[np.ones(2)]), np.array([0]))
    assert found.kind == "features"

