"""The outcomes kept with the feature state: a run whose outcome file did not change does not read
it (the settled outcomes come from the state's folder), and gives the same tables and the same
day's matrix as reading it; a changed, touched or newly matching outcome file is read again."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from data.io import load_bundle, load_manifest
from data.reference import hs_profiles, ports
from features.build import build_features, combine, make_context
from pipelines import feature_state as store
from synth import generate_world, write_world

pytestmark = pytest.mark.slow  # builds feature states of generated worlds: see make test-fast


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    world = generate_world(seed=7, days=25, rows_per_day=90)
    return write_world(world, root / "w", fmt="parquet")


@pytest.fixture
def bundle(written, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(written["bundle"], target)
    return target


@pytest.fixture
def manifest(written) -> pd.DataFrame:
    files = sorted(written["manifest"].glob("*")) if written["manifest"].is_dir() else [written["manifest"]]
    return load_manifest(files[0]).clean.drop(columns=["_row_number"], errors="ignore")


def quiet(_: str) -> None:
    pass


def outcome_reads(monkeypatch) -> list[str]:
    """Record every file read as an outcomes table."""
    import data.io

    seen: list[str] = []
    real = data.io.load_table

    def spy(path, table, *args, **kwargs):
        if table == "inspections":
            seen.append(str(path))
        return real(path, table, *args, **kwargs)

    monkeypatch.setattr(data.io, "load_table", spy)
    return seen


def matrix(run, tables, day):
    decl = combine(None, day)
    return run.build(decl, make_context(tables, decl, hs_profiles(), ports())).matrix


def full_matrix(bundle, day):
    b = load_bundle(bundle)
    decl = combine(b.tables["declarations"], day)
    return build_features(decl, make_context(b.tables, decl, hs_profiles(), ports())).matrix


def same_outcomes(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["declaration_id", "inspected_on", "outcome"]
    x = a[cols].sort_values("declaration_id").reset_index(drop=True).astype("str")
    y = b[cols].sort_values("declaration_id").reset_index(drop=True).astype("str")
    pd.testing.assert_frame_equal(x, y)


def test_unchanged_outcomes_are_not_read_again(bundle, manifest, monkeypatch):
    first, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "rebuilt"
    seen = outcome_reads(monkeypatch)
    b, again = store.load_for_scoring(bundle, progress=quiet, day=manifest)
    assert again.action == "used" and seen == []
    every = load_bundle(bundle).tables["inspections"]
    same_outcomes(pd.read_parquet(store.state_folder(bundle) / store.SETTLED_OUTCOMES), every)
    # scoring gets the outcomes its cases show (the exporters' recent declarations'), no others
    recent = again.state.extras["recent_by_exporter"]["declaration_id"]
    same_outcomes(b.tables["inspections"], every[every["declaration_id"].isin(recent)])
    assert 0 < len(b.tables["inspections"]) < len(every)
    assert b.outcomes.kept == first.outcomes.kept > 0
    assert set(b.tables) >= {"companies", "licenses", "inspections"}
    got = matrix(again, b.tables, manifest)
    want = full_matrix(bundle, manifest)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)


def test_a_touched_outcome_file_is_hashed_not_read(bundle, monkeypatch):
    store.load_for_scoring(bundle, progress=quiet)
    path = bundle / "inspections.parquet"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    seen = outcome_reads(monkeypatch)
    _, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "used" and seen == []
    meta = store.load(store.state_folder(bundle)).meta["outcome_files"]
    assert meta["inspections.parquet"][1] == path.stat().st_mtime_ns  # remembered: not hashed again


def test_a_changed_outcome_file_is_read_and_folded(bundle, manifest, monkeypatch):
    store.load_for_scoring(bundle, progress=quiet)
    path = bundle / "inspections.parquet"
    ins = pd.read_parquet(path)
    decl = pd.concat([pd.read_parquet(f) for f in sorted((bundle / "declarations").glob("*.parquet"))])
    fresh = decl[~decl["declaration_id"].isin(ins["declaration_id"])].tail(4)
    new = ins.head(len(fresh)).copy()
    new["declaration_id"] = fresh["declaration_id"].to_numpy()
    new["inspected_on"] = pd.to_datetime(fresh["declared_at"]).dt.normalize().to_numpy() + np.timedelta64(
        1, "D"
    )
    new["outcome"] = "violation"
    pd.concat([ins, new], ignore_index=True).to_parquet(path, index=False)
    seen = outcome_reads(monkeypatch)
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "updated" and "new outcomes" in run.why and len(seen) == 1
    seen.clear()
    b2, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "used" and seen == []  # the new outcomes are kept with the state now
    every = load_bundle(bundle).tables["inspections"]
    same_outcomes(pd.read_parquet(store.state_folder(bundle) / store.SETTLED_OUTCOMES), every)
    got = matrix(again, b2.tables, manifest)
    np.testing.assert_allclose(
        got.to_numpy(), full_matrix(bundle, manifest).to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True
    )


def test_outcomes_of_declarations_appended_later_are_read_again(bundle, manifest, monkeypatch):
    """An outcome of a declaration not in the history yet is set aside; once the day holding it
    is appended, the next run reads the outcome file again and settles it."""
    from pipelines.score_flow import append_day_to_history

    path = bundle / "inspections.parquet"
    ins = pd.read_parquet(path)
    early = ins.head(1).copy()
    early["declaration_id"] = manifest["declaration_id"].iloc[0]
    early["inspected_on"] = manifest["declared_at"].max() + pd.Timedelta(days=1)
    pd.concat([ins, early], ignore_index=True).to_parquet(path, index=False)
    b, run = store.load_for_scoring(bundle, append=True, progress=quiet, day=manifest)
    assert manifest["declaration_id"].iloc[0] not in set(b.tables["inspections"]["declaration_id"])
    matrix(run, b.tables, manifest)
    run.after_append(append_day_to_history(manifest, bundle, "next"), quiet)
    seen = outcome_reads(monkeypatch)
    b2, again = store.load_for_scoring(bundle, progress=quiet)
    assert len(seen) == 1 and again.action in {"used", "updated"}
    kept = pd.read_parquet(store.state_folder(bundle) / store.SETTLED_OUTCOMES)
    assert manifest["declaration_id"].iloc[0] in set(kept["declaration_id"])
    seen.clear()
    _, third = store.load_for_scoring(bundle, progress=quiet)
    assert seen == [] and third.action == "used"


def test_outcome_files_stamped_in_an_older_layout_are_read_again(bundle, monkeypatch):
    """A state saved when the outcome files were stamped without a content hash: its outcomes are
    read again (not an error), and stamped anew for the next runs."""
    store.load_for_scoring(bundle, progress=quiet)
    meta_path = store.state_folder(bundle) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["outcome_files"] = {name: stamp[:2] for name, stamp in meta["outcome_files"].items()}
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    seen = outcome_reads(monkeypatch)
    _, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "used" and len(seen) == 1
    stamp = store.load(store.state_folder(bundle)).meta["outcome_files"]["inspections.parquet"]
    assert len(stamp) == 3 and stamp[:2] == [
        (bundle / "inspections.parquet").stat().st_size,
        (bundle / "inspections.parquet").stat().st_mtime_ns,
    ]
    seen.clear()
    _, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "used" and seen == []
