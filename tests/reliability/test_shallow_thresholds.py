"""KDE's and kernel PCA's default threshold flags about the contamination share of new
normal rows: their training scores are those of rows the model was not fitted on
(leave-one-out for KDE, the shallow baselines' cross-fitting for kernel PCA), not of rows the
model holds."""

import numpy as np
import pytest

from deepad.models import get_method


@pytest.mark.parametrize("method", ["kde", "kernel_pca"])
@pytest.mark.parametrize("dim", [2, 8, 20])
def test_held_out_normal_rows_are_flagged_at_about_the_contamination(method, dim):
    rng = np.random.default_rng(dim)
    cov = np.diag(rng.uniform(0.5, 2, dim))
    train = rng.multivariate_normal(np.zeros(dim), cov, 300).astype(np.float32)
    held_out = rng.multivariate_normal(np.zeros(dim), cov, 3000).astype(np.float32)
    detector = get_method(method)(contamination=0.05).fit(train)
    flagged = float(np.mean(detector.decision_function(held_out) > detector.threshold_))
    assert 0.02 <= flagged <= 0.09, flagged
    if method == "kde":  # leave-one-out: the training rows' own scores, the same share above
        assert detector.threshold_source_["source"] == "leave_one_out"
        share = np.mean(detector.decision_scores_ > detector.threshold_)
        assert share == pytest.approx(0.05, abs=0.01)
    else:  # out-of-fold scores set the threshold; the model is then fitted on all rows
        assert detector.threshold_source_["source"] == "cross_fit"


def test_kde_leave_one_out_matches_refitting_without_the_row():
    x = np.random.default_rng(0).normal(size=(25, 3)).astype(np.float32)
    detector = get_method("kde")(bandwidth=0.7).fit(x)
    for i in (0, 11, 24):
        rest = get_method("kde")(bandwidth=0.7).fit(np.delete(x, i, axis=0))
        # the same standardisation, so the rest's model scores row i in the same space
        rest.features_ = detector.features_
        rest.model_ = {**detector.model_, "points": np.delete(detector.model_["points"], i, 0)}
        expected = rest._score_features(detector.model_["points"][i : i + 1])[0]
        assert detector.decision_scores_[i] == pytest.approx(expected, rel=1e-6)
