"""Set up the embedded defaults for Prefect and MLflow before they are imported.

Called by the CLI (and tests) at start-up, never at import time. Values already in the
environment win: pointing at a Prefect or MLflow server is configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

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


_TEMPORARY_SERVER: dict[str, object] = {}
_FLOW_RUNS: dict[str, str] = {}

RUN_MODES = ("auto", "temporary", "off")


def choose_flow_runs(settings: Settings | None = None) -> str:
    """Decide, once per command, where its flow runs are recorded; returns what was chosen:

    - ``"prefect"``: a Prefect API is configured (``PREFECT_API_URL``) or a long-lived local
      server answers (``CUSTOMS_RISK_PREFECT_SERVER``): the flows run as Prefect flows there;
    - ``"temporary"``: none is, and ``CUSTOMS_RISK_PREFECT_RUNS=temporary`` asks for a temporary
      server of the command's own (started now in the background, stopped at exit);
    - ``"local"``: none is (``auto``, the default), or ``off``: the flows run in-process as plain
      functions, nothing started, Prefect not imported. The work, its MLflow records, outputs and
      cases are the same; only the Prefect UI does not show the run.

    Call before Prefect is imported (it reads PREFECT_API_URL once)."""
    from pipelines.errors import UserError

    settings = settings or load_settings()
    mode = settings.prefect_runs
    if mode not in RUN_MODES:
        raise UserError(
            f"CUSTOMS_RISK_PREFECT_RUNS={mode!r} is not one of {', '.join(RUN_MODES)}",
            "unset it to record runs in Prefect whenever a server is there",
        )
    if mode == "off":
        chosen = "local"
    elif os.environ.get("PREFECT_API_URL") or use_running_prefect_server(settings.prefect_local_server):
        chosen = "prefect"
    elif mode == "temporary":
        start_flow_server(settings)
        chosen = "temporary"
    else:
        chosen = "local"
    _FLOW_RUNS["mode"] = chosen
    return chosen


def flow_runs_recorded() -> bool:
    """Whether this command's flows run as Prefect flows (see :func:`choose_flow_runs`); when no
    command chose (a library call, a test), whenever a Prefect API is configured."""
    mode = _FLOW_RUNS.get("mode")
    if mode is None:
        return bool(os.environ.get("PREFECT_API_URL"))
    return mode != "local"


def flow_runs_line() -> str:
    """One line for the console saying where this command's flow runs are recorded."""
    mode = _FLOW_RUNS.get("mode")
    if mode == "local":
        return (
            "flow runs are not recorded in Prefect (no Prefect server configured or running; "
            "`customs-risk serve` keeps one, or set CUSTOMS_RISK_PREFECT_RUNS=temporary)"
        )
    if mode == "temporary":
        return "flow runs are recorded in a temporary Prefect server (kept in PREFECT_HOME's database)"
    return f"flow runs are recorded in Prefect at {os.environ.get('PREFECT_API_URL', '?')}"


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when the parent dies, however it dies (Linux; a
    SIGKILL of the parent included). Elsewhere a no-op: the parent's own cleanup stops it."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_flow_server(settings: Settings | None = None) -> str:
    """Give this command's flows a temporary Prefect API server of their own, started now in
    the background.

    Prefect would otherwise start its temporary server itself when the flow begins (its
    SubprocessASGIServer: ~5 s of imports in this process, then 5-10 s waiting for the
    subprocess). Here the server's socket is bound at once and handed to the server process,
    so it starts while this process imports and loads the model, and requests made before it
    is ready simply wait in the socket's queue. The server process is in its own session (a
    Ctrl-C at the terminal reaches only this process, which then records the run as Crashed
    before the server stops), dies with this process however it dies (PR_SET_PDEATHSIG, a
    SIGKILL included), and is stopped at exit. Returns the API URL. Called by
    :func:`choose_flow_runs` when no API is configured or running, before Prefect is imported
    (it reads PREFECT_API_URL once)."""
    import atexit
    import socket
    import subprocess
    import sys

    settings = settings or load_settings()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    log = settings.prefect_home / "temporary-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",  # no UI, no background services: Prefect's own choice
        "PREFECT__SERVER_FINAL": "1",
    }
    from importlib.util import find_spec

    app_dir = Path(find_spec("prefect").origin).parent.parent
    with sock, log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(app_dir),
                "--factory",
                "prefect.server.api.server:create_app",
                "--fd",
                str(sock.fileno()),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            pass_fds=[sock.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
    url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = url
    _TEMPORARY_SERVER.update(proc=proc, url=url, log=log)
    atexit.register(stop_flow_server)
    return url


def wait_for_flow_server(timeout: float = 120.0) -> None:
    """Block until the temporary server answers; a clear error if it died or never answered."""
    import time

    from pipelines.errors import FlowServerError

    proc, url = _TEMPORARY_SERVER.get("proc"), _TEMPORARY_SERVER.get("url")
    if proc is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FlowServerError(
                f"the temporary Prefect server exited (code {proc.returncode})",
                f"see {_TEMPORARY_SERVER['log']}",
            )
        if prefect_server_answers(str(url), timeout=2):
            return
        time.sleep(0.1)
    raise FlowServerError(
        f"the temporary Prefect server did not answer within {timeout:.0f}s",
        f"see {_TEMPORARY_SERVER['log']}, or run one: prefect server start",
    )


def stop_process(proc, timeout: float = 10.0) -> None:
    """Terminate a child process (``subprocess.Popen``) and wait for it; kill it if it does not
    stop in time."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_flow_server(timeout: float = 10.0) -> None:
    """Stop the temporary server (at exit; after Prefect has flushed its logs and run states)."""
    proc = _TEMPORARY_SERVER.pop("proc", None)
    if proc is not None:
        stop_process(proc, timeout)


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


def run_logger(name: str = "customs_risk"):
    """The Prefect flow run's logger inside a flow run; the standard logger ``name`` outside one
    (a flow run in-process, a library call)."""
    import logging

    from pipelines.tasks import in_prefect_run

    if in_prefect_run():
        from prefect import get_run_logger

        return get_run_logger()
    return logging.getLogger(name)


def progress(message: str) -> None:
    """A progress line of a flow: on the console as it is, and in the Prefect run's log
    (kept there when ``PREFECT_LOGGING_LEVEL`` lets INFO through, as with a Prefect server)."""
    print(message, flush=True)
    from pipelines.tasks import in_prefect_run

    if in_prefect_run():  # outside a flow run: the console only
        run_logger().info(message)


class _UserErrorFilter:
    """Drop Prefect's traceback records for errors we report ourselves in one clear line."""

    def filter(self, record) -> bool:
        from pipelines.errors import user_errors

        expected = user_errors()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, expected):
            return False
        message = record.getMessage()
        return not any(cls.__name__ in message for cls in expected)


def quiet_expected_flow_errors() -> None:
    """Install the filter on Prefect's run loggers (after Prefect has configured logging)."""
    import logging

    if not flow_runs_recorded():
        return  # Prefect is not used by this command: nothing to quiet, nothing to import
    import prefect  # noqa: F401  (sets up Prefect's logging first)

    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(_UserErrorFilter())
