"""No outcome is lost on load: an outcomes file written by someone else keeps every usable violation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from data.io import load_bundle, load_table


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from synth import generate_world, write_world

    out = tmp_path_factory.mktemp("outcomes") / "w"
    write_world(generate_world(seed=11, days=30, rows_per_day=150), out)
    return out / "bundle"


def _foreign_outcomes(bundle: Path) -> pd.DataFrame:
    """The bundle's outcomes as another administration would export them."""
    ins = pd.read_csv(bundle / "inspections.csv", dtype=str, keep_default_na=False)
    viol = ins.index[ins["outcome"] == "violation"]
    out = ins.drop(columns=["selected_by"]).assign(officer="J. Doe", station="north")
    out.loc[viol[0::4], "typology"] = "No License; routing"  # several, other case and spacing
    out.loc[viol[1::4], "typology"] = "misdeclaration"  # a word outside the usual list
    out.loc[viol[2::6], "seized_value_usd"] = "12,000 USD"  # not a number
    out.loc[viol[3::6], "seized_value_usd"] = "-5"  # negative
    out.loc[viol[5::8], "found_hs_code"] = "iron ore"  # not a code
    out.loc[viol[6::8], "inspected_on"] = ""  # no date recorded
    out.loc[viol[7::8], "outcome"] = "Seizure"  # another word for a violation
    return out


def test_an_outcomes_file_written_by_someone_else_loses_no_violation(bundle, tmp_path):
    foreign = tmp_path / "bundle"
    shutil.copytree(bundle, foreign)
    theirs = _foreign_outcomes(bundle)
    theirs.to_csv(foreign / "inspections.csv", index=False)
    b = load_bundle(foreign)
    kept = b.tables["inspections"]
    mine = pd.read_csv(bundle / "inspections.csv", dtype=str)
    assert set(kept["declaration_id"]) == set(mine["declaration_id"])
    assert kept["outcome"].eq("violation").sum() == mine["outcome"].eq("violation").sum()
    r = b.outcomes
    assert (r.read, r.kept, sum(r.set_aside.values())) == (len(mine), len(mine), 0)
    assert r.violations_kept == r.violations_read == int(mine["outcome"].eq("violation").sum())
    # the defective fields are blanked, the outcome kept, the problem reported
    assert kept["seized_value_usd"].isna().sum() >= len(theirs.index[theirs["seized_value_usd"] == "-5"])
    assert kept["typology"].str.contains("no_license;routing", regex=False).sum() > 0
    assert kept["typology"].str.contains("misdeclaration", regex=False).sum() > 0
    assert kept["inspected_on"].notna().all()
    assert r.dated_from_declaration == int((theirs["inspected_on"] == "").sum())
    reasons = " | ".join(r.kept_with_warning)
    for expected in (
        "seized_value_usd is not a number",
        "seized_value_usd must be 0 or more",
        "found_hs_code must be 6 to 10 digits",
        "typology holds a word outside",
    ):
        assert expected in reasons, reasons
    assert any("'Seizure' as violation" in n for n in b.notes)
    assert "officer" in kept.columns  # extra columns kept as text


def test_outcomes_without_a_declaration_are_counted_with_the_usual_cause(bundle, tmp_path):
    foreign = tmp_path / "bundle"
    shutil.copytree(bundle, foreign)
    ins = pd.read_csv(bundle / "inspections.csv", dtype=str, keep_default_na=False)
    extra = ins.head(3).assign(
        declaration_id=["NOT-IN-BUNDLE-1", "NOT-IN-BUNDLE-2", "NOT-IN-BUNDLE-3"], outcome="violation"
    )
    pd.concat([ins, extra]).to_csv(foreign / "inspections.csv", index=False)
    b = load_bundle(foreign)
    reason = "declaration_id matches no declaration in the bundle"
    assert b.outcomes.set_aside[reason] == 3
    assert b.outcomes.violations_set_aside[reason] == 3
    text = "\n".join(b.outcomes.lines())
    assert "never appended to the history" in text


def test_a_later_outcome_supersedes_an_earlier_one(bundle, tmp_path):
    foreign = tmp_path / "bundle"
    shutil.copytree(bundle, foreign)
    ins = pd.read_csv(bundle / "inspections.csv", dtype=str, keep_default_na=False)
    first = ins.iloc[0]
    later = pd.DataFrame(
        [
            {
                **first.to_dict(),
                "outcome": "violation",
                "typology": "shell",
                "inspected_on": (pd.Timestamp(first["inspected_on"]) + pd.Timedelta(days=3))
                .date()
                .isoformat(),
            }
        ]
    )
    recorded = tmp_path / "recorded.csv"
    later.to_csv(recorded, index=False)
    b = load_bundle(foreign, extra_outcomes=[recorded])
    row = b.tables["inspections"].set_index("declaration_id").loc[first["declaration_id"]]
    assert row["outcome"] == "violation" and row["typology"] == "shell"
    assert b.outcomes.set_aside["declaration_id superseded by a later outcome for the same declaration"] == 1


def test_an_unreadable_outcome_is_set_aside_with_its_reason_and_counted(tmp_path):
    path = tmp_path / "inspections.csv"
    path.write_text(
        "declaration_id,inspected_on,outcome,typology\n"
        "D1,2026-01-02,violation,no_license;routing\n"
        "D2,2026-01-02,maybe,\n"
        ",2026-01-02,violation,shell\n"
    )
    v = load_table(path, "inspections")
    assert list(v.clean["declaration_id"]) == ["D1"]
    assert v.clean["typology"].iloc[0] == "no_license;routing"
    assert set(v.quarantine["row_number"]) == {2, 3}
    held = v.quarantined_outcomes.set_index("row_number")["outcome"]
    assert held.loc[3] == "violation"  # the set-aside row's outcome is still counted as a violation


def test_numeric_found_codes_in_parquet_blank_the_column_not_the_outcomes(tmp_path):
    path = tmp_path / "inspections.parquet"
    pd.DataFrame(
        {
            "declaration_id": ["D1", "D2"],
            "inspected_on": pd.to_datetime(["2026-01-02", "2026-01-03"]),
            "outcome": ["violation", "clear"],
            "found_hs_code": [260111, 284690],
        }
    ).to_parquet(path)
    v = load_table(path, "inspections")
    assert len(v.clean) == 2 and v.clean["found_hs_code"].isna().all()
    assert any("leading zeros are lost" in n for n in v.notes)


def test_validate_reports_zero_set_aside_for_several_typologies_per_outcome(bundle, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    foreign = tmp_path / "bundle"
    shutil.copytree(bundle, foreign)
    ins = pd.read_csv(bundle / "inspections.csv", dtype=str, keep_default_na=False)
    viol = ins["outcome"] == "violation"
    ins.loc[viol, "typology"] = "no_license;routing;shell"
    ins.to_csv(foreign / "inspections.csv", index=False)
    result = CliRunner().invoke(app, ["validate", "--bundle", str(foreign)])
    assert result.exit_code == 0, result.output
    assert f"outcomes: {len(ins):,} read ({int(viol.sum()):,} violations): {len(ins):,} kept" in result.output
    assert "0 set aside" in result.output
    assert "typologies per violation: 3.00" in result.output
