"""Benchmark: how long `customs-risk score` takes on the default 2,000-row day, process start included,
and where the time goes before the flow starts working.

    .venv/bin/python bench/bench_start.py [--repeat 3]

Set-up (cached in bench/.cache/start-v2, not timed): the default world (seed 1, 180 days x 2,000
declarations, CSV, as `make run` makes it), a champion trained on it in a private MLflow store,
and its feature state built. Then each figure is the wall time of a fresh process:

- interpreter start, the CLI's imports (`customs-risk --help`), the scoring flow's imports;
- `score` as it runs by default, with no Prefect server configured or running: the flow runs
  in-process (Prefect not imported) and a helper process it starts imports MLflow, resolves the
  champion and copies its files while the command reads the day (pipelines/champion.py);
- `score` with CUSTOMS_RISK_PREFECT_RUNS=temporary: the same, its run recorded in a temporary
  Prefect server of its own (started at once in the background, stopped at exit);
- `score` with a long-lived local Prefect server running (as `customs-risk serve` or
  `prefect server start` keep one): the command finds it (CUSTOMS_RISK_PREFECT_SERVER) and
  records its run there;
- the flow's own work, as the flow reports it on its last line.
Goal: `score` within 8 s wall, process start included. Every figure is printed with the load
average: on 2 cores, anything else running shows in them.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import ROOT, machine

CACHE = ROOT / "bench" / ".cache" / "start-v2"
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        CUSTOMS_RISK_HOME=str(CACHE / "home"),
        MLFLOW_TRACKING_URI=f"sqlite:///{CACHE / 'mlruns' / 'mlflow.db'}",
        PREFECT_HOME=str(CACHE / "prefect"),
        DATABASE_URL=f"sqlite:///{CACHE / 'cases.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        CUSTOMS_RISK_PREFECT_SERVER="off",
    )
    env.update(extra)
    return env


def _setup() -> Path:
    world = CACHE / "world"
    if not (world / "world.json").exists():
        print("setup: generating the default world (not timed)...", flush=True)
        subprocess.run(
            [BIN / "customs-risk", "generate", "--out", world, "--seed", "1"], env=_env(), check=True
        )
    if not (CACHE / "mlruns" / "mlflow.db").exists():
        print("setup: training a champion on it (not timed, a few minutes)...", flush=True)
        subprocess.run(
            [BIN / "customs-risk", "train", "--bundle", world / "bundle"],
            env=_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not (world / "bundle" / "feature_state" / "meta.json").exists():
        print("setup: building its feature state (not timed)...", flush=True)
        subprocess.run(
            [BIN / "customs-risk", "state", "build", "--bundle", world / "bundle"],
            env=_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return world


def _wall(cmd: list, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the Prefect server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="runs per figure (the median is shown)")
    args = ap.parse_args()
    world = _setup()
    manifest = sorted((world / "manifest").glob("*.csv"))[-1]
    score = [BIN / "customs-risk", "score", "--manifest", manifest, "--bundle", world / "bundle"]
    py = sys.executable
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    rows: list[tuple[str, list[float]]] = []

    def measure(label: str, cmd: list, env: dict[str, str]) -> list[str]:
        times, outs = [], []
        for i in range(args.repeat):
            wall, out = _wall(cmd, env)
            times.append(wall)
            outs.append(out)
            print(f"  {label:<58} run {i + 1}: {wall:6.1f} s", flush=True)
        rows.append((label, times))
        return outs

    measure("python start (python -c pass)", [py, "-c", "pass"], _env())
    measure("CLI imports (customs-risk --help)", [BIN / "customs-risk", "--help"], _env())
    measure(
        "scoring flow imports (import pipelines.score_flow)",
        [py, "-c", "import pipelines.score_flow"],
        _env(),
    )
    default = measure(
        "score, default: no Prefect server, flow in-process", [*score, "--out", CACHE / "out-default"], _env()
    )
    before = measure(
        "score, runs recorded in a temporary Prefect server",
        [*score, "--out", CACHE / "out-before"],
        _env(CUSTOMS_RISK_PREFECT_RUNS="temporary"),
    )
    port = _free_port()
    server = _start_server(port)
    try:
        after = measure(
            "score, long-lived local Prefect server found",
            [*score, "--out", CACHE / "out-after"],
            _env(CUSTOMS_RISK_PREFECT_SERVER=f"127.0.0.1:{port}"),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    work = [
        float(m.group(1))
        for out in default + before + after
        for m in [re.search(r"quarantined \d+ \((\d+)s\)", out)]
        if m
    ]
    if work:
        rows.append(("the flow's own work (as it reports it, whole seconds)", work))

    print("\n| what | median wall (s) | runs |\n|---|---|---|")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times):.1f} | {', '.join(f'{t:.1f}' for t in times)} |")
    med = dict((label, statistics.median(t)) for label, t in rows)
    base = med["score, default: no Prefect server, flow in-process"]
    temporary = med["score, runs recorded in a temporary Prefect server"] - base
    long_lived = med["score, long-lived local Prefect server found"] - base
    print(
        f"\nscore by default: {base:.1f} s wall (goal 8 s); recording the run in a temporary Prefect "
        f"server costs {temporary:+.1f} s, in a long-lived one {long_lived:+.1f} s. "
        f"Load average now {os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()
