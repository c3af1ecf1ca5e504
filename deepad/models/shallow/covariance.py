"""Gaussian baselines: the Mahalanobis distance to the training mean, with the empirical or a
robust (minimum covariance determinant) estimate of location and covariance."""

from __future__ import annotations

import numpy as np
from sklearn.covariance import EmpiricalCovariance, MinCovDet

from deepad.models.registry import register
from deepad.models.shallow.config import GaussianConfig
from deepad.models.shallow.detectors import ShallowDetector


@register
class Gaussian(ShallowDetector):
    """Mahalanobis distance to a Gaussian fitted on the standardised features. With the robust
    (MCD) estimate it stays usable when your normal data may contain anomalies: the estimate
    ignores the most outlying rows. For tables with (well) more rows than columns.
    """

    name = "gaussian"
    config: GaussianConfig
    _MODEL_SHAPES = (("location", ("d",)), ("precision", ("d", "d")))

    def _fit_model(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        x = x.astype(np.float64)
        if len(x) <= x.shape[1]:
            raise ValueError(
                f"a Gaussian needs more rows than features ({len(x)} rows, {x.shape[1]} features)"
            )
        if cfg.robust:
            model = MinCovDet(support_fraction=cfg.support_fraction, random_state=cfg.seed).fit(x)
        else:
            model = EmpiricalCovariance().fit(x)
        return {"location": model.location_, "precision": model.get_precision()}

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        centred = x.astype(np.float64) - self.model_["location"]
        return np.einsum("ij,jk,ik->i", centred, self.model_["precision"], centred)
