"""Training flow: bundle -> features -> XGBoost -> evaluation vs baselines -> MLflow -> gated promotion."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from models.engine import LOCAL, Engine
from pipelines.config import TrainConfig, load_train_config
from pipelines.runtime import progress
from pipelines.settings import PROJ_ROOT

EXPERIMENT = "customs-risk"
MIN_EFFECTIVE_VIOLATIONS = 30  # below this, the fair estimate's bootstrap interval is too hopeful
PIP_REQUIREMENTS = [
    "xgboost-cpu==3.2.0",
    "scikit-learn==1.9.1",
    "pandas==3.1.1",
    "numpy==2.4.6",
    "mlflow==3.17.2",
]


def _retry_unless_user_error(_task, _run, state) -> bool:
    """Retry passing I/O trouble, never bad input: a bad file stays bad."""
    from data.errors import ConfigError, DataFileError

    return not isinstance(getattr(state, "data", None), (DataFileError, ConfigError))


def frame_task(**kw):
    """A Prefect task that passes frames around: no input hashing, no result persistence."""
    kw.setdefault("retry_condition_fn", _retry_unless_user_error)
    return task(cache_policy=NO_CACHE, persist_result=False, **kw)


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
@flow(name="train")
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
    import mlflow

    from features.build import catalogue
    from models.training import calibration, check_outcomes, fold_summary, package, typology_recall

    log = get_run_logger()
    cfg = load_train_config(config_path)
    if params_override:
        cfg.model.params.update(params_override)
    t0 = time.perf_counter()
    from pipelines.registry import preflight_champion

    # the registry answers and the champion (if any) loads: fail in seconds, not after the feature build
    preflight_champion(cfg.model.registered_name)
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
    for note in data.features.missing:
        log.warning(note)

    rates = cfg.problem.inspection_rates_pct
    primary = cfg.problem.primary_metric
    ensure_experiment(EXPERIMENT)
    search_parent = None
    if cfg.search.enabled:
        search_parent = mlflow.start_run(run_name="hyperparameter search")
        cfg.model.params = search_task(data, cfg, engine)
        progress(f"      search chose {cfg.model.params}")
        mlflow.end_run()
    candidates = [fit_task(data, cfg, False, engine)]
    if cfg.selection_bias.compare:
        candidates.append(fit_task(data, cfg, True, engine))
    # weighted or not: chosen on the fair metric, averaged over the rolling folds
    best = max(candidates, key=lambda c: _metric(fold_summary(c, (primary,)), f"fold_mean_{primary}"))
    progress(
        f"[3/6] fitted on {len(data.folds)} fold(s): "
        + "; ".join(
            f"{c.name} {primary} {_metric(fold_summary(c, (primary,)), f'fold_mean_{primary}'):.3f} "
            f"(folds' mean), {c.trees} trees"
            for c in candidates
        )
        + f" -> {best.name}"
    )
    base_scores, generic = baselines_task(data, cfg, engine)
    views = evaluate_scorers_task(data, {"model": best.window_scores, **base_scores}, cfg)
    comparison = {view: comparison_table(metrics, rates, prefix) for view, (prefix, metrics) in views.items()}
    truth_table = None
    truth_files = [Path(truth)] if isinstance(truth, (str, Path)) else [Path(t) for t in truth or []]
    if truth_files:
        from models.training import evaluate_on_truth

        truths = pd.concat([_read_truth(t) for t in truth_files], ignore_index=True)
        truth_metrics, uncovered = evaluate_on_truth(data, best.model.booster, generic.booster, truths, rates)
        if uncovered:
            log.warning(
                f"{uncovered:,} declarations of the validation window are in none of the truth files: left "
                "out of the evaluation against the truth, not counted as clean (give the truth of appended "
                "days too: --truth FILE, repeated)"
            )
        truth_table = comparison_table(truth_metrics, rates)
    best = refit_task(data, best, cfg, engine)
    effective = best.metrics.get("ipw_effective_violations", np.nan)
    if effective < MIN_EFFECTIVE_VIOLATIONS:
        log.warning(
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

    ensure_experiment(EXPERIMENT)
    with (
        mlflow.start_run(run_name=f"train {split_info['valid_to']}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tmpdir = Path(tmp)
        if search_parent is not None:
            mlflow.set_tag("search_run_id", search_parent.info.run_id)
        mlflow.set_tags(
            {
                "bundle": str(Path(bundle).resolve()),
                "code_version": _code_version(),
                "selection_bias_choice": best.name,
                "propensity_method": data.propensity.method,
                "engine": engine.name,
            }
        )
        mlflow.log_params({f"xgb_{k}": v for k, v in best.refit.params.items()})
        mlflow.log_params(
            {
                "validation_days": cfg.split.validation_days,
                "folds": len(data.folds),
                "primary_metric": primary,
                "trees": best.trees,
                "max_weight": cfg.selection_bias.max_weight,
                "min_propensity": cfg.selection_bias.min_propensity,
            }
        )
        mlflow.log_dict(cfg.model_dump(), "config/train.json")
        mlflow.log_dict({**split_info, **fingerprint(b.tables)}, "data/fingerprint.json")
        mlflow.log_dict(b.outcomes.as_dict(), "data/outcomes.json")
        mlflow.log_metrics({f"model_{k}": v for k, v in best.metrics.items() if np.isfinite(v)})
        for i, fm in enumerate(best.fold_metrics):
            mlflow.log_metrics({f"fold_{k}": v for k, v in fm.items() if np.isfinite(v)}, step=i)
        for name, m in views["labelled"][1].items():
            if name != "model":
                mlflow.log_metrics({f"baseline_{name}_{k}": v for k, v in m.items() if np.isfinite(v)})
        for c in candidates:
            summary = fold_summary(c, (primary, "pr_auc"))
            mlflow.log_metrics({f"bias_{c.name}_{k}": v for k, v in summary.items() if np.isfinite(v)})
        for rate in (2, 5):
            for t, r in typology_recall(
                data, best.window_scores, rate, cfg.selection_bias.max_weight
            ).items():
                mlflow.log_metric(f"recall_at_{rate}pct_{t}", r)
        gain = _metric(best.metrics, "precision_at_5pct") - _metric(
            views["labelled"][1]["generic"], "precision_at_5pct"
        )
        mlflow.log_metric("precision_at_5pct_gain_over_generic", gain)
        for view, table in comparison.items():
            table.to_csv(tmpdir / f"comparison_{view}.csv", index=False)
            mlflow.log_artifact(str(tmpdir / f"comparison_{view}.csv"), "evaluation")
        if truth_table is not None:
            truth_table.to_csv(tmpdir / "comparison_vs_truth.csv", index=False)
            mlflow.log_artifact(str(tmpdir / "comparison_vs_truth.csv"), "evaluation")
            for _, row in truth_table.iterrows():
                mlflow.log_metrics(
                    {
                        f"truth_{row['scorer']}_{k.replace('@', '_at_').replace('%', 'pct')}": v
                        for k, v in row.items()
                        if k != "scorer" and pd.notna(v)
                    }
                )
        calibration(data, best.valid_scores).to_csv(tmpdir / "calibration.csv", index=False)
        mlflow.log_artifact(str(tmpdir / "calibration.csv"), "evaluation")
        pd.DataFrame(
            [{"feature": f.name, "family": f.family, "description": f.description} for f in catalogue()]
        ).to_csv(tmpdir / "features.csv", index=False)
        mlflow.log_artifact(str(tmpdir / "features.csv"), "features")
        importance = feature_importance(best.refit.booster)
        importance.to_csv(tmpdir / "importance.csv", index=False)
        mlflow.log_artifact(str(tmpdir / "importance.csv"), "features")
        _log_plots(mlflow, data, best, tmpdir)
        drift = drift_task(data, cfg)
        drift.to_csv(tmpdir / "drift.csv", index=False)
        mlflow.log_artifact(str(tmpdir / "drift.csv"), "drift")
        mlflow.log_metric("drift_max_psi", float(drift["psi"].max()))
        for _, row in drift[drift["warning"]].iterrows():
            log.warning(f"drift: {row['feature']} PSI {row['psi']:.2f} above {cfg.drift.psi_warn}")
        progress("[5/6] logged to MLflow: fold and fair metrics, baselines, plots, drift, data fingerprint")

        risk_model = package(
            best,
            data,
            {
                "trained_at": pd.Timestamp.now("UTC").isoformat(),
                "trained_through": str(data.declared_at.max()),
                "validation": split_info,
                "primary_metric": primary,
                "validation_metrics": best.metrics,
                "trees": best.trees,
            },
        )
        risk_model.save(tmpdir / "risk_model")
        example = data.features.matrix.head(20)
        info = mlflow.pyfunc.log_model(
            name="risk_model",
            python_model=str(Path(__file__).with_name("mlflow_model_code.py")),
            signature=mlflow.models.infer_signature(example, risk_model.predict_proba(example)),
            input_example=example,
            artifacts={"risk_model": str(tmpdir / "risk_model")},
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=cfg.model.registered_name,
        )
        version = str(info.registered_model_version)
        promoted, reason = decide_promotion(cfg, data, b.tables, best, version, promote, engine)
        mlflow.set_tags({"promoted": str(promoted), "promotion_reason": reason, "model_version": version})
        run_id = run.info.run_id
    progress(
        f"[6/6] registered {cfg.model.registered_name} version {version}: "
        f"{'PROMOTED to champion' if promoted else 'not promoted'} ({reason}) "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    return TrainOutcome(
        run_id,
        version,
        promoted,
        reason,
        best.metrics,
        comparison["labelled"],
        truth_table,
        fair_comparison={k: v for k, v in comparison.items() if k != "labelled"},
        outcomes=b.outcomes,
    )


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


def ensure_experiment(name: str) -> None:
    """Use the experiment, creating it with artifacts beside a local SQLite store (not in the cwd)."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        uri = mlflow.get_tracking_uri()
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def decide_promotion(
    cfg: TrainConfig,
    data,
    tables,
    challenger,
    version: str,
    promote: bool,
    engine: Engine = LOCAL,
) -> tuple[bool, str]:
    """Challenger alias always; champion only if it beats the champion on the fair metric.

    Both are scored on every declaration of the latest window; the challenger by its fold model
    trained before that window. The gain must exceed ``min_improvement`` and ``noise_z`` paired
    bootstrap standard deviations of the gain (a gain inside the noise is no gain).
    """
    from mlflow import MlflowClient

    from models.fairness import promotion_gate
    from models.training import evaluate, fair_difference

    client = MlflowClient()
    name = cfg.model.registered_name
    primary = cfg.problem.primary_metric
    promo = cfg.problem.promotion
    # First the champion: one that cannot be loaded or scored stops here, before any alias moves.
    champ_scores, why, champ_through = champion_scores_task(name, data, tables, engine)
    client.set_registered_model_alias(name, "challenger", version)
    mine = _metric(challenger.metrics, primary)
    client.set_model_version_tag(name, version, primary, f"{mine:.4f}")
    if mine < promo.floor:
        return False, f"{primary} {mine:.3f} is below the floor {promo.floor}"
    if champ_scores is not None:
        theirs_metrics = evaluate(
            data, data.split, champ_scores, cfg.problem.inspection_rates_pct, cfg.selection_bias.max_weight, 0
        )
        theirs = _metric(theirs_metrics, primary)
        gain, noise = fair_difference(
            data,
            challenger.window_scores,
            champ_scores,
            primary,
            cfg.selection_bias.max_weight,
            promo.resamples,
        )
        better, needed = promotion_gate(mine, theirs, noise, promo.min_improvement, promo.noise_z)
        seen = ""
        if champ_through and pd.Timestamp(champ_through) >= data.split.cutoff:
            seen = " (the champion was trained on part of this window, which favours it)"
        if not better:
            return False, (
                f"{primary} {mine:.3f} does not beat the champion's {theirs:.3f} on the same window by "
                f"more than the noise: a gain of {mine - theirs:+.3f} where {needed:.3f} is needed "
                f"(min_improvement, or {promo.noise_z:g} bootstrap sd of the gain){seen}"
            )
        why = (
            f"{primary} {mine:.3f} beats the champion's {theirs:.3f} by more than the noise "
            f"({needed:.3f}){seen}"
        )
    elif why == "no champion yet":
        why = f"first model, {primary} {mine:.3f} meets the floor"
    if not promote:
        return False, why + ", but promotion was switched off for this run"
    set_champion(client, name, version, why)
    return True, why


