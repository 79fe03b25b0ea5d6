"""Back into learning: outcomes investigators record in the case store reach the next training."""

from __future__ import annotations

import shutil

import mlflow
import pandas as pd


def test_a_retrain_uses_the_outcomes_recorded_in_the_review_app(champion, small_world, tmp_path):
    from data.io import load_table
    from pipelines.score_flow import score_flow
    from pipelines.train_flow import train_flow
    from review.store import OutcomeValues, open_store

    world = tmp_path / "world"
    shutil.copytree(small_world, world)
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    manifest = sorted((world / "manifest").glob("*.csv"))[-1]
    day = score_flow(
        manifest=manifest,
        bundle=world / "bundle",
        out=tmp_path / "out",
        database_url=url,
        append_to_history=True,
    )
    assert (world / "bundle" / "declarations" / f"scored_{day.day}.parquet").exists()

    store = open_store(url)
    investigator = store.add_user("ivan", "investigator", "a long enough passphrase", actor="test")
    flagged = pd.read_parquet(day.out_dir / "scored.parquet").query("channel != 'green'")
    ids = flagged["declaration_id"].head(6).tolist()
    decided = (
        [("violation", "mislabel", 125000.0)] * 3
        + [("clear", None, None)] * 2
        + [("not_inspected", None, None)]
    )
    for case_id, (outcome, typology, seized) in zip(ids, decided, strict=True):
        version = store.get_case(case_id).version
        result = store.record_outcome(
            case_id, version, investigator, OutcomeValues(outcome, typology, seized, "checked at the quay")
        )
        assert result.status == "saved", result
    export = tmp_path / "recorded.csv"
    assert store.export_outcomes(export) == 5  # "not inspected" is unlabelled, not clean
    exported = load_table(export, "inspections")
    assert exported.rows_quarantined == 0
    assert set(exported.clean["selected_by"]) <= {"rule", "model", "exploration"}

    before = len(pd.read_csv(world / "bundle" / "inspections.csv"))
    run = train_flow(bundle=world / "bundle", outcomes=[export], promote=False)
    fingerprint = mlflow.artifacts.load_dict(f"runs:/{run.run_id}/data/fingerprint.json")
    assert fingerprint["inspections"] == before + 5
