"""Daily scoring end to end on a small world: rows in = scored + quarantined, capacity, reasons,
idempotent reruns and cases, and no partial output when a run dies."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


def _manifest(world: Path) -> Path:
    return sorted((world / "manifest").glob("*.csv"))[-1]


def _hostile_manifest(world: Path, tmp: Path) -> Path:
    rows = pd.read_csv(_manifest(world), dtype=str, keep_default_na=False)
    bad = rows.head(4).copy()
    bad["declaration_id"] = [f"BAD{i}" for i in range(4)]
    bad.loc[bad.index[0], "gross_weight_kg"] = "-3"
    bad.loc[bad.index[1], "hs_code"] = "<script>alert(1)</script>"
    bad.loc[bad.index[2], "declared_at"] = "yesterday"
    bad.loc[bad.index[3], "goods_description"] = '=HYPERLINK("http://x")'  # valid, but risky in CSV
    path = tmp / "hostile.csv"
    pd.concat([rows, bad]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored_day(champion, small_world, tmp_path_factory):
    from pipelines.score_flow import score_flow

    tmp = tmp_path_factory.mktemp("score")
    manifest = _hostile_manifest(small_world, tmp)
    result = score_flow(manifest=manifest, bundle=small_world / "bundle", out=tmp / "out")
    return result, manifest, tmp


def test_rows_in_equal_scored_plus_quarantined(scored_day):
    result, manifest, _ = scored_day
    n_in = len(pd.read_csv(manifest, dtype=str))
    assert result.rows_in == n_in == result.rows_scored + result.rows_quarantined
    assert result.rows_quarantined == 3
    q = pd.read_csv(result.out_dir / "quarantine.csv", dtype=str)
    assert set(q["declaration_id"]) == {"BAD0", "BAD1", "BAD2"}  # the contract's name for the id
    assert "declaration_id" in pd.read_csv(result.out_dir / "quarantine_problems.csv", dtype=str).columns
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    assert "BAD3" in set(scored["declaration_id"])
    csv_text = (result.out_dir / "scored.csv").read_text()
    assert "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text


def test_channels_respect_capacity_and_flags_have_three_reasons(scored_day):
    result, _, _ = scored_day
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    n = len(scored)
    red = scored[scored["channel"] == "red"]
    rule_red = (red["selected_by"] == "rule").sum()
    assert len(red) <= max(-(-0.02 * n // 1), rule_red)
    assert (scored["channel"] == "yellow").sum() <= -(-0.05 * n // 1)
    red_cap = -(-0.02 * n // 1)
    explore = min(round(0.1 * red_cap), max(red_cap - rule_red, 0))
    assert (red["selected_by"] == "exploration").sum() == explore
    flagged = scored[scored["channel"] != "green"]
    assert len(flagged) > 0
    for k in (1, 2, 3):
        assert flagged[f"reason_{k}"].str.len().gt(10).all()
    assert scored["risk_score"].between(0, 1).all()
    hits = scored[scored["rule_hits"] != ""]
    assert (hits["channel"] != "green").all()


def test_quarantined_declarations_are_held_for_correction_in_summary_report_and_cases(scored_day):
    from pipelines.settings import load_settings
    from review.store import Account, CaseQuery, open_store

    result, _, _ = scored_day
    summary = json.loads((result.out_dir / "summary.json").read_text())
    held = summary["held_for_correction"]
    assert held["count"] == result.rows_quarantined == 3
    assert held["ids"] == ["BAD0", "BAD1", "BAD2"] and held["rows_without_readable_id"] == []
    html = (result.out_dir / "report.html").read_text()
    section = html[html.index("HELD FOR CORRECTION") :]
    assert all(i in section for i in ("BAD0", "BAD1", "BAD2"))
    assert "gross_weight_kg" in section and "&lt;script&gt;" in section  # its problems, escaped
    store = open_store(load_settings().database_url)
    case = store.get_case("BAD1")
    assert (case.channel, case.status, case.manifest_day.isoformat()) == ("held", "held", summary["day"])
    assert "hs_code" in json.loads(case.reasons)[0]["text"]
    queue = store.query_cases(CaseQuery(channel="held"), Account("sam", "supervisor", True))
    assert {r.declaration_id for r in queue.rows} == {"BAD0", "BAD1", "BAD2"}
    store.close()


def test_rule_hits_score_at_least_the_red_threshold_and_lead_with_the_rule(scored_day):
    result, _, _ = scored_day
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    summary = json.loads((result.out_dir / "summary.json").read_text())
    rule_red = scored[(scored["selected_by"] == "rule") & (scored["channel"] == "red")]
    model_red = scored[(scored["selected_by"] == "model") & (scored["channel"] == "red")]
    assert len(rule_red) > 0, "the small world has no rule hit to check"
    floor = summary["rule_score_floor"]["red"]
    below = scored.loc[scored["channel"] != "red", "risk_score"].max()
    # the lowest score the model put in red; when rule hits fill red, the best score left below it
    threshold = model_red["risk_score"].min() if len(model_red) else below
    assert floor == pytest.approx(threshold, abs=1e-6)
    assert (rule_red["risk_score"] >= floor - 1e-6).all()
    assert (rule_red["risk_score"] >= below - 1e-6).all()  # score and channel agree
    assert rule_red["reason_1"].str.startswith("hard rule ").all()
    # the license rule's reason names what failed (after another rule's reason if both hit)
    licensed = rule_red[rule_red["rule_hits"].str.contains("controlled_without_valid_license")]
    texts = licensed[["reason_1", "reason_2"]].agg(" | ".join, axis=1)
    assert texts.str.contains(r"hard rule controlled_without_valid_license: .*; (?:no )?license ").all()


def test_without_licenses_the_license_rule_warns_naming_the_table(champion, small_world, tmp_path, capsys):
    import shutil

    from pipelines.score_flow import score_flow

    bundle = tmp_path / "bundle"
    shutil.copytree(small_world / "bundle", bundle)
    (bundle / "licenses.csv").unlink()
    result = score_flow(
        manifest=_manifest(small_world),
        bundle=bundle,
        out=tmp_path / "out",
        database_url=f"sqlite:///{tmp_path / 'cases.db'}",
    )
    summary = json.loads((result.out_dir / "summary.json").read_text())
    warned = [w for w in summary["warnings"] if "controlled_without_valid_license" in w]
    assert warned and "licenses.csv" in warned[0]
    left_out = "left out of today's features: license: licenses table absent, license coverage left empty"
    assert left_out in summary["warnings"]
    report = (result.out_dir / "report.html").read_text()
    assert "controlled_without_valid_license cannot select anything" in report
    assert left_out.replace("'", "&#39;") in report
    assert "licenses.csv" in capsys.readouterr().out


def test_red_channel_catches_planted_violations(scored_day, small_world):
    result, _, _ = scored_day
    truth = pd.read_csv(small_world / "truth" / "manifest_truth.csv", dtype={"declaration_id": str})
    scored = pd.read_parquet(result.out_dir / "scored.parquet").merge(truth, on="declaration_id")
    base = scored["is_violation"].mean()
    red_precision = scored.loc[scored["channel"] == "red", "is_violation"].mean()
    assert red_precision > 5 * base, (red_precision, base)


def test_report_is_self_contained_and_escapes_declared_text(scored_day):
    result, _, _ = scored_day
    html = (result.out_dir / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "<img" not in html  # every picture is drawn inline, nothing fetched
    drivers = html.split('<svg class="drivers"', 1)[1].split("</svg>", 1)[0]
    assert drivers.count("<rect") >= 3  # the day's strongest drivers, labelled by what they measure
    assert '<text class="label"' in drivers
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["rows_in"] == summary["rows_scored"] + summary["rows_quarantined"]


def test_the_day_is_compared_with_the_training_window_in_summary_report_and_mlflow(scored_day):
    import mlflow

    result, _, _ = scored_day
    drift = json.loads((result.out_dir / "summary.json").read_text())["drift"]
    assert drift["reference"].startswith("declarations of ")
    assert drift["score_psi"] is not None and drift["score_psi"] >= 0
    assert drift["psi_warn"] == 0.25
    assert drift["features_compared"] > 20 and not drift["note"]  # the day's features, not only the score
    html = (result.out_dir / "report.html").read_text()
    assert "Drift against the training window" in html and "risk_score" in html
    run = mlflow.get_run(drift["mlflow_run_id"])
    assert run.data.metrics["psi_risk_score"] == pytest.approx(drift["score_psi"], abs=1e-6)
    assert run.info.status == "FINISHED"


def test_rerun_gives_identical_outputs_and_no_duplicate_cases(scored_day, small_world):
    from pipelines.score_flow import score_flow
    from pipelines.settings import load_settings
    from review.store import open_store

    result, manifest, tmp = scored_day
    before = (result.out_dir / "scored.csv").read_bytes()
    again = score_flow(manifest=manifest, bundle=small_world / "bundle", out=tmp / "out")
    assert (again.out_dir / "scored.csv").read_bytes() == before
    assert again.cases["inserted"] == 0
    from sqlalchemy import text

    store = open_store(load_settings().database_url)
    flagged = pd.read_parquet(again.out_dir / "scored.parquet").query("channel != 'green'")
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("select declaration_id from cases"))]
    held = {"BAD0", "BAD1", "BAD2"}
    assert len(ids) == len(set(ids)) == len(flagged) + len(held)
    assert set(ids) == set(flagged["declaration_id"]) | held


def test_a_crash_mid_run_leaves_no_partial_output(champion, small_world, tmp_path, monkeypatch):
    import pipelines.report as report
    from pipelines.score_flow import score_flow

    def boom(**_):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(report, "render_report", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated"):
        score_flow(manifest=_manifest(small_world), bundle=small_world / "bundle", out=out)
    leftovers = list(out.rglob("*")) if out.exists() else []
    assert leftovers == []


def test_drop_folder_scores_good_files_and_sets_bad_ones_aside(champion, small_world, tmp_path):
    import shutil

    from pipelines.serve import ManifestsFailed, score_drop_folder

    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(_manifest(small_world), drop / "today.csv")
    (drop / "broken.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    bundle = tmp_path / "bundle"  # the drop folder's scoring adds the day to the history: a copy
    shutil.copytree(small_world / "bundle", bundle)
    state = score_drop_folder(
        drop_folder=str(drop), bundle=str(bundle), out=str(tmp_path / "out"), return_state=True
    )
    assert state.is_failed(), "a run with a failed manifest must not end Completed"
    with pytest.raises(ManifestsFailed) as failed:
        state.result()
    results = failed.value.results
    assert results["today.csv"].startswith("scored into")
    assert results["broken.csv"].startswith("failed: ")
    assert (drop / "processed" / "today.csv").exists()
    assert (drop / "failed" / "broken.csv").exists()
    assert "not a CSV text file" in (drop / "failed" / "broken.csv.error.txt").read_text()
    assert not list(drop.glob("*.csv"))
    assert len(list((bundle / "declarations").glob("scored_*.parquet"))) == 1


def test_scoring_without_a_champion_says_what_to_do(homes, small_world, tmp_path, monkeypatch):
    from pipelines.errors import NoChampionError
    from pipelines.score_flow import score_flow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(NoChampionError, match="train one first"):
        score_flow(manifest=_manifest(small_world), bundle=small_world / "bundle", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_day_already_in_the_history_is_counted_and_scores_the_same(champion, small_world, tmp_path):
    import shutil

    from pipelines.score_flow import score_flow

    bundle = tmp_path / "bundle"
    shutil.copytree(small_world / "bundle", bundle)
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    manifest = _manifest(small_world)
    first = score_flow(
        manifest=manifest, bundle=bundle, out=tmp_path / "a", database_url=db, append_to_history=True
    )
    again = score_flow(manifest=manifest, bundle=bundle, out=tmp_path / "b", database_url=db)

    summaries = [json.loads((r.out_dir / "summary.json").read_text()) for r in (first, again)]
    assert summaries[0]["already_in_history"] == 0
    assert summaries[1]["already_in_history"] == first.rows_scored > 0
    # the day's rows replace their history copies: the same features, the same scores
    a, b = (pd.read_parquet(r.out_dir / "scored.parquet") for r in (first, again))
    pd.testing.assert_series_equal(a["risk_score"], b["risk_score"])
    assert (a["channel"] == b["channel"]).all()


# ---------------------------------------------------------------- explanations in the outputs
RAW_FALLBACK = r"\(missing\)|\bnan\b|\bNone\b|\b0 inspections\b"


def _reason_texts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if c.startswith("reason_")]]


def test_flagged_reasons_never_show_a_missing_value_fallback(scored_day):
    result, _, _ = scored_day
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    flagged = scored[scored["channel"].isin(["red", "yellow"])]
    texts = _reason_texts(flagged).stack()
    texts = texts[texts != ""]
    assert len(texts) >= 3 * len(flagged) > 0
    bad = texts[texts.str.contains(RAW_FALLBACK)]
    assert bad.empty, bad.head(10).tolist()


@pytest.fixture(scope="module")
def explored_day(champion, small_world, tmp_path_factory):
    """The day scored with more red capacity, half of it exploration (the default leaves the
    small world's day none: its rule hits fill red)."""
    import yaml

    from pipelines.config import CONFIG_DIR
    from pipelines.score_flow import score_flow

    tmp = tmp_path_factory.mktemp("explored")
    config = yaml.safe_load((CONFIG_DIR / "scoring.yaml").read_text())
    config["capacity"].update(red_rate=0.06, exploration_share=0.5)
    (tmp / "scoring.yaml").write_text(yaml.safe_dump(config))
    return score_flow(
        manifest=_manifest(small_world),
        bundle=small_world / "bundle",
        out=tmp / "out",
        config_path=tmp / "scoring.yaml",
        database_url=f"sqlite:///{tmp / 'cases.db'}",
    )


def test_exploration_picks_say_so_and_show_what_lowers_their_risk(explored_day):
    scored = pd.read_parquet(explored_day.out_dir / "scored.parquet")
    explore = scored[scored["selected_by"] == "exploration"]
    assert len(explore) > 0, "the small world's day has no exploration pick to check"
    lowers = _reason_texts(explore).apply(lambda col: col.str.startswith("lowers the risk: ")).any(axis=1)
    assert lowers.all(), explore.loc[~lowers, "declaration_id"].tolist()
    raises = _reason_texts(explore).apply(lambda col: col.str.startswith("raises the risk: ")).any(axis=1)
    assert raises.any()
    assert explore["explanation"].str.contains("exploration pick").all()
    others = scored[scored["channel"].isin(["red", "yellow"]) & (scored["selected_by"] != "exploration")]
    assert not others["explanation"].str.contains("exploration").any()


def test_red_cases_carry_a_typology_hint_and_their_reasons_kinds_and_start_value(scored_day):
    from models.evidence import KINDS
    from pipelines.settings import load_settings
    from review.store import open_store

    result, _, _ = scored_day
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    red = scored[(scored["channel"] == "red") & (scored["selected_by"] != "exploration")]
    store = open_store(load_settings().database_url)
    try:
        cases = [store.get_case(i) for i in red["declaration_id"]]
    finally:
        store.close()
    typologies = {"mislabel", "undervaluation", "blending", "concealment", "no_license", "routing", "shell"}
    hints = [c.typology_hint for c in cases]
    assert all(hints), [c.declaration_id for c in cases if not c.typology_hint]
    assert all(set(h.split(";")) <= typologies for h in hints), hints
    for case in cases:
        reasons = json.loads(case.reasons)
        model = [r for r in reasons if not r["feature"].startswith("rule:")]
        assert all(r["kind"] in KINDS for r in model), model
        assert -10 < reasons[0]["start_log_odds"] < 10  # the model's start value, for the waterfall


def test_the_report_waterfall_names_steps_by_their_reasons_from_a_start_value(scored_day):
    import html as html_lib
    import re

    from features.build import feature_names

    result, _, _ = scored_day
    page = (result.out_dir / "report.html").read_text()
    cards = page.split('<div class="card">')[1:]
    assert cards and all('<svg class="waterfall"' in c for c in cards)
    raw_names = set(feature_names())
    scored = pd.read_parquet(result.out_dir / "scored.parquet").set_index("declaration_id")
    model_cards = 0
    for card in cards:
        svg = card[card.index('<svg class="waterfall"') : card.index("</svg>")]
        labels = [html_lib.unescape(t) for t in re.findall(r"<title>([^<]*): [0-9.]+ &#8594;", svg)]
        assert labels[0] == "start: the model's average risk, before this declaration's evidence"
        assert labels[-1] == "risk score"
        steps = labels[1:-1]
        assert len(steps) >= 3 and not set(steps) & raw_names, steps
        assert not any(re.search(RAW_FALLBACK, s) for s in steps), steps
        # the chart ends at the published score
        case_id = html_lib.unescape(re.search(r"<b>([^<]+)</b> &middot; risk", card).group(1))
        final = re.findall(r'class="value"[^>]*>([0-9.]+)</text>', svg)[-1]
        assert float(final) == pytest.approx(scored.loc[case_id, "risk_score"], abs=1e-3)
        # a model pick's first reason (its largest push up) is a step of its chart, in the same words
        listed = [html_lib.unescape(t).strip() for t in re.findall(r"<li>([^<]*)<small>", card)]
        if "selected by model" in card:
            model_cards += 1
            assert listed[0] in steps, (listed, steps)
    assert model_cards > 0
