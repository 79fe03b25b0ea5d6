"""Login that resists spraying and lockout abuse, with bounded memory; the password policy;
security headers on every response."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from fastapi.testclient import TestClient

from review.auth import password_problem
from review.store import CaseStore, LoginThrottle
from tests.review.conftest import PASSWORD, csrf_of, login

BIG = 900 * 1024  # a 900 kB field, as in the report


pytestmark = pytest.mark.slow  # hammers the login throttle: see make test-fast


def client_at(app, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000))


def test_spraying_60_usernames_from_one_client_is_throttled(app) -> None:
    attacker = client_at(app, "203.0.113.9")
    statuses = [login(attacker, f"user{i:02d}", "Winter2026!").status_code for i in range(60)]
    assert statuses[:20] == [401] * 20  # made-up names: each a plain failure
    assert set(statuses[20:]) == {429}  # then the address is slowed down, whatever the name
    refused = login(attacker, "alice", PASSWORD)
    assert refused.status_code == 429 and "from this address" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert login(client_at(app, "198.51.100.7"), "alice", PASSWORD).status_code == 303  # others get in


def test_a_stranger_cannot_lock_the_owner_out(app, store: CaseStore) -> None:
    stranger = client_at(app, "203.0.113.10")
    for _ in range(5):
        assert login(stranger, "bob", "not bobs password").status_code == 401
    assert login(stranger, "bob", "not bobs password").status_code == 429  # slowed down ...
    assert login(client_at(app, "198.51.100.8"), "bob", PASSWORD).status_code == 303  # ... bob is not


def test_an_account_attacked_from_everywhere_is_slowed_and_an_admin_unlocks_it(app) -> None:
    throttle: LoginThrottle = app.state.throttle
    for i in range(50):  # a distributed attack: 50 addresses, one guess each
        assert login(client_at(app, f"192.0.2.{i}"), "bob", "guess guess guess").status_code == 401
    owner = client_at(app, "198.51.100.9")
    slowed = login(owner, "bob", PASSWORD)
    assert slowed.status_code == 429 and "ask an admin to unlock" in slowed.text
    ada = client_at(app, "198.51.100.10")
    assert login(ada, "ada").status_code == 303
    token = csrf_of(ada.get("/admin/users").text)
    assert ada.post("/admin/users/bob/unlock", data={"csrf_token": token}).status_code == 303
    assert login(owner, "bob", PASSWORD).status_code == 303
    assert throttle.check("bob", "198.51.100.9").allowed


def test_the_delay_grows_and_ends(store: CaseStore) -> None:
    throttle = LoginThrottle(store.engine)
    now = [1000.0]
    throttle.clock = lambda: now[0]
    waits = []
    for _ in range(4):
        for _ in range(5 if not waits else 1):
            throttle.failed("bob", "c1")
        verdict = throttle.check("bob", "c1")
        assert not verdict.allowed
        waits.append(round(verdict.retry_after))
        now[0] += verdict.retry_after + 0.1  # wait it out, then fail once more
    assert waits == [30, 60, 120, 240]  # growing, never a lock for good
    now[0] += 901  # the window passes: all forgotten
    assert throttle.check("bob", "c1").allowed and throttle.sizes()["pair"] == 0


def test_the_throttle_tables_are_capped_and_expire(store: CaseStore) -> None:
    throttle = LoginThrottle(store.engine, capacity=100)
    now = [0.0]
    throttle.clock = lambda: now[0]
    for i in range(500):
        throttle.failed(f"name{i}", f"10.0.{i // 250}.{i % 250}")
    sizes = throttle.sizes()
    assert max(sizes["pair"], sizes["client"], sizes["account"]) <= 100
    assert sizes["account"] == 100 and sizes["everyone"] == 500
    now[0] += 901
    throttle.failed("x", "c")
    assert throttle.sizes()["account"] == 1  # the rest expired


def test_900_kb_login_fields_are_refused_before_any_state_is_kept(app) -> None:
    throttle: LoginThrottle = app.state.throttle
    client = client_at(app, "203.0.113.11")
    token = csrf_of(client.get("/login").text)
    big = client.post("/login", data={"username": "u" * BIG, "password": "x", "csrf_token": token})
    assert big.status_code == 413
    assert big.headers["x-frame-options"] == "DENY"  # the refusal carries the headers too
    long_name = client.post("/login", data={"username": "u" * 65, "password": "x", "csrf_token": token})
    assert long_name.status_code == 400 and "too long" in long_name.text
    assert throttle.sizes() == {"pair": 0, "client": 0, "account": 0, "everyone": 0}


def test_memory_stays_flat_under_huge_login_posts(app) -> None:
    client = client_at(app, "203.0.113.12")
    token = csrf_of(client.get("/login").text)

    def post(i: int) -> int:
        body = {"username": f"{i}" + "u" * BIG, "password": "p" * BIG, "csrf_token": token}
        return client.post("/login", data=body).status_code

    assert post(0) == 413  # warm up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        statuses = {post(i) for i in range(1, 101)}
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    growth = after - before
    print(f"\n100 posts of 2 x 900 kB login fields: memory held after {growth / 1024:.0f} KiB more")
    assert statuses == {413}
    assert growth < 1024 * 1024, f"{growth:,} bytes kept after 100 huge login posts"
    assert app.state.throttle.sizes()["client"] == 0


@pytest.mark.parametrize(
    "password", ["password1234", "qwertyuiop", "iloveyou12", "Summer2024!", "alice12345"]
)
def test_common_and_guessable_passwords_are_refused(password: str) -> None:
    assert password_problem(password, "alice") is not None


def test_a_passphrase_is_accepted(store: CaseStore) -> None:
    assert password_problem("tidal copper lantern", "carol") is None
    with pytest.raises(ValueError, match="common passwords"):
        store.add_user("carol", "investigator", "1234567890", actor="test")
    with pytest.raises(ValueError, match="too easy to guess"):
        store.update_user("alice", actor="test", password="Summer2024!")


def test_security_headers_on_error_pages_and_500s(app, store: CaseStore, monkeypatch) -> None:
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    login(client, "alice")
    missing = client.get("/cases/NOPE")
    assert missing.status_code == 404

    def broken(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "get_case", broken)
    crashed = client.get("/cases/D000000")
    assert crashed.status_code == 500
    for response in (missing, crashed, client.get("/static/review.css"), client.get("/no/such/page")):
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
