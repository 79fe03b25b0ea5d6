"""Training flow: bundle -> features -> XGBoost -> evaluation vs baselines -> MLflow -> gated promotion."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.engine import Engine
from models.evaluate import comparison_table, feature_importance  # noqa: F401  (named here by callers)
from pipelines.config import TrainConfig, load_train_config
from pipelines.registry import decide_promotion
from pipelines.runtime import progress, run_logger
from pipelines.settings import PROJ_ROOT
from pipelines.tasks import frame_task, pipeline_flow
from pipelines.tracking import (
    describe_outcome,
    ensure_experiment,
    log_training,
    log_training_data,
    register_model,
    run_name,
    tracked_run,
    version_description,
)

EXPERIMENT = "customs-risk"
MIN_EFFECTIVE_VIOLATIONS = 30  # below this, the fair estimate's bootstrap interval is too hopeful
PIP_REQUIREMENTS = [
    "xgboost-cpu==3.2.0",
    "scikit-learn==1.9.1",
    "pandas==3.1.1",
    "numpy==2.4.6",
    "mlflow==3.17.2",
]


@dataclass
class TrainOutcome:
    run_id: str
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, float]
    comparison: pd.DataFrame  # labelled validation items (biased toward the old regime's picks)
    truth_comparison: pd.DataFrame | None = None
    fair_comparison: dict[str, pd.DataFrame] = field(default_factory=dict)  # random_quota, ipw
    outcomes: Any = None  # data.outcomes.OutcomeReport


# ---------------------------------------------------------------- tasks: one-line wraps
@frame_task(retries=2, retry_delay_seconds=[2, 5])
def load_bundle_task(bundle: Path, mapping: Path | None, outcomes: list[Path]):
    from data.io import load_bundle, load_mapping

    # outcomes investigators recorded (inspections layout) are read and settled with the bundle's own
    return load_bundle(bundle, load_mapping(mapping), extra_outcomes=outcomes)


@frame_task()
def prepare_task(tables, cfg: TrainConfig, engine: Engine):
    from data.reference import hs_profiles, ports
    from models.training import estimate_propensity, prepare

    data = prepare(
        tables,
        hs_profiles(),
        ports(),
        cfg.split.validation_days,
        cfg.split.gap_days,
        engine=engine,
        folds=cfg.split.folds,
    )
    return estimate_propensity(data, cfg.selection_bias.min_propensity)


@frame_task()
def fit_task(data, cfg: TrainConfig, weighted: bool, engine: Engine):
    from models.training import fit_candidate

    m = cfg.model
    return fit_candidate(
        data,
        m.params,
        m.num_boost_round,
        m.early_stopping_rounds,
        weighted,
        cfg.problem.inspection_rates_pct,
        cfg.selection_bias.max_weight,
        cfg.problem.promotion.resamples,
        engine=engine,
    )


@frame_task()
def refit_task(data, candidate, cfg: TrainConfig, engine: Engine):
    from models.training import refit_on_all_labels

    return refit_on_all_labels(data, candidate, cfg.model.params, cfg.selection_bias.max_weight, engine)


@frame_task()
def baselines_task(data, cfg: TrainConfig, engine: Engine):
    from models.training import baselines

    m = cfg.model
    return baselines(data, m.params, m.num_boost_round, m.early_stopping_rounds, engine=engine)


@frame_task()
def champion_scores_task(model_name: str, data, tables, engine: Engine):
    """The current champion's scores on this validation window, or why it cannot be compared.

    Only "no model registered" or "no champion alias" means there is no champion. A champion
    that cannot be loaded or fails to score raises ModelUnavailableError (one line; training
    stops before promotion and no alias moves). A feature-schema change is reported, not raised."""
    from data.reference import hs_profiles, ports
    from models.artifact import FeatureSchemaError
    from models.training import score_with
    from pipelines.registry import ModelUnavailableError, _one_line, alias_version, load_version

    version = alias_version(model_name, "champion")
    if version is None:
        return None, "no champion yet", None
    champion = load_version(model_name, version)
    try:
        scores = score_with(champion, data, tables, hs_profiles(), ports(), engine=engine)
    except FeatureSchemaError as err:
        return None, f"champion cannot score this feature schema ({err})", None
    except Exception as err:
        raise ModelUnavailableError(
            f"champion {model_name} version {version} failed to score the validation window "
            f"({_one_line(err)}); nothing promoted, no alias moved"
        ) from None
    return scores, "", champion.metadata.get("trained_through")


# ---------------------------------------------------------------- the flow
@pipeline_flow(name="train")
def train_flow(
    bundle: Path,
    config_path: Path | None = None,
    mapping: Path | None = None,
    outcomes: list[Path] | None = None,
    params_override: dict[str, Any] | None = None,
    promote: bool = True,
    truth: Path | list[Path] | None = None,
    dask: str | None = None,
) -> TrainOutcome:
    """Train, evaluate against baselines, log to MLflow, register, and promote if better.

    ``dask``: ``local``, a scheduler address, or ``off``; None lets the environment decide
    (``DASK_SCHEDULER_ADDRESS``, ``CUSTOMS_RISK_DASK``). Without either, one machine.
    """
    from pipelines.distributed import engine_for, settings_for

    with engine_for(settings_for(dask)) as engine:
        progress(f"Training on {engine.name}")
        return _train(engine, bundle, config_path, mapping, outcomes, params_override, promote, truth)


def _train(
    engine: Engine,
    bundle: Path,
    config_path: Path | None,
    mapping: Path | None,
    outcomes: list[Path] | None,
    params_override: dict[str, Any] | None,
    promote: bool,
    truth: Path | list[Path] | None,
) -> TrainOutcome:
    cfg = load_train_config(config_path)
    if params_override:
        cfg.model.params.update(params_override)
    t0 = time.perf_counter()
    from pipelines.registry import preflight_champion

    # the registry answers and the champion (if any) loads: fail in seconds, not after the feature build
    preflight_champion(cfg.model.registered_name)
    ensure_experiment(EXPERIMENT)
    started = pd.Timestamp.now("UTC")
    # one MLflow run for the whole training: a run stopped while features build ends KILLED, not absent
    with tracked_run(f"training started {started:%Y-%m-%d %H:%M:%S} UTC") as run:
        return _train_in_run(run, engine, cfg, bundle, mapping, outcomes, promote, truth, t0)


@dataclass
class Trained:
    """One training's results, for logging and registration."""

    b: Any  # the loaded bundle (tables, outcomes)
    data: Any  # models.training.TrainingData
    split_info: dict
    best: Any  # the chosen candidate, refitted
    candidates: list
    views: dict  # labelled / random_quota / ipw: (key prefix, metrics by scorer)
    comparison: dict[str, pd.DataFrame]
    truth_table: pd.DataFrame | None
    search_run_id: str | None = None


def _train_in_run(
    run,
    engine: Engine,
    cfg: TrainConfig,
    bundle: Path,
    mapping: Path | None,
    outcomes: list[Path] | None,
    promote: bool,
    truth: Path | list[Path] | None,
    t0: float,
) -> TrainOutcome:
    b, data, split_info = _load_and_prepare(cfg, bundle, mapping, outcomes, engine)
    log_training_data(data, bundle)
    best, candidates, search_run_id = _fit(data, cfg, engine)
    views, comparison, truth_table = _evaluate(data, cfg, best, truth, engine)
    best = _refit(data, best, cfg, engine)
    t = Trained(b, data, split_info, best, candidates, views, comparison, truth_table, search_run_id)
    log_training(t, cfg, bundle, engine.name, _code_version())
    progress("[5/6] logged to MLflow: fold and fair metrics, baselines, plots, drift, data fingerprint")
    version, promoted, reason = _register(t, cfg, promote, engine)
    progress(
        f"[6/6] registered {cfg.model.registered_name} version {version}: "
        f"{'PROMOTED to champion' if promoted else 'not promoted'} ({reason}) "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    return TrainOutcome(
        run.info.run_id,
        version,
        promoted,
        reason,
        best.metrics,
        comparison["labelled"],
        truth_table,
        fair_comparison={k: v for k, v in comparison.items() if k != "labelled"},
        outcomes=b.outcomes,
    )


def _load_and_prepare(cfg: TrainConfig, bundle: Path, mapping, outcomes, engine: Engine):
    """The bundle (with any recorded outcomes), checked labels, features and the time split."""
    from models.training import check_outcomes

    b = load_bundle_task(Path(bundle), mapping, list(outcomes or []))
    progress(
        f"[1/6] bundle loaded: {sum(len(t) for t in b.tables.values()):,} rows, "
        f"{len(b.quarantine):,} quarantined"
    )
    for line in b.outcomes.lines():
        progress("      " + line)
    check_outcomes(b.outcomes, cfg.labels.max_unusable_violation_share)
    data = prepare_task(b.tables, cfg, engine)
    split_info = data.split.describe(data.declared_at)
    progress(
        f"[2/6] features built for {len(data.features.matrix):,} declarations; "
        f"{split_info['train_rows']:,} labelled to train (to {split_info['train_to']}), "
        f"{split_info['valid_rows']:,} to validate ({split_info['valid_from']} .. {split_info['valid_to']}); "
        f"{len(data.folds)} rolling fold(s) of {cfg.split.validation_days} days"
    )
    progress(f"      {data.propensity.description}")
    log = run_logger()
    for note in data.features.missing:
        log.warning(note)
    return b, data, split_info


def _fit(data, cfg: TrainConfig, engine: Engine):
    """The optional search (a nested run), then weighted and unweighted candidates on the folds:
    (best, candidates, search run id)."""
    from models.training import fold_summary

    primary = cfg.problem.primary_metric
    search_run_id = None
    if cfg.search.enabled:
        with tracked_run("hyperparameter search", nested=True) as search_parent:
            cfg.model.params = search_task(data, cfg, engine)
        search_run_id = search_parent.info.run_id
        progress(f"      search chose {cfg.model.params}")
    candidates = [fit_task(data, cfg, False, engine)]
    if cfg.selection_bias.compare:
        candidates.append(fit_task(data, cfg, True, engine))

    def folds_mean(c) -> float:
        return _metric(fold_summary(c, (primary,)), f"fold_mean_{primary}")

    # weighted or not: chosen on the fair metric, averaged over the rolling folds
    best = max(candidates, key=folds_mean)
    progress(
        f"[3/6] fitted on {len(data.folds)} fold(s): "
        + "; ".join(
            f"{c.name} {primary} {folds_mean(c):.3f} (folds' mean), {c.trees} trees" for c in candidates
        )
        + f" -> {best.name}"
    )
    return best, candidates, search_run_id


def _evaluate(data, cfg: TrainConfig, best, truth, engine: Engine):
    """The model against the baselines in the three views, and against the truth where given."""
    rates = cfg.problem.inspection_rates_pct
    base_scores, generic = baselines_task(data, cfg, engine)
    views = evaluate_scorers_task(data, {"model": best.window_scores, **base_scores}, cfg)
    comparison = {view: comparison_table(metrics, rates, prefix) for view, (prefix, metrics) in views.items()}
    truth_files = [Path(truth)] if isinstance(truth, (str, Path)) else [Path(t) for t in truth or []]
    if not truth_files:
        return views, comparison, None
    from models.training import evaluate_on_truth

    truths = pd.concat([_read_truth(t) for t in truth_files], ignore_index=True)
    truth_metrics, uncovered = evaluate_on_truth(data, best.model.booster, generic.booster, truths, rates)
    if uncovered:
        run_logger().warning(
            f"{uncovered:,} declarations of the validation window are in none of the truth files: left "
            "out of the evaluation against the truth, not counted as clean (give the truth of appended "
            "days too: --truth FILE, repeated)"
        )
    return views, comparison, comparison_table(truth_metrics, rates)


def _refit(data, best, cfg: TrainConfig, engine: Engine):
    """The chosen candidate refitted on every label; says how far its fair estimate can be trusted."""
    primary = cfg.problem.primary_metric
    best = refit_task(data, best, cfg, engine)
    effective = best.metrics.get("ipw_effective_violations", np.nan)
    if effective < MIN_EFFECTIVE_VIOLATIONS:
        run_logger().warning(
            f"the fair (propensity-weighted) estimate rests on {effective:.0f} effective violations: its "
            "interval understates the uncertainty. More random-quota or exploration inspections (or a longer "
            "split.validation_days) make it trustworthy"
        )
    progress(
        f"[4/6] refitted on every label up to {data.declared_at.max().date()} with {best.trees} trees; "
        f"latest window: labelled PR-AUC {_metric(best.metrics, 'pr_auc'):.3f}, "
        f"fair {primary} {_metric(best.metrics, primary):.3f} "
        f"{_interval(best.metrics, primary)}"
    )
    return best


def _register(t: Trained, cfg: TrainConfig, promote: bool, engine: Engine) -> tuple[str, bool, str]:
    """Package and register the model (with its drift reference), compare it with the champion,
    decide; the run and the version then say what happened. Returns (version, promoted, reason)."""
    from models.training import package

    primary = cfg.problem.primary_metric
    risk_model = package(
        t.best,
        t.data,
        {
            "trained_at": pd.Timestamp.now("UTC").isoformat(),
            "trained_through": str(t.data.declared_at.max()),
            "validation": t.split_info,
            "primary_metric": primary,
            "validation_metrics": t.best.metrics,
            "trees": t.best.trees,
        },
    )
    version = register_model(
        risk_model,
        t.data.features.matrix.head(20),
        cfg.model.registered_name,
        Path(__file__).with_name("mlflow_model_code.py"),
        PIP_REQUIREMENTS,
        drift_reference=drift_reference(t.data, risk_model, cfg),
    )
    # First the champion: one that cannot be loaded or scored stops here, before any alias moves.
    champion = champion_scores_task(cfg.model.registered_name, t.data, t.b.tables, engine)
    promoted, reason = decide_promotion(cfg, t.data, t.best, version, promote, champion)
    describe_outcome(
        cfg.model.registered_name,
        version,
        promoted,
        reason,
        version_description(t.best.metrics, primary, t.split_info, promoted, reason),
        run_name(version, promoted, t.data.declared_at.max()),
    )
    return version, promoted, reason


@frame_task()
def evaluate_scorers_task(data, window_scores: dict[str, np.ndarray], cfg: TrainConfig):
    """Every scorer on the latest window, in the three views: (key prefix, metrics by scorer)."""
    from models.training import evaluate

    metrics = {
        name: evaluate(
            data,
            data.split,
            scores,
            cfg.problem.inspection_rates_pct,
            cfg.selection_bias.max_weight,
            cfg.problem.promotion.resamples if name == "model" else 0,
        )
        for name, scores in window_scores.items()
    }
    return {"labelled": ("", metrics), "random_quota": ("random_quota_", metrics), "ipw": ("ipw_", metrics)}


def _interval(metrics: dict[str, float], name: str) -> str:
    low, high = metrics.get(f"{name}_low", np.nan), metrics.get(f"{name}_high", np.nan)
    return f"(95% interval {low:.3f}-{high:.3f})" if np.isfinite(low) and np.isfinite(high) else ""


def _read_truth(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"declaration_id": "str"})


