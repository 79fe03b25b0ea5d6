"""PostgreSQL parity: where PostgreSQL differs from SQLite by default, the store still behaves the same.

The store tests run on both backends (``empty_database_url`` is parametrized): text order
under a natural-language collation, NUL characters, values longer than their column, time
zones, and concurrent writers (SQLite serializes them, PostgreSQL does not). The last test
drives the review web app and the outcomes export of the CLI on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from data.io import load_table
from pipelines.cli import app as cli
from review.app import create_app
from review.demo import demo_cases
from review.schema import Base
from review.store import (
    CASES,
    USERS,
    Account,
    CaseQuery,
    CaseStore,
    OutcomeValues,
    open_store,
    utcnow,
)
from tests.review.conftest import N_DEMO, PASSWORD, SECRET, csrf_of, login, version_of

SAM = Account("sam", "supervisor", True)
VIOLATION = OutcomeValues("violation", "mislabel", 125_000.5, "rare earth oxide under iron ore")


@pytest.fixture
def empty_store(empty_database_url: str):
    store = open_store(empty_database_url)
    yield store
    store.close()


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results or exceptions, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as err:  # collected for the test to look at
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# ---------------------------------------------------------------- text order
def test_text_sorts_by_code_point_on_every_backend(empty_store: CaseStore) -> None:
    # The test server's databases collate with ICU en-US, where "a_b" < "a1" < "B2" < "b-1".
    names = ["a_b", "a1", "a-c", "ab", "a.d"]
    for name in names:
        empty_store.add_user(name, "investigator", PASSWORD, actor="test")
    assert [a.username for a in empty_store.list_accounts()] == sorted(names)
    ids = ["b-1", "B2", "a_1", "a1", "A-1", "\u00e91", "e2", "Z9"]
    empty_store.upsert_cases(demo_cases(len(ids), seed=1).assign(declaration_id=ids, risk_score=0.5))
    page = empty_store.query_cases(CaseQuery(per_page=25), SAM)
    assert [r.declaration_id for r in page.rows] == sorted(ids)
    paged = [
        r.declaration_id
        for n in (1, 2, 3)
        for r in empty_store.query_cases(CaseQuery(per_page=3, page=n), SAM).rows
    ]
    assert paged == sorted(ids)
    ascending = empty_store.query_cases(CaseQuery(sort="risk_asc"), SAM)
    assert [r.declaration_id for r in ascending.rows] == sorted(ids)


def test_lookups_are_exact_on_every_backend(empty_store: CaseStore) -> None:
    # Case-sensitive equality on both (SQLite's "=" and PostgreSQL's deterministic collations).
    empty_store.upsert_cases(demo_cases(2, seed=1).assign(channel="red"))
    empty_store.add_user("alice", "investigator", PASSWORD, actor="test")
    assert empty_store.get_account("Alice") is None and empty_store.authenticate("ALICE", PASSWORD) is None
    assert empty_store.get_case("d000000") is None and empty_store.get_case("D000000 ") is None
    assert empty_store.query_cases(CaseQuery(channel="RED"), SAM).total == 0
    assert empty_store.query_cases(CaseQuery(channel="red"), SAM).total == 2


# ---------------------------------------------------------------- NUL characters
def test_nul_is_refused_when_written_and_finds_nothing_when_looked_up(empty_store: CaseStore) -> None:
    with pytest.raises(ValueError, match="NUL character in route"):
        empty_store.upsert_cases(demo_cases(2, seed=1).assign(route="CNSHA -> \x00 -> NLRTM"))
    with pytest.raises(ValueError, match="NUL character in declaration_id"):
        empty_store.upsert_cases(demo_cases(1, seed=1).assign(declaration_id="D\x00"))
    empty_store.upsert_cases(demo_cases(2, seed=1))
    empty_store.add_user("alice", "investigator", PASSWORD, actor="test")
    alice = empty_store.get_account("alice")
    assert empty_store.get_case("D000000\x00") is None
    assert empty_store.get_account("alice\x00") is None
    assert empty_store.authenticate("alice\x00", PASSWORD) is None
    assert empty_store.record_outcome("D000000\x00", 1, alice, VIOLATION).status == "not_found"
    with pytest.raises(ValueError, match="not an active investigator"):
        empty_store.assign("D000000", 1, SAM, "alice\x00")
    with pytest.raises(ValueError, match="no user"):
        empty_store.update_user("alice\x00", actor="test", role="supervisor")
    with pytest.raises(ValueError, match="NUL"):
        empty_store.record_outcome("D000000", 1, alice, OutcomeValues("clear", None, None, "a\x00b"))
    assert empty_store.query_cases(CaseQuery(assignee="alice\x00"), SAM).total == 0
    assert empty_store.audit_page(declaration_id="D\x00") == ([], 0)
    assert list(empty_store.iter_audit(username="\x00")) == []
    assert empty_store.get_case("D000000").version == 1


# ---------------------------------------------------------------- column widths
def test_values_longer_than_their_column_are_refused(empty_store: CaseStore) -> None:
    # SQLite stores any length in a VARCHAR(n); PostgreSQL raises: the store refuses on both.
    longest = "D" * CASES.c.declaration_id.type.length
    with pytest.raises(ValueError, match="declaration_id longer than 128"):
        empty_store.upsert_cases(demo_cases(1, seed=1).assign(declaration_id=longest + "1"))
    with pytest.raises(ValueError, match="model_version longer than 64"):
        empty_store.upsert_cases(demo_cases(1, seed=1).assign(model_version="v" * 65))
    assert empty_store.upsert_cases(demo_cases(1, seed=1).assign(declaration_id=longest))["inserted"] == 1
    assert empty_store.get_case(longest) is not None
    with pytest.raises(ValueError, match="2-64 characters"):
        empty_store.add_user("u" * 65, "admin", PASSWORD, actor="test")
    name = "u" * 64  # the longest username: its audit entries ("user:NAME.password") still fit
    empty_store.add_user(name, "admin", PASSWORD, actor="test")
    empty_store.add_user("ada", "admin", PASSWORD, actor="test")
    empty_store.update_user(name, actor="ada", role="supervisor", active=False, password="another password")
    fields = {r.field for r in empty_store.audit_page(username="ada")[0]}
    assert f"user:{name}.password" in fields
    with pytest.raises(ValueError, match="typology"):
        too_long = "t" * (CASES.c.typology.type.length + 1)  # several typologies fit; not this
        empty_store.record_outcome(longest, 1, SAM, OutcomeValues("violation", too_long, None, ""))
    with pytest.raises(ValueError, match="finite"):  # SQLite would store NULL, PostgreSQL NaN
        empty_store.record_outcome(longest, 1, SAM, OutcomeValues("violation", "shell", float("nan"), ""))
    assert empty_store.get_case(longest).version == 1


# ---------------------------------------------------------------- time zones
def test_timestamps_are_naive_utc_whatever_the_server_time_zone(empty_store: CaseStore) -> None:
    # The test server runs in Asia/Kolkata (UTC+05:30): nothing may be shifted by it.
    cases = demo_cases(1, seed=1).assign(declared_at="2026-11-23T10:00:00+05:30")
    empty_store.upsert_cases(cases)
    assert str(empty_store.get_case("D000000").declared_at) == "2026-11-23 04:30:00"
    empty_store.add_user("alice", "investigator", PASSWORD, actor="test")
    before = utcnow()
    empty_store.record_outcome("D000000", 1, empty_store.get_account("alice"), VIOLATION)
    after = utcnow()
    case = empty_store.get_case("D000000")
    for stamp in (case.decided_at, case.updated_at, empty_store.audit_page()[0][0].at):
        assert stamp.tzinfo is None and before <= stamp <= after
    empty_store.create_session("alice", "live", "csrf-1", timedelta(minutes=5))
    empty_store.create_session("alice", "gone", "csrf-2", timedelta(seconds=-1))
    assert empty_store.session_account("live") == (empty_store.get_account("alice"), "csrf-1")
    assert empty_store.session_account("gone") is None


# ---------------------------------------------------------------- concurrent writers
def test_concurrent_outcomes_on_one_version_save_exactly_one(empty_store: CaseStore) -> None:
    empty_store.upsert_cases(demo_cases(1, seed=1))
    empty_store.add_user("alice", "investigator", PASSWORD, actor="test")
    alice = empty_store.get_account("alice")
    notes = [f"finding {i}" for i in range(4)]

    def record(note: str) -> Callable[[], Any]:
        values = OutcomeValues("violation", "mislabel", 10.0, note)
        return lambda: empty_store.record_outcome("D000000", 1, alice, values)

    results = together(*(record(note) for note in notes))
    assert sorted(r.status for r in results) == ["conflict", "conflict", "conflict", "saved"]
    case = empty_store.get_case("D000000")
    winner = next(n for n, r in zip(notes, results, strict=True) if r.status == "saved")
    assert (case.version, case.note) == (2, winner)
    notes_audited = [r.after for r in empty_store.iter_audit("D000000") if r.field == "note"]
    assert notes_audited == [winner]


def test_concurrent_demotions_keep_the_last_admin(empty_store: CaseStore) -> None:
    for name in ("ada", "eve"):
        empty_store.add_user(name, "admin", PASSWORD, actor="test")
    for _round in range(5):
        results = together(
            lambda: empty_store.update_user("ada", actor="eve", active=False),
            lambda: empty_store.update_user("eve", actor="ada", active=False),
        )
        refused = [r for r in results if isinstance(r, ValueError)]
        assert len(refused) == 1 and "last active admin" in str(refused[0]), results
        admins = [a.username for a in empty_store.list_accounts("admin", active_only=True)]
        assert admins in (["ada"], ["eve"])
        for name in ("ada", "eve"):
            empty_store.update_user(name, actor="test", active=True)


def test_concurrent_openings_create_the_schema_once_on_postgresql(postgres_url: str) -> None:
    # PostgreSQL only: on SQLite, switching a new file to WAL fails at once ("database is
    # locked") when another connection opens it at the same moment (review/db.py).
    stores = together(*(lambda: open_store(postgres_url) for _ in range(3)))
    assert all(isinstance(s, CaseStore) for s in stores), stores
    with stores[0].engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(select(func.count()).select_from(USERS)).scalar_one() == 0
    for store in stores:
        store.close()


# ---------------------------------------------------------------- the web app on PostgreSQL
def test_review_app_and_export_on_postgresql(
    postgres_seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(postgres_seeded_url)
    assert store.engine.dialect.name == "postgresql"
    app = create_app(store=store, secret=SECRET)
    with TestClient(app, follow_redirects=False) as alice, TestClient(app, follow_redirects=False) as sam:
        assert alice.get("/health").json() == {"status": "ok"}
        assert login(alice, "alice", "wrong password!").status_code == 401
        assert login(alice, "alice").headers["location"] == "/cases"
        login(sam, "sam")

        queue = alice.get("/cases")
        assert queue.status_code == 200 and f"{N_DEMO + 1} cases; page 1 of 2" in queue.text
        assert "D000000" in alice.get("/cases?per_page=100").text

        page = alice.get("/cases/D000000")
        stale = sam.get("/cases/D000000")
        form = {
            "csrf_token": csrf_of(page.text),
            "version": str(version_of(page.text)),
            "outcome": "violation",
            "typology": "mislabel",
            "seized_value_usd": "12 500.50",
            "note": "oxide under iron ore",
        }
        saved = alice.post("/cases/D000000/outcome", data=form)
        assert saved.status_code == 303 and saved.headers["location"].endswith("saved=outcome")
        assert "Outcome saved." in alice.get(saved.headers["location"]).text
        clear = {"outcome": "clear", "typology": "", "seized_value_usd": ""}
        late = sam.post("/cases/D000000/outcome", data={**form, **clear, "csrf_token": csrf_of(stale.text)})
        assert late.status_code == 409 and "alice changed this case" in late.text

        audit = list(csv.DictReader(io.StringIO(sam.get("/audit.csv?case=D000000").text)))
        assert {r["field"]: r["after"] for r in audit}["outcome"] == "violation"
        assert alice.get("/cases/D000000%00").status_code == 404
        assert sam.get("/cases?assignee=%00").status_code == sam.get("/audit?case=%00").status_code == 200

    case = store.get_case("D000000")
    assert (case.outcome, case.seized_value_usd, case.decided_by, case.version) == (
        "violation",
        12500.5,
        "alice",
        2,
    )
    store.close()

    monkeypatch.setenv("DATABASE_URL", postgres_seeded_url)
    out = tmp_path / "labels" / "outcomes.csv"
    result = CliRunner().invoke(cli, ["outcomes", "export", "--out", str(out), "--include-unconfirmed"])
    assert result.exit_code == 0 and "Wrote 1 outcomes" in result.output, result.output
    loaded = load_table(out, "inspections")
    assert len(loaded.problems) == 0
    row = loaded.clean.iloc[0]
    assert (row["declaration_id"], row["outcome"], float(row["seized_value_usd"])) == (
        "D000000",
        "violation",
        12500.5,
    )
    assert pd.read_csv(out, dtype=str).loc[0, "inspected_on"] == case.decided_at.date().isoformat()
