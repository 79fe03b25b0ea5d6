"""Daily scoring flow: validate the manifest, score with the champion, select, explain, write, store cases."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from data.errors import ConfigError
from pipelines.config import load_rules_config, load_scoring_config
from pipelines.feature_state import load_for_scoring
from pipelines.runtime import progress
from pipelines.train_flow import frame_task


class NoChampionError(Exception):
    """No model carries the alias scoring uses."""


@dataclass
class ScoreOutcome:
    day: str
    out_dir: Path
    rows_in: int
    rows_scored: int
    rows_quarantined: int
    channels: dict[str, int]
    cases: dict[str, int]
    top: pd.DataFrame  # the first few red cases with reasons


@frame_task(retries=2, retry_delay_seconds=[2, 5])
def load_manifest_task(manifest: Path, mapping: Path | None):
    from data.io import load_manifest, load_mapping

    return load_manifest(manifest, load_mapping(mapping))


@frame_task(retries=2, retry_delay_seconds=[2, 5])
def load_reference_task(bundle: Path, mapping: Path | None):
    from data.io import load_bundle, load_mapping

    return load_bundle(bundle, load_mapping(mapping))


def resolve_model_version(name: str, alias: str) -> str:
    """The registered version behind ``name@alias``, or a clear error saying what to do."""
    from pipelines.registry import alias_version

    version = alias_version(name, alias)  # an unreadable registry raises ModelUnavailableError
    if version is None:
        raise NoChampionError(
            f"no model '{name}' with alias '{alias}' in the registry; "
            "train one first: customs-risk train --bundle DIR"
        )
    return version


@frame_task(retries=2, retry_delay_seconds=[2, 5])
def load_model_task(name: str, version: str):
    from pipelines.mlflow_model import load_risk_model

    return load_risk_model(f"models:/{name}/{version}")


@frame_task()
def score_task(manifest, tables, model, version, rules, capacity, day, scfg, engine, score_floor):
    from data.reference import hs_profiles, ports
    from models.scoring import score_day

    return score_day(
        manifest,
        tables,
        model,
        version,
        rules,
        capacity,
        day,
        hs_profiles(),
        ports(),
        top_reasons=scfg.explanations.top_reasons,
        exact_limit=scfg.explanations.exact_limit,
        waterfall_cases=scfg.report.top_cases,
        engine=engine,
        score_floor=score_floor,
    )


def manifest_day(manifest_path: Path, clean: pd.DataFrame) -> str:
    """The day a manifest is for: its most common declaration date (else the file name)."""
    if len(clean):
        return str(clean["declared_at"].dt.strftime("%Y-%m-%d").mode().iloc[0])
    return manifest_path.stem


@flow(name="score")
def score_flow(
    manifest: Path,
    bundle: Path,
    out: Path,
    mapping: Path | None = None,
    config_path: Path | None = None,
    rules_path: Path | None = None,
    database_url: str | None = None,
    append_to_history: bool = False,
    dask: str | None = None,
) -> ScoreOutcome:
    """Score one day's manifest and write scored rows, quarantine, report and cases.

    ``dask``: ``local``, a scheduler address, or ``off``; None lets the environment decide
    (``DASK_SCHEDULER_ADDRESS``, ``CUSTOMS_RISK_DASK``). Without either, one machine.
    """
    from data.io import atomic_dir, write_frame
    from features.build import feature_names
    from models.scoring import held_for_correction
    from models.select import Capacity, rules_from_config
    from pipelines.distributed import engine_for, settings_for
    from pipelines.report import render_report

    log = get_run_logger()
    t0 = time.perf_counter()
    scfg = load_scoring_config(config_path)
    settings = settings_for(dask)  # a wrong setting stops the run before anything is read
    rules_config = load_rules_config(rules_path)
    rules = rules_from_config([r.model_dump() for r in rules_config.rules])
    unknown = sorted({c.column for r in rules for g in r.any_of for c in g} - set(feature_names()))
    if unknown:
        raise ConfigError(f"rules refer to unknown features: {', '.join(unknown)}")

    # The champion first: a missing or unloadable one stops the run in seconds, before any data is read.
    version = resolve_model_version(scfg.model.registered_name, scfg.model.alias)
    model = load_model_task(scfg.model.registered_name, version)
    validated = load_manifest_task(Path(manifest), mapping)
    progress(
        f"[1/4] manifest {manifest}: {validated.rows_in:,} rows in, {len(validated.clean):,} valid, "
        f"{validated.rows_quarantined:,} quarantined"
    )
    b, state_run = load_for_scoring(Path(bundle), mapping, append_to_history, progress, validated.clean)
    day = manifest_day(Path(manifest), validated.clean)
    cap = Capacity(**scfg.capacity.model_dump())
    if not len(validated.clean):
        raise ConfigError(
            f"{manifest}: no valid row to score; see the quarantine list "
            f"(customs-risk validate --manifest {manifest})"
        )
    with engine_for(settings) as engine:  # a local Dask cluster lives only as long as the scoring
        engine = state_run.engine(engine)  # the day against the feature state
        if settings is not None:
            progress(f"      scoring on {engine.name}")
        result = score_task(
            validated.clean, b.tables, model, version, rules, cap, day, scfg, engine, rules_config.score_floor
        )
    for note in result.missing:
        log.warning(note)
    for warning in result.selection.warnings:
        progress(f"      warning: {warning}")
    if result.already_in_history:
        log.warning(
            f"{result.already_in_history:,} declaration(s) of the manifest are already in the history "
            "(a re-run of a day added with --append-to-history, or reused ids): scored as the manifest "
            "has them"
        )
    scored = result.scored
    # the contract names the id column of quarantined rows declaration_id
    quarantine = validated.quarantine.rename(columns={"key": "declaration_id"})
    problems = validated.problems.rename(columns={"key": "declaration_id"})
    if len(scored) + len(quarantine) != validated.rows_in:
        raise RuntimeError("rows in != scored + quarantined: refusing to write partial outputs")
    held = held_for_correction(quarantine, scored["declaration_id"], day, source=Path(manifest).name)
    channels = scored["channel"].value_counts().to_dict()
    progress(
        f"[2/4] scored with model version {version}: {channels.get('red', 0)} red, "
        f"{channels.get('yellow', 0)} yellow, {channels.get('green', 0)} green"
        + (f"; {result.raised} rule hit(s) raised to their channel's threshold" if result.raised else "")
    )
    if len(held.rows):
        shown = ", ".join(held.ids[:10]) + (f" and {len(held.ids) - 10} more" if len(held.ids) > 10 else "")
        progress(
            f"      HELD FOR CORRECTION: {len(held.rows):,} declaration(s) not scored"
            + (f"; cases: {shown}" if held.ids else "")
            + (
                f"; {len(held.without_readable_id):,} without a readable id (rows "
                f"{', '.join(map(str, held.without_readable_id[:10]))}): held in the summary and report only"
                if held.without_readable_id
                else ""
            )
        )

    target = Path(out) / day
    with atomic_dir(target) as tmp:
        write_frame(scored, tmp / "scored.parquet")
        write_frame(scored, tmp / "scored.csv", safe_for_spreadsheets=True)
        write_frame(quarantine, tmp / "quarantine.csv", safe_for_spreadsheets=True)
        write_frame(problems, tmp / "quarantine_problems.csv", safe_for_spreadsheets=True)
        html = render_report(
            day=day,
            manifest_path=str(manifest),
            rows_in=validated.rows_in,
            scored=scored,
            quarantine=quarantine,
            problems=problems,
            held=held.rows,
            waterfalls=result.waterfalls,
            importance=result.global_importance,
            capacity=result.selection.capacity,
            warnings=result.selection.warnings,
            missing=result.missing,
            model_version=version,
            top_cases=scfg.report.top_cases,
        )
        (tmp / "report.html").write_text(html, encoding="utf-8")
        summary = {
            "day": day,
            "manifest": str(manifest),
            "model_version": version,
            "engine": engine.name,
            "rows_in": validated.rows_in,
            "rows_scored": len(scored),
            "rows_quarantined": len(quarantine),
            "channels": channels,
            "capacity": result.selection.capacity,
            "warnings": result.selection.warnings,
            "features_left_out": result.missing,
            "already_in_history": result.already_in_history,
            "held_for_correction": held.summary(),
            "rule_score_floor": {
                "setting": rules_config.score_floor,
                "red": _number(result.floors.get("red")),
                "yellow": _number(result.floors.get("yellow")),
                "items_raised": result.raised,
            },
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        progress(f"[3/4] outputs written to {target}")
        case_counts, held_counts = upsert_cases_task(result.cases, held.cases, database_url)
    progress(
        f"[4/4] cases: {case_counts}; held for correction: {held_counts}; rows in {validated.rows_in:,} = "
        f"scored {len(scored):,} + quarantined {len(quarantine):,} ({time.perf_counter() - t0:.0f}s)"
    )
    case_counts = {k: case_counts[k] + held_counts.get(k, 0) for k in case_counts}
    if append_to_history:
        path = append_day_to_history(validated.clean, Path(bundle), day)
        state_run.after_append(path, progress)
        progress(f"      the day's {len(validated.clean):,} valid declarations added to the history: {path}")
    reds = scored[scored["channel"] == "red"].sort_values("risk_score", ascending=False).head(5)
    return ScoreOutcome(
        day, target, validated.rows_in, len(scored), len(quarantine), channels, case_counts, reds
    )


def append_day_to_history(clean: pd.DataFrame, bundle: Path, day: str) -> Path:
    """Add a scored day's valid declarations to the bundle's history, so that outcomes
    recorded on its cases can be learned from. Idempotent: the day's file is replaced whole."""
    import os

    target = bundle / "declarations" / f"scored_{day}.parquet"
    tmp = target.with_suffix(".parquet.partial")
    clean.drop(columns=["_row_number", "_source"], errors="ignore").to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return target


def _number(value: float | None) -> float | None:
    """A float for JSON (None for missing)."""
    return None if value is None or value != value else round(float(value), 6)


@frame_task(retries=2, retry_delay_seconds=[1, 3])
def upsert_cases_task(
    cases: pd.DataFrame, held: pd.DataFrame, database_url: str | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Store the day's red and yellow cases, then the declarations held for correction."""
    from pipelines.settings import load_settings
    from review.store import open_store

    store = open_store(database_url or load_settings().database_url)
    none = {"inserted": 0, "updated": 0, "unchanged_decided": 0}
    return store.upsert_cases(cases), store.upsert_cases(held) if len(held) else none
