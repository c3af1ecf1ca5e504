"""The dashboard process never imports torch: its modules, and its pages as they render runs
of every explanation kind, checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from deepad.data.types import DataKind, Dataset
from deepad.models.registry import TITLES, list_methods
from deepad.results import FeatureWeights, ImageMaps, TokenWeights, explanation_kind
from deepad.service import Explanations, Service
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
    for page, state in json.loads(sys.argv[2]):
        at = AppTest.from_file("app.py", default_timeout=60)
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        at.switch_page(page)
        at.run()
        failures += [f"{page}: {e.message}" for e in at.exception]
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


def test_app_pages_render_runs_without_importing_torch(tmp_path):
    # The Train page is not among them: it renders the methods' typed configs, which are
    # defined in the method packages beside their networks, and names the torch device.
    home = tmp_path / "home"
    runs = _runs_of_every_kind(Service(home))
    pages = [["pages/data.py", {}], ["pages/runs.py", {}], ["pages/compare.py", {}]]
    pages += [["pages/inspect.py", {"inspect_run": run_id}] for run_id in runs]
    done = subprocess.run(
        [sys.executable, "-c", RENDER, json.dumps(APP_MODULES), json.dumps(pages)],
        cwd=ROOT,
        env={**os.environ, "DEEPAD_HOME": str(home), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failures"] == []
    assert report["torch"] == [], "the app process imported torch"


def test_explanation_kinds_follow_the_types():
    assert explanation_kind(ImageMaps(maps=np.zeros((1, 2, 2)))) == "image"
    assert explanation_kind(TokenWeights(tokens=[["a"]], weights=[np.ones((1, 1))])) == "tokens"
    assert explanation_kind(FeatureWeights(weights=[np.ones(2)])) == "features"
    assert explanation_kind(object()) == "other"
    found = Explanations(FeatureWeights(weights=[np.ones(2)]), np.array([0]))
    assert found.kind == "features"


def test_result_types_are_the_same_objects_where_they_were():
    from deepad.models import base
    from deepad.models.fcdd import network, upsample
    from deepad.receptive_field import ReceptiveField, default_sigma
    from deepad.train import loop, progress

    assert base.ImageMaps is ImageMaps and base.TokenWeights is TokenWeights
    assert loop.RunContext is progress.RunContext and loop.Cancelled is progress.Cancelled
    assert network.ReceptiveField is ReceptiveField and upsample.default_sigma is default_sigma


def test_built_in_titles_match_the_registered_methods():
    registered = {m.name: m.title for m in list_methods() if m.__module__.startswith("deepad.")}
    assert TITLES == registered
