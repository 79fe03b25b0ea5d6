"""MLflow runs end in the state they really ended in; a registered version says what it is and
its tags stay true as the champion moves."""

from __future__ import annotations

import pytest
from prefect.exceptions import TerminationSignal

pytestmark = pytest.mark.slow  # a real MLflow store per test: see make test-fast


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """One SQLite tracking store for the module (creating one takes seconds)."""
    import os

    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("tracking-test")
    yield mlflow
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        (KeyboardInterrupt, "KILLED"),
        (SystemExit, "KILLED"),
        (lambda: TerminationSignal(15), "KILLED"),
        (ValueError, "FAILED"),
        (None, "FINISHED"),
    ],
)
def test_a_run_ends_killed_failed_or_finished_as_it_really_ended(mlflow_store, stop, status):
    from pipelines.tracking import tracked_run

    mlflow = mlflow_store
    ids = {}
    try:
        with tracked_run("training") as run:
            ids["run"] = run.info.run_id
            with mlflow.start_run(run_name="left open inside", nested=True) as inner:
                ids["inner"] = inner.info.run_id
                if stop is not None:
                    raise stop()
    except (KeyboardInterrupt, SystemExit, ValueError, TerminationSignal):
        pass
    assert mlflow.get_run(ids["run"]).info.status == status
    assert mlflow.active_run() is None


def test_a_nested_run_left_open_ends_with_its_parent(mlflow_store):
    from pipelines.tracking import tracked_run

    mlflow = mlflow_store
    with pytest.raises(KeyboardInterrupt), tracked_run("training") as run:
        child = mlflow.start_run(run_name="search", nested=True)  # not closed before the stop
        raise KeyboardInterrupt
    assert mlflow.get_run(child.info.run_id).info.status == "KILLED"
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_the_version_description_has_metrics_comparison_and_decision():
    from pipelines.tracking import run_name, version_description

    text = version_description(
        {"ipw_pr_auc": 0.61, "ipw_pr_auc_low": 0.5, "ipw_pr_auc_high": 0.7, "pr_auc": 0.8},
        "ipw_pr_auc",
        {"valid_from": "2026-09-01", "valid_to": "2026-09-30", "valid_rows": 1200, "train_rows": 9000},
        False,
        "ipw_pr_auc 0.610 does not beat the champion's 0.640",
    )
    assert "Fair ipw_pr_auc: 0.610 (95% interval 0.500-0.700)" in text
    assert "Against the champion: ipw_pr_auc 0.610 does not beat the champion's 0.640" in text
    assert "Decision: not promoted (challenger)" in text
    assert "precision at 2% / 5% inspected: n/a / n/a" in text
    assert run_name("7", True, "2026-09-30 17:00:00") == "v7 champion, data to 2026-09-30"


def test_champion_tags_stay_true_through_promotion_and_rollback(mlflow_store, tmp_path):
    from mlflow import MlflowClient

    from pipelines.registry import set_champion

    client = MlflowClient()
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", source=str(tmp_path), run_id=None)
    set_champion(client, "m", "1", "first")
    set_champion(client, "m", "2", "better")
    tags = {v: client.get_model_version("m", v).tags for v in ("1", "2")}
    assert tags["1"]["replaced_by"] == "2" and tags["2"]["replaced_champion"] == "1"
    client.set_model_version_tag("m", "1", "rolled_back", "true")  # as after an earlier rollback
    set_champion(client, "m", "1", "by hand")
    tags1 = client.get_model_version("m", "1").tags
    assert "replaced_by" not in tags1 and "rolled_back" not in tags1  # no longer true
    assert client.get_model_version("m", "2").tags["replaced_by"] == "1"


def test_experiments_open_on_their_runs_table(mlflow_store):
    """Created or found, the experiment is marked as model development, which MLflow 3's UI opens
    on the runs table (not on traces)."""
    from pipelines.tracking import ensure_experiment

    ensure_experiment("customs-risk-kind-test")
    created = mlflow_store.get_experiment_by_name("customs-risk-kind-test")
    assert created.tags["mlflow.experimentKind"] == "custom_model_development"
    ensure_experiment("tracking-test")  # one made elsewhere, without the tag
    found = mlflow_store.get_experiment_by_name("tracking-test")
    assert found.tags["mlflow.experimentKind"] == "custom_model_development"
    mlflow_store.set_experiment("tracking-test")
