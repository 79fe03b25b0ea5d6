"""The flows themselves on Dask (``--dask local``: a two-worker ``LocalCluster`` for the run)
give the single-machine answers: the same scores, channels and reasons for a day, and a
trained model that ranks the validation window like the one trained here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# no row or column sampling: its random draws are made per worker, so they differ on a cluster
EXACT = {
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "colsample_bynode": 1.0,
}  # no sampling: the two must agree


@pytest.fixture(scope="module")
def two_days(champion, small_world, tmp_path_factory):
    """The same manifest scored with the same champion, on this machine and on Dask."""
    from pipelines.score_flow import score_flow

    tmp = tmp_path_factory.mktemp("dask-score")
    manifest = sorted((small_world / "manifest").glob("*.csv"))[-1]
    runs = {}
    for name, dask in (("one", "off"), ("dask", "local")):
        runs[name] = score_flow(
            manifest=manifest,
            bundle=small_world / "bundle",
            out=tmp / name,
            database_url=f"sqlite:///{tmp / name}.db",
            dask=dask,
        )
    return runs


def _scored(outcome) -> pd.DataFrame:
    return pd.read_parquet(Path(outcome.out_dir) / "scored.parquet")


def test_a_day_scored_on_dask_has_the_same_scores_channels_and_reasons(two_days):
    one, dask = _scored(two_days["one"]), _scored(two_days["dask"])
    assert len(one) == len(dask) > 300
    assert one["declaration_id"].tolist() == dask["declaration_id"].tolist()
    np.testing.assert_allclose(dask["risk_score"], one["risk_score"], rtol=0, atol=1e-6)
    assert (one["channel"] == dask["channel"]).all()
    assert (one["selected_by"] == dask["selected_by"]).all()
    flagged = one["channel"] != "green"
    assert flagged.sum() > 10
    for k in (1, 2, 3):
        assert (one[f"reason_{k}"] == dask[f"reason_{k}"]).all()
        np.testing.assert_allclose(dask[f"contribution_{k}"], one[f"contribution_{k}"], rtol=0, atol=1e-5)
    assert two_days["one"].cases == two_days["dask"].cases


def test_the_day_summary_says_where_it_ran(two_days):
    summaries = {k: json.loads((Path(v.out_dir) / "summary.json").read_text()) for k, v in two_days.items()}
    assert summaries["one"]["engine"] == "this machine"
    assert summaries["dask"]["engine"] == "Dask local cluster (2 workers, 2 threads)"


def test_training_on_dask_ranks_the_validation_window_like_one_machine(champion, small_world):
    from mlflow import MlflowClient

    from pipelines.train_flow import train_flow

    bundle = small_world / "bundle"
    one = train_flow(bundle=bundle, params_override=EXACT, promote=False, dask="off")
    dask = train_flow(bundle=bundle, params_override=EXACT, promote=False, dask="local")

    tags = MlflowClient().get_run(dask.run_id).data.tags
    assert tags["engine"] == "Dask local cluster (2 workers, 2 threads)"
    assert MlflowClient().get_run(one.run_id).data.tags["engine"] == "this machine"
    assert not dask.promoted and not one.promoted
    # the same labelled validation window, the same baselines (the generic one refitted on Dask)
    a, b = one.comparison.set_index("scorer"), dask.comparison.set_index("scorer")
    assert a.loc["random"].equals(b.loc["random"]) and a.loc["rules"].equals(b.loc["rules"])
    for scorer in ("model", "generic"):
        assert abs(a.loc[scorer, "pr_auc"] - b.loc[scorer, "pr_auc"]) < 0.01
        assert abs(a.loc[scorer, "precision@5%"] - b.loc[scorer, "precision@5%"]) < 0.05
