"""The stored feature state as scoring uses it: built when missing, used as stored, updated with
an appended day, new outcomes or a changed license register, rebuilt (with the reason) when a
history file or an outcome changed; the day's matrix always equals the full recomputation."""

from __future__ import annotations

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
    world = generate_world(seed=5, days=30, rows_per_day=100)
    paths = write_world(world, root / "w", fmt="parquet")
    return world, paths


@pytest.fixture
def bundle(written, tmp_path):
    """A fresh copy of the bundle for each test (tests change it)."""
    _, paths = written
    target = tmp_path / "bundle"
    shutil.copytree(paths["bundle"], target)
    return target


@pytest.fixture
def manifest(written) -> pd.DataFrame:
    _, paths = written
    files = sorted(paths["manifest"].glob("*")) if paths["manifest"].is_dir() else [paths["manifest"]]
    return load_manifest(files[0]).clean.drop(columns=["_row_number"], errors="ignore")


def quiet(_: str) -> None:
    pass


def full_matrix(bundle, day: pd.DataFrame) -> pd.DataFrame:
    b = load_bundle(bundle)
    decl = combine(b.tables["declarations"], day)
    return build_features(decl, make_context(b.tables, decl, hs_profiles(), ports())).matrix


def state_matrix(run, tables, day: pd.DataFrame) -> pd.DataFrame:
    decl = combine(None, day)
    ctx = make_context(tables, decl, hs_profiles(), ports())
    return run.build(decl, ctx).matrix


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    moved = [c for c in a.columns if not np.allclose(a[c], b[c], rtol=1e-9, atol=1e-9, equal_nan=True)]
    assert not moved, f"features differ: {moved}"
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)


def test_built_when_missing_then_used(bundle, manifest):
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "rebuilt" and run.why == "no feature state yet"
    # scoring does not carry the history: one undated row per code with its usual description, and
    # each exporter's last five declarations
    stand_in = b.tables["declarations"]
    codes = stand_in[stand_in["declared_at"].isna()]
    assert len(codes) == codes["hs_code"].nunique() > 0
    recent = stand_in[stand_in["declared_at"].notna()]
    assert 0 < recent.groupby("exporter_id").size().max() <= 5 and recent["goods_description"].isna().all()
    assert (bundle / "feature_state" / "meta.json").exists()
    b2, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "used", again.why
    assert again.state.rows == run.state.rows > 0
    assert_same(state_matrix(again, b2.tables, manifest), full_matrix(bundle, manifest))


def test_an_appended_day_updates_the_state(bundle, manifest, written):
    from pipelines.score_flow import append_day_to_history

    b, run = store.load_for_scoring(bundle, append=True, progress=quiet)
    state_matrix(run, b.tables, manifest)
    path = append_day_to_history(manifest, bundle, "next")
    run.after_append(path, quiet)
    b2, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "used", again.why
    assert again.state.rows == run.state.rows
    # the day after, against the updated state, as against the whole history
    later = manifest.assign(
        declaration_id=manifest["declaration_id"] + "-B",
        declared_at=manifest["declared_at"] + pd.Timedelta(days=1),
    )
    assert_same(state_matrix(again, b2.tables, later), full_matrix(bundle, later))


def test_new_outcomes_are_folded_in_and_corrections_rebuild(bundle, manifest):
    store.load_for_scoring(bundle, progress=quiet)
    ins_path = bundle / "inspections.parquet"
    ins = pd.read_parquet(ins_path)
    decl = pd.concat([pd.read_parquet(f) for f in sorted((bundle / "declarations").glob("*.parquet"))])
    fresh = decl[~decl["declaration_id"].isin(ins["declaration_id"])].tail(5)
    new = ins.head(len(fresh)).copy()
    new["declaration_id"] = fresh["declaration_id"].to_numpy()
    new["inspected_on"] = pd.to_datetime(fresh["declared_at"]).dt.normalize().to_numpy() + np.timedelta64(
        2, "D"
    )
    new["outcome"] = "violation"
    pd.concat([ins, new], ignore_index=True).to_parquet(ins_path, index=False)
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "updated" and "new outcomes" in run.why
    assert_same(state_matrix(run, b.tables, manifest), full_matrix(bundle, manifest))

    changed = pd.read_parquet(ins_path)
    changed.loc[0, "outcome"] = "violation" if changed.loc[0, "outcome"] != "violation" else "clear"
    changed.to_parquet(ins_path, index=False)
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "rebuilt" and "corrected" in run.why
    assert_same(state_matrix(run, b.tables, manifest), full_matrix(bundle, manifest))


