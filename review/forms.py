"""Checking what investigators type: plain-language messages, nothing saved on any error."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from review.schema import OUTCOMES
from review.store import OutcomeValues

OUTCOME_LABELS = {
    "violation": "Violation found",
    "clear": "Clear: nothing found",
    "not_inspected": "Not inspected",
}
MAX_NOTE_LENGTH = 4_000
MAX_SEIZED_VALUE_USD = 1e12
_GROUPING = re.compile(r"[\s_\u00a0\u202f]")


@cache
def typologies() -> tuple[str, ...]:
    """The typologies of the data contract's inspections table."""
    from data.contract import TABLES

    return TABLES["inspections"].column("typology").choices


@dataclass(frozen=True)
class OutcomeForm:
    """The outcome form as submitted (raw text), to show back with its errors."""

    outcome: str = ""
    typology: str = ""  # ';'-separated when several were ticked
    seized_value_usd: str = ""
    note: str = ""

    @property
    def typologies(self) -> list[str]:
        return [t for t in self.typology.split(";") if t]


def parse_version(raw: str) -> int | None:
    """The case version a form was based on, or None when missing or not a number."""
    return int(raw) if raw.strip().isdigit() else None


def parse_seized_value(raw: str) -> tuple[float | None, str | None]:
    """A seized value in USD (empty: none) and an error message when it is not acceptable."""
    text = _GROUPING.sub("", raw)
    if not text:
        return None, None
    if "," in text:  # 12,500 or 12500,50? Refuse to guess.
        return None, (
            "Write the seized value without commas, with a point for cents, "
            "e.g. 12500.50 (spaces may group thousands: 12 500.50)."
        )
    try:
        value = float(text)
    except ValueError:
        return None, "The seized value must be a number of US dollars, e.g. 12500 or 12500.50."
    if not math.isfinite(value):
        return None, "The seized value must be a number of US dollars, e.g. 12500 or 12500.50."
    if value < 0:
        return None, "The seized value cannot be negative."
    if value > MAX_SEIZED_VALUE_USD:
        return None, "The seized value is over 1 trillion US dollars: check the number."
    return value, None


def parse_outcome_form(form: OutcomeForm) -> tuple[OutcomeValues | None, list[str]]:
    """Check the outcome form; returns the values to save, or None and every problem found."""
    errors: list[str] = []
    outcome = form.outcome.strip()
    chosen = list(dict.fromkeys(t.strip() for t in form.typology.split(";") if t.strip()))
    typology = ";".join(t for t in typologies() if t in chosen)  # the contract's order, no repeats
    if outcome not in OUTCOMES:
        errors.append("Choose an outcome: violation found, clear, or not inspected.")
    if any(t not in typologies() for t in chosen):
        errors.append(f"Unknown typology; choose among: {', '.join(typologies())}.")
    elif outcome == "violation" and not typology:
        errors.append(
            "Choose the typology of the violation (how the goods were smuggled; tick several if need be)."
        )
    elif outcome in ("clear", "not_inspected") and typology:
        errors.append("A typology goes only with a violation; clear it or choose 'violation'.")
    seized, problem = parse_seized_value(form.seized_value_usd)
    if problem:
        errors.append(problem)
    elif seized and outcome in ("clear", "not_inspected"):
        errors.append("A seized value goes only with a violation.")
    note = form.note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        errors.append(f"The note is too long ({len(note):,} characters; at most {MAX_NOTE_LENGTH:,}).")
    if "\x00" in note:
        errors.append("The note contains a NUL character; remove it.")
    if errors:
        return None, errors
    return OutcomeValues(outcome, typology or None, seized, note), []
