"""The case store: idempotent upserts, decided cases kept, outcomes exported per the contract.

Every store test runs on SQLite and on PostgreSQL (``empty_database_url`` is parametrized).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from data.io import load_table
from review.auth import load_or_create_secret
from review.db import MIGRATIONS_DIR, sqlite_file
from review.demo import demo_cases
from review.schema import Base
from review.store import AUDIT, CASES, CaseStore, OutcomeValues, open_store

VIOLATION = OutcomeValues("violation", "mislabel", 125_000.5, "rare earth oxide under iron ore")


@pytest.fixture
def empty_store(empty_database_url: str):
    store = open_store(empty_database_url)
    store.add_user("alice", "investigator", "correct horse battery", actor="test")
    yield store
    store.close()


def count_cases(store: CaseStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(CASES)).scalar_one()


def test_upsert_twice_creates_no_duplicates(empty_store: CaseStore) -> None:
    cases = demo_cases(20, seed=1)
    assert empty_store.upsert_cases(cases) == {"inserted": 20, "updated": 0, "unchanged_decided": 0}
    assert empty_store.upsert_cases(cases) == {"inserted": 0, "updated": 20, "unchanged_decided": 0}
    assert count_cases(empty_store) == 20


def test_upsert_leaves_its_input_alone(empty_store: CaseStore) -> None:
    cases = demo_cases(3, seed=1)
    before = cases.copy(deep=True)
    empty_store.upsert_cases(cases)
    pd.testing.assert_frame_equal(cases, before)


def test_rescoring_refreshes_an_undecided_case(empty_store: CaseStore) -> None:
    cases = demo_cases(2, seed=1)
    empty_store.upsert_cases(cases)
    reasons = json.dumps([{"feature": "f", "text": "new", "contribution": 1}])
    rescored = cases.assign(risk_score=0.99, channel="red", model_version="8", reasons=reasons)
    assert empty_store.upsert_cases(rescored)["updated"] == 2
    case = empty_store.get_case("D000000")
    assert (case.risk_score, case.model_version, case.version) == (0.99, "8", 1)
    assert json.loads(case.reasons)[0]["text"] == "new"


def test_a_decided_case_is_never_overwritten(empty_store: CaseStore) -> None:
    cases = demo_cases(3, seed=1)
    empty_store.upsert_cases(cases)
    alice = empty_store.get_account("alice")
    assert empty_store.record_outcome("D000001", 1, alice, VIOLATION).status == "saved"
    before = empty_store.get_case("D000001")
    counts = empty_store.upsert_cases(cases.assign(risk_score=0.01, model_version="9"))
    assert counts == {"inserted": 0, "updated": 2, "unchanged_decided": 1}
    after = empty_store.get_case("D000001")
    assert after._asdict() == before._asdict()
    assert empty_store.get_case("D000000").model_version == "9"


def test_not_inspected_counts_as_decided(empty_store: CaseStore) -> None:
    cases = demo_cases(1, seed=1)
    empty_store.upsert_cases(cases)
    alice = empty_store.get_account("alice")
    empty_store.record_outcome("D000000", 1, alice, OutcomeValues("not_inspected", None, None, ""))
    assert empty_store.upsert_cases(cases)["unchanged_decided"] == 1


def test_a_repeated_id_in_one_frame_keeps_the_last_row(empty_store: CaseStore) -> None:
    cases = demo_cases(2, seed=1)
    twice = pd.concat([cases, cases.iloc[[0]].assign(risk_score=0.42)], ignore_index=True)
    assert empty_store.upsert_cases(twice)["inserted"] == 2
    assert empty_store.get_case("D000000").risk_score == 0.42


def test_missing_optional_columns_get_defaults(empty_store: CaseStore) -> None:
    slim = demo_cases(1, seed=1)[["declaration_id", "manifest_day", "channel", "risk_score", "selected_by"]]
    empty_store.upsert_cases(slim)
    case = empty_store.get_case("D000000")
    assert (case.reasons, case.ownership_path, case.rule_hits, case.declared_at) == ("[]", "[]", "", None)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"channel": "green"}, "channel"),
        ({"selected_by": ""}, "selected_by"),
        ({"risk_score": 1.5}, "risk_score"),
    ],
)
def test_bad_cases_are_refused_whole(empty_store: CaseStore, change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        empty_store.upsert_cases(demo_cases(2, seed=1).assign(**change))
    assert count_cases(empty_store) == 0


def test_missing_required_column_is_named(empty_store: CaseStore) -> None:
    with pytest.raises(ValueError, match="risk_score"):
        empty_store.upsert_cases(demo_cases(1).drop(columns="risk_score"))


def test_export_is_readable_as_contract_inspections(empty_store: CaseStore, tmp_path: Path) -> None:
    empty_store.upsert_cases(demo_cases(4, seed=1))
    alice = empty_store.get_account("alice")
    empty_store.record_outcome("D000000", 1, alice, VIOLATION)
    empty_store.record_outcome("D000001", 1, alice, OutcomeValues("clear", None, None, "ok"))
    empty_store.record_outcome("D000002", 1, alice, OutcomeValues("not_inspected", None, None, "no capacity"))
    out = tmp_path / "exports" / "outcomes.csv"
    assert empty_store.export_outcomes(out) == 2
    loaded = load_table(out, "inspections")
    assert loaded.rows_quarantined == 0 and len(loaded.problems) == 0
    clean = loaded.clean.set_index("declaration_id")
    assert set(clean.index) == {"D000000", "D000001"}  # not inspected = unlabelled
    assert clean.loc["D000000", "outcome"] == "violation"
    assert clean.loc["D000000", "typology"] == "mislabel"
    assert float(clean.loc["D000000", "seized_value_usd"]) == 125_000.5
    expected = demo_cases(4, seed=1).head(2).set_index("declaration_id")["selected_by"]
    assert clean["selected_by"].astype(str).to_dict() == expected.to_dict()
    header = out.read_text().splitlines()[0]
    assert header == (
        "declaration_id,inspected_on,outcome,typology,found_hs_code,seized_value_usd,selected_by"
    )
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_export_with_no_outcomes_writes_a_header(empty_store: CaseStore, tmp_path: Path) -> None:
    out = tmp_path / "outcomes.csv"
    assert empty_store.export_outcomes(out) == 0
    assert len(load_table(out, "inspections").clean) == 0


def test_stale_version_is_a_conflict_and_saves_nothing(empty_store: CaseStore) -> None:
    empty_store.upsert_cases(demo_cases(1, seed=1))
    alice = empty_store.get_account("alice")
    assert empty_store.record_outcome("D000000", 1, alice, VIOLATION).status == "saved"
    clear = OutcomeValues("clear", None, None, "")
    result = empty_store.record_outcome("D000000", 1, alice, clear)
    assert result.status == "conflict" and result.case.version == 2
    assert empty_store.get_case("D000000").outcome == "violation"


def test_every_change_is_audited(empty_store: CaseStore) -> None:
    empty_store.upsert_cases(demo_cases(1, seed=1))
    empty_store.record_outcome("D000000", 1, empty_store.get_account("alice"), VIOLATION)
    rows, total = empty_store.audit_page(declaration_id="D000000")
    changed = {r.field: (r.before, r.after) for r in rows}
    assert changed["outcome"] == (None, "violation")
    assert changed["status"] == ("open", "unconfirmed")  # a violation waits for a second look
    assert changed["assignee"] == (None, "alice")
    assert changed["seized_value_usd"] == (None, "125000.5")
    assert {r.username for r in rows} == {"alice"}
    assert total == len(rows) == len(list(empty_store.iter_audit(declaration_id="D000000")))


def test_users_are_checked(empty_store: CaseStore) -> None:
    with pytest.raises(ValueError, match="already exists"):
        empty_store.add_user("alice", "investigator", "another long password", actor="t")
    with pytest.raises(ValueError, match="at least"):
        empty_store.add_user("carol", "investigator", "short", actor="t")
    with pytest.raises(ValueError, match="role"):
        empty_store.add_user("carol", "boss", "a long enough password", actor="t")
    with pytest.raises(ValueError, match="username"):
        empty_store.add_user("Carol <x>", "investigator", "a long enough password", actor="t")
    assert empty_store.authenticate("alice", "correct horse battery").role == "investigator"
    assert empty_store.authenticate("alice", "wrong password!") is None
    assert empty_store.authenticate("nobody", "correct horse battery") is None


def test_the_last_admin_stays(empty_store: CaseStore) -> None:
    empty_store.add_user("ada", "admin", "a long enough password", actor="t")
    with pytest.raises(ValueError, match="last active admin"):
        empty_store.update_user("ada", actor="ada", active=False)
    empty_store.update_user("alice", actor="ada", role="admin")
    assert empty_store.update_user("ada", actor="ada", role="supervisor").role == "supervisor"


def test_migrations_match_the_models(empty_store: CaseStore) -> None:
    with empty_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    assert diff == []
    assert version == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_opening_twice_is_harmless(empty_database_url: str) -> None:
    url = empty_database_url
    open_store(url).close()
    if (path := sqlite_file(url)) is not None:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = open_store(url)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AUDIT)).scalar_one() == 0
    store.close()


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "cases.db.review-secret"
    secret = load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret and len(secret) >= 32
