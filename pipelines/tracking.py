"""MLflow tracking for the flows: runs that end in the state they really ended in, and what a
training run logs (its inputs, its evaluation, its model's description)."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tracked_run(run_name: str, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator:
    """An MLflow run that ends FINISHED on success, KILLED when the process is stopped
    (:func:`stopped`) and FAILED on an error.

    ``mlflow.start_run`` used as a context manager marks a stopped run FAILED, and one left open
    is ended FINISHED by MLflow's exit hook: a killed training would look complete."""
    import mlflow

    run = mlflow.start_run(run_name=run_name, nested=nested, tags=tags)
    try:
        yield run
    except BaseException as err:
        _end(run, "KILLED" if stopped(err) else "FAILED")
        raise
    _end(run, "FINISHED")


def stopped(err: BaseException) -> bool:
    """True for the process being stopped: Ctrl-C, SIGTERM (as KeyboardInterrupt, or Prefect's
    TerminationSignal when its engine handles the signal), SystemExit."""
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        return True
    return any(cls.__name__ == "ExternalSignal" for cls in type(err).__mro__)  # prefect.exceptions


def _end(run, status: str) -> None:
    """End ``run`` (and any run still open inside it) with ``status``."""
    import mlflow

    while (active := mlflow.active_run()) is not None:
        mlflow.end_run(status)
        if active.info.run_id == run.info.run_id:
            return


def log_training_data(data, bundle) -> None:
    """The labelled rows the model learned from, as an MLflow dataset input of the run (features,
    the label, the declaration date): its digest tells two trainings' data apart in the UI."""

    import mlflow

    rows = data.labelled["row"].to_numpy()
    frame = data.features.matrix.iloc[rows].reset_index(drop=True)
    frame["violation"] = data.labelled["y"].to_numpy()
    frame["declared_at"] = data.declared_at.to_numpy()
    source = Path(bundle).resolve()
    with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": all local
        warnings.filterwarnings("ignore", message="The specified dataset source", category=UserWarning)
        dataset = mlflow.data.from_pandas(
            frame, source=str(source), targets="violation", name=f"labelled declarations of {source.name}"
        )
    mlflow.log_input(dataset, context="training")


