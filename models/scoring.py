"""The day's scoring as pure steps: features for the manifest, scores, rules, channels, reasons."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.arrays import isin
from data.contract import TABLES
from features.build import catalogue, combine, make_context
from models.artifact import RiskModel
from models.engine import LOCAL, Engine
from models.explain import mean_abs_contribution, reasons
from models.select import Capacity, Rule, Selection, apply_rules, select

SCORED_BASE = ["declaration_id", "risk_score", "channel", "selected_by", "rule_hits"]


@dataclass
class DayScores:
    """Everything the day's outputs are made of."""

    scored: pd.DataFrame  # contract columns + reasons, one row per valid manifest row
    cases: pd.DataFrame  # red/yellow items for the case store
    selection: Selection
    global_importance: pd.Series
    waterfalls: dict[str, dict] = field(default_factory=dict)  # top cases: bias + contributions
    missing: list[str] = field(default_factory=list)
    already_in_history: int = 0  # manifest declarations the history held (replaced by the manifest's)


def score_day(
    manifest: pd.DataFrame,
    tables: dict[str, pd.DataFrame | None],
    model: RiskModel,
    model_version: str,
    rules: list[Rule],
    capacity: Capacity,
    day_key: str,
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    top_reasons: int = 5,
    exact_limit: int = 20_000,
    waterfall_cases: int = 15,
    engine: Engine = LOCAL,
) -> DayScores:
    """Score the clean manifest rows against the bundle's history with the given model.

    Features, scores and SHAP contributions are computed on ``engine``; selection, reasons
    and cases here.
    """
    history = tables.get("declarations")
    decl = combine(history, manifest.drop(columns=["_row_number"], errors="ignore"))
    already = 0 if history is None else len(history) + len(manifest) - len(decl)  # ids are unique
    ctx = make_context(tables, decl, hs_profiles, ports, state=model.state)
    fs = engine.build(decl, ctx)
    # results follow the manifest's own row order; only flagged rows' context is gathered
    pos = pd.Series(np.arange(len(fs.declaration_ids)), index=fs.declaration_ids.to_numpy())
    order = pos.reindex(manifest["declaration_id"]).to_numpy()
    scores = engine.predict_model(model, fs.matrix)[order]
    rule_names, rule_channel = apply_rules(fs.matrix, rules)
    sel = select(
        scores,
        manifest["declaration_id"].reset_index(drop=True),
        rule_names[order],
        rule_channel[order],
        capacity,
        day_key,
    )
    flagged = np.flatnonzero(sel.channel != "green")
    matrix = fs.matrix.iloc[order[flagged]].reset_index(drop=True)
    context = fs.context.iloc[order[flagged]].reset_index(drop=True)
    exact = explain_exactly(sel.channel[flagged], scores[flagged], exact_limit)
    phi = explain(model.booster, matrix, exact, engine)
    why = reasons(phi, matrix, context, catalogue(), top_k=top_reasons)
    missing = fs.missing
    del fs, decl, ctx  # the day's full feature frame is no longer needed

    scored = pd.DataFrame(
        {
            "declaration_id": manifest["declaration_id"].to_numpy(),
            "risk_score": np.round(scores.astype("float64"), 6),
            "channel": sel.channel,
            "selected_by": sel.selected_by,
            "rule_hits": sel.rule_hits,
        }
    )
    flagged_reasons = why["reasons"].tolist()
    for k in range(top_reasons):
        text = np.full(len(scored), "", dtype=object)
        contrib = np.full(len(scored), np.nan)
        text[flagged] = [r[k]["text"] if len(r) > k else "" for r in flagged_reasons]
        contrib[flagged] = [r[k]["contribution"] if len(r) > k else np.nan for r in flagged_reasons]
        scored[f"reason_{k + 1}"] = text.astype(str)
        scored[f"contribution_{k + 1}"] = contrib
    method = np.full(len(scored), "", dtype=object)
    method[flagged] = np.where(exact, "exact TreeSHAP", "approximate (Saabas)")
    scored["explanation"] = method.astype(str)
    scored["model_version"] = model_version
    scored["row_number"] = (
        manifest["_row_number"].to_numpy() if "_row_number" in manifest else np.arange(1, len(manifest) + 1)
    )

    cases = _cases(
        scored.iloc[flagged],
        pd.Series(flagged_reasons, dtype=object),
        context,
        history,
        day_key,
        tables.get("inspections"),
    )
    top = np.argsort(-scores[flagged], kind="stable")[:waterfall_cases]  # positions in flagged
    waterfalls = {
        str(scored["declaration_id"].iloc[flagged[i]]): {
            "bias": float(phi[i, -1]),
            "contributions": dict(zip(matrix.columns, phi[i, :-1].astype(float), strict=True)),
        }
        for i in top
    }
    return DayScores(
        scored, cases, sel, mean_abs_contribution(phi, list(matrix.columns)), waterfalls, missing, already
    )


