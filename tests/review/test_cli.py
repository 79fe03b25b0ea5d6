"""The review commands of the CLI, on a temporary case store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.io import load_table
from pipelines.cli import app
from review.store import OutcomeValues, open_store


@pytest.fixture
def db_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def test_users_add_reads_the_password_from_stdin(db_env: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["users", "add", "carol", "--role", "supervisor"], input="a long enough password\n"
    )
    assert result.exit_code == 0, result.output
    store = open_store(db_env)
    assert store.authenticate("carol", "a long enough password").role == "supervisor"
    store.close()
    listed = runner.invoke(app, ["users", "list"])
    assert "carol" in listed.output and "supervisor" in listed.output


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["users", "add", "carol", "--role", "boss"], "a long enough password\n", "role"),
        (["users", "add", "carol", "--role", "investigator"], "short\n", "at least"),
        (["users", "add", "alice", "--role", "investigator"], "a long enough password\n", "exists"),
    ],
)
def test_users_add_refuses_plainly(db_env: str, args: list[str], stdin: str, message: str) -> None:
    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_users_passwd(db_env: str) -> None:
    result = CliRunner().invoke(app, ["users", "passwd", "bob"], input="brand new password\n")
    assert result.exit_code == 0, result.output
    store = open_store(db_env)
    assert store.authenticate("bob", "brand new password") is not None
    store.close()


def test_outcomes_export_takes_a_violation_once_a_supervisor_confirmed_it(
    db_env: str, tmp_path: Path
) -> None:
    store = open_store(db_env)
    recorded = store.record_outcome(
        "D000004", 1, store.get_account("alice"), OutcomeValues("violation", "shell", None, "")
    )
    out = tmp_path / "labels" / "outcomes.csv"
    waiting = CliRunner().invoke(app, ["outcomes", "export", "--out", str(out)])
    assert waiting.exit_code == 0 and "Wrote 0 outcomes" in waiting.output, waiting.output
    both = CliRunner().invoke(app, ["outcomes", "export", "--out", str(out), "--include-unconfirmed"])
    assert "Wrote 1 outcomes" in both.output, both.output

    assert recorded.status == "saved", recorded
    store.confirm_outcome("D000004", store.get_case("D000004").version, store.get_account("sam"))
    store.close()
    result = CliRunner().invoke(app, ["outcomes", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 outcomes" in result.output
    loaded = load_table(out, "inspections")
    assert list(loaded.clean["declaration_id"]) == ["D000004"] and len(loaded.problems) == 0


def test_review_command_is_there() -> None:
    result = CliRunner().invoke(app, ["review", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--host" in result.output
