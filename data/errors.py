"""Errors a person can act on: what file, what is wrong, what to do next."""

from __future__ import annotations

from pathlib import Path


class DataFileError(Exception):
    """A whole file cannot be used (unreadable, wrong encoding, empty, missing columns...)."""

    def __init__(self, path: Path | str, problem: str, hint: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.path}: {self.problem}"
        if self.hint:
            text += f"\n  What to do: {self.hint}"
        return text


class ConfigError(Exception):
    """A configuration or mapping file is wrong."""


class NotEnoughDataError(ConfigError):
    """The data cannot support the run as configured: too little history, no labels."""
