"""Set up the embedded defaults for Prefect and MLflow before they are imported.

Called by the CLI (and tests) at start-up, never at import time. Values already in the
environment win: pointing at a Prefect or MLflow server is configuration.
"""

from __future__ import annotations

import os

from pipelines.settings import Settings, load_settings


def configure(settings: Settings | None = None) -> Settings:
    """Export the environment Prefect and MLflow read, with embedded local defaults."""
    settings = settings or load_settings()
    defaults = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    quiet_third_party_logs()
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True,
                                                                                   exist_ok=True)
    return settings


def quiet_third_party_logs() -> None:
    """Keep the console for our progress lines: MLflow's INFO chatter and known warnings go."""
    import logging
    import warnings

    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*Python object as `python_model`.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")
