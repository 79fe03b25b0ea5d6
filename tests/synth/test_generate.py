"""The synthetic world: deterministic, realistic in its shape, and written as a valid bundle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.contract import TABLES
from data.reference import ports
from synth import TRUTH_COLUMNS, TYPOLOGIES, World, generate_world, write_world

SEED, DAYS, ROWS_PER_DAY = 7, 30, 300

pytestmark = pytest.mark.slow  # generates worlds: make test runs it, make test-fast leaves it out


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=SEED, days=DAYS, rows_per_day=ROWS_PER_DAY)


@pytest.fixture(scope="module")
def written(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_world(world, tmp_path_factory.mktemp("world") / "out", fmt="csv")


def _frames(w: World) -> dict[str, pd.DataFrame]:
    return {k: v for k, v in vars(w).items() if isinstance(v, pd.DataFrame)}


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames(world: World) -> None:
    again = generate_world(seed=SEED, days=DAYS, rows_per_day=ROWS_PER_DAY)
    for name, frame in _frames(world).items():
        pd.testing.assert_frame_equal(frame, _frames(again)[name], obj=name)
    assert again.params == world.params


def test_different_seed_gives_a_different_world(world: World) -> None:
    other = generate_world(seed=SEED + 1, days=DAYS, rows_per_day=ROWS_PER_DAY)
    assert not world.declarations.equals(other.declarations)
    assert not world.companies["name"].equals(other.companies["name"])


# ---------------------------------------------------------------- shape and contract


def test_columns_are_the_contract_columns(world: World) -> None:
    for table in TABLES:
        assert list(getattr(world, table).columns) == TABLES[table].column_names, table
    assert list(world.manifest.columns) == TABLES["declarations"].column_names
    assert list(world.history_truth.columns) == list(TRUTH_COLUMNS)
    assert list(world.manifest_truth.columns) == list(TRUTH_COLUMNS)


def test_row_counts_and_keys(world: World) -> None:
    decl = world.declarations
    assert len(decl) == DAYS * ROWS_PER_DAY
    assert len(world.manifest) == ROWS_PER_DAY
    ids = pd.concat([decl["declaration_id"], world.manifest["declaration_id"]])
    assert ids.is_unique
    assert decl["declaration_id"].tolist() == world.history_truth["declaration_id"].tolist()
    assert world.manifest["declaration_id"].tolist() == (world.manifest_truth["declaration_id"].tolist())
    assert world.companies["company_id"].is_unique
    assert world.watchlist["id"].is_unique
    assert world.licenses["license_id"].is_unique


def test_manifest_is_the_day_after_the_history(world: World) -> None:
    last = world.declarations["declared_at"].max().normalize()
    days = world.manifest["declared_at"].dt.normalize().unique()
    assert len(days) == 1 and days[0] == last + pd.Timedelta(days=1)
    assert str(days[0].date()) == world.manifest_date
    assert not world.inspections["declaration_id"].isin(world.manifest["declaration_id"]).any()


def test_codes_ports_and_quantities_are_well_formed(world: World) -> None:
    decl = world.declarations
    assert decl["hs_code"].str.fullmatch(r"\d{6,10}").all()
    assert decl["hs_code"].str.startswith("0").any()  # leading zeros exist and are kept
    known = set(ports()["locode"])
    assert decl["port_of_loading"].isin(known).all()
    assert decl["port_of_discharge"].isin(known).all()
    hops = decl["transshipment_ports"].fillna("").str.split(";").explode()
    assert hops[hops != ""].isin(known).all()
    assert (decl["gross_weight_kg"] > 0).all()
    assert (decl["net_weight_kg"] <= decl["gross_weight_kg"]).all()
    assert (decl["package_volume_m3"] > 0).all()
    assert (decl["declared_value_usd"] >= 0).all()
    ratio = decl["net_weight_kg"] / decl["gross_weight_kg"]
    assert ratio.median() == pytest.approx(0.92, abs=0.06)


# ---------------------------------------------------------------- planted violations


def test_every_typology_is_planted(world: World) -> None:
    truth = world.history_truth
    found = set(truth.loc[truth["is_violation"], "typology"])
    assert found == set(TYPOLOGIES)
    assert set(truth["secondary_typology"].dropna()) <= set(TYPOLOGIES)


def test_violation_base_rate_is_a_few_percent(world: World) -> None:
    rate = world.history_truth["is_violation"].mean()
    assert 0.015 <= rate <= 0.05


def test_hard_cases_and_combinations(world: World) -> None:
    v = world.history_truth[world.history_truth["is_violation"]]
    assert 0.12 <= v["hard_case"].mean() <= 0.4
    assert 0.15 <= v["secondary_typology"].notna().mean() <= 0.6
    assert not v.loc[v["hard_case"], "secondary_typology"].notna().any() or (
        v.loc[v["hard_case"], "secondary_typology"].notna().mean() < 0.1
    )
    clean = world.history_truth[~world.history_truth["is_violation"]]
    assert clean["typology"].isna().all() and not clean["hard_case"].any()


def test_violations_come_mostly_from_repeat_offenders(world: World) -> None:
    merged = world.declarations.merge(world.history_truth, on="declaration_id")
    per_exporter = merged.loc[merged["is_violation"], "exporter_id"].value_counts()
    assert per_exporter[per_exporter >= 3].sum() / per_exporter.sum() > 0.6


def test_mislabelled_goods_betray_themselves_by_value(world: World) -> None:
    merged = world.declarations.merge(world.history_truth, on="declaration_id")
    vpk = merged["declared_value_usd"] / merged["net_weight_kg"]
    code = merged["hs_code"].str[:6]
    is_mis = (merged["typology"] == "mislabel") & ~merged["hard_case"]
    for hs in code[is_mis].unique():
        clean = (code == hs) & ~merged["is_violation"]
        if clean.sum() >= 20 and (is_mis & (code == hs)).sum() >= 3:
            assert vpk[is_mis & (code == hs)].median() > 3 * vpk[clean].median(), hs


def test_legitimate_trade_is_not_trivially_clean(world: World) -> None:
    merged = world.declarations.merge(world.history_truth, on="declaration_id")
    clean = merged[~merged["is_violation"]]
    # transshipment, origin differing from the loading country and controlled codes all
    # occur in legitimate trade as well
    assert 0.15 <= (clean["transshipment_ports"].fillna("") != "").mean() <= 0.35
    assert (clean["origin_country"] != clean["port_of_loading"].str[:2]).mean() > 0.01
    controlled = clean["hs_code"].str[:6].isin(["280530", "284690", "850511"])
    assert controlled.sum() > 0
    assert clean.loc[controlled, "license_id"].notna().mean() > 0.9


def test_licenses_cover_licensed_flows(world: World) -> None:
    lic = world.licenses
    assert (lic["valid_from"] < lic["valid_to"]).all()
    assert lic["hs_code"].str.fullmatch(r"\d{4,6}").all()
    quoted = world.declarations["license_id"].dropna()
    assert quoted.isin(lic["license_id"]).all()


def test_registry_has_shells_and_listed_entities(world: World) -> None:
    companies, wl = world.companies, world.watchlist
    assert wl["schema"].isin(["Company", "Person"]).all()
    assert 100 <= len(wl) <= 200
    assert wl["id"].isin(companies["company_id"]).any()  # listed companies in the registry
    shared = companies["address"].value_counts()
    assert shared.max() >= 5  # formation-agent addresses shared by many companies
    boards = world.officers["person_id"].value_counts()
    assert boards.max() >= 10  # nominee directors sit on many boards
    assert not world.declarations["exporter_id"].isin(companies["company_id"]).all()
    assert world.ownership["owner_id"].str.startswith("P").any()


# ---------------------------------------------------------------- inspections


def test_inspections_are_a_small_labelled_share(world: World) -> None:
    ins, decl = world.inspections, world.declarations
    assert ins["declaration_id"].isin(decl["declaration_id"]).all()
    assert ins["declaration_id"].is_unique
    share = len(ins) / len(decl)
    assert 0.03 <= share <= 0.10
    assert set(ins["selected_by"]) == {"rule", "random"}
    assert (ins["selected_by"] == "random").sum() / len(decl) == pytest.approx(0.01, abs=0.005)
    when = ins.merge(decl[["declaration_id", "declared_at"]], on="declaration_id")
    lag = (when["inspected_on"] - when["declared_at"].dt.normalize()).dt.days
    assert lag.between(0, 10).all()


def test_inspection_outcomes_follow_the_truth_with_misses(world: World) -> None:
    ins = world.inspections.merge(world.history_truth, on="declaration_id", suffixes=("", "_truth"))
    found = ins["outcome"] == "violation"
    assert (ins.loc[found, "is_violation"]).all()  # no false positives recorded
    missed = (~found & ins["is_violation"]).sum()
    assert missed >= 1
    assert missed / ins["is_violation"].sum() < 0.3
    # the inspector records the primary typology, then the secondary one where there is one
    expected = ins["typology_truth"] + (";" + ins["secondary_typology"]).fillna("")
    assert (ins.loc[found, "typology"] == expected[found]).all()
    assert ins.loc[found, "typology"].str.contains(";").any()
    assert ins.loc[found, "seized_value_usd"].gt(0).all()
    assert ins.loc[found, "found_hs_code"].str.fullmatch(r"\d{6}").all()
    assert ins.loc[~found, ["typology", "found_hs_code"]].isna().all().all()


# ---------------------------------------------------------------- writing


def test_written_layout_keeps_truth_outside_the_bundle(written: dict[str, Path]) -> None:
    bundle = written["bundle"]
    for key in ("history_truth", "manifest_truth"):
        assert bundle not in written[key].parents
        assert written[key].exists()
    assert not any("truth" in p.name for p in bundle.rglob("*"))
    for p in bundle.rglob("*.csv"):
        header = p.read_text(encoding="utf-8").split("\n", 1)[0]
        assert "is_violation" not in header and "hard_case" not in header
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        [
            "declarations",
            "inspections.csv",
            "companies.csv",
            "ownership.csv",
            "officers.csv",
            "watchlist.csv",
            "licenses.csv",
        ]
    )
    assert written["manifest"].parent.name == "manifest"


def test_csv_keeps_codes_as_text_and_dates_iso(world: World, written: dict[str, Path]) -> None:
    files = sorted(written["declarations"].glob("*.csv"))
    assert len(files) >= 1
    back = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])
    assert list(back.columns) == TABLES["declarations"].column_names
    assert back["hs_code"].tolist() == world.declarations["hs_code"].tolist()
    assert back["hs_code"].str.startswith("0").any()
    assert back["declared_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    ins = pd.read_csv(written["inspections"], dtype=str, keep_default_na=False)
    assert ins["inspected_on"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    lic = pd.read_csv(written["licenses"], dtype=str, keep_default_na=False)
    assert lic["valid_from"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()


def test_world_json_counts(world: World, written: dict[str, Path]) -> None:
    doc = json.loads(written["world_json"].read_text())
    assert doc["params"]["seed"] == SEED and doc["params"]["days"] == DAYS
    assert doc["rows"]["declarations"] == len(world.declarations)
    by_typology = doc["history"]["by_typology"]
    assert sum(by_typology.values()) == int(world.history_truth["is_violation"].sum())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", doc["params"]["manifest_date"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_world_loads_with_nothing_quarantined(world: World, tmp_path: Path, fmt: str) -> None:
    from data.io import load_bundle, load_manifest

    paths = write_world(world, tmp_path / "out", fmt=fmt)
    bundle = load_bundle(paths["bundle"])
    assert len(bundle.quarantine) == 0, bundle.quarantine.head().to_string()
    assert len(bundle.tables["declarations"]) == len(world.declarations)
    assert len(bundle.tables["inspections"]) == len(world.inspections)
    manifest = load_manifest(paths["manifest"])
    assert len(manifest.clean) == len(world.manifest)


def test_parquet_round_trip_keeps_types(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path / "out", fmt="parquet")
    back = pd.concat(pd.read_parquet(f) for f in sorted(paths["declarations"].glob("*.parquet")))
    assert back["hs_code"].tolist() == world.declarations["hs_code"].tolist()
    assert np.issubdtype(back["declared_at"].dtype, np.datetime64)


def test_write_replaces_an_existing_folder_only_on_success(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synth.world as gen

    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    monkeypatch.setattr(gen, "_write_into", lambda *a, **k: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        write_world(world, out)
    assert (out / "stale.txt").exists()  # untouched after a failure
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left
    monkeypatch.undo()
    write_world(world, out)
    assert not (out / "stale.txt").exists()
    assert (out / "bundle" / "inspections.csv").exists()


def test_bad_arguments_are_refused(world: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_world(world, tmp_path / "x", fmt="xlsx")
    with pytest.raises(ValueError):
        generate_world(days=0)
    with pytest.raises(ValueError, match="profile"):
        generate_world(days=2, rows_per_day=10, profile="martian")


def test_the_move_keeps_the_package_boundaries() -> None:
    """The pipeline never imports the synthetic worlds (only the CLI, tests and benchmarks do)."""
    root = Path(__file__).resolve().parents[2]
    for room in ("data", "features", "models"):
        for path in (root / room).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from|import) synth\b", text, re.M), path
