"""The model registry for data scientists: list versions, promote one, roll back the champion."""

from __future__ import annotations

import pandas as pd

from data.errors import ConfigError


class ModelUnavailableError(ConfigError):
    """A registered model version exists but cannot be loaded or used (files gone, corrupt,
    registry unreadable). Never means "no champion": training and scoring stop, no alias moves.

    A ConfigError, so the CLI prints it as one line, Prefect tasks do not retry it and the
    run logs carry no traceback for it."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")


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
        metric = next(
            (f"{k}={val}" for k, val in tags.items() if k not in {"promotion_reason", "replaced_champion"}),
            "",
        )
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

    from pipelines.train_flow import set_champion

    client = MlflowClient()
    client.get_model_version(name, version)  # raises if it does not exist
    check_loadable(name, version)  # never point the champion at files that cannot be loaded
    set_champion(client, name, version, reason)
    return version


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
    return str(current.version), str(previous)
