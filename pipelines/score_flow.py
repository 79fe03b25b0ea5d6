"""Daily scoring flow: validate the manifest, score with the champion, select, explain, write, store cases."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.errors import ConfigError
from pipelines.champion import MlflowHelper
from pipelines.config import load_rules_config, load_scoring_config
from pipelines.errors import user_errors
from pipelines.feature_state import load_for_scoring
from pipelines.outputs import day_warnings, write_day_outputs
from pipelines.runtime import progress, run_logger
from pipelines.tasks import frame_task, pipeline_flow


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


@frame_task()
def champion_task(fetch) -> tuple[str, object, object]:
    """The champion fetched by the MLflow helper (``pipelines.champion``): (version, RiskModel, files)."""
    import models.artifact  # noqa: F401  (XGBoost's import, done while the helper may still be fetching)
    from pipelines.champion import load_champion

    files = fetch.result()  # NoChampionError / ModelUnavailableError, raised in the helper, arrive here
    return files.version, load_champion(files), files


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


@dataclass
class _Setup:
    scfg: object
    dask: object
    rules: list
    score_floor: object


def _setup(config_path: Path | None, rules_path: Path | None, dask: str | None) -> _Setup:
    """Configuration, Dask settings and rules, checked before anything is read."""
    from features.build import feature_names
    from models.select import rules_from_config
    from pipelines.distributed import settings_for

    scfg = load_scoring_config(config_path)
    settings = settings_for(dask)  # a wrong setting stops the run before anything is read
    rules_config = load_rules_config(rules_path)
    rules = rules_from_config([r.model_dump() for r in rules_config.rules])
    unknown = sorted({c.column for r in rules for g in r.any_of for c in g} - set(feature_names()))
    if unknown:
        raise ConfigError(f"rules refer to unknown features: {', '.join(unknown)}")
    return _Setup(scfg, settings, rules, rules_config.score_floor)


@pipeline_flow(name="score")
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
    t0 = time.perf_counter()
    setup = _setup(config_path, rules_path, dask)
    with MlflowHelper() as mlflow_helper:
        return _score_day(
            setup, mlflow_helper, t0, manifest, bundle, out, mapping, database_url, append_to_history
        )


def _score_day(setup, mlflow_helper, t0, manifest, bundle, out, mapping, database_url, append_to_history):
    """The flow's steps, with the MLflow helper fetching the champion while the manifest is read."""
    scfg = setup.scfg
    fetch = mlflow_helper.fetch_champion(scfg.model.registered_name, scfg.model.alias)
    try:
        validated = load_manifest_task(Path(manifest), mapping)
    except user_errors():
        fetch.result()  # no champion (or an unloadable one) is said first: it stops every day
        raise
    progress(
        f"[1/4] manifest {manifest}: {validated.rows_in:,} rows in, {len(validated.clean):,} valid, "
        f"{validated.rows_quarantined:,} quarantined"
    )
    # a missing or unloadable champion stops the run before any long read of the history
    b, state_run = load_for_scoring(
        Path(bundle), mapping, append_to_history, progress, validated.clean, before_history=fetch.result
    )
    version, model, champion = champion_task(fetch)
    day = manifest_day(Path(manifest), validated.clean)
    if not len(validated.clean):
        raise ConfigError(
            f"{manifest}: no valid row to score; see the quarantine list "
            f"(customs-risk validate --manifest {manifest})"
        )
    result, engine_name = _score(setup, validated, b.tables, model, version, day, state_run)
    scored = _Scored(manifest, day, version, engine_name, validated, result)
    drift = day_drift_task(scfg, champion, result, day, mlflow_helper.log_day_drift)
    warnings = day_warnings(result.selection.warnings, result.missing) + drift.warnings
    _progress_scored(result, version, scored.held, warnings)
    target = Path(out) / day
    case_counts, held_counts = _publish(target, scored, setup, drift, warnings, database_url)
    progress(f"[3/4] outputs written to {target}")
    progress(
        f"[4/4] cases: {case_counts}; held for correction: {held_counts}; rows in {validated.rows_in:,} = "
        f"scored {len(result.scored):,} + quarantined {len(scored.quarantine):,} "
        f"({time.perf_counter() - t0:.0f}s)"
    )
    if append_to_history:
        path = append_day_to_history(validated.clean, Path(bundle), day)
        state_run.after_append(path, progress)
        progress(f"      the day's {len(validated.clean):,} valid declarations added to the history: {path}")
    rows = result.scored
    reds = rows[rows["channel"] == "red"].sort_values("risk_score", ascending=False).head(5)
    return ScoreOutcome(
        day,
        target,
        validated.rows_in,
        len(rows),
        len(scored.quarantine),
        rows["channel"].value_counts().to_dict(),
        {k: case_counts[k] + held_counts.get(k, 0) for k in case_counts},
        reds,
    )


def _score(setup: _Setup, validated, tables, model, version: str, day: str, state_run=None):
    """Features, score, selection and reasons for the day's valid rows: (DayScores, engine name)."""
    from models.select import Capacity
    from pipelines.distributed import engine_for

    cap = Capacity(**setup.scfg.capacity.model_dump())
    with engine_for(setup.dask) as engine:  # a local Dask cluster lives only as long as the scoring
        engine = state_run.engine(engine) if state_run is not None else engine  # the day against the state
        if setup.dask is not None:
            progress(f"      scoring on {engine.name}")
        result = score_task(
            validated.clean,
            tables,
            model,
            version,
            setup.rules,
            cap,
            day,
            setup.scfg,
            engine,
            setup.score_floor,
        )
    return result, engine.name


