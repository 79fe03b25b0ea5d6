"""The registered MLflow model: a pyfunc wrapper around :class:`models.artifact.RiskModel`."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.artifact import RiskModel


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the booster, fitted feature state and schema saved with the model version.

    ``predict`` takes a feature matrix (as built by ``features.build``) and returns risk
    scores; scoring code uses :attr:`risk_model` directly for margins and SHAP.
    """

    def load_context(self, context) -> None:
        self.risk_model = RiskModel.load(Path(context.artifacts["risk_model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return self.risk_model.predict_proba(model_input)


def load_risk_model(uri: str) -> RiskModel:
    """Load ``models:/NAME@ALIAS`` (or any model URI) as a :class:`RiskModel`.

    Any failure (artifact files missing or corrupt, registry unreadable, not our model) is a
    :class:`pipelines.registry.ModelUnavailableError` with one line saying which and why."""
    from pipelines.registry import ModelUnavailableError, unloadable

    try:
        # suppress_warnings: no check of the logged requirements against this environment (~1 s)
        pyfunc = mlflow.pyfunc.load_model(uri, suppress_warnings=True)
        model = pyfunc.unwrap_python_model().risk_model
    except Exception as err:
        raise unloadable(uri.removeprefix("models:/"), err) from None
    if not isinstance(model, RiskModel):
        raise ModelUnavailableError(f"model {uri} is not a customs-risk RiskModel")
    return model
