"""The foreign world: another administration's data, drawn independently of the features.

It must load through the contract like any real export, be deterministic per seed, and carry what
the brief asks of it: every typology (often several per case), insiders and weak-signal cases,
national codes the reference does not know, hubs and cover codes that appear only late, data
habits (blank volumes, absent and extra columns, no ``selected_by``) and an old inspection regime
of rule hits plus a small random quota.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.contract import TABLES
from data.reference import hs_profiles
from synth import TRUTH_COLUMNS, TYPOLOGIES, World, generate_world, write_world
from synth import foreign as foreign_module
from synth import foreign_catalog as fc

SEED, DAYS, ROWS_PER_DAY = 11, 40, 300
CONTROLLED_HS6 = ("280530", "284690", "850511")


pytestmark = pytest.mark.slow  # generates worlds: see make test-fast


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=SEED, days=DAYS, rows_per_day=ROWS_PER_DAY, profile="foreign")


@pytest.fixture(scope="module")
def merged(world: World) -> pd.DataFrame:
    d = world.declarations.merge(world.history_truth, on="declaration_id", validate="one_to_one")
    return d.assign(day=(d["declared_at"].dt.normalize() - d["declared_at"].min().normalize()).dt.days)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _typologies(series: pd.Series) -> pd.Series:
    return series.dropna().str.split(";").explode()


# ---------------------------------------------------------------- contract and determinism


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_loads_through_the_contract_with_nothing_quarantined(world: World, tmp_path: Path, fmt: str) -> None:
    from data.io import load_bundle, load_manifest

    paths = write_world(world, tmp_path / "out", fmt=fmt)
    bundle = load_bundle(paths["bundle"])
    assert len(bundle.quarantine) == 0, bundle.quarantine.head().to_string()
    assert len(bundle.tables["declarations"]) == len(world.declarations)
    assert len(bundle.tables["inspections"]) == len(world.inspections)
    assert len(bundle.tables["licenses"]) == len(world.licenses)
    manifest = load_manifest(paths["manifest"])
    assert len(manifest.clean) == len(world.manifest) == ROWS_PER_DAY
    assert len(manifest.quarantine) == 0


def test_same_seed_gives_the_same_bytes_and_another_seed_another_world(world: World, tmp_path: Path) -> None:
    again = generate_world(seed=SEED, days=DAYS, rows_per_day=ROWS_PER_DAY, profile="foreign")
    first = _digests(Path(write_world(world, tmp_path / "a")["bundle"]).parent)
    second = _digests(Path(write_world(again, tmp_path / "b")["bundle"]).parent)
    assert first == second and len(first) >= 10
    other = generate_world(seed=SEED + 1, days=DAYS, rows_per_day=ROWS_PER_DAY, profile="foreign")
    third = _digests(Path(write_world(other, tmp_path / "c")["bundle"]).parent)
    differing = [k for k in first if first[k] != third.get(k)]
    assert "bundle/companies.csv" in differing and "bundle/inspections.csv" in differing
    assert any(k.startswith("bundle/declarations/") for k in differing)


def test_truth_is_kept_beside_the_bundle(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path / "out")
    assert list(world.history_truth.columns) == list(TRUTH_COLUMNS)
    assert paths["bundle"] not in paths["history_truth"].parents
    doc = json.loads(paths["world_json"].read_text())
    assert doc["generator"] == "synth.foreign" and doc["params"]["profile"] == "foreign"
    assert doc["params"]["held_out"] is False
    assert doc["history"]["violations"] == int(world.history_truth["is_violation"].sum())


def test_held_out_seeds_are_documented() -> None:
    assert foreign_module.HELD_OUT_SEEDS_FROM == 1000
    doc = foreign_module.__doc__ or ""
    assert "1000" in doc and re.search(r"held[- ]out", doc, re.I)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        generate_world(days=2, rows_per_day=10, profile="elsewhere")


# ---------------------------------------------------------------- its own catalogue and habits


def test_codes_are_national_and_mostly_unknown_to_the_reference(world: World) -> None:
    codes = pd.concat([world.declarations["hs_code"], world.manifest["hs_code"]])
    known = set(hs_profiles()["hs_code"].astype(str))
    assert codes.str.len().isin([8, 10]).all()
    assert (codes.str.len() == 10).any() and (codes.str.len() == 8).any()
    assert codes.str.startswith("01").any()  # leading zeros kept (live animals, 0101...)
    unknown = ~codes.str[:6].isin(known)
    assert unknown.mean() > 0.6
    ref_chapters = {c[:2] for c in known}
    assert len(set(codes.str[:2]) - ref_chapters) >= 5  # chapters the default world never uses
    # controlled rare earths as national subdivisions of 2805.30, 2846.90 and 8505.11
    controlled = codes[codes.str[:6].isin(CONTROLLED_HS6)]
    assert controlled.nunique() >= 5 and (controlled.str.len() > 6).all()


def test_data_habits(world: World) -> None:
    decl = world.declarations
    contract = TABLES["declarations"].column_names
    absent = set(contract) - set(decl.columns)
    assert {"container_type", "end_use", "consignee_id"} <= absent
    assert set(decl.columns) - set(contract)  # extra columns of this administration
    assert "selected_by" not in world.inspections.columns
    assert 0.3 <= decl["package_volume_m3"].isna().mean() <= 0.5
    units = set(decl["quantity_unit"])
    assert {"u", "t"} <= units and len(units) >= 5
    magnets = decl[decl["hs_code"].str.startswith("850511")]
    assert len(magnets) and (magnets["quantity_unit"] == "u").all()
    assert (magnets["quantity"] > magnets["net_weight_kg"]).all()  # pieces, not kilograms
    # ids: leading zeros and mixed formats; some declared without the registry's leading zero
    registry = set(world.companies["company_id"])
    assert world.companies["company_id"].str.startswith("0").mean() > 0.3
    assert world.companies["company_id"].str.contains(r"[^0-9]").any()
    stripped = decl["exporter_id"][~decl["exporter_id"].isin(registry)]
    assert ("0" + stripped).isin(registry).any()


def test_names_are_spelled_differently_across_sources(world: World) -> None:
    decl, companies = world.declarations, world.companies
    names = pd.concat(
        [decl["exporter_name"], decl["consignee_name"], companies["name"], world.watchlist["name"]]
    )
    for marker in (
        "Sp. z o.o.",
        "Sp z oo",
        "OOO",
        "LLC",
        "ООО",
        "A.Ş.",
        "GmbH",
        "Co., Ltd",
        "Youxian Gongsi",
    ):
        assert names.str.contains(marker, regex=False).any(), marker
    assert companies["name"].isin(decl["exporter_name"]).any()
    # the same exporter is written in more than one way on its declarations
    spellings = decl.groupby("exporter_id")["exporter_name"].nunique()
    assert (spellings >= 2).mean() > 0.3
    # licences name the consignee in the licensing office's own spelling
    quoted = decl.dropna(subset=["license_id"]).merge(
        world.licenses[["license_id", "consignee_name"]], on="license_id", suffixes=("", "_licensed")
    )
    assert len(quoted) and (quoted["consignee_name"] != quoted["consignee_name_licensed"]).mean() > 0.8
    assert set(world.licenses["hs_code"].str.len()) == {4, 6, 8}


# ---------------------------------------------------------------- violations


def test_base_rate_and_every_typology_often_several(world: World, merged: pd.DataFrame) -> None:
    truth = world.history_truth
    assert 0.02 <= truth["is_violation"].mean() <= 0.04
    v = truth[truth["is_violation"]]
    assert set(_typologies(v["typology"])) == set(TYPOLOGIES)
    assert v["typology"].str.contains(";").mean() > 0.3
    assert v["typology"].str.count(";").max() >= 2
    ins = world.inspections
    recorded = _typologies(ins["typology"])
    assert ins["typology"].str.contains(";", na=False).any()
    assert set(recorded) - {"misdeclaration"} <= set(TYPOLOGIES)


def test_inspectors_sometimes_write_a_word_outside_the_contract() -> None:
    knobs = foreign_module.ForeignKnobs(unknown_typology_share=0.3)
    w = generate_world(seed=2, days=30, rows_per_day=200, profile="foreign", knobs=knobs)
    recorded = w.inspections["typology"].dropna()
    odd = recorded.str.contains("misdeclaration")
    assert 0.1 < odd.mean() < 0.5
    assert (recorded[odd] == "misdeclaration").any() and recorded[odd].str.contains(";").any()
    assert foreign_module.ForeignKnobs().unknown_typology_share == pytest.approx(0.02)


def test_insiders_have_clean_records_and_stay_on_their_lanes(world: World, merged: pd.DataFrame) -> None:
    # one exporter, however its broker writes the id (leading zero dropped, dashes)
    key = merged["exporter_id"].str.replace("-", "").str.lstrip("0")
    insider = merged[merged["scheme"] == "insider"]
    assert key[insider.index].nunique() >= 5
    earlier = []
    for exporter, rows in insider.groupby(key[insider.index]):
        mine = merged[key == exporter]
        before = mine[mine["declared_at"] < rows["declared_at"].min()]
        assert len(before) >= 1 and not before["is_violation"].any(), exporter
        clean = mine.loc[~mine["is_violation"], "hs_code"]
        assert rows["hs_code"].isin(clean).all(), exporter  # their usual goods
        earlier.append(len(before))
    assert np.median(earlier) >= 5
    assert insider["day"].min() >= DAYS // 2
    # long-established: incorporated more than ten years before the history starts
    registry = world.companies.set_index("company_id")["incorporated_on"]
    since = insider["exporter_id"].map(registry).dropna()
    assert len(since) and (since < merged["declared_at"].min() - pd.Timedelta(days=3650)).all()


def test_weak_signal_cases_show_one_typology(merged: pd.DataFrame) -> None:
    v = merged[merged["is_violation"]]
    weak = v[v["hard_case"]]
    assert 0.1 <= len(weak) / len(v) <= 0.35
    assert not weak["typology"].str.contains(";").any()
    # a weak undervaluation still declares more than half the true value
    under = weak[weak["typology"] == "undervaluation"]
    if len(under):
        assert (under["declared_value_usd"] / under["true_value_usd"]).between(0.5, 0.75).all()


def test_concealment_and_mislabel_betray_themselves_by_mass(merged: pd.DataFrame) -> None:
    clean = merged[~merged["is_violation"]]
    density = merged["gross_weight_kg"] / (merged["package_volume_m3"] * 1000)
    ref = density[~merged["is_violation"]].groupby(clean["hs_code"]).median()
    conceal = merged["typology"].str.startswith("concealment", na=False) & ~merged["hard_case"]
    ratio = (density / merged["hs_code"].map(ref))[conceal].dropna()
    assert len(ratio) >= 3 and ratio.median() > 1.08
    mis = merged["typology"].str.startswith("mislabel", na=False) & ~merged["hard_case"]
    ratio = (density / merged["hs_code"].map(ref))[mis].dropna()
    assert len(ratio) >= 3 and ratio.median() > 1.2
    assert (merged.loc[mis, "true_hs_code"].str[:6].isin(CONTROLLED_HS6)).all()


def test_blending_is_an_alloy_at_an_odd_value_per_kg(merged: pd.DataFrame) -> None:
    blend = merged[merged["typology"].str.startswith("blending", na=False)]
    assert len(blend) >= 3
    assert blend["hs_code"].isin([ln.code for ln in fc.LINES if ln.role == "blend"]).all()
    vpk = merged["declared_value_usd"] / merged["net_weight_kg"]
    clean = ~merged["is_violation"] & merged["hs_code"].isin(blend["hs_code"])
    assert vpk[blend.index].median() > 2.5 * vpk[clean].median()


def test_new_hubs_and_cover_codes_appear_only_late(world: World, merged: pd.DataFrame) -> None:
    drift_from = DAYS - foreign_module.ForeignKnobs().drift_days
    hops = merged.dropna(subset=["transshipment_ports"])
    hops = hops.assign(hub=hops["transshipment_ports"].str.split(";")).explode("hub")
    first_seen = hops.groupby("hub")["day"].min()
    late_hubs = set(first_seen[first_seen >= drift_from].index)
    assert late_hubs and late_hubs <= set(fc.LAUNDER_NEW)
    manifest_hubs = set(_typologies(world.manifest["transshipment_ports"]))
    assert manifest_hubs & late_hubs  # still in use on the day to score
    # (insiders mislabel as their own usual mineral, whenever they start: not a new cover)
    mis = merged[merged["typology"].str.contains("mislabel", na=False) & (merged["scheme"] != "insider")]
    cover_first = mis.groupby("hs_code")["day"].min()
    late_covers = set(cover_first[cover_first >= drift_from].index)
    assert late_covers and late_covers <= {ln.code for ln in fc.LINES if ln.role == "late_cover"}


# ---------------------------------------------------------------- inspections


def test_inspections_are_rule_hits_plus_a_small_random_quota(world: World, merged: pd.DataFrame) -> None:
    wl = world.watchlist
    listed = set(wl["name"].str.upper()) | set(_typologies(wl["aliases"]).str.upper())
    role = merged["hs_code"].map({ln.code: ln.role for ln in fc.LINES})
    rule = (
        (role == "controlled")
        | merged["exporter_name"].str.upper().isin(listed)
        | merged["consignee_name"].str.upper().isin(listed)
        | (merged["declared_value_usd"] > 250_000)
        | merged["destination_country"].isin(list(fc.SANCTIONED_DEST))
        | merged["origin_country"].isin(["MM", "KP", "IR"])
        | role.isin(["cover", "blend"])
    )
    inspected = merged["declaration_id"].isin(world.inspections["declaration_id"])
    recorded_in_time = merged["day"] <= DAYS - 15  # results of the last days may still be pending
    assert rule[inspected].mean() > 0.75
    random_rate = inspected[~rule & recorded_in_time].mean()
    assert 0.003 <= random_rate <= 0.02
    assert inspected[rule & recorded_in_time].mean() > 10 * random_rate
    ins = world.inspections.merge(world.history_truth, on="declaration_id")
    caught = ins["outcome"] == "violation"
    assert ins.loc[caught, "is_violation"].all()
    missed = (~caught & ins["is_violation"]).sum() / ins["is_violation"].sum()
    assert 0.02 <= missed <= 0.2


def test_cli_generates_the_foreign_profile(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "generate",
            "--profile",
            "foreign",
            "--seed",
            "5",
            "--days",
            "6",
            "--rows-per-day",
            "40",
            "--out",
            str(tmp_path / "w"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "foreign profile" in result.output
    doc = json.loads((tmp_path / "w" / "world.json").read_text())
    assert doc["params"]["profile"] == "foreign"
    assert any((tmp_path / "w" / "bundle" / "declarations").iterdir())
    help_text = runner.invoke(app, ["generate", "--help"], terminal_width=200).output
    assert "1000" in help_text and "HELD OUT" in help_text
    bad = runner.invoke(app, ["generate", "--profile", "mars", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "--profile" in bad.output


def test_size_is_tunable() -> None:
    small = generate_world(seed=3, days=5, rows_per_day=50, profile="foreign")
    assert len(small.declarations) == 5 * 50 and len(small.manifest) == 50
    next_day = small.declarations["declared_at"].max().normalize() + pd.Timedelta(days=1)
    assert set(small.manifest["declared_at"].dt.normalize()) == {next_day}
    assert str(next_day.date()) == small.manifest_date