def set_champion(client, name: str, version: str, reason: str) -> None:
    """Point the champion alias at ``version``, remembering the one it replaces."""
    try:
        previous = client.get_model_version_by_alias(name, "champion").version
    except Exception:
        previous = None
    if previous is not None and str(previous) != str(version):
        client.set_model_version_tag(name, version, "replaced_champion", str(previous))
    client.set_registered_model_alias(name, "champion", version)
    client.set_model_version_tag(name, version, "promotion_reason", reason)


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


@frame_task()
def drift_task(data, cfg: TrainConfig) -> pd.DataFrame:
    from models.drift import drift_report

    t = data.features.context["declared_at"]
    recent = t >= t.max() - pd.Timedelta(days=cfg.drift.recent_days)
    train = t < data.split.cutoff
    m = data.features.matrix
    return drift_report(m[train.to_numpy()], m[recent.to_numpy()], cfg.drift.psi_warn)


# ---------------------------------------------------------------- helpers at the edge
def _metric(metrics: dict[str, float], name: str) -> float:
    v = metrics.get(name, float("nan"))
    return float(v) if np.isfinite(v) else -1.0


def comparison_table(
    all_metrics: dict[str, dict[str, float]], rates: list[float], prefix: str = ""
) -> pd.DataFrame:
    """Model vs baselines: precision, recall and revenue at each inspection rate.

    ``prefix`` picks the view: "" labelled items, "random_quota_", "ipw_" (see models.training.evaluate).
    """
    rows = []
    for name, m in all_metrics.items():
        row: dict[str, Any] = {"scorer": name, "pr_auc": m.get(f"{prefix}pr_auc")}
        for r in rates:
            for k in ("precision", "recall", "revenue"):
                row[f"{k}@{r:g}%"] = m.get(f"{prefix}{k}_at_{r:g}pct")
        rows.append(row)
    return pd.DataFrame(rows)