def test_a_changed_license_register_rebuilds_its_part(bundle, manifest):
    store.load_for_scoring(bundle, progress=quiet)
    path = bundle / "licenses.parquet"
    lic = pd.read_parquet(path)
    lic.loc[lic.index[0], "quantity_kg"] = lic.loc[lic.index[0], "quantity_kg"] * 2
    lic.iloc[1:].to_parquet(path, index=False)  # one license withdrawn, one changed
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "updated" and "licenses changed" in run.why
    assert_same(state_matrix(run, b.tables, manifest), full_matrix(bundle, manifest))


def test_a_changed_history_file_rebuilds(bundle, manifest):
    store.load_for_scoring(bundle, progress=quiet)
    f = sorted((bundle / "declarations").glob("*.parquet"))[0]
    d = pd.read_parquet(f)
    d.iloc[:-3].to_parquet(f, index=False)
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "rebuilt" and "changed or was removed" in run.why
    assert_same(state_matrix(run, b.tables, manifest), full_matrix(bundle, manifest))


def test_a_history_file_touched_with_its_content_unchanged_is_not_a_change(bundle, manifest):
    """Copied back from a backup, or touched: the state is used, not rebuilt (a rebuild of a long
    history takes minutes), and the file's new time is remembered so it is not read again."""
    import os

    store.load_for_scoring(bundle, progress=quiet)
    f = sorted((bundle / "declarations").glob("*.parquet"))[0]
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "used"
    name = str(f.relative_to(bundle))
    kept = store.load(store.state_folder(bundle)).meta["history_files"][name]
    assert kept[:2] == [st.st_size, st.st_mtime_ns + 7_000_000_000]
    assert_same(state_matrix(run, b.tables, manifest), full_matrix(bundle, manifest))
    # another content (touched again too): a change
    d = pd.read_parquet(f)
    d.loc[d.index[0], "declared_value_usd"] = float(d["declared_value_usd"].iloc[0]) + 1.0
    d.to_parquet(f, index=False)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    _, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "rebuilt" and f"history file {name} changed" in again.why


def test_a_day_inside_the_history_falls_back_to_the_whole_history(bundle):
    b, run = store.load_for_scoring(bundle, progress=quiet)
    old = load_bundle(bundle).tables["declarations"].tail(20).drop(columns=["_source"])
    got = state_matrix(run, b.tables, old)
    assert "cannot be described" in run.fell_back
    assert len(got) == 20


def test_off_reads_the_whole_history(bundle, monkeypatch):
    monkeypatch.setenv("CUSTOMS_RISK_FEATURE_STATE", "off")
    b, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "off" and b.tables["declarations"] is not None
    engine = object()
    assert run.engine(engine) is engine


def test_reasons_learn_the_same_code_names_as_from_the_history(bundle):
    """The usual description per code kept with the state names codes as the whole history does."""
    from models.naming import usual_descriptions

    b, _ = store.load_for_scoring(bundle, progress=quiet)
    history = load_bundle(bundle).tables["declarations"]
    codes = history["hs_code"].astype("str").str[:6].unique()
    expected = usual_descriptions(history, codes)
    got = usual_descriptions(b.tables["declarations"], codes)
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_dtype=False)


def test_on_dask_the_day_is_described_in_chunks_against_the_state(bundle, manifest):
    """With a Dask engine, chunks of the day's rows go to the workers, each opening the stored
    state (rows of the day still count for each other across chunks); the day's events come back
    to update the state."""
    from distributed import Client, LocalCluster

    from pipelines.distributed import dask_engine
    from pipelines.score_flow import append_day_to_history

    b, run = store.load_for_scoring(bundle, append=True, progress=quiet)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, Client(cluster) as client:
        engine = run.engine(dask_engine(client))
        assert run.client is not None
        decl = combine(None, manifest)
        got = engine.build(decl, make_context(b.tables, decl, hs_profiles(), ports())).matrix
    assert_same(got, full_matrix(bundle, manifest))
    path = append_day_to_history(manifest, bundle, "next")
    run.after_append(path, quiet)
    later = manifest.assign(declaration_id=manifest["declaration_id"] + "-B")
    later["declared_at"] = later["declared_at"] + pd.Timedelta(days=1)
    b2, again = store.load_for_scoring(bundle, progress=quiet)
    assert again.action == "used"
    assert_same(state_matrix(again, b2.tables, later), full_matrix(bundle, later))


