"""The drop folder's run is honest: each manifest on its own, every failure (an unexpected one
too) set aside in failed/ with why, and the run itself fails when any file did."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import pipelines.score_flow as score_flow_module
from data.errors import ConfigError
from pipelines.serve import ManifestsFailed, score_drop_folder


@pytest.fixture
def drop(tmp_path, monkeypatch):
    """A drop folder with three manifests; scoring fails in two different ways on two of them."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for name in ("a_good.csv", "b_user_error.csv", "c_bug.csv"):
        (folder / name).write_text("declaration_id\n")
    scored: list[str] = []

    def fake_score_flow(manifest: Path, bundle: Path, out: Path, append_to_history: bool):
        if manifest.name == "b_user_error.csv":
            raise ConfigError(f"{manifest}: no valid row to score")
        if manifest.name == "c_bug.csv":
            raise KeyError("risk_score")
        scored.append(manifest.name)
        return SimpleNamespace(out_dir=out / "2026-10-28")

    monkeypatch.setattr(score_flow_module, "score_flow", fake_score_flow)
    return folder, scored


def test_every_file_is_tried_and_any_failure_fails_the_run(drop, tmp_path):
    folder, scored = drop
    with pytest.raises(ManifestsFailed) as failed:
        score_drop_folder.fn(drop_folder=str(folder), bundle=str(tmp_path), out=str(tmp_path / "out"))
    assert scored == ["a_good.csv"]  # the good file was scored although another failed before it ended
    results = failed.value.results
    assert results["a_good.csv"].startswith("scored into")
    assert results["b_user_error.csv"] == f"failed: {folder / 'b_user_error.csv'}: no valid row to score"
    assert results["c_bug.csv"].startswith("failed: unexpected error KeyError")
    assert "2 of 3 manifest(s) failed" in str(failed.value)
    assert not list(folder.glob("*.csv"))
    assert (folder / "processed" / "a_good.csv").exists()


def test_an_unexpected_error_sets_the_file_aside_with_its_traceback(drop, tmp_path):
    folder, _ = drop
    with pytest.raises(ManifestsFailed):
        score_drop_folder.fn(drop_folder=str(folder), bundle=str(tmp_path), out=str(tmp_path / "out"))
    assert (folder / "failed" / "c_bug.csv").exists()
    text = (folder / "failed" / "c_bug.csv.error.txt").read_text()
    assert text.startswith("unexpected error KeyError: 'risk_score'")
    assert "Traceback" in text and "fake_score_flow" in text
    user = (folder / "failed" / "b_user_error.csv.error.txt").read_text()
    assert user.strip().endswith("no valid row to score") and "Traceback" not in user


def test_a_run_where_everything_scored_succeeds(tmp_path, monkeypatch):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "day.csv").write_text("declaration_id\n")
    monkeypatch.setattr(
        score_flow_module,
        "score_flow",
        lambda manifest, bundle, out, append_to_history: SimpleNamespace(out_dir=out),
    )
    results = score_drop_folder.fn(drop_folder=str(folder), bundle=str(tmp_path), out=str(tmp_path / "out"))
    assert list(results) == ["day.csv"] and results["day.csv"].startswith("scored into")
    assert (folder / "processed" / "day.csv").exists()
