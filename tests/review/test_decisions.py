"""Decisions that stay decided: four eyes on violations, reopening by a supervisor only, typed
work kept on conflicts, permission changes and an ended session; and the small fixes (audit page
numbers, export cells)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from review.demo import demo_cases
from review.store import CaseStore
from tests.review.conftest import PASSWORD, csrf_of, version_of

CASE = "/cases/D000000"


def _form(client, path: str = CASE) -> tuple[str, int]:
    page = client.get(path)
    assert page.status_code == 200, page.text[-300:]
    return csrf_of(page.text), version_of(page.text)


def _record(client, path: str = CASE, **fields):
    token, version = _form(client, path)
    data = {"csrf_token": token, "version": str(version), "typology": "", "seized_value_usd": "", "note": ""}
    return client.post(f"{path}/outcome", data={**data, **fields})


def _violation(client):
    return _record(
        client,
        outcome="violation",
        typology="concealment",
        seized_value_usd="48000",
        note="drums behind tiles",
    )


def _release(client, path: str = CASE):
    token, version = _form(client, path)
    return client.post(f"{path}/assign", data={"csrf_token": token, "version": str(version), "assignee": ""})


def test_a_second_investigator_cannot_overwrite_a_recorded_violation(make_client, store: CaseStore) -> None:
    alice, bob = make_client("alice"), make_client("bob")
    assert _violation(alice).status_code == 303
    assert _release(alice).status_code == 303
    case = store.get_case("D000000")
    assert case.assignee is None and case.outcome == "violation"  # released, still decided
    page = bob.get(CASE).text
    assert 'action="/cases/D000000/outcome"' not in page  # no outcome form on a decided case
    assert "only a supervisor can reopen it" in page
    clear = _record(bob, outcome="clear", note="looked fine to me")
    assert clear.status_code == 409
    assert "already decided by alice" in clear.text and "looked fine to me" in clear.text
    case = store.get_case("D000000")
    assert (case.outcome, case.typology, case.seized_value_usd, case.decided_by) == (
        "violation",
        "concealment",
        48000.0,
        "alice",
    )


def test_four_eyes_a_supervisor_confirms_someone_elses_violation(make_client, store: CaseStore) -> None:
    alice, sam = make_client("alice"), make_client("sam")
    _violation(alice)
    assert store.get_case("D000000").status == "unconfirmed"
    alice_page = alice.get(CASE).text
    assert "awaiting a supervisor" in alice_page and "Confirm the violation" not in alice_page
    token, version = _form(alice)
    refused = alice.post(f"{CASE}/confirm", data={"csrf_token": token, "version": str(version)})
    assert refused.status_code == 403 and store.get_case("D000000").status == "unconfirmed"
    token, version = _form(sam)
    assert "Confirm the violation" in sam.get(CASE).text
    done = sam.post(f"{CASE}/confirm", data={"csrf_token": token, "version": str(version)})
    assert done.status_code == 303
    case = store.get_case("D000000")
    assert (case.status, case.confirmed_by, case.outcome) == ("closed", "sam", "violation")
    assert "confirmed by sam" in sam.get(CASE).text


def test_a_supervisor_cannot_confirm_their_own_violation(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    _violation(sam)
    page = sam.get(CASE).text
    assert "Confirm the violation" not in page and "another supervisor confirms it" in page
    token, version = _form(sam)
    own = sam.post(f"{CASE}/confirm", data={"csrf_token": token, "version": str(version)})
    assert own.status_code == 409 and "Four eyes" in own.text
    assert store.get_case("D000000").status == "unconfirmed"


def test_only_a_supervisor_reopens_with_a_reason_and_it_is_audited(make_client, store: CaseStore) -> None:
    alice, sam = make_client("alice"), make_client("sam")
    _violation(alice)
    token, version = _form(sam)
    sam.post(f"{CASE}/confirm", data={"csrf_token": token, "version": str(version)})
    token, version = _form(alice)
    refused = alice.post(f"{CASE}/reopen", data={"csrf_token": token, "version": str(version), "reason": "x"})
    assert refused.status_code == 403 and store.get_case("D000000").outcome == "violation"
    token, version = _form(sam)
    no_reason = sam.post(f"{CASE}/reopen", data={"csrf_token": token, "version": str(version), "reason": " "})
    assert no_reason.status_code == 422 and store.get_case("D000000").outcome == "violation"
    reopened = sam.post(
        f"{CASE}/reopen",
        data={"csrf_token": token, "version": str(version), "reason": "lab report: the oxide was declared"},
    )
    assert reopened.status_code == 303
    case = store.get_case("D000000")
    assert (case.outcome, case.typology, case.seized_value_usd, case.confirmed_by) == (None, None, None, None)
    assert case.status == "in_review" and case.assignee == "alice"
    entries = {r.field: r.after for r in store.audit_page("D000000")[0]}
    assert entries["reopened"] == "lab report: the oxide was declared"
    assert _record(alice, outcome="clear").status_code == 303  # undecided again: it can be decided
    assert store.get_case("D000000").outcome == "clear"


def test_a_case_reassigned_while_typing_shows_what_was_typed(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    token, version = _form(alice)
    take = alice.post(
        f"{CASE}/assign", data={"csrf_token": token, "version": str(version), "assignee": "alice"}
    )
    assert take.status_code == 303
    token, version = _form(alice)
    store.assign("D000000", version, store.get_account("sam"), "bob")  # the supervisor, meanwhile
    response = alice.post(
        f"{CASE}/outcome",
        data={
            "csrf_token": token,
            "version": str(version),
            "outcome": "violation",
            "typology": "routing",
            "seized_value_usd": "900",
            "note": "three pages of findings",
        },
    )
    assert response.status_code == 403
    assert "Nothing was saved" in response.text
    assert "three pages of findings" in response.text and "routing" in response.text
    assert store.get_case("D000000").outcome is None


def test_a_save_after_the_session_ended_resumes_after_login(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    token, version = _form(alice)
    with store.engine.begin() as conn:  # the session expires while alice types
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    sent = alice.post(
        f"{CASE}/outcome",
        data={
            "csrf_token": token,
            "version": str(version),
            "outcome": "violation",
            "typology": "mislabel",
            "seized_value_usd": "1200",
            "note": "typed for an hour",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    assert target.startswith(CASE + "?resume=")
    assert store.get_case("D000000").outcome is None  # nothing saved without a session
    page = alice.get("/login")
    back = alice.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
    )
    assert back.status_code == 303 and back.headers["location"] == target
    resumed = alice.get(target)
    assert resumed.status_code == 200
    assert "typed for an hour" in resumed.text and 'value="1200"' in resumed.text
    assert 'value="violation" checked' in resumed.text and 'value="mislabel" checked' in resumed.text
    assert "Your session had ended" in resumed.text
    again = alice.get(target)  # kept once: a second visit shows an empty form
    assert "typed for an hour" not in again.text


def test_a_resume_link_fills_nothing_in_another_browser(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    token, version = _form(alice)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    sent = alice.post(
        f"{CASE}/outcome",
        data={"csrf_token": token, "version": str(version), "outcome": "clear", "note": "typed by alice"},
    )
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    bob = make_client("bob")  # a link sent to someone else: no cookie of the browser that typed it
    # (a note with spaces: no random token on the page can hold it, as "N1" once did)
    assert "typed by alice" not in bob.get(target).text


def test_unknown_and_unseen_cases_answer_alike(make_client, store: CaseStore) -> None:
    store.assign("D000001", 1, store.get_account("sam"), "bob")
    alice = make_client("alice")
    unseen, missing = alice.get("/cases/D000001"), alice.get("/cases/NOPE")
    assert unseen.status_code == missing.status_code == 404
    assert re.sub(r"D000001|NOPE", "", unseen.text) == re.sub(r"D000001|NOPE", "", missing.text)


def test_audit_page_numbers_of_any_size_answer(make_client) -> None:
    sam = make_client("sam")
    for page in ("10000000000000000000", "999999999", "-5", "0"):
        response = sam.get(f"/audit?page={page}")
        assert response.status_code == 200, page
        assert "page 1 of 1" in response.text or "of " in response.text
    assert sam.get("/audit?page=abc").status_code == 400


def test_export_defuses_formula_like_cells(store: CaseStore, tmp_path) -> None:
    cases = demo_cases(2, seed=5, prefix="F")
    cases.loc[0, "declaration_id"] = '=HYPERLINK("http://x")'
    cases.loc[1, "declaration_id"] = "@SUM(1)"
    store.upsert_cases(cases)
    alice = store.get_account("alice")
    from review.store import OutcomeValues, csv_unsafe

    for case_id in cases["declaration_id"]:
        store.record_outcome(case_id, 1, alice, OutcomeValues("clear", None, None, ""))
    out = tmp_path / "outcomes.csv"
    assert store.export_outcomes(out) == 2
    ids = pd.read_csv(out, dtype=str, keep_default_na=False)["declaration_id"].tolist()
    assert all(i.startswith("'") for i in ids)
    assert sorted(csv_unsafe(i) for i in ids) == sorted(cases["declaration_id"])


def test_confirmed_only_export_leaves_out_violations_awaiting_confirmation(
    make_client, store: CaseStore, tmp_path
) -> None:
    _violation(make_client("alice"))
    out = tmp_path / "o.csv"
    assert store.export_outcomes(out) == 1
    assert store.export_outcomes(out, confirmed_only=True) == 0
    sam = make_client("sam")
    token, version = _form(sam)
    sam.post(f"{CASE}/confirm", data={"csrf_token": token, "version": str(version)})
    assert store.export_outcomes(out, confirmed_only=True) == 1


def test_a_note_sent_after_the_session_ended_is_kept_and_other_forms_go_back_to_the_case(
    make_client, store: CaseStore
) -> None:
    alice = make_client("alice")
    token, version = _form(alice)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    sent = alice.post(f"{CASE}/notes", data={"csrf_token": token, "body": "a long note typed slowly"})
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    assert target.startswith(CASE + "?resume=") and store.notes("D000000") == []
    page = alice.get("/login")
    alice.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
    )
    resumed = alice.get(target).text
    assert "a long note typed slowly" in resumed and "before your note was saved" in resumed
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    take = alice.post(
        f"{CASE}/assign", data={"csrf_token": token, "version": str(version), "assignee": "alice"}
    )
    assert parse_qs(urlsplit(take.headers["location"]).query)["next"] == [CASE]  # the case page, not a 404
