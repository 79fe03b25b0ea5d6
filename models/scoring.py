"""The day's scoring as pure steps: features for the manifest, scores, rules, channels, reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.arrays import isin
from data.contract import TABLES
from features.build import catalogue, combine, make_context
from models.artifact import RiskModel
from models.engine import LOCAL, Engine
from models.explain import mean_abs_contribution, reasons, waterfalls
from models.naming import names_for
from models.select import (
    Capacity,
    Rule,
    ScoreFloor,
    Selection,
    apply_rules,
    floor_scores,
    rule_warnings,
    select,
)

SCORED_BASE = ["declaration_id", "risk_score", "channel", "selected_by", "rule_hits"]
MIN_REASONS = 3
# reasons that lower the risk kept for an exploration pick (it shows both sides)
AGAINST = 2
# reasons asked for beyond the ones kept, so that merging repeats (several license flags say the
# same sentence) still leaves enough
SPARE_REASONS = 6


@dataclass
class DayScores:
    """Everything the day's outputs are made of."""

    scored: pd.DataFrame  # contract columns + reasons, one row per valid manifest row
    cases: pd.DataFrame  # red/yellow items for the case store
    selection: Selection
    global_importance: pd.Series
    # top cases: ``models.explain.waterfalls`` (start value, steps as reason text, rest, score)
    # plus ``rule_floor`` (when a rule raised the score), ``published``, ``typology_hint``, ``note``
    waterfalls: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    already_in_history: int = 0  # manifest declarations the history held (replaced by the manifest's)
    floors: dict[str, float] = field(default_factory=dict)  # the rule floor applied per channel
    raised: int = 0  # rule-selected items whose published score the floor raised
    # the day's feature values (manifest rows; an even sample of at most DRIFT_SAMPLE of them, as
    # float32): what the drift check compares with the training window
    matrix: pd.DataFrame | None = None


