"""The model registry for data scientists: list versions, promote one, roll back the champion."""

from __future__ import annotations

import pandas as pd


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
    client.set_registered_model_alias(name, "champion", previous)
    client.set_model_version_tag(name, current.version, "rolled_back", "true")
    return str(current.version), str(previous)