def version_description(
    metrics: dict[str, float], primary: str, split_info: dict, promoted: bool, reason: str
) -> str:
    """What a data scientist reads on a registered version: its figures on the latest window,
    how it compared with the champion and what was decided."""

    def fig(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None or value != value else f"{value:.3f}"

    interval = ""
    if f"{primary}_low" in metrics and f"{primary}_high" in metrics:
        interval = f" (95% interval {fig(f'{primary}_low')}-{fig(f'{primary}_high')})"
    return (
        f"Validation window {split_info.get('valid_from')} .. {split_info.get('valid_to')} "
        f"({split_info.get('valid_rows', 0):,} labelled rows; trained on "
        f"{split_info.get('train_rows', 0):,} up to {split_info.get('train_to')}).\n"
        f"Fair {primary}: {fig(primary)}{interval}; labelled PR-AUC {fig('pr_auc')}; "
        f"precision at 2% / 5% inspected: {fig('precision_at_2pct')} / {fig('precision_at_5pct')}.\n"
        f"Against the champion: {reason}.\n"
        f"Decision: {'promoted to champion' if promoted else 'not promoted (challenger)'}."
    )


def run_name(version: str, promoted: bool, trained_through) -> str:
    """A run name that tells trainings apart in the runs list: version, outcome, data end."""
    return f"v{version} {'champion' if promoted else 'challenger'}, data to {str(trained_through)[:10]}"


# MLflow 3's UI opens an experiment by its kind: a model-development one on its runs table (a
# GenAI one, or one of no kind yet, may open on traces)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(name: str) -> None:
    """Use the experiment, creating it with artifacts beside a local SQLite store (not in the cwd),
    marked as model development so that the UI opens it on its runs table."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        uri = mlflow.get_tracking_uri()
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    experiment = mlflow.set_experiment(name)
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)


DRIFT_REFERENCE = "drift/reference.json"
SCORING_EXPERIMENT = "customs-risk-scoring"


def load_drift_reference(name: str, version: str) -> tuple[dict | None, str]:
    """The training window's drift reference logged with ``name`` version ``version``:
    (reference, "") or (None, why there is none, e.g. a model trained before references)."""
    import mlflow
    from mlflow import MlflowClient

    try:
        run_id = MlflowClient().get_model_version(name, version).run_id
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{DRIFT_REFERENCE}"), ""
    except Exception as err:  # an older model, or artifacts out of reach: scoring goes on
        first = (str(err).strip().splitlines() or [""])[0][:200]
        return None, (
            f"no drift reference for model version {version} ({err.__class__.__name__}: {first}); "
            "models trained from now on carry one"
        )


def log_day_drift(day: str, version: str, drift, warn_at: float) -> str:
    """One MLflow run per scored day (experiment customs-risk-scoring): the PSI of the score and
    of every compared feature as metrics, the table as drift.csv. Returns the run id."""
    import tempfile

    import mlflow

    ensure_experiment(SCORING_EXPERIMENT)
    compared = drift[drift["compared"] & drift["psi"].notna()]
    with tracked_run(f"day {day}, model v{version}", tags={"day": day, "model_version": version}) as run:
        mlflow.log_metrics({f"psi_{r.feature}": float(r.psi) for r in compared.itertuples()})
        mlflow.log_metrics(
            {
                "drift_max_feature_psi": float(compared["psi"].max()) if len(compared) else 0.0,
                "drift_warnings": int(drift["warning"].sum()),
            }
        )
        mlflow.log_param("psi_warn", warn_at)
        with tempfile.TemporaryDirectory() as tmp:
            drift.to_csv(Path(tmp) / "drift.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / "drift.csv"))
    return run.info.run_id


# ---------------------------------------------------------------- what a training run logs
def _finite(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    import math

    return {f"{prefix}{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def log_training(t, cfg, bundle, engine_name: str, code_version: str) -> None:
    """Everything a training run logs before its model: set-up, evaluation, features, drift.

    ``t``: ``pipelines.train_flow.Trained``."""
    with tempfile.TemporaryDirectory() as tmp:
        _log_setup(t, cfg, bundle, engine_name, code_version)
        _log_evaluation(t, cfg, Path(tmp))
        _log_features_and_drift(t, cfg, Path(tmp))


def _log_setup(t, cfg, bundle, engine_name: str, code_version: str) -> None:
    import mlflow

    if t.search_run_id is not None:
        mlflow.set_tag("search_run_id", t.search_run_id)
    mlflow.set_tags(
        {
            "bundle": str(Path(bundle).resolve()),
            "code_version": code_version,
            "selection_bias_choice": t.best.name,
            "propensity_method": t.data.propensity.method,
            "engine": engine_name,
        }
    )
    mlflow.log_params({f"xgb_{k}": v for k, v in t.best.refit.params.items()})
    mlflow.log_params(
        {
            "validation_days": cfg.split.validation_days,
            "folds": len(t.data.folds),
            "primary_metric": cfg.problem.primary_metric,
            "trees": t.best.trees,
            "max_weight": cfg.selection_bias.max_weight,
            "min_propensity": cfg.selection_bias.min_propensity,
        }
    )
    mlflow.log_dict(cfg.model_dump(), "config/train.json")
    mlflow.log_dict({**t.split_info, **fingerprint(t.b.tables)}, "data/fingerprint.json")
    mlflow.log_dict(t.b.outcomes.as_dict(), "data/outcomes.json")


def fingerprint(tables: dict) -> dict:
    """Row counts, dates and a hash of the declarations and outcomes a training read."""
    import hashlib

    import pandas as pd

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


def _log_evaluation(t, cfg, tmpdir: Path) -> None:
    import mlflow

    from models.training import calibration, fold_summary, typology_recall

    best, primary = t.best, cfg.problem.primary_metric
    mlflow.log_metrics(_finite(best.metrics, "model_"))
    for i, fm in enumerate(best.fold_metrics):
        mlflow.log_metrics(_finite(fm, "fold_"), step=i)
    labelled = t.views["labelled"][1]
    for name, m in labelled.items():
        if name != "model":
            mlflow.log_metrics(_finite(m, f"baseline_{name}_"))
    for c in t.candidates:
        mlflow.log_metrics(_finite(fold_summary(c, (primary, "pr_auc")), f"bias_{c.name}_"))
    for rate in (2, 5):
        recall = typology_recall(t.data, best.window_scores, rate, cfg.selection_bias.max_weight)
        mlflow.log_metrics({f"recall_at_{rate}pct_{typ}": r for typ, r in recall.items()})
    gain = best.metrics.get("precision_at_5pct", float("nan")) - labelled["generic"].get(
        "precision_at_5pct", float("nan")
    )
    mlflow.log_metrics(_finite({"precision_at_5pct_gain_over_generic": gain}))
    tables = {f"comparison_{view}": table for view, table in t.comparison.items()}
    if t.truth_table is not None:
        tables["comparison_vs_truth"] = t.truth_table
        for _, row in t.truth_table.iterrows():
            values = {k.replace("@", "_at_").replace("%", "pct"): v for k, v in row.items() if k != "scorer"}
            mlflow.log_metrics(
                _finite({k: v for k, v in values.items() if v == v}, f"truth_{row['scorer']}_")
            )
    tables["calibration"] = calibration(t.data, best.valid_scores)
    for name, table in tables.items():
        table.to_csv(tmpdir / f"{name}.csv", index=False)
        mlflow.log_artifact(str(tmpdir / f"{name}.csv"), "evaluation")


def _log_features_and_drift(t, cfg, tmpdir: Path) -> None:
    import mlflow
    import pandas as pd

    from features.build import catalogue
    from models.drift import drift_report
    from models.evaluate import feature_importance

    features = pd.DataFrame(
        [{"feature": f.name, "family": f.family, "description": f.description} for f in catalogue()]
    )
    for name, table in (("features", features), ("importance", feature_importance(t.best.refit.booster))):
        table.to_csv(tmpdir / f"{name}.csv", index=False)
        mlflow.log_artifact(str(tmpdir / f"{name}.csv"), "features")
    log_plots(t.data, t.best)
    declared = t.data.features.context["declared_at"]
    recent = declared >= declared.max() - pd.Timedelta(days=cfg.drift.recent_days)
    train = declared < t.data.split.cutoff
    m = t.data.features.matrix
    drift = drift_report(m[train.to_numpy()], m[recent.to_numpy()], cfg.drift.psi_warn)
    drift.to_csv(tmpdir / "drift.csv", index=False)
    mlflow.log_artifact(str(tmpdir / "drift.csv"), "drift")
    mlflow.log_metric("drift_max_psi", float(drift["psi"].max()))
    for _, row in drift[drift["warning"]].iterrows():
        _warn(f"drift: {row['feature']} PSI {row['psi']:.2f} above {cfg.drift.psi_warn}")


def _warn(message: str) -> None:
    """A warning in the Prefect run's log (the console's logger outside a run)."""
    from pipelines.runtime import run_logger

    run_logger().warning(message)


def register_model(
    risk_model, example, name: str, code_path: Path, pip_requirements: list[str], drift_reference: dict
) -> str:
    """Log the packaged model (models-from-code pyfunc) with the drift reference scored days are
    compared with, and register it under ``name``. Returns the new version."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        risk_model.save(Path(tmp) / "risk_model")
        mlflow.log_dict(drift_reference, DRIFT_REFERENCE)
        info = mlflow.pyfunc.log_model(
            name="risk_model",
            python_model=str(code_path),
            signature=mlflow.models.infer_signature(example, risk_model.predict_proba(example)),
            input_example=example,
            artifacts={"risk_model": str(Path(tmp) / "risk_model")},
            pip_requirements=pip_requirements,
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def describe_outcome(
    name: str, version: str, promoted: bool, reason: str, description: str, title: str
) -> None:
    """The run and the registered version say what was decided: tags, the run's name, the
    version's description."""
    import mlflow

    mlflow.set_tags({"promoted": str(promoted), "promotion_reason": reason, "model_version": version})
    mlflow.set_tag("mlflow.runName", title)
    mlflow.MlflowClient().update_model_version(name, version, description=description)


def log_plots(data, best) -> None:
    """PR curve and SHAP summary (XGBoost's exact TreeSHAP on a validation sample)."""
    import matplotlib
    import mlflow
    import numpy as np

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
