"""Working like a case tool: search, sortable columns, saved filters with counts, bulk assign,
a notes thread, attachments, the case's history, related cases, the company page, next/previous."""

from __future__ import annotations

import json
import re
import struct
import zlib

from review.demo import demo_cases
from review.store import CaseStore, OutcomeValues
from tests.review.conftest import csrf_of, version_of

CASE = "/cases/D000000"
_ROW_IDS = re.compile(r'<td><a href="/cases/([^"]+)">')


def queue_ids(html: str) -> list[str]:
    return _ROW_IDS.findall(html)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _declaration(store: CaseStore, case_id: str) -> dict:
    return json.loads(store.get_case(case_id).declaration)


def test_search_by_id_company_hs_code_and_port(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    target = _declaration(store, "D000007")
    assert queue_ids(sam.get("/cases?q=D000007").text) == ["D000007"]
    by_company = queue_ids(sam.get("/cases", params={"q": target["exporter_name"], "per_page": "100"}).text)
    assert "D000007" in by_company
    assert all(
        _declaration(store, i)["exporter_name"].lower().startswith(target["exporter_name"].lower())
        for i in by_company
    )
    by_code = queue_ids(sam.get("/cases", params={"q": target["hs_code"], "per_page": "100"}).text)
    assert "D000007" in by_code and all(
        _declaration(store, i)["hs_code"] == target["hs_code"] for i in by_code
    )
    everything = [i for i in queue_ids(sam.get("/cases?per_page=100").text) if i.startswith("D")]
    hop_cases = [i for i in everything if "MYPKG" in store.get_case(i).route]
    assert hop_cases
    by_port = queue_ids(sam.get("/cases?q=mypkg&per_page=100").text)  # any case: letters' case ignored
    assert sorted(by_port) == sorted(hop_cases)
    nothing = sam.get("/cases?q=%25%25_no_such_thing")
    assert nothing.status_code == 200 and queue_ids(nothing.text) == []


def test_columns_sort_both_ways(make_client) -> None:
    sam = make_client("sam")
    ids = [i for i in queue_ids(sam.get("/cases?sort=id_asc&per_page=100").text) if i.startswith("D")]
    assert ids == sorted(ids)
    down = [i for i in queue_ids(sam.get("/cases?sort=id_desc&per_page=100").text) if i.startswith("D")]
    assert down == sorted(ids, reverse=True)
    page = sam.get("/cases?sort=id_asc").text
    assert 'href="/cases?sort=id_desc"' in page  # the header link toggles the direction
    assert "Unknown sort" in sam.get("/cases?sort=drop_table").text


def test_saved_filters_show_their_counts(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    token = csrf_of(alice.get("/cases").text)
    for i in range(3):
        case_id = f"D00000{i}"
        store.assign(case_id, store.get_case(case_id).version, store.get_account("alice"), "alice")
    page = alice.get("/cases").text
    assert "my open: <strong>3</strong>" in page
    saved = alice.post(
        "/cases/filters", data={"csrf_token": token, "name": "red ones", "query": "channel=red&page=4"}
    )
    assert saved.status_code == 303
    reds = store.count_cases(
        __import__("review.store", fromlist=["CaseQuery"]).CaseQuery(channel="red"),
        store.get_account("alice"),
    )
    page = alice.get(saved.headers["location"]).text
    assert f"red ones: <strong>{reds}</strong>" in page and "Filter saved." in page
    assert "red ones" not in make_client("bob").get("/cases").text  # each user's own


def test_bulk_assign(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    token = csrf_of(sam.get("/cases").text)
    done = sam.post(
        "/cases/bulk-assign",
        data={
            "csrf_token": token,
            "ids": ["D000001", "D000002", "NOPE"],
            "assignee": "bob",
            "back": "/cases",
        },
    )
    assert done.status_code == 303
    assert "2 case(s) assigned. 1 not" in sam.get(done.headers["location"]).text
    assert store.get_case("D000001").assignee == store.get_case("D000002").assignee == "bob"
    alice = make_client("alice")
    refused = alice.post(
        "/cases/bulk-assign",
        data={"csrf_token": csrf_of(alice.get("/cases").text), "ids": ["D000003"], "assignee": "alice"},
    )
    assert refused.status_code == 403 and store.get_case("D000003").assignee is None


def test_a_notes_thread_keeps_every_note(make_client, store: CaseStore) -> None:
    alice, sam = make_client("alice"), make_client("sam")
    for client, body in (
        (alice, "first look: drums <b>sealed</b>"),
        (sam, "ask the lab"),
        (alice, "lab booked"),
    ):
        sent = client.post(f"{CASE}/notes", data={"csrf_token": csrf_of(client.get(CASE).text), "body": body})
        assert sent.status_code == 303
    notes = store.notes("D000000")
    assert [(n.username, n.body) for n in notes] == [
        ("alice", "first look: drums <b>sealed</b>"),
        ("sam", "ask the lab"),
        ("alice", "lab booked"),
    ]
    page = alice.get(CASE).text
    assert page.index("first look") < page.index("ask the lab") < page.index("lab booked")
    assert "drums &lt;b&gt;sealed&lt;/b&gt;" in page
    empty = alice.post(f"{CASE}/notes", data={"csrf_token": csrf_of(page), "body": "  "})
    assert empty.status_code == 422 and len(store.notes("D000000")) == 3


def test_an_attachment_round_trip(make_client, store: CaseStore, tmp_path) -> None:
    alice = make_client("alice")
    token = csrf_of(alice.get(CASE).text)
    photo = png_bytes()
    sent = alice.post(
        f"{CASE}/attachments",
        data={"csrf_token": token},
        files={"file": ("../../etc/quay photo.png", photo, "text/html")},  # the browser's type is not trusted
    )
    assert sent.status_code == 303, sent.text[-400:]
    [item] = store.attachments("D000000")
    assert (item.filename, item.content_type, item.size) == ("quay photo.png", "image/png", len(photo))
    page = alice.get(CASE).text
    assert f'href="/attachments/{item.id}"' in page and "quay photo.png" in page
    back = alice.get(f"/attachments/{item.id}")
    assert back.status_code == 200 and back.content == photo
    assert back.headers["content-type"] == "image/png"
    assert back.headers["x-content-type-options"] == "nosniff"
    stored = list(tmp_path.glob("*.attachments/*"))
    assert len(stored) == 1 and stored[0].read_bytes() == photo and "static" not in str(stored[0])
    assert oct(stored[0].stat().st_mode & 0o777) == "0o600"
    store.assign("D000000", store.get_case("D000000").version, store.get_account("sam"), "alice")
    assert make_client("bob").get(f"/attachments/{item.id}").status_code == 404  # not bob's case


def test_attachments_are_type_checked_and_size_limited(make_client, app, store: CaseStore) -> None:
    alice = make_client("alice")
    token = csrf_of(alice.get(CASE).text)
    html = alice.post(
        f"{CASE}/attachments",
        data={"csrf_token": token},
        files={"file": ("report.pdf", b"<html><script>alert(1)</script>", "application/pdf")},
    )
    assert html.status_code == 422 and "only photos (JPEG, PNG) and PDF" in html.text
    app.state.attachment_bytes = 1024  # a small limit for the test (the app's own is 10 MB)
    big = alice.post(
        f"{CASE}/attachments",
        data={"csrf_token": token},
        files={"file": ("big.pdf", b"%PDF-1.7\n" + b"0" * 4096, "application/pdf")},
    )
    assert big.status_code == 422 and "over" in big.text
    assert store.attachments("D000000") == []


def test_investigators_see_the_case_history(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    page = alice.get(CASE)
    alice.post(
        f"{CASE}/assign",
        data={"csrf_token": csrf_of(page.text), "version": str(version_of(page.text)), "assignee": "alice"},
    )
    html = alice.get(CASE).text
    history = html[html.index('id="history"') :]
    assert "assignee" in history and "alice" in history


def test_related_cases_and_the_company_page(make_client, store: CaseStore) -> None:
    cases = demo_cases(3, seed=21, prefix="R")
    for i in range(3):
        declaration = json.loads(cases.loc[i, "declaration"])
        declaration["exporter_id"] = "CN-E9999"
        declaration["exporter_name"] = "Same Exporter Ltd"
        cases.loc[i, "declaration"] = json.dumps(declaration)
    cases.loc[0, "ownership_json"] = json.dumps(
        [
            {"name": "Same Exporter Ltd", "id": "CN-E9999", "relation": "owned by"},
            {"name": "Holding Ltd (VG)", "relation": "director of"},
            {"name": "Listed Entity JSC", "listed_as": "EU sanctions list, entry 123"},
        ]
    )
    store.upsert_cases(cases)
    sam = make_client("sam")
    page = sam.get("/cases/R000000").text
    related = page[page.index('id="related"') :]
    assert "R000001" in related and "R000002" in related and "same exporter" in related
    assert "owned by" in page and "director of" in page and "EU sanctions list, entry 123" in page
    company = sam.get("/entities/exporter/CN-E9999")
    assert company.status_code == 200 and "Same Exporter Ltd" in company.text
    assert all(f"R00000{i}" in company.text for i in range(3))
    assert sam.get("/entities/exporter/NOPE").status_code == 404
    assert sam.get("/entities/nonsense/CN-E9999").status_code == 404


def test_next_and_previous_follow_the_queue(make_client, store: CaseStore) -> None:
    sam = make_client("sam")
    order = [i for i in queue_ids(sam.get("/cases?per_page=100").text) if i.startswith("D")]
    page = sam.get(f"/cases/{order[1]}").text
    assert f'href="/cases/{order[1]}/next" rel="next"' in page and 'accesskey="n"' in page
    assert 'accesskey="p"' in page
    assert sam.get(f"/cases/{order[1]}/next").headers["location"] == f"/cases/{order[2]}"
    assert sam.get(f"/cases/{order[1]}/previous").headers["location"] == f"/cases/{order[0]}"
    store.record_outcome(order[2], 1, store.get_account("sam"), OutcomeValues("clear", None, None, ""))
    assert sam.get(f"/cases/{order[1]}/next").headers["location"] == f"/cases/{order[3]}"  # decided: skipped
    assert make_client("alice").get("/cases/NOPE/next").status_code == 404


def test_times_are_shown_in_the_configured_zone(make_client, monkeypatch) -> None:
    monkeypatch.setenv("CUSTOMS_RISK_TIMEZONE", "Europe/Amsterdam")
    alice = make_client("alice")
    alice.post(f"{CASE}/notes", data={"csrf_token": csrf_of(alice.get(CASE).text), "body": "timed"})
    page = alice.get(CASE).text
    assert re.search(r"<time>\d{4}-\d\d-\d\d \d\d:\d\d CE(S)?T</time>", page)


def test_structured_reasons_and_ownership_travel_as_data(make_client, store: CaseStore) -> None:
    cases = demo_cases(1, seed=31, prefix="S")
    cases["ownership_json"] = [
        [{"name": "Party A", "id": "A1", "relation": "owned by"}, {"name": "Listed B"}]
    ]
    cases["reasons_json"] = [
        json.dumps(
            [{"feature": "declared_value_per_kg", "text": "value far below the usual", "contribution": 0.9}]
        )
    ]
    cases["reasons"] = json.dumps(
        [{"feature": "old", "text": "the text column, not shown", "contribution": 0.1}]
    )
    store.upsert_cases(cases)
    stored = store.get_case("S000000")
    assert json.loads(stored.ownership_json)[0]["relation"] == "owned by"  # a list is stored as JSON
    page = make_client("sam").get("/cases/S000000").text
    assert "value far below the usual" in page and "the text column, not shown" not in page
    assert "owned by" in page
