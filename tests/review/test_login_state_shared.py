"""The login throttle and the forms kept across a login live in the case database, so several app
processes (``customs-risk review --workers N``) count the same failures and a login landing on
another process still gets the typed form back; both are bounded and expire, on both backends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from review.app import create_app
from review.store import FormStash, LoginThrottle, open_store
from tests.review.conftest import PASSWORD, SECRET, csrf_of, login


def test_two_processes_count_the_same_failures_and_share_kept_forms(empty_database_url: str) -> None:
    first, second = open_store(empty_database_url), open_store(empty_database_url)  # two workers
    try:
        for _ in range(5):
            first.throttle.failed("bob", "203.0.113.5")
        refused = second.throttle.check("bob", "203.0.113.5")
        assert not refused.allowed and refused.scope == "account" and 29 < refused.retry_after <= 30
        assert second.throttle.check("bob", "198.51.100.1").allowed  # the owner elsewhere is not slowed
        second.throttle.unlock("bob")
        assert first.throttle.check("bob", "203.0.113.5").allowed

        token = first.form_stash.put("/cases/D1", {"kind": "note", "body": "seals \x00broken"})
        assert token is not None
        assert second.form_stash.take(token, "/cases/D2") is None  # another case's page: nothing
        assert second.form_stash.take(token, "/cases/D1") == {"kind": "note", "body": "seals \x00broken"}
        assert first.form_stash.take(token, "/cases/D1") is None  # once
    finally:
        first.close()
        second.close()


def test_kept_forms_are_few_small_and_expire(empty_database_url: str) -> None:
    store = open_store(empty_database_url)
    try:
        stash = FormStash(store.engine, capacity=3, ttl=60, max_chars=100)
        now = [1_000.0]
        stash.clock = lambda: now[0]
        tokens = [stash.put("/cases/D1", {"body": f"note {i}"}) for i in range(5)]
        assert len(stash) == 3  # the oldest went first
        assert stash.take(tokens[0], "/cases/D1") is None
        assert stash.take(tokens[4], "/cases/D1") == {"body": "note 4"}
        assert stash.put("/cases/D1", {"body": "x" * 101}) is None  # too large: not kept
        now[0] += 61
        assert stash.take(tokens[3], "/cases/D1") is None  # expired
    finally:
        store.close()


def test_throttle_keys_hold_any_text_within_bounds(empty_database_url: str) -> None:
    store = open_store(empty_database_url)
    try:
        throttle = LoginThrottle(store.engine, pair_limit=2)
        client = "x\x00" + "9" * 500  # what a forwarded header could carry: cut, NUL replaced
        for _ in range(2):
            throttle.failed("b\x00b", client)
        assert not throttle.check("b\x00b", client).allowed
        assert throttle.sizes() == {"pair": 1, "client": 1, "account": 1, "everyone": 2}
    finally:
        store.close()


def test_spraying_through_two_app_processes_is_throttled_once(database_url: str) -> None:
    apps = [create_app(database_url, secret=SECRET) for _ in range(2)]  # two workers, one database
    clients = [TestClient(app, follow_redirects=False, client=("203.0.113.20", 4000)) for app in apps]
    statuses = [login(clients[i % 2], f"user{i:02d}", "Winter2026!").status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429  # 20 failures in all, not 20 per worker
    owner = TestClient(apps[1], follow_redirects=False, client=("198.51.100.20", 4000))
    assert login(owner, "alice", PASSWORD).status_code == 303
    for app in apps:
        app.state.store.close()


def test_a_form_typed_on_one_process_comes_back_after_logging_in_on_another(database_url: str) -> None:
    apps = [create_app(database_url, secret=SECRET) for _ in range(2)]
    first = TestClient(apps[0], follow_redirects=False)
    login(first, "alice")
    token = csrf_of(first.get("/cases/D000001").text)
    store = apps[0].state.store
    with store.engine.begin() as conn:  # the session ends while alice types
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    sent = first.post("/cases/D000001/notes", data={"csrf_token": token, "body": "drums re-sealed"})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    assert "?resume=" in target
    second = TestClient(apps[1], follow_redirects=False)  # the next requests land on the other worker
    second.cookies = first.cookies  # the same browser: its resume cookie
    form = second.get("/login")
    back = second.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": target},
    )
    assert back.status_code == 303 and back.headers["location"] == target
    page = second.get(target)
    assert page.status_code == 200 and "drums re-sealed" in page.text
    for app in apps:
        app.state.store.close()
