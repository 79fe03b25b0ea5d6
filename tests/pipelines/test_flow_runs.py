"""Where a command's flow runs go: a Prefect server when one is there, in-process otherwise (no
server started, Prefect not imported), and flow steps that keep their retries either way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from data.errors import DataFileError
from pipelines import runtime
from pipelines.settings import load_settings
from pipelines.tasks import frame_task, pipeline_flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.setattr(runtime, "_FLOW_RUNS", {})
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CUSTOMS_RISK_PREFECT_SERVER", "off")


def test_a_step_retries_passing_trouble_but_never_bad_input():
    calls = {"io": 0, "bad": 0}

    @frame_task(retries=2, retry_delay_seconds=[0, 0])
    def flaky() -> str:
        calls["io"] += 1
        if calls["io"] < 3:
            raise OSError("disk busy")
        return "read"

    @frame_task(retries=2, retry_delay_seconds=[0, 0])
    def bad_file() -> None:
        calls["bad"] += 1
        raise DataFileError(Path("day.csv"), "column declared_value is missing")

    assert flaky() == "read" and calls["io"] == 3
    with pytest.raises(DataFileError):
        bad_file()
    assert calls["bad"] == 1


def test_a_step_gives_up_after_its_retries():
    calls = []

    @frame_task(retries=1, retry_delay_seconds=[0])
    def always_down() -> None:
        calls.append(1)
        raise ConnectionError("registry down")

    with pytest.raises(ConnectionError):
        always_down()
    assert len(calls) == 2


def test_without_a_prefect_server_the_flow_runs_in_process(fresh_choice):
    @pipeline_flow(name="demo")
    def demo(x: int) -> int:
        return x + 1

    assert runtime.choose_flow_runs(load_settings()) == "local"
    assert not runtime.flow_runs_recorded()
    assert demo(1) == 2 and demo.fn(1) == 2
    assert "not recorded in Prefect" in runtime.flow_runs_line()


def test_off_means_in_process_even_with_a_server_configured(fresh_choice, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("CUSTOMS_RISK_PREFECT_RUNS", "off")
    assert runtime.choose_flow_runs(load_settings()) == "local"
    monkeypatch.setenv("CUSTOMS_RISK_PREFECT_RUNS", "auto")
    assert runtime.choose_flow_runs(load_settings()) == "prefect"  # a configured API is used
    assert runtime.flow_runs_recorded()


def test_an_unknown_mode_is_a_clear_error(fresh_choice, monkeypatch):
    from pipelines.errors import UserError

    monkeypatch.setenv("CUSTOMS_RISK_PREFECT_RUNS", "sometimes")
    with pytest.raises(UserError, match="CUSTOMS_RISK_PREFECT_RUNS='sometimes' is not one of auto"):
        runtime.choose_flow_runs(load_settings())


@pytest.mark.slow
def test_scoring_without_a_server_never_imports_prefect(tmp_path):
    """The flows and their steps load without Prefect; only a recorded run imports it."""
    code = (
        "import sys\n"
        "from pipelines.runtime import choose_flow_runs, configure\n"
        "choose_flow_runs(configure())\n"
        "import pipelines.score_flow, pipelines.train_flow, pipelines.backtest_flow\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'mlflow'}))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "CUSTOMS_RISK_PREFECT_SERVER": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