def explain(booster, matrix: pd.DataFrame, exact: np.ndarray, engine: Engine = LOCAL) -> np.ndarray:
    """SHAP contributions (bias last) of ``matrix``'s rows: exact TreeSHAP where ``exact``,
    XGBoost's approximate contributions elsewhere."""
    phi = np.zeros((len(matrix), matrix.shape[1] + 1))
    if exact.any():
        phi[exact] = engine.contributions(booster, matrix[exact])
    if (~exact).any():
        phi[~exact] = engine.contributions(booster, matrix[~exact], approximate=True)
    return phi


def explain_exactly(channel: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """Which flagged items get exact TreeSHAP: all of them up to ``limit``; beyond it, red
    items first, then the highest scores. The rest get XGBoost's approximate contributions,
    which also add up to the score but cost a fraction (exact costs ~0.7 ms an item here)."""
    n = len(channel)
    if n <= limit:
        return np.ones(n, dtype=bool)
    priority = np.lexsort((-scores, channel != "red"))
    mask = np.zeros(n, dtype=bool)
    mask[priority[:limit]] = True
    return mask


def _split_path(text: object) -> list[str]:
    if not isinstance(text, str) or not text:
        return []
    return re.split(r" -[^>]*?-> ", text)


def _cases(
    scored: pd.DataFrame,
    reason_lists: pd.Series,
    context: pd.DataFrame,
    history: pd.DataFrame | None,
    day_key: str,
    inspections: pd.DataFrame | None,
) -> pd.DataFrame:
    """Red and yellow items in the case store's shape (one row per case)."""
    declared = [c for c in TABLES["declarations"].column_names if c in context.columns]
    decl_json = context[declared].astype("str").where(context[declared].notna(), "")
    path = context.get("exporter_listed_path", pd.Series(np.nan, index=context.index)).astype(object)
    cons_path = context.get("consignee_listed_path", pd.Series(np.nan, index=context.index)).astype(object)
    best_path = path.where(path.notna(), cons_path)
    return pd.DataFrame(
        {
            "declaration_id": scored["declaration_id"].to_numpy(),
            "manifest_day": day_key,
            "declared_at": context["declared_at"].to_numpy(),
            "channel": scored["channel"].to_numpy(),
            "risk_score": scored["risk_score"].to_numpy(),
            "selected_by": scored["selected_by"].to_numpy(),
            "rule_hits": scored["rule_hits"].to_numpy(),
            "reasons": [json.dumps(r) for r in reason_lists],
            "declaration": decl_json.to_json(orient="records", lines=True).splitlines()
            if len(decl_json)
            else [],
            "route": context.get("route_path", pd.Series("", index=context.index))
            .astype(object)
            .fillna("")
            .to_numpy(),
            "ownership_path": [json.dumps(_split_path(p)) for p in best_path],
            "exporter_history": _exporter_history(context["exporter_id"], history, inspections),
            "model_version": scored["model_version"].to_numpy(),
            "typology_hint": "",
        }
    )


def _exporter_history(
    exporters: pd.Series,
    history: pd.DataFrame | None,
    inspections: pd.DataFrame | None,
    last: int = 5,
) -> list[str]:
    """The exporter's last few declarations (with outcomes where inspected), as JSON."""
    if history is None or history.empty or len(exporters) == 0:
        return ["[]"] * len(exporters)
    h = history[isin(history["exporter_id"], exporters.unique())]
    h = h.sort_values("declared_at", kind="stable").groupby("exporter_id").tail(last)
    cols = [
        "declaration_id",
        "declared_at",
        "hs_code",
        "declared_value_usd",
        "gross_weight_kg",
        "destination_country",
    ]
    rows = h[cols].copy()
    rows["declared_at"] = rows["declared_at"].dt.strftime("%Y-%m-%d")
    if inspections is not None and len(rows):
        outcome = inspections.drop_duplicates("declaration_id").set_index("declaration_id")["outcome"]
        rows["outcome"] = outcome.reindex(rows["declaration_id"]).to_numpy()
    if rows.empty:
        return ["[]"] * len(exporters)
    lines = pd.Series(
        rows.to_json(orient="records", lines=True).splitlines(), index=h["exporter_id"].to_numpy()
    )
    per = "[" + lines.groupby(level=0, sort=False).agg(",".join) + "]"
    return exporters.map(per).fillna("[]").tolist()
