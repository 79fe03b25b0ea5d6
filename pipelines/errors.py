"""Errors a person can act on, as the command line and the run logs show them: one line saying
what is wrong, and what to do (never a traceback).

``UserError(message, hint)`` is the pipelines' own; the data and model rooms keep theirs
(``data.errors.DataFileError``, ``ConfigError`` and its subclasses, ``models.artifact.
FeatureSchemaError``). :func:`user_errors` names them all for the one place that catches them."""

from __future__ import annotations


class UserError(Exception):
    """Something the person running the command can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.problem = message
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}; {self.hint}" if self.hint else self.problem


class NoChampionError(UserError):
    """No model carries the alias scoring uses."""


class FlowServerError(UserError):
    """The temporary Prefect server for a command would not start."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Every error class shown to a person as one line (imported late: no Prefect, no MLflow)."""
    from data.errors import ConfigError, DataFileError
    from models.artifact import FeatureSchemaError

    return (UserError, DataFileError, ConfigError, FeatureSchemaError)


def user_message(err: BaseException) -> str:
    """The one line (or two, with a hint) a person reads for a user error."""
    return getattr(err, "message", None) or str(err)