def fingerprint(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    decl = tables["declarations"]
    ins = tables["inspections"]
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(decl["declaration_id"], index=False).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(ins[["declaration_id", "outcome"]], index=False).to_numpy().tobytes())
    return {
        "declarations": len(decl),
        "inspections": len(ins),
        "declared_from": str(decl["declared_at"].min()),
        "declared_to": str(decl["declared_at"].max()),
        "sha256": h.hexdigest(),
        **{f"rows_{k}": len(v) for k, v in tables.items() if v is not None},
    }


def feature_importance(booster) -> pd.DataFrame:
    gain = booster.get_score(importance_type="total_gain")
    return (
        pd.DataFrame({"feature": list(gain), "total_gain": list(gain.values())})
        .sort_values("total_gain", ascending=False)
        .reset_index(drop=True)
    )


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


def _log_plots(mlflow, data, best, tmpdir: Path) -> None:
    """PR curve and SHAP summary (XGBoost's exact TreeSHAP on a validation sample)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xgboost as xgb
    from sklearn.metrics import precision_recall_curve

    y = data.labelled.loc[data.split.valid, "y"].to_numpy()
    prec, rec, _ = precision_recall_curve(y, best.valid_scores)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(rec, prec)
    ax.set(xlabel="recall", ylabel="precision", title="Validation window: precision-recall")
    mlflow.log_figure(fig, "plots/pr_curve.png")
    plt.close(fig)

    import shap

    rows = data.labelled.loc[data.split.valid, "row"].to_numpy()
    X = data.features.matrix.iloc[rows]
    X = X.sample(min(len(X), 2000), random_state=0)
    contribs = best.model.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    shap.summary_plot(contribs[:, :-1], X, show=False, max_display=20)
    fig = plt.gcf()
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/shap_summary.png")
    plt.close(fig)


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
