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

from prefect import flow, get_run_logger

from pipelines.config import ScheduleConfig
from pipelines.runtime import progress
from pipelines.settings import PROJ_ROOT

TABULAR = {".csv", ".parquet", ".pq"}


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else PROJ_ROOT / p


@flow(name="score-drop-folder")
def score_drop_folder(drop_folder: str, bundle: str, out: str) -> dict[str, str]:
    """Score every manifest waiting in the drop folder; move each to processed/ or failed/."""
    from data.errors import ConfigError, DataFileError
    from pipelines.score_flow import NoChampionError, score_flow

    log = get_run_logger()
    drop = _resolve(drop_folder)
    (drop / "processed").mkdir(parents=True, exist_ok=True)
    (drop / "failed").mkdir(parents=True, exist_ok=True)
    results: dict[str, str] = {}
    for path in sorted(p for p in drop.iterdir() if p.is_file() and p.suffix.lower() in TABULAR):
        try:
            outcome = score_flow(
                manifest=path, bundle=_resolve(bundle), out=_resolve(out), append_to_history=True
            )
        except (DataFileError, ConfigError, NoChampionError) as err:
            message = getattr(err, "message", str(err))
            (drop / "failed" / f"{path.name}.error.txt").write_text(message + "\n")
            shutil.move(str(path), drop / "failed" / path.name)
            log.error(f"{path.name}: {message}")
            results[path.name] = f"failed: {message}"
            continue
        shutil.move(str(path), drop / "processed" / path.name)
        results[path.name] = f"scored into {outcome.out_dir}"
    if not results:
        progress(f"no manifest waiting in {drop}")
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
        if open_store(load_settings().database_url).export_outcomes(path) > 0:
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
    """Start ``prefect server start`` on loopback and wait until its API answers."""
    url = f"http://{host}:{port}/api"
    log = Path(os.environ.get("PREFECT_HOME", PROJ_ROOT / ".prefect")) / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited (code {proc.returncode}); see {log}")
        if _healthy(url):
            os.environ["PREFECT_API_URL"] = url
            return proc
        time.sleep(1)
    proc.terminate()
    raise RuntimeError(f"prefect server did not answer on {url} within {timeout:.0f}s; see {log}")


def serve_all(cfg: ScheduleConfig) -> None:
    """Register both deployments and run them until interrupted (Ctrl-C)."""
    from prefect import serve
    from prefect.schedules import Cron

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = start_local_server(cfg.prefect_server.host, cfg.prefect_server.port)
        print(f"Started a local Prefect server: {os.environ['PREFECT_API_URL'].removesuffix('/api')}")
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
    print(
        f"Daily scoring of {_resolve(d.drop_folder)} at '{d.cron}', weekly retraining at "
        f"'{cfg.weekly_retraining.cron}' ({cfg.timezone}). Ctrl-C stops."
    )
    try:
        serve(daily, weekly)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
