"""Review app fixtures: seeded case stores (a temporary SQLite file, or a database on a throwaway
PostgreSQL server started for the session on first use), and logged-in clients."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from review.app import create_app
from review.demo import demo_cases
from review.store import CaseStore, open_store
from tests.review.postgres_server import PostgresServer, PostgresUnavailable

PASSWORD = "correct horse battery"
N_DEMO = 30
USERS = {"alice": "investigator", "bob": "investigator", "sam": "supervisor", "ada": "admin"}
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_ID = "X-<b>1</b>/2"
SECRET = "test-secret-" + "x" * 40
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')
BACKENDS = ("sqlite", "postgresql")


def xss_case() -> pd.DataFrame:
    """One case whose attacker-written fields carry script payloads."""
    case = demo_cases(1, seed=9, prefix="XSS").iloc[0].to_dict()
    declaration = json.loads(case["declaration"])
    declaration["declaration_id"] = XSS_ID
    declaration["goods_description"] = f"ceramic tiles {XSS_SCRIPT} {XSS_IMG}"
    declaration["exporter_name"] = XSS_IMG
    case.update(
        declaration_id=XSS_ID,
        risk_score=0.999,
        declaration=json.dumps(declaration),
        reasons=json.dumps(
            [
                {"feature": XSS_IMG, "text": XSS_SCRIPT, "contribution": 1.2},
                {"feature": "value_per_kg_ratio", "text": "cheap", "contribution": -0.3},
            ]
        ),
        ownership_path=json.dumps(["Party " + XSS_IMG, "Listed " + XSS_SCRIPT]),
        exporter_history=json.dumps([{"goods_description": XSS_SCRIPT, "hs_code": "690914"}]),
        route=f"CNSHA -> {XSS_IMG} -> NLRTM",
        rule_hits=f"rule_a;{XSS_SCRIPT}",
        typology_hint="concealment",
    )
    return pd.DataFrame([case])


def seed(database_url: str) -> None:
    """Create the store at ``database_url`` with USERS and N_DEMO cases plus the XSS case."""
    store = open_store(database_url)
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD, actor="test")
    store.upsert_cases(pd.concat([demo_cases(N_DEMO, seed=3), xss_case()], ignore_index=True))
    store.close()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded database built once (hashing passwords is slow); tests get a copy."""
    path = tmp_path_factory.mktemp("review-template") / "cases.db"
    seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server, stopped and removed at the end of the session (pass or fail)."""
    problem = ""
    try:
        import psycopg  # noqa: F401

        server = PostgresServer().start()
    except ImportError:
        problem = "psycopg is not installed: run `.venv/bin/pip install -e '.[dev]'` (or make setup)"
    except PostgresUnavailable as err:
        problem = str(err)
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database."""
    return postgres.url(postgres.create_database())


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A seeded PostgreSQL database built once; tests get a copy (CREATE DATABASE ... TEMPLATE)."""
    name = postgres.create_database("seeded")
    seed(postgres.url(name))
    return name


@pytest.fixture
def postgres_seeded_url(postgres: PostgresServer, postgres_template: str) -> str:
    """A fresh copy of the seeded PostgreSQL database."""
    return postgres.url(postgres.create_database(template=postgres_template))


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend (the store creates its schema on opening)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sub' / 'cases.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database_url(template_db: Path, tmp_path: Path) -> str:
    """A fresh copy of the seeded database."""
    target = tmp_path / "cases.db"
    shutil.copy(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def store(database_url: str) -> Iterator[CaseStore]:
    store = open_store(database_url)
    yield store
    store.close()


@pytest.fixture
def app(store: CaseStore):
    return create_app(store=store, secret=SECRET)


@pytest.fixture
def make_client(app) -> Iterator:
    """Build clients for the app, optionally logged in as one of USERS."""
    clients: list[TestClient] = []

    def make(username: str | None = None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if username is not None:
            login(client, username)
        return client

    yield make
    for client in clients:
        client.close()


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def version_of(html: str) -> int:
    """The case version in a case page's forms."""
    match = _VERSION.search(html)
    assert match, "no version field in the page"
    return int(match.group(1))


def login(client: TestClient, username: str, password: str = PASSWORD):
    """Log in through the form, as a browser would."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )
