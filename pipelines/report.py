"""The self-contained HTML daily report: counts, channel mix, top cases with reasons and waterfalls
(inline SVG, in probability terms, steps named by their reasons)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TEMPLATES = Path(__file__).resolve().parent / "templates"


def score_chart(wf: dict):
    """The geometry of one case's waterfall (``review.charts.waterfall``, drawn as inline SVG):
    the model's start value, its largest contributions as reason sentences, all other
    features together, the rule floor's raise (if any), and the published score, in
    probability terms.

    ``wf``: an entry of ``DayScores.waterfalls`` (``models.explain.waterfalls`` plus
    ``rule_floor``).
    """
    from review.charts import REST_LABEL, waterfall

    merged: dict[str, float] = {}  # several features saying one sentence (license flags): one step
    for step in wf.get("steps", []):
        merged[step["text"]] = merged.get(step["text"], 0.0) + float(step["log_odds"])
    steps = list(merged.items())
    rest = float(wf.get("rest", {}).get("log_odds", 0.0))
    if abs(rest) >= 5e-4:
        steps.append((REST_LABEL, rest))
    floor = wf.get("rule_floor")
    if floor:
        steps.append((floor["text"], float(floor["log_odds"])))
    return waterfall(float(wf["base"]["log_odds"]), steps)


def importance_bars(importance: pd.Series, top: int = 12) -> list[dict]:
    """The day's strongest drivers as bars (drawn as inline SVG by the template): each feature's
    mean |contribution| over the flagged items, labelled by the feature's description and name,
    its length relative to the strongest (percent)."""
    from features.build import catalogue

    described = {f.name: f.description for f in catalogue()}
    imp = importance[importance > 0].head(top)
    if not len(imp):
        return []
    largest = float(imp.iloc[0]) if float(imp.iloc[0]) > 0 else 1.0
    return [
        {
            "name": str(name),
            "label": described.get(str(name), str(name)),
            "value": float(value),
            "percent": round(100.0 * float(value) / largest, 1),
        }
        for name, value in imp.items()
    ]


def render_report(
    *,
    day: str,
    manifest_path: str,
    rows_in: int,
    scored: pd.DataFrame,
    quarantine: pd.DataFrame,
    problems: pd.DataFrame,
    waterfalls: dict[str, dict],
    importance: pd.Series,
    capacity: dict[str, int],
    warnings: list[str],
    missing: list[str],
    model_version: str,
    top_cases: int,
    held: pd.DataFrame | None = None,
    held_shown: int = 500,
    drift: pd.DataFrame | None = None,
    drift_note: str = "",
    drift_warn: float = 0.25,
    drift_window: str = "training window",
    drift_shown: int = 12,
) -> str:
    """The report as one HTML string (inline images and styles; every value escaped).

    ``held``: the quarantined rows held for correction (row_number, declaration_id, problems,
    stored), listed in their own section (the first ``held_shown``; quarantine.csv has all).
    ``drift``: ``models.drift.day_drift`` (the score and the ``drift_shown`` worst features are
    shown); ``drift_note`` says why there is none.
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    flagged = scored[scored["channel"] != "green"].sort_values("risk_score", ascending=False)
    reason_cols = [c for c in scored.columns if c.startswith("reason_")]
    cases = []
    for _, row in flagged.head(top_cases).iterrows():
        wf = waterfalls.get(str(row["declaration_id"]))
        cases.append(
            {
                "id": row["declaration_id"],
                "score": row["risk_score"],
                "channel": row["channel"],
                "selected_by": row["selected_by"],
                "rule_hits": row["rule_hits"],
                "reasons": [
                    (row[c], row[c.replace("reason_", "contribution_")]) for c in reason_cols if row[c]
                ],
                "waterfall": score_chart(wf) if wf else None,
                "typology_hint": (wf or {}).get("typology_hint", "").replace(";", " and ").replace("_", " "),
            }
        )
    mix = (
        scored.groupby(["channel", "selected_by"])
        .size()
        .rename("items")
        .reset_index()
        .sort_values(["channel", "selected_by"])
    )
    rule_counts = scored["rule_hits"].str.split(";").explode().loc[lambda s: s != ""].value_counts()
    quality = (
        problems.assign(
            what=problems["column"].where(problems["column"] != "", "(row)") + ": " + problems["problem"]
        )
        .groupby("what")
        .size()
        .sort_values(ascending=False)
        .head(15)
        if len(problems)
        else pd.Series(dtype="int64")
    )
    if held is None:
        from models.scoring import held_for_correction

        held = held_for_correction(quarantine, scored["declaration_id"], day).rows
    held_rows = held
    template = env.get_template("report.html.j2")
    return template.render(
        day=day,
        manifest_path=manifest_path,
        rows_in=rows_in,
        n_scored=len(scored),
        n_quarantined=len(quarantine),
        model_version=model_version,
        capacity=capacity,
        channel_counts=scored["channel"].value_counts().to_dict(),
        mix=mix.to_dict("records"),
        rule_counts=rule_counts.to_dict(),
        cases=cases,
        quality=quality.to_dict(),
        held=held_rows.head(held_shown).to_dict("records"),
        n_held=len(held_rows),
        n_held_cases=int(held_rows.loc[held_rows["stored"], "declaration_id"].nunique()),
        warnings=warnings,
        missing=missing,
        importance=importance_bars(importance.sort_values(ascending=False)),
        drift=_drift_rows(drift, drift_shown),
        drift_skipped=0 if drift is None else int((~drift["compared"]).sum()),
        drift_note=drift_note,
        drift_warn=drift_warn,
        drift_window=drift_window,
    )


def _drift_rows(drift: pd.DataFrame | None, shown: int) -> list[dict]:
    if drift is None or not len(drift):
        return []
    compared = drift[drift["compared"] & drift["psi"].notna()]
    return compared.head(shown + 1).to_dict("records")
