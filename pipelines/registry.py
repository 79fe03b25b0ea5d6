"""The model registry for data scientists: list versions, promote one, roll back the champion."""

from __future__ import annotations

import pandas as pd

from data.errors import ConfigError


class ModelUnavailableError(ConfigError):
    """A registered model version exists but cannot be loaded or used (files gone, corrupt,
    registry unreadable). Never means "no champion": training and scoring stop, no alias moves.

    A ConfigError, so the CLI prints it as one line, Prefect tasks do not retry it and the
    run logs carry no traceback for it."""


NOTE_TAGS = {"promotion_reason", "replaced_champion", "replaced_by", "rolled_back"}


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")


def unloadable(model: str, err: BaseException) -> ModelUnavailableError:
    """The one-line error for model ``model`` ("NAME/VERSION") whose files cannot be loaded."""
    return ModelUnavailableError(
        f"model {model} cannot be loaded ({_one_line(err)}); "
        "promote a loadable version (customs-risk models promote VERSION) or retrain"
    )


def alias_version(name: str, alias: str = "champion", client=None) -> str | None:
    """The version behind ``name@alias``; None only when the model is not registered or has no
    such alias. Any other registry failure (unreachable, unreadable) raises ModelUnavailableError."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        registered = client.get_registered_model(name)
    except Exception as err:
        if isinstance(err, MlflowException) and err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        message = f"cannot read model '{name}' from the registry: {_one_line(err)}"
        raise ModelUnavailableError(message) from None
    version = (registered.aliases or {}).get(alias)
    return None if version is None else str(version)


def load_version(name: str, version: str):
    """Load ``name`` version ``version`` as a RiskModel, or stop with one line saying why not."""
    from pipelines.mlflow_model import load_risk_model

    return load_risk_model(f"models:/{name}/{version}")


def preflight_champion(name: str, alias: str = "champion") -> str | None:
    """Seconds, not minutes: the registry answers and ``name@alias`` (if any) loads.

    Returns the version, or None when there is no such model or alias yet; raises
    ModelUnavailableError otherwise. Meant for the start of train, score and serve, before
    any data is read."""
    version = alias_version(name, alias)
    if version is not None:
        load_version(name, version)
    return version


def check_loadable(name: str, version: str) -> None:
    """Raise ModelUnavailableError unless the version loads (before an alias points at it)."""
    load_version(name, version)


def list_versions(name: str) -> pd.DataFrame:
    """Every registered version with its aliases, primary metric and promotion note."""
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = client.search_model_versions(f"name='{name}'")
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for v in sorted(versions, key=lambda v: int(v.version)):
        tags = v.tags or {}
        metric = next((f"{k}={val}" for k, val in tags.items() if k not in NOTE_TAGS), "")
        rows.append(
            {
                "version": str(v.version),
                "aliases": ",".join(sorted(aliases.get(str(v.version), []))),
                "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                "metric": metric,
                "run_id": v.run_id,
                "note": tags.get("promotion_reason", ""),
            }
        )
    return pd.DataFrame(rows)


def promote(name: str, version: str, reason: str) -> str:
    """Make ``version`` the champion by hand (e.g. after review), remembering the previous one."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.get_model_version(name, version)  # raises if it does not exist
    check_loadable(name, version)  # never point the champion at files that cannot be loaded
    set_champion(client, name, version, reason)
    return version


def set_champion(client, name: str, version: str, reason: str) -> None:
    """Point the champion alias at ``version``, remembering the one it replaces; tags that stop
    being true go (a version promoted again is no longer "rolled back"), the replaced one says by
    which version."""
    try:
        previous = client.get_model_version_by_alias(name, "champion").version
    except Exception:
        previous = None
    if previous is not None and str(previous) != str(version):
        client.set_model_version_tag(name, version, "replaced_champion", str(previous))
        client.set_model_version_tag(name, str(previous), "replaced_by", str(version))
    client.set_registered_model_alias(name, "champion", version)
    client.set_model_version_tag(name, version, "promotion_reason", reason)
    _drop_tags(client, name, version, "rolled_back", "replaced_by")


def _drop_tags(client, name: str, version: str, *keys: str) -> None:
    tags = client.get_model_version(name, version).tags or {}
    for key in keys:
        if key in tags:
            client.delete_model_version_tag(name, version, key)


def rollback(name: str) -> tuple[str, str]:
    """Point the champion back at the version it replaced. Returns (from, to)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    current = client.get_model_version_by_alias(name, "champion")
    previous = (current.tags or {}).get("replaced_champion")
    if not previous:
        raise LookupError(
            f"champion version {current.version} replaced no earlier champion: "
            "nothing to roll back to (use 'customs-risk models promote VERSION')"
        )
    try:
        check_loadable(name, previous)
    except ModelUnavailableError as err:
        raise ModelUnavailableError(
            f"cannot roll back to version {previous}: {err}; champion stays version {current.version}"
        ) from None
    client.set_registered_model_alias(name, "champion", previous)
    client.set_model_version_tag(name, current.version, "rolled_back", "true")
    _drop_tags(client, name, previous, "replaced_by", "rolled_back")
    return str(current.version), str(previous)


def decide_promotion(cfg, data, challenger, version: str, promote: bool, champion) -> tuple[bool, str]:
    """Challenger alias always; champion only if it beats the champion on the fair metric.

    Both are scored on every declaration of the latest window; the challenger by its fold model
    trained before that window. The gain must exceed ``min_improvement`` and ``noise_z`` paired
    bootstrap standard deviations of the gain (a gain inside the noise is no gain).
    ``champion``: (its scores on the window or None, why none, the end of its training data), as
    ``train_flow.champion_scores_task`` gives them: computed before any alias moves.
    """
    import pandas as pd
    from mlflow import MlflowClient

    from models.fairness import promotion_gate
    from models.training import evaluate, fair_difference

    client = MlflowClient()
    name = cfg.model.registered_name
    primary = cfg.problem.primary_metric
    promo = cfg.problem.promotion
    champ_scores, why, champ_through = champion
    client.set_registered_model_alias(name, "challenger", version)
    mine = _fair_metric(challenger.metrics, primary)
    client.set_model_version_tag(name, version, primary, f"{mine:.4f}")
    if mine < promo.floor:
        return False, f"{primary} {mine:.3f} is below the floor {promo.floor}"
    if champ_scores is not None:
        theirs_metrics = evaluate(
            data, data.split, champ_scores, cfg.problem.inspection_rates_pct, cfg.selection_bias.max_weight, 0
        )
        theirs = _fair_metric(theirs_metrics, primary)
        _gain, noise = fair_difference(
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


def _fair_metric(metrics: dict[str, float], name: str) -> float:
    import math

    v = metrics.get(name, float("nan"))
    return float(v) if math.isfinite(v) else -1.0
