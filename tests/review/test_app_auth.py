"""Login, sessions, roles and CSRF: every route is guarded."""

from __future__ import annotations

import pytest

from review.app import create_app
from review.store import CaseStore
from review.web import SESSION_COOKIE, csv_cell, safe_next
from tests.review.conftest import PASSWORD, SECRET, XSS_ID, csrf_of, login, version_of

CASE = "/cases/D000000"
GET_PAGES = ["/", "/cases", CASE, "/audit", "/audit.csv", "/admin/users"]
POSTS = {
    "/logout": {},
    f"{CASE}/outcome": {"version": "1", "outcome": "clear"},
    f"{CASE}/assign": {"version": "1", "assignee": "alice"},
    "/admin/users": {"username": "mallory", "role": "admin", "password": "a long password!"},
    "/admin/users/alice": {"role": "admin", "active": "yes"},
}


def test_health_needs_no_login(make_client) -> None:
    response = make_client().get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_page_needs_a_session(make_client, path: str) -> None:
    response = make_client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", list(POSTS))
def test_every_post_needs_a_session(make_client, store: CaseStore, path: str) -> None:
    response = make_client().post(path, data={**POSTS[path], "csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert store.get_case("D000000").version == 1
    assert store.get_account("mallory") is None


def test_login_page_and_static_are_public(make_client) -> None:
    client = make_client()
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert client.get("/static/review.css").status_code == 200


def test_login_sets_a_protected_session_cookie(make_client) -> None:
    response = login(make_client(), "alice")
    assert response.status_code == 303 and response.headers["location"] == "/cases"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie


def test_secure_cookies_when_configured(store: CaseStore) -> None:
    from fastapi.testclient import TestClient

    app = create_app(store=store, secret=SECRET, secure_cookies=True)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        cookie = next(c for c in login(client, "alice").headers.get_list("set-cookie") if "session" in c)
        assert cookie.startswith("__Host-") and "Secure" in cookie and "HttpOnly" in cookie
        assert client.get("/cases").status_code == 200


def test_login_redirects_to_the_page_asked_for_but_never_offsite(make_client) -> None:
    client = make_client()
    page = client.get("/login?next=/cases/D000001")
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/cases/D000001",
        },
    )
    assert response.headers["location"] == "/cases/D000001"
    assert safe_next("//evil.example/x") == "/" and safe_next("https://evil.example") == "/"


def test_wrong_password_is_refused_plainly(make_client) -> None:
    client = make_client()
    response = login(client, "alice", "not the password")
    assert response.status_code == 401 and "Wrong username or password" in response.text
    assert login(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/cases").status_code == 303


def test_repeated_failures_are_throttled(make_client) -> None:
    client = make_client()
    for _ in range(5):
        assert login(client, "bob", "guess guess guess").status_code == 401
    response = login(client, "bob", PASSWORD)
    assert response.status_code == 429 and "Too many failed attempts" in response.text


def test_login_form_needs_its_csrf_token(make_client) -> None:
    client = make_client()
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/cases").status_code == 303


def test_logout_ends_the_session_for_good(make_client) -> None:
    client = make_client("alice")
    token = client.cookies.get(SESSION_COOKIE)
    page = client.get("/cases")
    assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    replay = make_client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/cases").status_code == 303


def test_a_forged_session_cookie_is_refused(make_client) -> None:
    client = make_client()
    client.cookies.set(SESSION_COOKIE, "forged-token")
    assert client.get("/cases").status_code == 303


@pytest.mark.parametrize("path", list(POSTS))
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_posts_without_the_csrf_token_are_rejected(
    make_client, store: CaseStore, path: str, token: str | None
) -> None:
    user = "ada" if path.startswith("/admin") else "sam"
    client = make_client(user)
    data = dict(POSTS[path])
    if token is not None:
        data["csrf_token"] = token
    response = client.post(path, data=data)
    assert response.status_code == 403 and "security token" in response.text
    assert store.get_case("D000000").version == 1
    assert store.get_account("mallory") is None
    assert store.get_account("alice").role == "investigator"
    assert client.get("/").status_code == 303  # still logged in: logout was refused too
    assert store.audit_page(username=user)[1] == 0


def test_a_post_from_another_origin_is_rejected(make_client, store: CaseStore) -> None:
    client = make_client("sam")
    page = client.get(CASE)
    response = client.post(
        f"{CASE}/outcome",
        headers={"origin": "https://evil.example"},
        data={"csrf_token": csrf_of(page.text), "version": "1", "outcome": "clear"},
    )
    assert response.status_code == 403
    assert store.get_case("D000000").outcome is None


@pytest.mark.parametrize(
    "user, path",
    [
        ("alice", "/audit"),
        ("alice", "/audit.csv"),
        ("alice", "/admin/users"),
        ("sam", "/admin/users"),
        ("ada", "/cases"),
        ("ada", CASE),
    ],
)
def test_roles_are_enforced(make_client, user: str, path: str) -> None:
    assert make_client(user).get(path).status_code == 403


def test_investigators_only_see_their_own_and_unassigned_cases(make_client, store: CaseStore) -> None:
    sam = store.get_account("sam")
    assert store.assign("D000001", 1, sam, "bob").status == "saved"
    alice = make_client("alice")
    assert alice.get("/cases/D000001").status_code == 404  # as for a case that does not exist
    queue = alice.get("/cases?per_page=100").text
    assert "D000001" not in queue and "D000002" in queue
    assert "D000001" in make_client("bob").get("/cases?per_page=100").text
    assert "D000001" in make_client("sam").get("/cases?per_page=100").text


def test_an_investigator_cannot_write_to_someone_elses_case(make_client, store: CaseStore) -> None:
    store.assign("D000001", 1, store.get_account("sam"), "bob")
    alice = make_client("alice")
    token = csrf_of(alice.get("/cases").text)
    outcome = alice.post(
        "/cases/D000001/outcome",
        data={"outcome": "clear", "note": "seals intact", "csrf_token": token, "version": "2"},
    )
    assert outcome.status_code == 403 and "Nothing was saved" in outcome.text
    assert "seals intact" in outcome.text  # what was typed is shown back, not lost
    take = alice.post(
        "/cases/D000001/assign", data={"assignee": "alice", "csrf_token": token, "version": "2"}
    )
    assert take.status_code == 404
    case = store.get_case("D000001")
    assert (case.assignee, case.outcome, case.version) == ("bob", None, 2)


def test_an_investigator_cannot_assign_cases_to_others(make_client, store: CaseStore) -> None:
    alice = make_client("alice")
    page = alice.get(CASE)
    response = alice.post(
        f"{CASE}/assign",
        data={"csrf_token": csrf_of(page.text), "version": str(version_of(page.text)), "assignee": "bob"},
    )
    assert response.status_code == 403
    assert store.get_case("D000000").assignee is None


def test_a_disabled_user_is_logged_out(make_client, store: CaseStore) -> None:
    bob = make_client("bob")
    assert bob.get("/cases").status_code == 200
    store.update_user("bob", actor="ada", active=False)
    assert bob.get("/cases").status_code == 303
    assert login(make_client(), "bob").status_code == 401


def test_security_headers(make_client) -> None:
    response = make_client("alice").get(f"/cases/{XSS_ID.replace('/', '%2F')}")
    assert "script-src" not in response.headers["content-security-policy"]  # none allowed
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_csv_cells_cannot_become_formulas() -> None:
    assert csv_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert csv_cell("+1") == "'+1" and csv_cell("plain") == "plain" and csv_cell(None) == ""
