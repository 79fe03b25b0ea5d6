"""Scheduled operation for real: `customs-risk serve` with an every-minute schedule scores a manifest
dropped in its folder, stops on one SIGINT leaving no process behind; a `score` killed mid-run
leaves no temporary Prefect server behind and its flow run does not stay Running."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = [str(Path(sys.executable).parent / "customs-risk")]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pids)


def _env(prefect_home: Path) -> dict[str, str]:
    """The test session's MLflow store and case store; a Prefect home of the test's own and no
    server configured or discovered (the subprocess starts what it needs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
        CUSTOMS_RISK_PREFECT_SERVER="off",
        PYTHONPATH=str(ROOT),
    )
    return env


def _wait_for_line(proc: subprocess.Popen, log_path: Path, marker: str, never: str) -> None:
    """Wait (up to 180 s) until the command's log shows ``marker``; fail with ``never`` if not."""
    deadline = time.monotonic() + 180
    while marker not in log_path.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(0.2)
    assert marker in log_path.read_text(), never


def _manifest(world: Path) -> Path:
    return sorted((world / "manifest").glob("*.csv"))[-1]


@pytest.fixture(scope="module")
def serving(champion, small_world, tmp_path_factory):
    """`customs-risk serve` on a free loopback port, daily scoring every minute, one manifest waiting."""
    tmp = tmp_path_factory.mktemp("serve")
    bundle = tmp / "bundle"
    shutil.copytree(small_world / "bundle", bundle)  # the scheduled run appends to its history
    drop = tmp / "drop"
    drop.mkdir()
    manifest = shutil.copy(_manifest(small_world), drop / "today.csv")
    config = tmp / "schedule.yaml"
    config.write_text(
        "timezone: UTC\n"
        "daily_scoring:\n"
        '  cron: "* * * * *"\n'
        f"  drop_folder: {drop}\n  bundle: {bundle}\n  out: {tmp / 'out'}\n"
        "weekly_retraining:\n"
        '  cron: "0 3 * * 1"\n'
        f"  bundle: {bundle}\n"
        f"prefect_server:\n  host: 127.0.0.1\n  port: {_free_port()}\n"
    )
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*CLI, "serve", "--config", str(config)],
        env=_env(tmp / "prefect"),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    yield {"proc": proc, "tmp": tmp, "drop": drop, "manifest": Path(manifest), "log": tmp / "serve.log"}
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def test_every_minute_schedule_scores_the_dropped_manifest(serving):
    drop, tmp = serving["drop"], serving["tmp"]
    deadline = time.monotonic() + 240
    processed = drop / "processed" / "today.csv"
    while not processed.exists() and time.monotonic() < deadline:
        assert serving["proc"].poll() is None, serving["log"].read_text()[-3000:]
        time.sleep(2)
    assert processed.exists(), (
        "no scheduled run scored the manifest within 4 min:\n" + (serving["log"].read_text()[-3000:])
    )
    assert not serving["manifest"].exists()
    assert not list((drop / "failed").glob("*")), list((drop / "failed").glob("*"))
    days = [d for d in (tmp / "out").iterdir() if not d.name.startswith(".")]
    assert len(days) == 1
    scored = (days[0] / "scored.csv").read_text().splitlines()
    rows_in = len(processed.read_text().splitlines()) - 1
    quarantined = max(len((days[0] / "quarantine.csv").read_text().splitlines()) - 1, 0)
    assert len(scored) - 1 + quarantined == rows_in
    assert (days[0] / "report.html").exists()


