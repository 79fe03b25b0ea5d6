"""The risk model as one object: booster, fitted feature state and feature schema, saved together."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

FORMAT_VERSION = 1


class FeatureSchemaError(ValueError):
    """The feature matrix does not match what the model was trained on."""


@dataclass
class RiskModel:
    """Everything scoring needs: the booster, the feature names in order, the fitted state."""

    booster: xgb.Booster
    feature_names: list[str]
    state: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def check_schema(self, matrix: pd.DataFrame) -> None:
        got = list(matrix.columns)
        if got != self.feature_names:
            missing = [c for c in self.feature_names if c not in got]
            extra = [c for c in got if c not in self.feature_names]
            raise FeatureSchemaError(
                "feature schema differs from the model's: "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}; "
                "retrain the model with this code version (customs-risk train)"
            )

    def predict_proba(self, matrix: pd.DataFrame) -> np.ndarray:
        self.check_schema(matrix)
        return self.booster.inplace_predict(matrix, predict_type="value", missing=np.nan)

    def predict_margin(self, matrix: pd.DataFrame) -> np.ndarray:
        self.check_schema(matrix)
        return self.booster.inplace_predict(matrix, predict_type="margin", missing=np.nan)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(folder / "booster.json")
        with open(folder / "feature_state.pkl", "wb") as fh:
            pickle.dump(self.state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        meta = {
            "format_version": FORMAT_VERSION,
            "feature_names": self.feature_names,
            **self.metadata,
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> RiskModel:
        meta = json.loads((folder / "model.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise FeatureSchemaError(f"model format {meta.get('format_version')} is not supported")
        booster = xgb.Booster()
        booster.load_model(folder / "booster.json")
        booster.set_param({"nthread": 2})
        with open(folder / "feature_state.pkl", "rb") as fh:
            state = pickle.load(fh)  # noqa: S301 - written by our own training run
        names = meta.pop("feature_names")
        meta.pop("format_version")
        return cls(booster=booster, feature_names=names, state=state, metadata=meta)
