"""Every path and environment-dependent setting, in one place. Nothing happens at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """Where things live; defaults are embedded, the environment overrides them."""

    workdir: Path
    mlflow_tracking_uri: str
    prefect_home: Path
    database_url: str
    # A long-lived local Prefect server to use when PREFECT_API_URL is unset and it answers
    # ("host:port", or "off"): commands then skip the temporary server (15-20 s each).
    prefect_local_server: str = "127.0.0.1:4200"
    # Whether a command records its flow runs in Prefect: "auto" when a Prefect API is configured
    # or the local server answers (else the flow runs in-process, nothing started), "temporary"
    # (as auto, else a temporary server of the command's own: 5-15 s), "off" (never).
    prefect_runs: str = "auto"

    @property
    def default_world(self) -> Path:
        return self.workdir / "worlds" / "default"


def load_settings() -> Settings:
    """Build settings from the environment (CUSTOMS_RISK_HOME, MLFLOW_TRACKING_URI, ...)."""
    workdir = Path(os.environ.get("CUSTOMS_RISK_HOME", PROJ_ROOT / "data")).resolve()
    mlruns = Path(os.environ.get("CUSTOMS_RISK_MLRUNS", PROJ_ROOT / "mlruns")).resolve()
    return Settings(
        workdir=workdir,
        mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{mlruns / 'mlflow.db'}"),
        prefect_home=Path(os.environ.get("PREFECT_HOME", PROJ_ROOT / ".prefect")).resolve(),
        database_url=os.environ.get("DATABASE_URL", f"sqlite:///{workdir / 'cases.db'}"),
        prefect_local_server=os.environ.get("CUSTOMS_RISK_PREFECT_SERVER", "127.0.0.1:4200"),
        prefect_runs=os.environ.get("CUSTOMS_RISK_PREFECT_RUNS", "auto").strip().lower(),
    )
