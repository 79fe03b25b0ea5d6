"""The backtest flow on a small generated world: 4 weeks, two strategies, each learning only the
outcomes of the items it selected."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_backtest_two_strategies_learn_only_what_they_selected(homes, small_world, tmp_path):
    import mlflow

    from pipelines.backtest_flow import EXPERIMENT, backtest_flow

    out = tmp_path / "bt"
    outcome = backtest_flow(
        bundle=small_world / "bundle",
        out=out,
        weeks=4,
        strategies=["exploit", "random"],
        truth=sorted((small_world / "truth").glob("history_truth.*")),
    )
    rows = pd.read_csv(out / "backtest.csv")
    assert len(rows) == 8 and set(rows["strategy"]) == {"exploit", "random"}
    assert rows["week_start"].nunique() == 4
    assert (rows["violations_found"] <= rows["selected"]).all()
    assert rows["recall"].between(0, 1).all() and rows["precision"].between(0, 1).all()
    assert (rows.loc[rows["strategy"] == "exploit", "exploration_share"] == 0).all()
    assert (rows.loc[rows["strategy"] == "random", "exploration_share"] > 0).any()
    assert (out / "report.html").read_text().count("<table") == 2
    assert (out / "curves.png").stat().st_size > 10_000

    result = outcome.result
    truth = pd.concat(
        [
            pd.read_csv(p, dtype={"declaration_id": str})
            for p in (small_world / "truth").glob("history_truth.*")
        ]
    )
    found = truth.set_index("declaration_id")["found_if_inspected"]
    initial = result.initial_ids
    n_initial = len(result.states["exploit"].labels) - sum(
        len(r) for r in result.states["exploit"].revealed_ids
    )
    assert len(initial) == n_initial > 0
    revealed_sets = {}
    for name, st in result.states.items():
        assert len(st.selected_ids) == len(st.revealed_ids) == 4
        known = set(initial)
        for week, (selected, revealed) in enumerate(zip(st.selected_ids, st.revealed_ids, strict=True)):
            # the week's features read only the outcomes known before it: the shared start + its own reveals
            assert st.feature_label_ids[week] == known
            assert set(revealed) <= set(selected), (
                f"{name} learned an outcome it did not select in week {week}"
            )
            known |= set(revealed)
        learned = st.labels.iloc[n_initial:]
        assert set(learned["declaration_id"]) == known - initial
        # labels are what an inspection would find, for the selected items only
        assert np.array_equal(
            learned["violation"].to_numpy(), found.reindex(learned["declaration_id"]).astype(float).to_numpy()
        )
        # its model was trained on the shared start and on its own reveals, nothing else
        assert set(st.ids) - initial == set(learned["declaration_id"])
        assert len(st.ids) == len(st.y) == len(st.X)
        revealed_sets[name] = set(learned["declaration_id"])
    assert revealed_sets["exploit"] != revealed_sets["random"]  # each kept its own labels

    client = mlflow.tracking.MlflowClient()
    run = client.get_run(outcome.run_id)
    assert run.info.experiment_id == mlflow.get_experiment_by_name(EXPERIMENT).experiment_id
    history = client.get_metric_history(outcome.run_id, "random_recall")
    assert [m.step for m in history] == [0, 1, 2, 3]
