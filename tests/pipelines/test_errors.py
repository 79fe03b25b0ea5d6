"""One place turns every user error into one line on the command line, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from data.errors import ConfigError, DataFileError
from pipelines.errors import NoChampionError, UserError, user_errors, user_message


def test_a_user_error_reads_as_the_problem_then_what_to_do():
    err = NoChampionError("no model 'm' with alias 'champion' in the registry", "train one first")
    assert isinstance(err, UserError)
    assert user_message(err) == "no model 'm' with alias 'champion' in the registry; train one first"
    assert user_message(UserError("plain")) == "plain"
    assert user_message(DataFileError("x.csv", "not a CSV text file", "export it as CSV")).startswith(
        "x.csv: not a CSV text file"
    )
    assert {UserError, DataFileError, ConfigError} <= set(user_errors())


def test_the_cli_prints_a_user_error_as_one_line_with_exit_code_2():
    import pipelines.cli as cli

    def fail():
        raise NoChampionError("no model 'customs-risk' with alias 'champion'", "train one first")

    app = cli.typer.Typer()
    app.command()(lambda: cli._guard(fail))
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "error: no model 'customs-risk' with alias 'champion'; train one first" in result.output
    assert "Traceback" not in result.output
