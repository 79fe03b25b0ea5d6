"""A scored day's output folder: written whole or not at all (``data.io.atomic_dir``: readable
as the umask says, the hidden leftovers of a crashed run cleared on the next one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from data.io import atomic_dir


def day_warnings(selection_warnings: list[str], missing: list[str]) -> list[str]:
    """Everything a reader of the day must know was not checked: rules that could select nothing
    (a table absent, their features empty) and feature families left out, in one list."""
    out = list(dict.fromkeys(selection_warnings))
    out += [f"left out of today's features: {note}" for note in missing if note]
    return out


def write_day_outputs(
    target: Path,
    *,
    scored: pd.DataFrame,
    quarantine: pd.DataFrame,
    problems: pd.DataFrame,
    summary: dict,
    report: dict,
    before_publish: Callable[[], object] | None = None,
) -> object:
    """Write one day's folder whole: scored rows (Parquet and spreadsheet-safe CSV), the
    quarantine and its problems, the HTML report and summary.json.

    ``report``: the keyword arguments of ``pipelines.report.render_report`` beyond the frames
    given here. ``before_publish``: called once everything is written, before the folder
    replaces the previous one (the flow stores the day's cases there: if that fails, nothing of
    the day is published); its result is returned. Used by the scoring flow and
    bench/bench_score.py alike."""
    from data.io import write_frame
    from pipelines.report import render_report

    with atomic_dir(target) as tmp:
        write_frame(scored, tmp / "scored.parquet")
        write_frame(scored, tmp / "scored.csv", safe_for_spreadsheets=True)
        write_frame(quarantine, tmp / "quarantine.csv", safe_for_spreadsheets=True)
        write_frame(problems, tmp / "quarantine_problems.csv", safe_for_spreadsheets=True)
        html = render_report(scored=scored, quarantine=quarantine, problems=problems, **report)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        return before_publish() if before_publish is not None else None