class _Scored:
    """A scored day with its quarantine: every row in is scored or quarantined, or nothing is written."""

    def __init__(self, manifest: Path, day: str, version: str, engine_name: str, validated, result):
        from models.scoring import held_for_correction

        self.manifest, self.day, self.version, self.engine_name = manifest, day, version, engine_name
        self.validated, self.result = validated, result
        # the contract names the id column of quarantined rows declaration_id
        self.quarantine = validated.quarantine.rename(columns={"key": "declaration_id"})
        self.problems = validated.problems.rename(columns={"key": "declaration_id"})
        if len(result.scored) + len(self.quarantine) != validated.rows_in:
            raise RuntimeError("rows in != scored + quarantined: refusing to write partial outputs")
        self.held = held_for_correction(
            self.quarantine, result.scored["declaration_id"], day, source=Path(manifest).name
        )


def _publish(target: Path, s: _Scored, setup: _Setup, drift, warnings: list[str], database_url: str | None):
    """The day's folder written whole, the cases stored before it is published: (cases, held)."""
    result = s.result
    summary = day_summary(s.day, s.manifest, s.version, s.engine_name, s.validated, result, s.held, warnings)
    summary["rule_score_floor"] = {"setting": setup.score_floor, **summary["rule_score_floor"]}
    summary["drift"] = drift.summary()
    return write_day_outputs(
        target,
        scored=result.scored,
        quarantine=s.quarantine,
        problems=s.problems,
        summary=summary,
        report=dict(
            day=s.day,
            manifest_path=str(s.manifest),
            rows_in=s.validated.rows_in,
            held=s.held.rows,
            waterfalls=result.waterfalls,
            importance=result.global_importance,
            capacity=result.selection.capacity,
            warnings=warnings,
            missing=result.missing,
            model_version=s.version,
            top_cases=setup.scfg.report.top_cases,
            drift=drift.table,
            drift_note=drift.note,
            drift_warn=setup.scfg.drift.psi_warn,
            drift_window=drift.window,
        ),
        before_publish=lambda: upsert_cases_task(result.cases, s.held.cases, database_url),
    )


@dataclass
class DayDrift:
    table: pd.DataFrame | None  # models.drift.day_drift, None without a reference
    note: str  # why something was not compared
    window: str  # the training window compared with, in words
    warnings: list[str]
    psi_warn: float
    mlflow_run_id: str | None = None

    def summary(self) -> dict:
        t = self.table
        compared = t[t["compared"] & t["psi"].notna()] if t is not None else None
        score = compared[compared["feature"] == "risk_score"] if compared is not None else None
        return {
            "reference": self.window,
            "psi_warn": self.psi_warn,
            "score_psi": _number(score["psi"].iloc[0]) if score is not None and len(score) else None,
            "features_compared": int((compared["feature"] != "risk_score").sum()) if t is not None else 0,
            "drifting": [] if t is None else t.loc[t["warning"], "feature"].tolist(),
            "note": self.note,
            "mlflow_run_id": self.mlflow_run_id,
        }


@frame_task()
def day_drift_task(scfg, champion, result, day: str, log_day_drift) -> DayDrift:
    """The day's score and features against the champion's training window (its drift reference,
    logged with the model): a table for the report, warnings above ``drift.psi_warn``, an MLflow
    run (``log_day_drift``, the MLflow helper's). A model without a reference (trained before
    references) is scored all the same."""
    from models.drift import day_drift, drift_warnings

    warn = scfg.drift.psi_warn
    reference, note, version = champion.drift_reference, champion.drift_note, champion.version
    if reference is None:
        return DayDrift(None, note, "", [], warn)
    matrix = getattr(result, "matrix", None)  # the day's feature matrix, where scoring keeps it
    if matrix is None:
        note = "the day's feature matrix is not kept by scoring: only the score distribution is compared"
    table = day_drift(
        reference["profiles"], matrix, result.scored["risk_score"], warn, scfg.drift.grow_with_time
    )
    w = reference.get("window", {})
    window = f"declarations of {str(w.get('from'))[:10]} .. {str(w.get('to'))[:10]}"
    drift = DayDrift(table, note, window, drift_warnings(table, warn), warn)
    if scfg.drift.log_to_mlflow:
        drift.mlflow_run_id = log_day_drift(day, version, table, warn)
    return drift


def _progress_scored(result, version: str, held, warnings: list[str]) -> None:
    """The console and run-log lines after scoring: channels, warnings, held declarations."""
    log = run_logger()
    channels = result.scored["channel"].value_counts().to_dict()
    for warning in warnings:  # also in summary.json and at the top of the report
        progress(f"      warning: {warning}")
    if result.already_in_history:
        log.warning(
            f"{result.already_in_history:,} declaration(s) of the manifest are already in the history "
            "(a re-run of a day added with --append-to-history, or reused ids): scored as the manifest "
            "has them"
        )
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


def day_summary(day, manifest, version, engine_name, validated, result, held, warnings) -> dict:
    """summary.json: counts, capacity, every warning of the day, the rule floor applied."""
    return {
        "day": day,
        "manifest": str(manifest),
        "model_version": version,
        "engine": engine_name,
        "rows_in": validated.rows_in,
        "rows_scored": len(result.scored),
        "rows_quarantined": len(validated.quarantine),
        "channels": result.scored["channel"].value_counts().to_dict(),
        "capacity": result.selection.capacity,
        "warnings": warnings,
        "features_left_out": result.missing,
        "already_in_history": result.already_in_history,
        "held_for_correction": held.summary(),
        "rule_score_floor": {
            "red": _number(result.floors.get("red")),
            "yellow": _number(result.floors.get("yellow")),
            "items_raised": result.raised,
        },
    }


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