@frame_task()
def search_task(data, cfg: TrainConfig, engine: Engine) -> dict[str, Any]:
    """Optuna search on an inner time split of the training window; each trial a nested run."""
    try:
        import optuna
    except ImportError:
        from data.errors import ConfigError

        raise ConfigError(
            "search.enabled is true but optuna is not installed: pip install -e '.[search]'"
        ) from None
    import mlflow

    from models.training import fit_candidate, inner_split, suggest_params

    inner = inner_split(data)
    primary = cfg.problem.primary_metric
    m = cfg.model

    def objective(trial) -> float:
        params = suggest_params(trial, dict(m.params))
        with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
            c = fit_candidate(
                inner,
                params,
                m.num_boost_round,
                m.early_stopping_rounds,
                False,
                cfg.problem.inspection_rates_pct,
                cfg.selection_bias.max_weight,
                0,
                engine=engine,
            )
            score = _metric(c.metrics, primary)
            mlflow.log_params(params)
            mlflow.log_metric(f"inner_{primary}", score)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=cfg.search.trials)
    mlflow.log_metric(f"best_inner_{primary}", study.best_value)
    return suggest_params(optuna.trial.FixedTrial(study.best_params), dict(m.params))


def drift_reference(data, risk_model, cfg: TrainConfig) -> dict:
    """What each scored day is compared with: the newest ``drift.reference_days`` of the bundle's
    declarations, their feature and score distributions (``models.drift.reference_profiles``)."""
    from models.drift import reference_profiles

    t = data.features.context["declared_at"]
    rows = (t >= t.max() - pd.Timedelta(days=cfg.drift.reference_days)).to_numpy()
    matrix = data.features.matrix[rows]
    return {
        "window": {"from": str(t[rows].min()), "to": str(t[rows].max()), "rows": int(rows.sum())},
        "profiles": reference_profiles(matrix, risk_model.predict_proba(matrix)),
    }


# ---------------------------------------------------------------- helpers at the edge
def _metric(metrics: dict[str, float], name: str) -> float:
    v = metrics.get(name, float("nan"))
    return float(v) if np.isfinite(v) else -1.0


def _code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJ_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def run_training(bundle: Path, config_path: Path | None = None, **kw) -> TrainOutcome:
    """Entry point for the CLI: the flow with the embedded defaults configured."""
    return train_flow(bundle=bundle, config_path=config_path, **kw)


def describe(outcome: TrainOutcome) -> str:
    return json.dumps(
        {
            "run_id": outcome.run_id,
            "version": outcome.version,
            "promoted": outcome.promoted,
            "reason": outcome.reason,
        },
        indent=2,
    )
