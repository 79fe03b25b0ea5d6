"""Fail safe around the registry: a champion whose files cannot be loaded is not "no champion".

Training stops before promotion with one clear line and moves no alias; scoring stops with one
line, without retries; `models promote` and `models rollback` refuse a version that cannot be
loaded. Each test works on a model name of its own in the session's temporary MLflow store, its
versions copies of the session champion's files, so deleting them leaves the champion alone."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _register_copy(name: str, dest: Path) -> tuple[str, Path]:
    """A new version of ``name`` whose files are a private copy of the session champion's."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version_by_alias("customs-risk", "champion")
    dest.mkdir(parents=True, exist_ok=True)
    uri = f"models:/customs-risk/{champion.version}"
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=dest))
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name)
    version = client.create_model_version(name, source=local.resolve().as_uri(), run_id=champion.run_id)
    return str(version.version), local


def _aliases(name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return {k: str(v) for k, v in MlflowClient().get_registered_model(name).aliases.items()}


def _config_with_name(source: Path, name: str, dest: Path) -> Path:
    cfg = yaml.safe_load(source.read_text())
    cfg["model"]["registered_name"] = name
    dest.write_text(yaml.safe_dump(cfg))
    return dest


@pytest.fixture
def broken_champion(champion, tmp_path, request):
    """Model ``name`` whose champion (version 1) loaded once and then lost its files."""
    from mlflow import MlflowClient

    from pipelines.registry import load_version

    name = f"broken-{request.node.name[:40]}".replace("_", "-")
    version, files = _register_copy(name, tmp_path / "v1")
    load_version(name, version)  # loadable before the files go
    MlflowClient().set_registered_model_alias(name, "champion", version)
    shutil.rmtree(files)
    return name, version


def test_training_stops_before_promotion_when_the_champion_cannot_be_loaded(
    broken_champion, small_world, tmp_path
):
    from data.errors import ConfigError
    from pipelines.config import CONFIG_DIR
    from pipelines.registry import ModelUnavailableError
    from pipelines.train_flow import train_flow

    name, version = broken_champion
    config = _config_with_name(CONFIG_DIR / "train.yaml", name, tmp_path / "train.yaml")
    with pytest.raises(ModelUnavailableError) as err:
        train_flow(bundle=small_world / "bundle", config_path=config)
    assert isinstance(err.value, ConfigError)  # the CLI prints it as one line, tasks never retry it
    message = str(err.value)
    assert "\n" not in message
    assert f"{name}/{version}" in message and "cannot be loaded" in message
    assert _aliases(name) == {"champion": version}  # no challenger, champion untouched


def test_scoring_stops_with_one_line_and_no_retries(broken_champion, small_world, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.config import CONFIG_DIR
    from pipelines.registry import ModelUnavailableError
    from pipelines.score_flow import score_flow

    name, version = broken_champion
    config = _config_with_name(CONFIG_DIR / "scoring.yaml", name, tmp_path / "scoring.yaml")
    manifest = sorted((small_world / "manifest").glob("*.csv"))[-1]
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot be loaded"):
        score_flow(manifest=manifest, bundle=small_world / "bundle", out=tmp_path / "out", config_path=config)
    assert time.perf_counter() - t0 < 60  # no retries with back-off on a model that stays broken
    assert not (tmp_path / "out").exists() or not any(
        not p.name.startswith(".") for p in (tmp_path / "out").iterdir()
    )

    result = CliRunner().invoke(
        app,
        [
            "score",
            "--manifest",
            str(manifest),
            "--bundle",
            str(small_world / "bundle"),
            "--out",
            str(tmp_path / "out2"),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot be loaded" in errors[0], result.output
    assert "Traceback" not in result.output
    assert _aliases(name) == {"champion": version}


def test_promote_and_rollback_refuse_a_version_that_cannot_be_loaded(champion, tmp_path):
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from pipelines.cli import app

    name = "broken-promote"
    v1, files1 = _register_copy(name, tmp_path / "v1")
    v2, _ = _register_copy(name, tmp_path / "v2")
    runner = CliRunner()
    assert runner.invoke(app, ["models", "promote", v1, "--name", name]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", v2, "--name", name]).exit_code == 0
    assert MlflowClient().get_model_version(name, v2).tags["replaced_champion"] == v1
    shutil.rmtree(files1)  # the version a rollback would go back to loses its files

    rolled = runner.invoke(app, ["models", "rollback", "--name", name])
    assert rolled.exit_code == 2, rolled.output
    assert "cannot roll back to version" in rolled.output and "cannot be loaded" in rolled.output
    assert _aliases(name)["champion"] == v2

    promoted = runner.invoke(app, ["models", "promote", v1, "--name", name])
    assert promoted.exit_code == 2, promoted.output
    assert "cannot be loaded" in promoted.output
    assert _aliases(name)["champion"] == v2
