"""A day's output folder: whole or nothing, permissions from the umask, crash leftovers cleared,
and every unchecked rule or left-out feature family in the day's warnings."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pandas as pd
import pytest

from data.io import atomic_dir, remove_stale_partials
from pipelines.outputs import day_warnings, write_day_outputs


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_day_folder_and_its_files_follow_the_umask(tmp_path, umask_022):
    target = tmp_path / "out" / "2026-10-28"
    with atomic_dir(target) as tmp:
        (tmp / "summary.json").write_text("{}")
    assert _mode(target) == 0o755  # not the owner-only 0o700 of a temporary folder
    assert _mode(target / "summary.json") == 0o644


def test_a_failure_mid_write_leaves_the_previous_day_untouched_and_nothing_hidden(tmp_path):
    target = tmp_path / "2026-10-28"
    with atomic_dir(target) as tmp:
        (tmp / "scored.csv").write_text("first run\n")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "scored.csv").write_text("half")
        raise RuntimeError("disk full (simulated)")
    assert (target / "scored.csv").read_text() == "first run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-10-28"]


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(done.stdout)


def test_hidden_leftovers_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    dead = _dead_pid()
    crashed = tmp_path / f".2026-10-28.partial-{dead}-abcd1234"
    crashed.mkdir()
    (crashed / "scored.csv").write_text("half")
    old = tmp_path / f".2026-10-28.old-{dead}"
    old.mkdir()
    other_day = tmp_path / f".2026-10-29.partial-{dead}-abcd1234"
    other_day.mkdir()
    with atomic_dir(tmp_path / "2026-10-28") as tmp:
        (tmp / "summary.json").write_text("{}")
    assert not crashed.exists() and not old.exists()
    assert other_day.exists()  # another day's leftovers wait for that day's next run
    assert (tmp_path / "2026-10-28" / "summary.json").exists()


def test_a_folder_being_written_by_a_live_process_is_left_alone(tmp_path):
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as writer:
        try:
            busy = tmp_path / f".2026-10-28.partial-{writer.pid}-abcd1234"
            busy.mkdir()
            assert remove_stale_partials(tmp_path, "2026-10-28") == []
            assert busy.exists()
        finally:
            writer.kill()


def test_disabled_rules_and_left_out_families_are_both_warnings():
    warnings = day_warnings(
        ["rule controlled_without_valid_license cannot select anything: the bundle has no licenses.csv"],
        ["license: the bundle has no licenses table"],
    )
    assert warnings[0].startswith("rule controlled_without_valid_license cannot select anything")
    assert warnings[1] == "left out of today's features: license: the bundle has no licenses table"
    assert day_warnings([], []) == []


def test_write_day_outputs_writes_every_file_and_the_warnings_into_summary_and_report(tmp_path):
    scored = pd.DataFrame(
        {
            "declaration_id": ["D1", "D2"],
            "risk_score": [0.9, 0.1],
            "channel": ["red", "green"],
            "selected_by": ["model", "model"],
            "rule_hits": ["", ""],
            "reason_1": ["=cmd()", ""],
            "contribution_1": [0.5, float("nan")],
        }
    )
    empty = pd.DataFrame(columns=["row_number", "declaration_id", "problems"])
    problems = pd.DataFrame(columns=["row_number", "declaration_id", "column", "problem"])
    warnings = day_warnings(["rule r cannot select anything: the bundle has no licenses.csv"], ["license: x"])
    stored = write_day_outputs(
        tmp_path / "2026-10-28",
        scored=scored,
        quarantine=empty,
        problems=problems,
        summary={"day": "2026-10-28", "warnings": warnings},
        report=dict(
            day="2026-10-28",
            manifest_path="m.csv",
            rows_in=2,
            held=pd.DataFrame(columns=["row_number", "declaration_id", "problems", "stored"]),
            waterfalls={},
            importance=pd.Series(dtype="float64"),
            capacity={"red": 1, "yellow": 1},
            warnings=warnings,
            missing=["license: x"],
            model_version="1",
            top_cases=5,
        ),
        before_publish=lambda: "cases stored",
    )
    day = tmp_path / "2026-10-28"
    assert stored == "cases stored"
    names = {"scored.parquet", "scored.csv", "quarantine.csv", "quarantine_problems.csv"}
    assert {p.name for p in day.iterdir()} == names | {"report.html", "summary.json"}
    assert json.loads((day / "summary.json").read_text())["warnings"] == warnings
    html = (day / "report.html").read_text()
    assert "licenses.csv" in html and "left out of today&#39;s features: license: x" in html
    assert "'=cmd()" in (day / "scored.csv").read_text()  # spreadsheet-safe
