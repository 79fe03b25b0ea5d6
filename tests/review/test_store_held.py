"""Declarations held for correction in the case store: a case with channel and status 'held',
in the queue, refreshed by re-runs, opened when the corrected declaration is scored, and never
overwriting an investigator's decision.

Runs on SQLite and on PostgreSQL (``empty_database_url`` is parametrized).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.scoring import held_for_correction
from review.demo import demo_cases
from review.store import CaseQuery, CaseStore, OutcomeValues, open_store

QUARANTINE = pd.DataFrame(
    {
        "source": "today.csv",
        "table": "declarations",
        "row_number": [3, 7, 9, 12, 15],
        "declaration_id": ["H-1", "H-2", "", "H-1", "D000000"],
        "problems": [
            "gross_weight_kg '-3' must be greater than 0",
            "hs_code '<b>x</b>' must be 6 to 10 digits",
            "declaration_id (empty) is required",
            "declared_at 'yesterday' is not a date",
            "is a duplicate of row 2",
        ],
    }
)


@pytest.fixture
def store(empty_database_url: str):
    store = open_store(empty_database_url)
    store.add_user("alice", "investigator", "correct horse battery", actor="test")
    store.add_user("sam", "supervisor", "correct horse battery", actor="test")
    yield store
    store.close()


def held(day: str = "2026-11-23"):
    return held_for_correction(QUARANTINE, pd.Series(["D000000"]), day, source="today.csv")


def test_readable_ids_become_one_case_each_the_rest_are_named():
    h = held()
    assert h.ids == ["H-1", "H-2"]  # H-1's two bad rows make one case
    assert h.without_readable_id == [9]
    summary = h.summary()
    assert summary["count"] == 5
    assert summary["rows_whose_id_was_scored_from_another_row"] == [15]  # its valid twin was scored
    text = json.loads(h.cases.loc[h.cases["declaration_id"] == "H-1", "reasons"].iloc[0])[0]["text"]
    assert "row 3 of today.csv: gross_weight_kg '-3'" in text and "row 12 of today.csv: declared_at" in text


def test_held_cases_are_stored_as_held_and_listed_in_the_queue(store: CaseStore):
    counts = store.upsert_cases(held().cases)
    assert counts == {"inserted": 2, "updated": 0, "unchanged_decided": 0}
    case = store.get_case("H-2")
    assert (case.channel, case.status, case.selected_by, case.rule_hits) == (
        "held",
        "held",
        "rule",
        "held_for_correction",
    )
    assert "hs_code '<b>x</b>' must be 6 to 10 digits" in json.loads(case.reasons)[0]["text"]
    alice = store.get_account("alice")
    page = store.query_cases(CaseQuery(channel="held"), alice)
    assert [r.declaration_id for r in page.rows] == ["H-1", "H-2"]
    assert store.query_cases(CaseQuery(status="held"), alice).total == 2


def test_rerun_keeps_one_case_and_an_investigators_work(store: CaseStore):
    store.upsert_cases(held().cases)
    alice = store.get_account("alice")
    assert store.assign("H-1", 1, alice, "alice").status == "saved"  # now in review
    assert store.record_outcome(
        "H-2", 1, alice, OutcomeValues("violation", "no_license", None, "")
    ).status == ("saved")
    decided = store.get_case("H-2")._asdict()
    counts = store.upsert_cases(held().cases)
    assert counts == {"inserted": 0, "updated": 1, "unchanged_decided": 1}
    assert store.get_case("H-1").status == "in_review"
    assert store.get_case("H-2")._asdict() == decided


def test_a_corrected_declaration_scored_later_opens_its_case_and_a_held_open_one_is_held(store: CaseStore):
    store.upsert_cases(held().cases)
    red = demo_cases(2, seed=4).assign(declaration_id=["H-1", "R-9"], channel="red")
    store.upsert_cases(red)
    case = store.get_case("H-1")
    assert (case.channel, case.status) == ("red", "open")
    # R-9 was an open red case; a later manifest lodges it again with a defect: held
    again = held_for_correction(
        QUARANTINE.assign(declaration_id=["R-9", "", "", "", ""]), pd.Series([], dtype=str), "2026-11-24"
    )
    store.upsert_cases(again.cases)
    case = store.get_case("R-9")
    assert (case.channel, case.status, case.risk_score) == ("held", "held", 0.0)


def test_an_outcome_on_a_held_case_is_exported_as_a_rule_selection(store: CaseStore, tmp_path: Path):
    store.upsert_cases(held().cases)
    alice = store.get_account("alice")
    store.record_outcome("H-1", 1, alice, OutcomeValues("violation", "no_license", 10.0, "blanked code"))
    out = tmp_path / "recorded.csv"
    assert store.export_outcomes(out) == 1
    row = pd.read_csv(out, dtype=str).iloc[0]
    assert (row["declaration_id"], row["outcome"], row["selected_by"]) == ("H-1", "violation", "rule")


def test_the_review_queue_lists_held_cases_and_their_page_shows_the_problems(store: CaseStore, make_client):
    store.upsert_cases(held().cases)
    client = make_client("alice")
    queue = client.get("/cases", params={"channel": "held"})
    assert queue.status_code == 200
    assert 'href="/cases/H-1"' in queue.text and 'href="/cases/H-2"' in queue.text
    page = client.get("/cases/H-2")
    assert page.status_code == 200
    assert "held" in page.text
    assert "hs_code &#39;&lt;b&gt;x&lt;/b&gt;&#39; must be 6 to 10 digits" in page.text  # escaped