DRIFT_SAMPLE = 100_000


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
    score_floor: ScoreFloor = "channel_threshold",
) -> DayScores:
    """Score the clean manifest rows against the bundle's history with the given model.

    Features, scores and SHAP contributions are computed on ``engine``; selection, reasons
    and cases here. A rule-selected item publishes at least ``score_floor`` (see
    ``models.select.floor_scores``) and its reasons lead with the rule in words.
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
    sel.warnings.extend(rule_warnings(rules, fs.matrix, tables))
    published, floors = floor_scores(scores, sel, score_floor)
    flagged = np.flatnonzero(sel.channel != "green")
    matrix = fs.matrix.iloc[order[flagged]].reset_index(drop=True)
    context = fs.context.iloc[order[flagged]].reset_index(drop=True)
    exact = explain_exactly(sel.channel[flagged], scores[flagged], exact_limit)
    phi = explain(model.booster, matrix, exact, engine)
    explore = sel.selected_by[flagged] == "exploration"
    # codes named once for the reasons and the waterfalls (the history's usual description of
    # codes no reference table names)
    names = names_for(history, context["hs_code"] if "hs_code" in context.columns else None)
    why = reasons(
        phi,
        matrix,
        context,
        catalogue(),
        top_k=top_reasons + SPARE_REASONS,
        min_reasons=MIN_REASONS + SPARE_REASONS,
        history=history,
        exploration=explore,
        against=AGAINST,
        names=names,
    )
    lift = _logit(published[flagged]) - _logit(scores[flagged])
    flagged_reasons = lead_with_rules(
        why["reasons"].tolist(),
        sel.rule_hits[flagged],
        sel.channel[flagged],
        rules,
        context,
        scores[flagged],
        published[flagged],
        lift,
        top_reasons,
        exploration=explore,
    )
    missing = fs.missing
    sample = order if len(order) <= DRIFT_SAMPLE else order[:: -(-len(order) // DRIFT_SAMPLE)]
    day_matrix = fs.matrix.iloc[sample].astype("float32").reset_index(drop=True)
    del fs, decl, ctx  # the day's full feature frame is no longer needed

    scored = pd.DataFrame(
        {
            "declaration_id": manifest["declaration_id"].to_numpy(),
            "risk_score": np.round(published.astype("float64"), 6),
            "channel": sel.channel,
            "selected_by": sel.selected_by,
            "rule_hits": sel.rule_hits,
        }
    )
    for k in range(top_reasons):
        text = np.full(len(scored), "", dtype=object)
        contrib = np.full(len(scored), np.nan)
        text[flagged] = [r[k]["text"] if len(r) > k else "" for r in flagged_reasons]
        contrib[flagged] = [r[k]["contribution"] if len(r) > k else np.nan for r in flagged_reasons]
        scored[f"reason_{k + 1}"] = text.astype(str)
        scored[f"contribution_{k + 1}"] = contrib
    method = np.full(len(scored), "", dtype=object)
    note = why["note"].to_numpy(dtype=object).astype(str)
    method[flagged] = np.char.add(
        np.where(exact, "exact TreeSHAP", "approximate (Saabas)").astype(str),
        np.where(note != "", np.char.add("; ", note), ""),
    )
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
        start=why["base_value"].to_numpy(),
    )
    cases["typology_hint"] = why["typology_hint"].to_numpy()
    top = np.argsort(-published[flagged], kind="stable")[:waterfall_cases]  # positions in flagged
    wf = waterfalls(phi[top], matrix.iloc[top], context.iloc[top], catalogue(), names=names)
    waterfalls_by_id = {
        str(scored["declaration_id"].iloc[flagged[i]]): _with_rule_floor(
            w,
            lift[i],
            float(published[flagged[i]]),
            str(sel.rule_hits[flagged[i]]),
            str(sel.channel[flagged[i]]),
        )
        | {"typology_hint": str(why["typology_hint"].iloc[i]), "note": str(why["note"].iloc[i])}
        for i, w in zip(top, wf, strict=True)
    }
    return DayScores(
        scored,
        cases,
        sel,
        mean_abs_contribution(phi, list(matrix.columns)),
        waterfalls_by_id,
        missing,
        already,
        floors,
        int((published > scores).sum()),
        day_matrix,
    )


def _with_rule_floor(wf: dict, lift: float, published: float, rule_hits: str, channel: str) -> dict:
    """A waterfall with the rule floor's raise as its last step (when a rule raised the score)
    and the published score; ``contributions`` then include it as ``rule floor``."""
    wf = dict(wf, published=round(published, 6))
    if lift > 0:
        rule = rule_hits.split(";")[0]
        wf["rule_floor"] = {
            "text": f"hard rule {rule}: score raised to the day's {channel} threshold",
            "log_odds": round(float(lift), 4),
            "probability_before": wf["score"],
            "probability_after": round(published, 6),
        }
        wf["contributions"] = wf["contributions"] | {"rule floor": float(lift)}
    return wf


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rule_details(
    rules: list[Rule], rule_hits: np.ndarray, context: pd.DataFrame
) -> dict[str, dict[int, str]]:
    """Per rule, its ``reason`` template rendered for the items that hit it (position -> text),
    reading only the context columns the template names."""
    import string

    hits = pd.Series(rule_hits, dtype=object).fillna("").astype(str)
    out: dict[str, dict[int, str]] = {}
    for rule in rules:
        out[rule.name] = {}
        if not rule.reason:
            continue
        at = np.flatnonzero(hits.str.contains(rf"(?:^|;){rule.name}(?:;|$)", regex=True).to_numpy())
        fields = [f for _, f, _, _ in string.Formatter().parse(rule.reason) if f]
        fields = [f for f in dict.fromkeys(fields) if f in context.columns]
        columns = [context[f].to_numpy(dtype=object)[at] for f in fields]
        out[rule.name] = {
            int(i): _render(rule.reason, dict(zip(fields, values, strict=True)))
            for i, values in zip(at, zip(*columns, strict=True) if fields else [()] * len(at), strict=True)
        }
    return out


def _render(template: str, record: dict) -> str:
    """A rule's reason template over one item's context; '' when a value is missing."""
    try:
        text = template.format(**record)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError):
        return ""
    return "" if text in ("nan", "None", "<NA>") else text


def lead_with_rules(
    reason_lists: list[list[dict]],
    rule_hits: np.ndarray,
    channel: np.ndarray,
    rules: list[Rule],
    context: pd.DataFrame,
    model_scores: np.ndarray,
    published: np.ndarray,
    lift: np.ndarray,
    top_k: int,
    *,
    exploration: np.ndarray | None = None,
) -> list[list[dict]]:
    """The reasons of each flagged item as published: its rules first, in words, then the
    model's reasons, repeats merged, cut to ``top_k`` (at least ``MIN_REASONS``).

    Reasons that lower the risk are kept only to make up ``MIN_REASONS``, except for an
    exploration pick (``exploration``): it keeps up to ``AGAINST`` of them after the ones that
    raise its risk, since it was not chosen for its score.

    A rule's reason is its description plus what this item did (the rule's ``reason``
    template over the item's context) and, when the floor raised the score, by how much; its
    contribution is that raise in log-odds. A model reason saying the same sentence as an
    earlier reason (several license flags render the one license sentence) is merged into it,
    its contribution added.
    """
    by_name = {r.name: r for r in rules}
    details = _rule_details(rules, rule_hits, context)
    hit_any = pd.Series(rule_hits, dtype=object).fillna("").astype(str).ne("").to_numpy()
    explore = np.zeros(len(reason_lists), bool) if exploration is None else np.asarray(exploration, bool)
    out = []
    for i, items in enumerate(reason_lists):
        if explore[i] and not hit_any[i]:
            out.append(_both_ways(_merge_repeats(items), top_k))
            continue
        if not hit_any[i] and len({it["text"] for it in items}) == len(items):
            # no rule, no repeat: the model's reasons as they are (sorted: positives first)
            first = items[:top_k]
            out.append([it for k, it in enumerate(first) if it["contribution"] > 0 or k < MIN_REASONS])
            continue
        merged: list[dict] = []
        said: dict[str, dict] = {}  # text -> the reason that says it
        hits = [h for h in str(rule_hits[i]).split(";") if h in by_name]
        for j, name in enumerate(hits):
            rule = by_name[name]
            detail = details[name].get(i, "")
            text = f"hard rule {rule.name}: {rule.description}" + (f"; {detail}" if detail else "")
            raise_ = float(lift[i]) if j == 0 and lift[i] > 0 else 0.0
            if raise_ > 0:
                text += (
                    f" (model score {model_scores[i]:.3f} raised to the day's {channel[i]} "
                    f"threshold {published[i]:.3f})"
                )
            merged.append({"feature": f"rule:{rule.name}", "text": text, "contribution": round(raise_, 4)})
        rule_reasons = list(merged)
        for item in items:
            text = item["text"]
            same = said.get(text)
            if same is None and rule_reasons and len(text) > 20:
                same = next((m for m in rule_reasons if text in m["text"]), None)
            if same is None:
                said[text] = dict(item)
                merged.append(said[text])
            else:
                same["contribution"] = round(same["contribution"] + item["contribution"], 4)
        kept = [
            m
            for k, m in enumerate(merged)
            if m["feature"].startswith("rule:") or m["contribution"] > 0 or k < MIN_REASONS
        ]
        out.append(kept[:top_k])
    return out


def _merge_repeats(items: list[dict]) -> list[dict]:
    """Reasons saying the same sentence merged into the first, contributions added."""
    said: dict[str, dict] = {}
    for item in items:
        same = said.get(item["text"])
        if same is None:
            said[item["text"]] = dict(item)
        else:
            same["contribution"] = round(same["contribution"] + item["contribution"], 4)
    return list(said.values())


def _both_ways(items: list[dict], top_k: int) -> list[dict]:
    """An exploration pick's reasons: the ones that raise its risk, then up to ``AGAINST``
    that lower it, ``top_k`` in all."""
    up = [it for it in items if it["contribution"] >= 0]
    down = [it for it in items if it["contribution"] < 0]
    n_down = min(len(down), max(AGAINST, MIN_REASONS - len(up)), top_k)
    return up[: top_k - n_down] + down[:n_down]


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


def _path_names(steps_json: object) -> str:
    """The names along an ownership path (a JSON list), from its steps as data."""
    if not isinstance(steps_json, str) or not steps_json:
        return "[]"
    return json.dumps([step["name"] for step in json.loads(steps_json)])


def _cases(
    scored: pd.DataFrame,
    reason_lists: pd.Series,
    context: pd.DataFrame,
    history: pd.DataFrame | None,
    day_key: str,
    inspections: pd.DataFrame | None,
    start: np.ndarray | None = None,
) -> pd.DataFrame:
    """Red and yellow items in the case store's shape (one row per case).

    ``start``: each item's model starting point (log-odds, the SHAP base value); the first
    reason stored with the case carries it as ``start_log_odds``, so that the case page can
    draw the score from its start value through the reasons.
    """
    declared = [c for c in TABLES["declarations"].column_names if c in context.columns]
    decl_json = context[declared].astype("str").where(context[declared].notna(), "")
    none = pd.Series(np.nan, index=context.index, dtype=object)
    steps = context.get("exporter_listed_path_json", none).astype(object)  # the exporter's path, else
    steps = steps.where(steps.notna(), context.get("consignee_listed_path_json", none).astype(object))
    return pd.DataFrame(
        {
            "declaration_id": scored["declaration_id"].to_numpy(),
            "manifest_day": day_key,
            "declared_at": context["declared_at"].to_numpy(),
            "channel": scored["channel"].to_numpy(),
            "risk_score": scored["risk_score"].to_numpy(),
            "selected_by": scored["selected_by"].to_numpy(),
            "rule_hits": scored["rule_hits"].to_numpy(),
            "reasons": [json.dumps(r) for r in reason_lists]
            if start is None
            else [
                json.dumps([{**r[0], "start_log_odds": b}, *r[1:]]) if r else "[]"
                for r, b in zip(
                    reason_lists, np.round(np.asarray(start, dtype="float64"), 4).tolist(), strict=True
                )
            ],
            "declaration": decl_json.to_json(orient="records", lines=True).splitlines()
            if len(decl_json)
            else [],
            "route": context.get("route_path", pd.Series("", index=context.index))
            .astype(object)
            .fillna("")
            .to_numpy(),
            "ownership_path": [_path_names(p) for p in steps],
            # the same path as data: each step's name, id, tie to the next, and how the last is listed
            "ownership_json": steps.where(steps.notna(), None).to_numpy(dtype=object),
            "exporter_history": _exporter_history(context["exporter_id"], history, inspections),
            # the parties' registered addresses (company registry; "" when not on file)
            **{
                f"{role}_address": context.get(f"{role}_address", none).astype(object).fillna("").to_numpy()
                for role in ("exporter", "consignee")
            },
            "model_version": scored["model_version"].to_numpy(),
            "typology_hint": "",  # score_day fills it from the evidence
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


HELD_RULE = "held_for_correction"
_UNREADABLE_ID = r"[\x00-\x1f\x7f]"


@dataclass
class HeldRows:
    """Quarantined declarations: held for correction, never cleared."""

    rows: pd.DataFrame  # one per quarantined row: row_number, declaration_id, problems, stored (as a case?)
    cases: pd.DataFrame  # one per readable id, in the case store's shape (channel "held")

    @property
    def ids(self) -> list[str]:
        return self.cases["declaration_id"].tolist()

    @property
    def without_readable_id(self) -> list[int]:
        return self.rows.loc[self.rows["declaration_id"] == "", "row_number"].astype(int).tolist()

    def summary(self) -> dict:
        """What summary.json says about them."""
        not_stored = self.rows[(self.rows["declaration_id"] != "") & ~self.rows["stored"]]
        return {
            "count": len(self.rows),
            "ids": self.ids,
            "rows_without_readable_id": self.without_readable_id,
            "rows_whose_id_was_scored_from_another_row": not_stored["row_number"].astype(int).tolist(),
            "note": "not cleared: held for correction; each readable id is a case with channel 'held'. "
            "Rows without a readable id (or whose id another row of the manifest was scored under) "
            "are held here and in the report only.",
        }


def held_for_correction(
    quarantine: pd.DataFrame, scored_ids: pd.Series, day_key: str, source: str = ""
) -> HeldRows:
    """The day's quarantined rows as held declarations, and a case for each readable id.

    ``quarantine``: one row per quarantined input row with ``row_number``, ``problems`` and
    its id in ``declaration_id`` (or ``key``). An id is readable when it is non-empty, has
    no control characters and fits the case store (128 characters). A readable id that was
    also scored today (a duplicate row whose first copy was valid) keeps the scored case:
    the duplicate is held in the summary and report only. Several bad rows with one id make
    one case naming every row.
    """
    id_col = "declaration_id" if "declaration_id" in quarantine.columns else "key"
    ids = quarantine[id_col].astype(object).where(quarantine[id_col].notna(), "").astype("str").str.strip()
    readable = ids.ne("") & ~ids.str.contains(_UNREADABLE_ID, regex=True) & ids.str.len().le(128)
    rows = pd.DataFrame(
        {
            "row_number": quarantine["row_number"].astype("int64").to_numpy(),
            "declaration_id": ids.where(readable, "").to_numpy(),
            "problems": quarantine["problems"].astype("str").to_numpy(),
        }
    )
    rows["stored"] = readable.to_numpy() & ~isin(ids, scored_ids.astype("str"))
    keep = rows[rows["stored"]]
    where = f" of {source}" if source else ""
    line = "row " + keep["row_number"].astype("str") + where + ": " + keep["problems"]
    per_id = line.groupby(keep["declaration_id"], sort=False).agg("; ".join)
    texts = "held for correction, not scored (fix the declaration and lodge it again): " + per_id
    cases = pd.DataFrame(
        {
            "declaration_id": per_id.index.to_numpy(dtype=object),
            "manifest_day": day_key,
            "channel": "held",
            "risk_score": 0.0,
            "selected_by": "rule",
            "rule_hits": HELD_RULE,
            "reasons": [
                json.dumps([{"feature": HELD_RULE, "text": t, "contribution": None}])
                for t in texts.to_numpy()
            ],
            "declaration": [json.dumps({"declaration_id": i}) for i in per_id.index],
            "model_version": "",
        }
    )
    return HeldRows(rows, cases)
