"""Scheduled operation: daily scoring of a drop folder and weekly retraining, as Prefect deployments.

Prefect only fires schedules with a real server. ``serve`` uses the one in PREFECT_API_URL
when set; otherwise it starts a local ``prefect server`` for as long as it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prefect import flow

from pipelines.config import ScheduleConfig
from pipelines.runtime import die_with_parent, progress, run_logger, stop_process
from pipelines.settings import PROJ_ROOT

TABULAR = {".csv", ".parquet", ".pq"}


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else PROJ_ROOT / p


class ManifestsFailed(Exception):
    """Some manifests of a drop-folder run failed (each set aside in failed/ with why): the run
    ends Failed. ``results``: what happened to every file of the run."""

    def __init__(self, results: dict[str, str]):
        self.results = results
        failed = [name for name, what in results.items() if what.startswith("failed")]
        super().__init__(
            f"{len(failed)} of {len(results)} manifest(s) failed and were moved to failed/: "
            + ", ".join(failed)
        )


def _why(err: Exception) -> tuple[str, str]:
    """(one line for the log and result, the whole text for the .error.txt)."""
    import traceback

    from pipelines.errors import user_errors, user_message

    if isinstance(err, user_errors()):
        message = user_message(err)
        return message, message + "\n"
    first = (str(err).strip().splitlines() or [""])[0]
    message = f"unexpected error {err.__class__.__name__}: {first}".rstrip(": ")
    detail = "".join(traceback.format_exception(err))
    return message, f"{message}\n\n{detail}"


def _set_aside(path: Path, folder: Path, text: str | None = None) -> None:
    """Move a manifest into ``folder`` (processed/ or failed/), with its .error.txt if any."""
    folder.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (folder / f"{path.name}.error.txt").write_text(text)
    elif (folder / f"{path.name}.error.txt").exists():
        (folder / f"{path.name}.error.txt").unlink()
    shutil.move(str(path), folder / path.name)


@flow(name="score-drop-folder")
def score_drop_folder(drop_folder: str, bundle: str, out: str) -> dict[str, str]:
    """Score every manifest waiting in the drop folder, each on its own: a scored one moves to
    processed/, a failed one (whatever the error) to failed/ with an .error.txt saying why. Any
    failure makes the run end Failed (ManifestsFailed), after every file has been tried."""
    from pipelines.score_flow import score_flow

    log = run_logger("customs_risk.drop_folder")  # a plain one outside a run (.fn)
    drop = _resolve(drop_folder)
    results: dict[str, str] = {}
    for path in sorted(p for p in drop.iterdir() if p.is_file() and p.suffix.lower() in TABULAR):
        try:
            outcome = score_flow(
                manifest=path, bundle=_resolve(bundle), out=_resolve(out), append_to_history=True
            )
        except Exception as err:
            message, text = _why(err)
            _set_aside(path, drop / "failed", text)
            log.error(f"{path.name}: {message}")
            results[path.name] = f"failed: {message}"
            continue
        _set_aside(path, drop / "processed")
        results[path.name] = f"scored into {outcome.out_dir}"
    if not results:
        progress(f"no manifest waiting in {drop}")
    if any(what.startswith("failed") for what in results.values()):
        raise ManifestsFailed(results)
    return results


@flow(name="weekly-retraining")
def weekly_retraining(bundle: str, outcomes_export: str = "data/results/recorded_outcomes.csv") -> str:
    """Export the outcomes investigators recorded, then retrain with them; gated promotion."""
    from pipelines.settings import load_settings
    from pipelines.train_flow import train_flow

    outcomes: list[Path] = []
    try:
        from review.store import open_store

        path = _resolve(outcomes_export)
        # a violation becomes a label once a second person confirmed it (four eyes)
        if open_store(load_settings().database_url).export_outcomes(path, confirmed_only=True) > 0:
            outcomes.append(path)
    except ImportError:
        pass
    result = train_flow(bundle=_resolve(bundle), outcomes=outcomes)
    return f"version {result.version}: {'promoted' if result.promoted else 'not promoted'} ({result.reason})"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


def start_local_server(host: str, port: int, timeout: float = 120.0) -> subprocess.Popen:
    """Start ``prefect server start`` on loopback and wait until its API answers.

    The server is this process's child and is told to stop when this process dies, so a
    killed ``serve`` leaves no server behind."""
    url = f"http://{host}:{port}/api"
    if _healthy(url):
        raise RuntimeError(
            f"a Prefect server already answers on {url}: set PREFECT_API_URL={url} to use it, "
            "or choose another prefect_server.port in the schedule YAML"
        )
    log = Path(os.environ.get("PREFECT_HOME", PROJ_ROOT / ".prefect")) / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited (code {proc.returncode}); see {log}")
        if _healthy(url):
            os.environ["PREFECT_API_URL"] = url
            return proc
        time.sleep(0.5)
    stop_process(proc)
    raise RuntimeError(f"prefect server did not answer on {url} within {timeout:.0f}s; see {log}")


async def _run_until_signal(runner) -> str:
    """Run the Prefect runner until SIGINT or SIGTERM; then stop it (cancelling runs in flight).

    Prefect's own ``serve`` installs a SIGTERM handler that stops the runner from outside its
    event loop and needs a second Ctrl-C; here both signals just set an event in the loop."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []
    started = asyncio.create_task(runner.start())
    await asyncio.sleep(0)  # runner.start() installs its own SIGTERM handler first: replace it

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({started, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if not started.done():
        try:
            await asyncio.wait_for(runner.astop(), timeout=10)
        except Exception as err:  # stopping anyway
            print(f"runner did not stop cleanly: {err}", file=sys.stderr)
        try:
            await asyncio.wait_for(started, timeout=10)
        except (Exception, asyncio.CancelledError):
            started.cancel()
    elif started.exception() is not None:
        raise started.exception()
    return received[0] if received else "runner ended"


def preflight(cfg: ScheduleConfig) -> None:
    """Fail in seconds, before any server starts: the bundles are readable folders and the
    registry answers with a champion that loads (no champion yet is a warning: the weekly
    retraining makes one, the daily scoring moves manifests to failed/ until then)."""
    from data.errors import ConfigError
    from pipelines.config import load_scoring_config
    from pipelines.registry import preflight_champion

    for what, folder in (
        ("daily_scoring.bundle", cfg.daily_scoring.bundle),
        ("weekly_retraining.bundle", cfg.weekly_retraining.bundle),
    ):
        path = _resolve(folder)
        if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
            raise ConfigError(f"{what}: {path} is not a readable bundle folder (schedule YAML)")
    model = load_scoring_config().model
    if preflight_champion(model.registered_name, model.alias) is None:
        print(
            f"warning: no model '{model.registered_name}' with alias '{model.alias}' yet: daily scoring "
            "fails until training promotes one (customs-risk train --bundle DIR)",
            flush=True,
        )


def serve_all(cfg: ScheduleConfig) -> str:
    """Register both deployments and run them until SIGINT (Ctrl-C) or SIGTERM.

    Returns what stopped it. A local Prefect server started here stops with it."""
    import asyncio

    from prefect.runner import Runner
    from prefect.schedules import Cron

    preflight(cfg)
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = start_local_server(cfg.prefect_server.host, cfg.prefect_server.port)
        print(f"Started a local Prefect server: {os.environ['PREFECT_API_URL'].removesuffix('/api')}")
    try:
        d = cfg.daily_scoring
        daily = score_drop_folder.to_deployment(
            name="daily-scoring",
            schedule=Cron(d.cron, timezone=cfg.timezone),
            parameters={"drop_folder": d.drop_folder, "bundle": d.bundle, "out": d.out},
        )
        weekly = weekly_retraining.to_deployment(
            name="weekly-retraining",
            schedule=Cron(cfg.weekly_retraining.cron, timezone=cfg.timezone),
            parameters={"bundle": cfg.weekly_retraining.bundle},
        )
        runner = Runner()
        for deployment in (daily, weekly):
            runner.add_deployment(deployment)
        print(
            f"Daily scoring of {_resolve(d.drop_folder)} at '{d.cron}', weekly retraining at "
            f"'{cfg.weekly_retraining.cron}' ({cfg.timezone}). Ctrl-C or SIGTERM stops.",
            flush=True,
        )
        return asyncio.run(_run_until_signal(runner))
    finally:
        if server is not None:
            stop_process(server)
