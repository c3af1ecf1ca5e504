"""Detectors as scikit-learn estimators: clone, GridSearchCV with a scorer, Pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deepad.models import get_method
from deepad.models.base import NotFittedError

# higher decision_function = more anomalous, so AUROC against "is anomalous" needs no sign flip
AUROC = make_scorer(roc_auc_score, response_method="decision_function")

# one shallow and one network detector, each with a small grid of one parameter
SEARCHES = {
    "kde": ({"bandwidth": 1.0}, {"bandwidth": [0.5, 2.0]}),
    "ae": (
        {"epochs": 2, "batch_size": 16, "hidden": (8,), "code_size": 2, "device": "cpu"},
        {"code_size": [1, 2]},
    ),
}


def labeled_table(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """60 normal rows and 12 far-away anomalies (y = 1), shuffled so that both folds of an
    unshuffled 2-fold split hold some of each."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(0, 1, (60, 4))
    far = rng.normal(0, 1, (12, 4)) + rng.choice([-6.0, 6.0], (12, 4))
    x = np.vstack([normal, far]).astype(np.float32)
    y = np.r_[np.zeros(60, dtype=int), np.ones(12, dtype=int)]
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_params_are_the_config_fields():
    detector = get_method("kde")(bandwidth=0.5)
    params = detector.get_params()
    assert params["bandwidth"] == 0.5 and params["contamination"] == 0.05
    assert params == detector.get_params(deep=False)
    assert detector.set_params(bandwidth=2.0, seed=3) is detector
    assert (detector.config.bandwidth, detector.config.seed) == (2.0, 3)
    with pytest.raises(ValueError, match="invalid parameter.*bandwith"):
        detector.set_params(bandwith=1.0)


@pytest.mark.parametrize("method", SEARCHES)
def test_clone_is_an_unfitted_copy_with_the_same_params(method):
    x, _ = labeled_table()
    params, _ = SEARCHES[method]
    detector = get_method(method)(**params).fit(x)
    copy = clone(detector)
    assert type(copy) is type(detector) and copy is not detector
    assert copy.get_params() == detector.get_params()
    with pytest.raises(NotFittedError):
        copy.decision_function(x)


def test_fit_ignores_y_and_keeps_its_keyword_arguments():
    x, y = labeled_table()
    detector = get_method("kde")(bandwidth=1.0)
    without = detector.fit(x).decision_function(x)
    with_y = clone(detector).fit(x, y, validation=x[:8]).decision_function(x)
    np.testing.assert_array_equal(without, with_y)


@pytest.mark.parametrize("method", SEARCHES)
def test_grid_search_picks_a_param_by_auroc(method):
    x, y = labeled_table()
    params, grid = SEARCHES[method]
    search = GridSearchCV(
        get_method(method)(**params), grid, scoring=AUROC, cv=2, error_score="raise"
    ).fit(x, y)
    name, values = next(iter(grid.items()))
    assert search.best_params_[name] in values
    assert len(search.cv_results_["mean_test_score"]) == len(values)
    assert search.best_score_ > 0.9
    best = search.best_estimator_
    assert getattr(best.config, name) == search.best_params_[name]
    assert roc_auc_score(y, best.decision_function(x)) > 0.9


@pytest.mark.parametrize("method", SEARCHES)
def test_pipeline_scales_then_detects(method):
    x, y = labeled_table()
    x = x * np.float32(50.0) + np.float32(7.0)  # the scaler's job to undo
    params, grid = SEARCHES[method]
    pipe = Pipeline([("scale", StandardScaler()), ("det", get_method(method)(**params))])
    scores = pipe.fit(x, y).decision_function(x)
    assert scores.shape == (len(x),)
    assert roc_auc_score(y, scores) > 0.9
    assert set(np.unique(pipe.predict(x))) <= {0, 1}
    name, values = next(iter(grid.items()))
    pipe.set_params(**{f"det__{name}": values[0]})
    assert getattr(pipe.named_steps["det"].config, name) == values[0]

