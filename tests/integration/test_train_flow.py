"""Training flow end to end: a champion is registered, loads in a fresh process, ranks well; a
deliberately worse challenger is not promoted; rollback restores the previous champion."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd


def test_first_model_becomes_champion_and_beats_the_baselines(champion):
    assert champion.promoted, champion.reason
    table = champion.comparison.set_index("scorer")
    base_rate = champion.metrics["base_rate"]
    # precision at 5% inspected is far above the labelled base rate of the validation window
    assert champion.metrics["precision_at_5pct"] > 3 * base_rate
    for baseline in ("random", "rules", "generic"):
        assert table.loc["model", "pr_auc"] > table.loc[baseline, "pr_auc"], baseline


def test_train_reports_labelled_fair_and_truth_figures_side_by_side(champion):
    from models.training import INSPECTION_TRUTH

    assert set(champion.fair_comparison) == {"random_quota", "ipw"}
    ipw = champion.fair_comparison["ipw"].set_index("scorer")
    assert set(ipw.index) == {"model", "random", "rules", "generic"}
    assert ipw.loc["model", "pr_auc"] > ipw.loc["random", "pr_auc"]
    truth = champion.truth_comparison.set_index("scorer")
    assert {"model", "generic", INSPECTION_TRUTH} <= set(truth.index)
    m = champion.metrics
    assert m["ipw_pr_auc_low"] <= m["ipw_pr_auc"] <= m["ipw_pr_auc_high"]
    # this small world's window holds a handful of random-quota violations: the run says the fair
    # estimate rests on few of them (the estimator itself is checked in tests/models/test_fairness.py)
    assert m["ipw_effective_violations"] < 30
    assert champion.outcomes.read == champion.outcomes.kept  # nothing set aside on a clean world


def test_champion_loads_in_a_fresh_process(champion, small_world):
    code = (
        "from pipelines.mlflow_model import load_risk_model\n"
        "m = load_risk_model('models:/customs-risk@champion')\n"
        "import pandas as pd, numpy as np\n"
        "X = pd.DataFrame(np.nan, index=range(3), columns=m.feature_names)\n"
        "p = m.predict_proba(X)\n"
        "print(len(m.feature_names), len(p), float(p.min()) >= 0, float(p.max()) <= 1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    n_features, n, lo, hi = out.stdout.split()
    assert int(n_features) > 40 and n == "3" and lo == "True" and hi == "True"


def test_worse_challenger_is_not_promoted_and_rollback_works(champion, small_world):
    from mlflow import MlflowClient

    from pipelines.registry import list_versions, promote, rollback
    from pipelines.train_flow import train_flow

    worse = train_flow(
        bundle=small_world / "bundle",
        params_override={"max_depth": 1, "eta": 0.01, "colsample_bytree": 0.1},
    )
    assert not worse.promoted
    assert "does not beat the champion" in worse.reason
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("customs-risk", "champion").version) == champion.version
    assert str(client.get_model_version_by_alias("customs-risk", "challenger").version) == worse.version

    promote("customs-risk", worse.version, "test: forced")
    assert str(client.get_model_version_by_alias("customs-risk", "champion").version) == worse.version
    old, new = rollback("customs-risk")
    assert (old, new) == (worse.version, champion.version)
    versions = list_versions("customs-risk")
    assert (
        isinstance(versions, pd.DataFrame)
        and "champion" in versions.set_index("version").loc[champion.version, "aliases"]
    )


def test_optional_search_logs_each_trial_as_a_nested_run(champion, small_world, tmp_path):
    import mlflow
    import yaml

    from pipelines.config import CONFIG_DIR
    from pipelines.train_flow import EXPERIMENT, train_flow

    cfg = yaml.safe_load((CONFIG_DIR / "train.yaml").read_text())
    cfg["search"] = {"enabled": True, "trials": 2}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = train_flow(bundle=small_world / "bundle", config_path=path, promote=False)
    run = mlflow.get_run(out.run_id)
    parent = run.data.tags["search_run_id"]
    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    children = mlflow.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 2
    assert not out.promoted


def test_too_little_history_is_one_clear_line_not_a_traceback(homes, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app
    from synth import generate_world, write_world

    write_world(generate_world(seed=5, days=20, rows_per_day=100), tmp_path / "thin")
    result = CliRunner().invoke(app, ["train", "--bundle", str(tmp_path / "thin" / "bundle")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "leaves 0 labelled rows to train" in result.output
    assert "split.validation_days, now 30" in result.output


def test_the_training_run_is_named_logs_its_data_and_describes_its_version(champion):
    import mlflow
    from mlflow import MlflowClient

    run = mlflow.get_run(champion.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith(f"v{champion.version} champion, data to ")
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.name == "labelled declarations of bundle"
    assert any(tag.key == "mlflow.data.context" and tag.value == "training" for tag in inputs[0].tags)
    description = MlflowClient().get_model_version("customs-risk", champion.version).description
    assert "Fair " in description and "Against the champion: first model" in description
    assert description.rstrip().endswith("Decision: promoted to champion.")
    reference = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/drift/reference.json")
    assert "risk_score" in reference["profiles"] and reference["window"]["rows"] > 0
