"""One rule for formula-like cells: written with a ' before them (pipeline outputs, the review
app's exports) and read back exactly where training reads exported outcomes, so an id written
as '=D001 still matches declaration =D001."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.io import (
    load_bundle,
    spreadsheet_escape,
    spreadsheet_safe,
    spreadsheet_unescape,
    spreadsheet_unsafe,
)

TRICKY = ["=D001", "+31 20", "-5", "@SUM(A1)", "\tX", "\rY", "'=quoted", "''+twice", "plain", "'plain", ""]


@pytest.mark.parametrize("value", TRICKY)
def test_a_cell_reads_back_exactly_and_is_never_a_formula(value: str) -> None:
    written = spreadsheet_escape(value)
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert spreadsheet_unescape(written) == value


def test_the_frame_rule_is_the_cell_rule() -> None:
    frame = pd.DataFrame({"id": TRICKY, "n": range(len(TRICKY))})
    frame.loc[3, "id"] = None
    safe = spreadsheet_safe(frame)
    expected = [v if pd.isna(v) else spreadsheet_escape(v) for v in frame["id"]]
    assert safe["id"].tolist() == expected and safe["n"].tolist() == frame["n"].tolist()
    assert spreadsheet_unsafe(safe)["id"].tolist() == frame["id"].tolist()
    assert frame.loc[0, "id"] == "=D001"  # the input frame is left as it was


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from synth import generate_world, write_world

    out = tmp_path_factory.mktemp("formula-ids") / "w"
    write_world(generate_world(seed=5, days=8, rows_per_day=40), out)
    return out / "bundle"


def test_an_exported_outcome_of_a_formula_like_id_matches_its_declaration(bundle: Path, tmp_path) -> None:
    from review.demo import demo_cases
    from review.store import OutcomeValues, open_store

    declarations_file = next((bundle / "declarations").glob("*.csv"))
    declarations = pd.read_csv(declarations_file, dtype=str, keep_default_na=False)
    inspected = set(pd.read_csv(bundle / "inspections.csv", dtype=str)["declaration_id"])
    original = next(i for i in declarations["declaration_id"] if i not in inspected)
    odd_id = "=" + original  # an id a spreadsheet would run as a formula
    declarations.loc[declarations["declaration_id"] == original, "declaration_id"] = odd_id
    declarations.to_csv(declarations_file, index=False)

    store = open_store(f"sqlite:///{tmp_path / 'cases.db'}")
    store.add_user("alice", "investigator", "tidal copper lantern", actor="test")
    store.upsert_cases(demo_cases(1, seed=1).assign(declaration_id=odd_id))
    violation = OutcomeValues("violation", "no_license", 1200.0, "")
    assert store.record_outcome(odd_id, 1, store.get_account("alice"), violation).status == "saved"
    exported = tmp_path / "recorded.csv"
    assert store.export_outcomes(exported) == 1
    store.close()
    assert exported.read_text().splitlines()[1].startswith(f"'{odd_id},")  # escaped on the way out

    loaded = load_bundle(bundle, extra_outcomes=[exported])
    outcomes = loaded.tables["inspections"].set_index("declaration_id")
    assert outcomes.loc[odd_id, "outcome"] == "violation"  # matched its declaration
    assert outcomes.loc[odd_id, "typology"] == "no_license"
    assert "'" + odd_id not in outcomes.index
