"""Integration fixtures: a small generated world and temporary MLflow, Prefect and case-store homes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def homes(tmp_path_factory) -> dict[str, Path]:
    """Point MLflow, Prefect and the case store at temporary folders for the whole session."""
    root = tmp_path_factory.mktemp("homes")
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "PREFECT_HOME": str(root / "prefect"),
        "DATABASE_URL": f"sqlite:///{root / 'cases.db'}",
        "CUSTOMS_RISK_HOME": str(root / "work"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from pipelines.runtime import configure

    configure()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield {"root": root, **{k: Path(v) for k, v in env.items() if not k.endswith("URI")}}
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A 75-day world of 400 declarations a day, written as CSV."""
    from synth import generate_world, write_world

    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(seed=3, days=75, rows_per_day=400), out)
    return out


@pytest.fixture(scope="session")
def champion(homes, small_world):
    """Train once on the small world; the first model becomes champion."""
    from pipelines.train_flow import train_flow

    return train_flow(bundle=small_world / "bundle", truth=sorted((small_world / "truth").glob("*_truth.*")))