def test_one_sigint_stops_serve_and_everything_it_started(serving):
    proc = serving["proc"]
    assert proc.poll() is None, serving["log"].read_text()[-3000:]
    started = _descendants(proc.pid)
    assert started, "serve should have a Prefect server child"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("serve did not stop within 15 s of one SIGINT:\n" + serving["log"].read_text()[-3000:])
    assert time.monotonic() - t0 < 15
    assert _wait_gone(started, 5) == set(), "processes left behind by serve"
    assert "stopped (SIGINT)" in serving["log"].read_text()


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: Ctrl-C (SIGINT) handled as in a terminal, even when the tests themselves were
    started in the background (``make test &``), where the shell has the children ignore it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_killed_score_leaves_no_server_and_no_running_flow_run(champion, small_world, tmp_path, sig):
    """With its runs recorded in a temporary Prefect server of its own (CUSTOMS_RISK_PREFECT_RUNS=
    temporary), a killed score leaves neither the server nor its MLflow helper, nor a Running run."""
    home = tmp_path / "prefect"
    log_path = tmp_path / "score.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *CLI,
                "score",
                "--manifest",
                str(_manifest(small_world)),
                "--bundle",
                str(small_world / "bundle"),
                "--out",
                str(tmp_path / "out"),
            ],
            env={**_env(home), "CUSTOMS_RISK_PREFECT_RUNS": "temporary"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
        try:
            _wait_for_line(proc, log_path, "[1/4]", "the scoring flow never started")
            started = _descendants(proc.pid)
            assert started, "a temporary Prefect server should be running for the flow"
            proc.send_signal(sig)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode != 0
    assert _wait_gone(started, 10) == set(), "the temporary Prefect server outlived the command"
    assert not (tmp_path / "out").exists() or not [
        d for d in (tmp_path / "out").iterdir() if not d.name.startswith(".")
    ], "a killed run must not leave a finished-looking day"
    with sqlite3.connect(home / "prefect.db") as db:
        states = [row[0] for row in db.execute("select state_type from flow_run")]
    assert states, "the flow run was not recorded"
    if sig != signal.SIGKILL:  # a SIGKILLed process records nothing; its server still goes
        assert all(s in {"CRASHED", "CANCELLED"} for s in states), states


def _command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_score_without_a_prefect_server_starts_none_and_leaves_nothing(champion, small_world, tmp_path):
    """The default: no Prefect server configured or running, so the flow runs in-process; the only
    process it starts is its MLflow helper, gone when the command ends."""
    home = tmp_path / "prefect"
    log_path = tmp_path / "score.log"
    seen: dict[int, str] = {}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*CLI, "score", "--manifest", str(_manifest(small_world))]
            + ["--bundle", str(small_world / "bundle"), "--out", str(tmp_path / "out")],
            env=_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            while proc.poll() is None:
                helpers = [pid for pid, line in seen.items() if "pipelines.champion" in line]
                its_own = {d for h in helpers for d in _descendants(h)}  # e.g. MLflow's git calls
                for pid in _descendants(proc.pid) - its_own:
                    seen.setdefault(pid, _command_line(pid))
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert proc.returncode == 0, output[-3000:]
    assert "flow runs are not recorded in Prefect" in output
    assert "[4/4]" in output and (tmp_path / "out").is_dir()
    assert not [c for c in seen.values() if "uvicorn" in c or "prefect" in c], seen
    assert all("pipelines.champion" in c for c in seen.values()) and len(seen) <= 1, seen  # the MLflow helper
    assert _wait_gone(set(seen), 5) == set(), "a process outlived the command"
    assert not (home / "prefect.db").exists()  # nothing was recorded in (or started for) Prefect


def test_serve_with_a_missing_bundle_stops_in_seconds_before_starting_anything(champion, tmp_path):
    config = tmp_path / "schedule.yaml"
    missing = tmp_path / "no-such-bundle"
    config.write_text(
        f"daily_scoring:\n  drop_folder: {tmp_path / 'drop'}\n  bundle: {missing}\n"
        f"  out: {tmp_path / 'out'}\n"
        f"weekly_retraining:\n  bundle: {missing}\n"
        f"prefect_server:\n  port: {_free_port()}\n"
    )
    t0 = time.monotonic()
    done = subprocess.run(
        [*CLI, "serve", "--config", str(config)],
        env=_env(tmp_path / "prefect"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert time.monotonic() - t0 < 60
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not a readable bundle folder" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "prefect" / "server.log").exists()  # no Prefect server was started


def test_killed_train_ends_its_mlflow_run_killed_and_leaves_no_server(homes, small_world, tmp_path):
    import mlflow

    log_path = tmp_path / "train.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*CLI, "train", "--bundle", str(small_world / "bundle"), "--no-promote"],
            env=_env(tmp_path / "prefect"),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            _wait_for_line(proc, log_path, "[1/6]", "training never started")
            started = _descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode != 0
    assert _wait_gone(started, 10) == set(), "the temporary Prefect server outlived the command"
    runs = mlflow.search_runs(experiment_names=["customs-risk"], filter_string="attributes.status = 'KILLED'")
    assert len(runs) >= 1, "the stopped training's MLflow run must end KILLED"
    assert not len(
        mlflow.search_runs(experiment_names=["customs-risk"], filter_string="attributes.status = 'RUNNING'")
    )
