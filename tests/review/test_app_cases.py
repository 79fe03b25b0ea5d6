"""Queue, case page, outcome form, conflicts, audit log and user admin over HTTP."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from review.demo import demo_cases
from review.store import CaseStore
from review.web import case_url
from tests.review.conftest import (
    N_DEMO,
    PASSWORD,
    XSS_ID,
    XSS_IMG,
    XSS_SCRIPT,
    csrf_of,
    login,
    version_of,
)

CASE = "/cases/D000000"
_ROW_IDS = re.compile(r'<a href="/cases/([^"]+)">')
_RISKS = re.compile(r'<td class="num">([0-9.]+)</td>')


def queue_ids(html: str) -> list[str]:
    return _ROW_IDS.findall(html)


def post_outcome(client, path: str = CASE, **fields: str):
    page = client.get(path)
    data = {
        "csrf_token": csrf_of(page.text),
        "version": str(version_of(page.text)),
        "outcome": "",
        "typology": "",
        "seized_value_usd": "",
        "note": "",
    }
    return client.post(f"{path}/outcome", data={**data, **fields})


# ---------------------------------------------------------------- queue
def test_queue_is_sorted_by_risk_and_paginated(make_client) -> None:
    client = make_client("sam")
    first = client.get("/cases?per_page=25")
    risks = [float(r) for r in _RISKS.findall(first.text)]
    assert len(risks) == 25 and risks == sorted(risks, reverse=True)
    assert f"{N_DEMO + 1} cases; page 1 of 2" in first.text
    assert queue_ids(first.text)[0] == XSS_ID.replace("/", "%2F").replace("<", "%3C").replace(">", "%3E")
    second = client.get("/cases?per_page=25&page=2")
    assert len(queue_ids(second.text)) == N_DEMO + 1 - 25
    assert not set(queue_ids(first.text)) & set(queue_ids(second.text))
    ascending = [float(r) for r in _RISKS.findall(client.get("/cases?sort=risk_asc").text)]
    assert ascending == sorted(ascending)


@pytest.mark.parametrize(
    "query, column",
    [
        ("channel=red", "channel"),
        ("channel=yellow", "channel"),
        ("status=open", "status"),
        ("typology=mislabel", "typology_hint"),
        ("day=2026-11-23", "manifest_day"),
    ],
)
def test_queue_filters(make_client, store: CaseStore, query: str, column: str) -> None:
    ids = queue_ids(make_client("sam").get(f"/cases?per_page=100&{query}").text)
    value = query.split("=")[1]
    expected = [r for r in _all_ids(store) if str(getattr(store.get_case(r), column)) == value]
    assert sorted(i for i in ids if i.startswith("D")) == sorted(i for i in expected if i.startswith("D"))
    assert ids


def _all_ids(store: CaseStore) -> list[str]:
    return [f"D{i:06d}" for i in range(N_DEMO)] + [XSS_ID]


def test_queue_filters_by_assignee(make_client, store: CaseStore) -> None:
    sam = store.get_account("sam")
    store.assign("D000003", 1, sam, "bob")
    client = make_client("sam")
    assert queue_ids(client.get("/cases?assignee=bob").text) == ["D000003"]
    unassigned = queue_ids(client.get("/cases?assignee=-&per_page=100").text)
    assert "D000003" not in unassigned and len(unassigned) == N_DEMO


def test_bad_queue_filters_are_ignored_and_named(make_client) -> None:
    response = make_client("sam").get("/cases?channel=purple&day=yesterday&page=x")
    assert response.status_code == 200
    assert "Unknown channel" in response.text and "not a date" in response.text


# ---------------------------------------------------------------- case page
def test_case_page_shows_what_investigators_need(make_client, store: CaseStore) -> None:
    case = store.get_case("D000000")
    html = make_client("alice").get(CASE).text
    assert 'class="waterfall"' in html and "<rect" in html
    assert "Why it was selected" in html and case.selected_by in html
    assert f"{case.risk_score:.3f}" in html
    for port in case.route.split(" -> "):
        assert f">{port}</abbr>" in html
    assert "Shanghai" in html and "Rotterdam (NL)" in html  # ports by name, from data/reference
    assert "Exporter&#39;s recent shipments" in html or "Exporter's recent shipments" in html
    assert "goods description" in html and "gross weight kg" in html


def test_ownership_path_is_drawn(make_client, store: CaseStore) -> None:
    with_path = next(i for i in _all_ids(store) if store.get_case(i).ownership_path not in ("[]", ""))
    html = make_client("sam").get(case_url(with_path)).text
    assert 'class="ownership"' in html and "Listed" in html
    assert 'class="node listed"' in html


def test_attacker_text_is_rendered_inert(make_client) -> None:
    client = make_client("sam")
    for html in (client.get(case_url(XSS_ID)).text, client.get("/cases").text):
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html and "onerror=alert(1)>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        assert "<script" not in html  # the app itself uses no script at all


def test_ids_with_slashes_and_markup_work(make_client) -> None:
    client = make_client("sam")
    response = client.get(case_url(XSS_ID))
    assert response.status_code == 200 and "X-&lt;b&gt;1&lt;/b&gt;/2" in response.text
    saved = post_outcome(client, case_url(XSS_ID), outcome="violation", typology="concealment")
    assert saved.status_code == 303


def test_unknown_case_is_404(make_client) -> None:
    assert make_client("alice").get("/cases/NOPE").status_code == 404


def test_malformed_stored_json_does_not_break_the_page(make_client, store: CaseStore) -> None:
    broken = demo_cases(1, seed=5, prefix="BAD").assign(
        reasons="{not json", ownership_path="[1, 2", declaration="[]", exporter_history="7"
    )
    store.upsert_cases(broken)
    response = make_client("alice").get("/cases/BAD000000")
    assert response.status_code == 200 and "Could not read" in response.text


# ---------------------------------------------------------------- outcome form
def test_recording_an_outcome(make_client, store: CaseStore) -> None:
    client = make_client("alice")
    response = post_outcome(
        client,
        outcome="violation",
        typology="mislabel",
        seized_value_usd="12 500.50",
        note=f"found oxide {XSS_SCRIPT}",
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Outcome saved." in page.text and "&lt;script&gt;" in page.text
    case = store.get_case("D000000")
    assert (
        case.outcome,
        case.typology,
        case.seized_value_usd,
        case.status,
        case.assignee,
        case.decided_by,
        case.version,
    ) == ("violation", "mislabel", 12500.5, "unconfirmed", "alice", "alice", 2)
    assert "Violation found" in client.get("/cases?status=unconfirmed").text


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"outcome": ""}, "Choose an outcome"),
        ({"outcome": "maybe"}, "Choose an outcome"),
        ({"outcome": "violation"}, "Choose the typology"),
        ({"outcome": "violation", "typology": "smuggling"}, "Unknown typology"),
        ({"outcome": "violation", "typology": "shell", "seized_value_usd": "-5"}, "cannot be negative"),
        ({"outcome": "violation", "typology": "shell", "seized_value_usd": "lots"}, "must be a number"),
        ({"outcome": "violation", "typology": "shell", "seized_value_usd": "nan"}, "must be a number"),
        ({"outcome": "violation", "typology": "shell", "seized_value_usd": "12,5"}, "without commas"),
        ({"outcome": "violation", "typology": "shell", "seized_value_usd": "1e13"}, "over 1 trillion"),
        ({"outcome": "clear", "typology": "shell"}, "only with a violation"),
        ({"outcome": "clear", "seized_value_usd": "100"}, "only with a violation"),
        ({"outcome": "clear", "note": "x" * 4001}, "too long"),
        ({"outcome": "clear", "version": "abc"}, "no case version"),
    ],
)
def test_bad_values_are_rejected_and_nothing_saved(
    make_client, store: CaseStore, fields: dict, message: str
) -> None:
    before = store.get_case("D000000")
    response = post_outcome(make_client("alice"), **fields)
    assert response.status_code == 422
    assert message in response.text and "Nothing was saved" in response.text
    assert store.get_case("D000000")._asdict() == before._asdict()
    assert store.audit_page(declaration_id="D000000")[1] == 0


def test_bad_values_are_shown_back_escaped(make_client) -> None:
    response = post_outcome(
        make_client("alice"), outcome="violation", typology="shell", seized_value_usd=XSS_IMG, note=XSS_SCRIPT
    )
    assert response.status_code == 422
    assert XSS_IMG not in response.text and XSS_SCRIPT not in response.text
    assert "&lt;/script&gt;</textarea>" in response.text


def test_concurrent_edits_are_reported_not_overwritten(make_client, store: CaseStore) -> None:
    store.assign("D000000", 1, store.get_account("sam"), "alice")
    alice, sam = make_client("alice"), make_client("sam")
    alice_page, sam_page = alice.get(CASE), sam.get(CASE)
    assert version_of(alice_page.text) == version_of(sam_page.text) == 2
    first = sam.post(
        f"{CASE}/outcome",
        data={
            "csrf_token": csrf_of(sam_page.text),
            "version": "2",
            "outcome": "violation",
            "typology": "routing",
            "seized_value_usd": "900",
            "note": "sam's finding",
        },
    )
    assert first.status_code == 303
    second = alice.post(
        f"{CASE}/outcome",
        data={
            "csrf_token": csrf_of(alice_page.text),
            "version": "2",
            "outcome": "clear",
            "typology": "",
            "seized_value_usd": "",
            "note": "alice's view",
        },
    )
    assert second.status_code == 409
    assert "sam changed this case" in second.text and "NOT saved" in second.text
    assert "alice&#39;s view" in second.text or "alice's view" in second.text
    assert version_of(second.text) == 3
    case = store.get_case("D000000")
    assert (case.outcome, case.typology, case.note, case.version, case.assignee) == (
        "violation",
        "routing",
        "sam's finding",
        3,
        "alice",
    )


def test_resubmitting_the_same_outcome_changes_nothing(make_client, store: CaseStore) -> None:
    client = make_client("alice")
    post_outcome(client, outcome="clear")
    response = post_outcome(client, outcome="clear")
    assert response.headers["location"].endswith("saved=unchanged")
    assert store.get_case("D000000").version == 2


# ---------------------------------------------------------------- assignment
def test_taking_and_releasing_a_case(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    page = alice.get(CASE)
    assert "Take this case" in page.text
    alice.post(f"{CASE}/assign", data={"csrf_token": csrf_of(page.text), "version": "1", "assignee": "alice"})
    case = store.get_case("D000000")
    assert (case.assignee, case.status) == ("alice", "in_review")
    page = alice.get(CASE)
    alice.post(f"{CASE}/assign", data={"csrf_token": csrf_of(page.text), "version": "2", "assignee": ""})
    assert (store.get_case("D000000").assignee, store.get_case("D000000").status) == (None, "open")


def test_supervisor_assigns_but_not_to_admins(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    page = sam.get(CASE)
    token = csrf_of(page.text)
    bad = sam.post(f"{CASE}/assign", data={"csrf_token": token, "version": "1", "assignee": "ada"})
    assert bad.status_code == 422 and "not an active investigator" in bad.text
    ok = sam.post(f"{CASE}/assign", data={"csrf_token": token, "version": "1", "assignee": "bob"})
    assert ok.status_code == 303 and store.get_case("D000000").assignee == "bob"


# ---------------------------------------------------------------- audit log
def test_supervisor_sees_and_exports_the_audit_log(make_client) -> None:
    post_outcome(make_client("alice"), outcome="clear", note='=HYPERLINK("http://evil")')
    sam = make_client("sam")
    page = sam.get("/audit?case=D000000")
    assert page.status_code == 200 and "alice" in page.text and "outcome" in page.text
    assert "Changes to this case" in sam.get(CASE).text
    export = sam.get("/audit.csv?case=D000000")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    fields = {r["field"]: r for r in rows}
    assert fields["outcome"]["after"] == "clear" and fields["outcome"]["username"] == "alice"
    assert fields["note"]["after"].startswith("'=")  # not a live formula in a spreadsheet
    assert all(r["declaration_id"] == "D000000" and r["at_utc"] for r in rows)
    assert make_client("ada").get("/audit.csv").status_code == 200


# ---------------------------------------------------------------- users
def test_admin_manages_users(make_client, store: CaseStore) -> None:
    ada = make_client("ada")
    token = csrf_of(ada.get("/admin/users").text)
    weak = ada.post(
        "/admin/users",
        data={"csrf_token": token, "username": "carol", "role": "investigator", "password": "short"},
    )
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    assert store.get_account("carol") is None
    made = ada.post(
        "/admin/users",
        data={"csrf_token": token, "username": "carol", "role": "investigator", "password": PASSWORD},
    )
    assert made.status_code == 303 and store.get_account("carol").role == "investigator"
    assert login(make_client(), "carol").status_code == 303
    ada.post("/admin/users/carol", data={"csrf_token": token, "role": "supervisor", "active": "yes"})
    assert store.get_account("carol").role == "supervisor"
    last = ada.post("/admin/users/ada", data={"csrf_token": token, "role": "admin", "active": "no"})
    assert last.status_code == 422 and "last active admin" in last.text
    fields = {r.field for r in store.audit_page(username="ada")[0]}
    assert {"user:carol", "user:carol.role"} <= fields


def test_export_after_review_round_trip(make_client, store: CaseStore, tmp_path) -> None:
    post_outcome(make_client("alice"), outcome="violation", typology="mislabel", seized_value_usd="10")
    out = tmp_path / "outcomes.csv"
    assert store.export_outcomes(out) == 1
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame.loc[0, "declaration_id"] == "D000000" and frame.loc[0, "outcome"] == "violation"


def test_a_stale_assignment_is_a_conflict(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    page = sam.get(CASE)
    store.assign("D000000", 1, store.get_account("alice"), "alice")
    response = sam.post(
        f"{CASE}/assign", data={"csrf_token": csrf_of(page.text), "version": "1", "assignee": "bob"}
    )
    assert response.status_code == 409
    assert "alice changed this case" in response.text and "assignment was NOT saved" in response.text
    assert store.get_case("D000000").assignee == "alice"


def test_several_typologies_are_recorded_exported_and_found_in_the_queue(
    make_client, store: CaseStore, tmp_path
) -> None:
    alice = make_client("alice")
    page = alice.get(CASE)
    data = {
        "csrf_token": csrf_of(page.text),
        "version": str(version_of(page.text)),
        "outcome": "violation",
        "typology": ["routing", "no_license"],  # ticked boxes arrive as repeated fields
        "seized_value_usd": "2500",
        "note": "",
    }
    saved = alice.post(f"{CASE}/outcome", data=data, follow_redirects=True)
    assert saved.status_code == 200, saved.text[-500:]
    assert store.get_case("D000000").typology == "routing;no_license"  # the contract's order
    assert "(routing, no_license)" in alice.get(CASE).text  # the decision as recorded
    out = tmp_path / "outcomes.csv"
    store.export_outcomes(out)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("declaration_id")
    assert frame.loc["D000000", "typology"] == "routing;no_license"
    sam = make_client("sam")
    for word in ("routing", "no_license"):
        assert "D000000" in queue_ids(sam.get(f"/cases?typology={word}&per_page=200").text), word
    assert "D000000" not in queue_ids(sam.get("/cases?typology=shell&per_page=200").text)
