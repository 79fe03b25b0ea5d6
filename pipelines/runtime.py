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
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    use_running_prefect_server(settings.prefect_local_server)
    stop_cleanly_on_sigterm()
    quiet_third_party_logs()
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    return settings


def prefect_server_answers(api_url: str, timeout: float = 0.5) -> bool:
    """True if a Prefect API answers its health check at ``api_url`` (``http://host:port/api``)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:  # noqa: S310
            return resp.status == 200
    except (OSError, ValueError):
        return False


def use_running_prefect_server(address: str) -> str | None:
    """Point Prefect at a long-lived local server when one is running and none is configured.

    Without PREFECT_API_URL every flow starts a temporary API server of its own (15-20 s and
    ~200 MB per command); a server already running on ``address`` (``host:port``, e.g. the one
    ``customs-risk serve`` or ``prefect server start`` keeps) costs nothing. ``off`` disables
    the check. Returns the API URL used, if any."""
    if os.environ.get("PREFECT_API_URL") or address.strip().lower() in {"", "off", "none"}:
        return None
    url = f"http://{address.strip()}/api"
    if prefect_server_answers(url, timeout=0.3):
        os.environ["PREFECT_API_URL"] = url
        return url
    return None


def stop_cleanly_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: the flow run is marked Crashed (not left Running) and the
    temporary Prefect server is stopped on the way out (Prefect stops it at exit, which a
    plain SIGTERM skips, leaving a ~200 MB uvicorn process behind)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def quiet_third_party_logs() -> None:
    """Keep the console for our progress lines: MLflow's INFO chatter and known warnings go."""
    import logging
    import warnings

    for name in ("mlflow", "alembic", "urllib3", "distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")


def progress(message: str) -> None:
    """A progress line of a flow: on the console as it is, and in the Prefect run's log
    (kept there when ``PREFECT_LOGGING_LEVEL`` lets INFO through, as with a Prefect server)."""
    print(message, flush=True)
    import contextlib

    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    with contextlib.suppress(MissingContextError):  # outside a flow run: the console only
        get_run_logger().info(message)


class _UserErrorFilter:
    """Drop Prefect's traceback records for errors we report ourselves in one clear line."""

    def filter(self, record) -> bool:
        from data.errors import ConfigError, DataFileError
        from models.artifact import FeatureSchemaError

        expected = (DataFileError, ConfigError, FeatureSchemaError)
        try:
            from pipelines.score_flow import NoChampionError

            expected = (*expected, NoChampionError)
        except ImportError:
            pass
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, expected):
            return False
        message = record.getMessage()
        return not any(
            name in message
            for name in ("DataFileError", "ConfigError", "NoChampionError", "FeatureSchemaError")
        )


def quiet_expected_flow_errors() -> None:
    """Install the filter on Prefect's run loggers (after Prefect has configured logging)."""
    import logging

    import prefect  # noqa: F401  (sets up Prefect's logging first)

    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(_UserErrorFilter())