def test_state_commands_build_then_show(bundle):
    from typer.testing import CliRunner

    from pipelines.state_cli import state_app

    runner = CliRunner()
    built = runner.invoke(state_app, ["build", "--bundle", str(bundle)])
    assert built.exit_code == 0, built.output
    assert "feature state rebuilt (no feature state yet)" in built.output
    again = runner.invoke(state_app, ["build", "--bundle", str(bundle)])
    assert again.exit_code == 0 and "feature state used" in again.output
    shown = runner.invoke(state_app, ["show", "--bundle", str(bundle)])
    assert shown.exit_code == 0, shown.output
    history = load_bundle(bundle).tables["declarations"]
    assert f"declarations:  {len(history):,} up to" in shown.output
    assert "behaviour:window:exporter:1" in shown.output and "unchanged" in shown.output
    f = sorted((bundle / "declarations").glob("*.parquet"))[-1]
    pd.read_parquet(f).iloc[:-2].to_parquet(f, index=False)
    shown = runner.invoke(state_app, ["show", "--bundle", str(bundle)])
    assert shown.exit_code == 0 and "1 changed or new since" in shown.output
    missing = runner.invoke(state_app, ["show", "--bundle", str(bundle / "nowhere")])
    assert missing.exit_code == 2 and "no feature state" in missing.output


def test_other_feature_code_rebuilds(bundle, monkeypatch):
    store.load_for_scoring(bundle, progress=quiet)
    monkeypatch.setattr(store, "code_version", lambda: "another version of features/")
    _, run = store.load_for_scoring(bundle, progress=quiet)
    assert run.action == "rebuilt" and run.why == "the feature code changed"


def test_cases_list_the_same_recent_declarations_of_the_exporter(bundle, manifest):
    """The case page's 'exporter's last declarations' come from the state as from the history."""
    from models.scoring import _exporter_history

    b, run = store.load_for_scoring(bundle, progress=quiet)
    full = load_bundle(bundle).tables
    exporters = manifest["exporter_id"].drop_duplicates().reset_index(drop=True)
    got = _exporter_history(exporters, b.tables["declarations"], b.tables["inspections"])
    expected = _exporter_history(exporters, full["declarations"], full["inspections"])
    assert got == expected and any(text != "[]" for text in got)


def test_the_caller_can_stop_before_any_long_read_of_the_history(bundle):
    """Scoring passes its champion check: a missing champion stops the run before a rebuild."""

    class NoChampion(Exception):
        pass

    def champion_missing():
        raise NoChampion

    with pytest.raises(NoChampion):
        store.load_for_scoring(bundle, progress=quiet, before_history=champion_missing)
    assert not (bundle / "feature_state" / "meta.json").exists()  # nothing was built
    calls = []
    b, run = store.load_for_scoring(bundle, progress=quiet, before_history=lambda: calls.append(1))
    assert run.action == "rebuilt" and calls == [1]
    b, run = store.load_for_scoring(bundle, progress=quiet, before_history=lambda: calls.append(2))
    assert run.action == "used" and calls == [1]  # the state was used: nothing long to warn about


def test_reference_tables_kept_with_the_state_are_the_tables_validated_again(bundle):
    store.load_for_scoring(bundle, progress=quiet)  # built
    first, _ = store.load_for_scoring(bundle, progress=quiet)  # validated and kept
    kept, run = store.load_for_scoring(bundle, progress=quiet)  # read from the keep
    assert run.action == "used"
    assert (bundle / "feature_state" / "reference" / "companies.json").exists()
    for table in ("companies", "ownership", "watchlist", "licenses"):
        pd.testing.assert_frame_equal(kept.tables[table], first.tables[table])
