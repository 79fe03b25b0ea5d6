"""Behind a reverse proxy: the login throttle counts the client X-Forwarded-For names only when the
peer is a configured trusted proxy; otherwise the header is ignored (anyone can write it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from review.app import create_app
from review.store import CaseStore
from review.web import TRUSTED_PROXIES_ENV, forwarded_client, parse_trusted_proxies
from tests.review.conftest import PASSWORD, SECRET, csrf_of

PROXY = "10.0.0.5"


def attempt(client: TestClient, username: str, password: str, forwarded: str | None = None):
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    token = csrf_of(client.get("/login").text)
    data = {"username": username, "password": password, "csrf_token": token, "next": "/"}
    return client.post("/login", data=data, headers=headers)


def test_without_trusted_proxies_the_header_is_ignored(store: CaseStore, monkeypatch) -> None:
    monkeypatch.delenv(TRUSTED_PROXIES_ENV, raising=False)
    app = create_app(store=store, secret=SECRET)
    sprayer = TestClient(app, follow_redirects=False, client=("192.0.2.7", 5000))
    statuses = [
        attempt(sprayer, f"user{i:02d}", "Winter2026!", forwarded=f"198.51.100.{i}").status_code
        for i in range(21)
    ]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429  # a new header each time changes nothing


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_apart(store: CaseStore) -> None:
    app = create_app(store=store, secret=SECRET, trusted_proxies="10.0.0.0/8")
    via_proxy = TestClient(app, follow_redirects=False, client=(PROXY, 5000))
    attacker = "203.0.113.50"
    for i in range(20):  # the attacker also forges a left part; the proxy appended the real address
        assert attempt(via_proxy, f"user{i:02d}", "Winter2026!", f"1.2.3.{i}, {attacker}").status_code == 401
    refused = attempt(via_proxy, "alice", PASSWORD, attacker)
    assert refused.status_code == 429 and "from this address" in refused.text
    # an investigator behind the same proxy is not slowed by the attacker's failures
    assert attempt(via_proxy, "alice", PASSWORD, "198.51.100.60").status_code == 303
    assert store.throttle.sizes()["client"] == 1  # one address counted: the attacker's, not the proxy's


def test_forwarded_client_reads_from_the_right_past_trusted_proxies() -> None:
    trusted = parse_trusted_proxies("10.0.0.0/8, 192.168.1.1 ::1")
    assert forwarded_client("203.0.113.9", ["198.51.100.1"], trusted) == "203.0.113.9"  # peer not trusted
    assert forwarded_client("10.0.0.5", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert forwarded_client("10.0.0.5", ["6.6.6.6, 198.51.100.1, 10.0.0.9"], trusted) == "198.51.100.1"
    assert forwarded_client("10.0.0.5", ["6.6.6.6", "198.51.100.1:5144"], trusted) == "198.51.100.1"
    assert forwarded_client("::1", ["[2001:db8::7]:443"], trusted) == "2001:db8::7"
    assert forwarded_client("10.0.0.5", [], trusted) == "10.0.0.5"  # no header: the proxy itself
    assert forwarded_client("10.0.0.5", ["10.0.0.9"], trusted) == "10.0.0.9"  # only proxies: the last
    assert forwarded_client("10.0.0.5", ["198.51.100.1, junk"], trusted) == "10.0.0.5"  # junk: stop there


def test_a_bad_trusted_proxy_list_is_refused_at_start(store: CaseStore, monkeypatch) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "10.0.0.0/8, proxy.internal")
    with pytest.raises(ValueError, match="proxy.internal"):
        create_app(store=store, secret=SECRET)


def test_the_review_command_refuses_a_bad_proxy_list_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cases.db'}")
    result = CliRunner().invoke(app, ["review", "--trusted-proxies", "10.0.0.5, proxy.internal"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'proxy.internal' is not an IP address or network" in errors[0]
    assert "Traceback" not in result.output
