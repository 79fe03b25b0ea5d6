"""A scored day's output folder: written whole or not at all, readable as the umask says, and the
hidden leftovers of a crashed run cleared on the next one."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

PARTIAL = ".partial-"
OLD = ".old-"


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else by setting it back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_partials(parent: Path, name: str) -> list[Path]:
    """Hidden ``.<name>.partial-<pid>-*`` / ``.<name>.old-<pid>`` folders whose writer is gone
    (a crash or a kill mid-write). A folder of a process still running is left alone."""
    if not parent.is_dir():
        return []
    stale = []
    for path in parent.iterdir():
        for marker in (PARTIAL, OLD):
            prefix = f".{name}{marker}"
            if not path.name.startswith(prefix):
                continue
            pid = path.name.removeprefix(prefix).split("-", 1)[0]
            if not pid.isdigit() or not _pid_alive(int(pid)) or int(pid) == os.getpid():
                stale.append(path)
    return sorted(stale)


def remove_stale_partials(parent: Path, name: str) -> list[Path]:
    """Remove what :func:`stale_partials` finds; returns what was removed."""
    removed = stale_partials(parent, name)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return removed


@contextmanager
def replaced_whole(target: Path) -> Iterator[Path]:
    """Yield a hidden folder beside ``target``; on success it replaces ``target`` whole, with the
    permissions the umask gives a new folder (not the owner-only ones of a temporary folder).

    If the body raises, the hidden folder is removed and ``target`` is left untouched. A folder
    left by a process that died (SIGKILL, power loss) is removed by the next call for ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target.parent, target.name)
    tmp = target.parent / f".{target.name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}{OLD}{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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

    with replaced_whole(target) as tmp:
        write_frame(scored, tmp / "scored.parquet")
        write_frame(scored, tmp / "scored.csv", safe_for_spreadsheets=True)
        write_frame(quarantine, tmp / "quarantine.csv", safe_for_spreadsheets=True)
        write_frame(problems, tmp / "quarantine_problems.csv", safe_for_spreadsheets=True)
        html = render_report(scored=scored, quarantine=quarantine, problems=problems, **report)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        return before_publish() if before_publish is not None else None
