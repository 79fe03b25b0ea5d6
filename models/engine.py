"""Where the heavy steps run: the feature build, fitting, prediction and SHAP contributions.

Training and scoring (``models.training``, ``models.scoring``) call these four steps through
an ``Engine`` and never know where they run. ``LOCAL`` runs them in this process and is the
default everywhere. ``pipelines.distributed.dask_engine`` gives the same four steps on a Dask
cluster, built from the same functions, so there is one code path to maintain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.build import build_features
from models.explain import contributions
from models.train import fit_booster, predict

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from features.base import FeatureContext
    from features.build import FeatureSet
    from models.train import FitResult


@dataclass(frozen=True)
class Engine:
    """The four heavy steps, with the single-machine functions' signatures.

    - ``build(decl, ctx) -> FeatureSet``: ``features.build.build_features``;
    - ``fit(X_train, y_train, X_valid, y_valid, params, rounds, early_stopping, weight_train=None)
      -> FitResult``: ``models.train.fit_booster``;
    - ``predict(booster, X, margin=False) -> scores``: ``models.train.predict``;
    - ``contributions(booster, X, approximate=False) -> SHAP values + bias``:
      ``models.explain.contributions``.
    """

    name: str = "this machine"
    build: Callable[[pd.DataFrame, FeatureContext], FeatureSet] = build_features
    fit: Callable[..., FitResult] = fit_booster
    predict: Callable[..., np.ndarray] = predict
    contributions: Callable[..., np.ndarray] = contributions

    def predict_model(self, model, matrix: pd.DataFrame) -> np.ndarray:
        """A ``RiskModel``'s scores: its feature schema checked, then ``predict``."""
        model.check_schema(matrix)
        return self.predict(model.booster, matrix)


LOCAL = Engine()
