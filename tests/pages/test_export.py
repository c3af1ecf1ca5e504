"""The Inspect page's downloads: the heatmap zip holds exactly the flagged items, named by
their path (issue 23, defect 5)."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from deepad import metrics
from pages.components.export import heatmaps_zip
from pages.views import view_for
from pages.views.default import Context
from tests.pages.helpers import scored_run


def test_the_heatmap_zip_holds_every_flagged_item_under_its_path(svc):
    run_id = scored_run(svc)
    results = svc.results(run_id)
    ctx = Context(
        svc=svc,
        results=results,
        threshold=float(np.nextafter(results.scores.min(), -np.inf)),  # a preset below all
        dataset=svc.dataset(results.dataset_id),
        explanations=svc.explanations(run_id),
    )
    names = zipfile.ZipFile(io.BytesIO(heatmaps_zip(ctx, view_for("ae")))).namelist()
    flagged = int(metrics.flagged(results.scores, ctx.threshold).sum())
    assert len(names) == flagged == len(results)
    assert len(set(names)) == len(names)
    # the defect folder stays: anomalous/noise/000.png is not confused with normal/000.png
    assert any(n.startswith("anomalous/noise/") and n.endswith("_000.png") for n in names)
    assert any(n.startswith("normal/") and n.endswith("_000.png") for n in names)
