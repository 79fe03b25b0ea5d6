"""Explanations: exact TreeSHAP contributions turned into reasons an investigator can act on.

A reason says what was declared and what it is compared with, with the actual values, codes
and ports named in words. A feature whose value is missing, or drawn from no record, is never
shown as evidence: the reason says what the absence means instead (``models/evidence.py``
decides the state of each feature and holds those sentences). Each reason carries its kind of
evidence (goods vs code, value, weight, licence, route, parties, track record) so reasons can
be grouped; the kinds behind an item's score give its typology hint. Exploration picks show
what lowers their risk as well as what raises it. ``waterfalls`` gives the start value and the
steps of a score, in log-odds and probability, for a waterfall chart.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xgboost as xgb

from features.base import Feature
from models.evidence import (
    KINDS,
    STATES,
    VALUE_DIRECTION,
    blend_candidates,
    count_field,
    generic_sentence,
    hint_typologies,
    kind_of,
    sentence,
    states,
    template_fields,
)
from models.naming import MISSING_TEXT, Names, names_for

__all__ = [
    "EXPLORATION_NOTE",
    "FIELD_NAMING",
    "contributions",
    "group_reasons",
    "hint_typologies",
    "mean_abs_contribution",
    "reasons",
    "render_reason",
    "waterfalls",
]

LOWERS = "lowers the risk: "
RAISES = "raises the risk: "
EXPLORATION_NOTE = (
    "exploration pick: chosen to keep the model learning, not for its score; "
    "reasons that raise and that lower its risk"
)
# context columns shown as codes with their names (the namer of models/naming.py they need)
FIELD_NAMING: dict[str, str] = {
    "hs_code": "hs",
    "hs6": "hs",
    "hs6_code": "hs",
    "declared_heading": "hs",
    "predicted_heading": "hs",
    "hs_heading": "hs",
    "declared_chapter": "chapter",
    "port_of_loading": "port",
    "port_of_discharge": "port",
    "transit_hub_worst": "port",
    "route_path": "route",
    "origin_country": "country",
    "consignee_country": "country",
    "destination_country": "country",
    "loading_country": "country",
    "license_destination": "country",
}


def contributions(booster: xgb.Booster, matrix: pd.DataFrame, approximate: bool = False) -> np.ndarray:
    """Per-feature SHAP contributions (log-odds) plus the bias in the last column.

    XGBoost's native TreeSHAP (``pred_contribs``): contributions + bias = the model's margin.
    """
    if len(matrix) == 0:
        return np.zeros((0, matrix.shape[1] + 1))
    dm = xgb.DMatrix(matrix, missing=np.nan)
    return booster.predict(dm, pred_contribs=True, approx_contribs=approximate)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype="float64")))


# ---------------------------------------------------------------- templates
_DESCRIBED = r"\s*\(\{[a-z0-9_]*description[a-z0-9_]*(?::[^{}]*)?\}\)"


def _named_template(template: str) -> str:
    """The template without the '({..._description})' that follows a code it now names itself."""
    for f in FIELD_NAMING:
        template = re.sub(r"(\{" + f + r"(?:![rsa])?(?::[^{}]*)?\})" + _DESCRIBED, r"\1", template)
    return template


_GROUP = re.compile(r"\s*\([^()]*\)")  # a parenthesised aside
_TAIL = re.compile(r"(?:[:;,]|\s-)\s[^:;,()]*$")  # a closing clause after ':', ';' or ','


def _without(template: str, missing: set[str]) -> str | None:
    """The template with the asides and closing clauses that read a missing field left out,
    or None when a missing field is in its main sentence."""

    def reads_missing(part: str) -> bool:
        return bool(missing & set(template_fields(part)))

    for pattern in (_GROUP, _TAIL):
        template = pattern.sub(lambda m: "" if reads_missing(m.group(0)) else m.group(0), template)
    return None if reads_missing(template) else template


def _missing_mask(values) -> np.ndarray:
    """Which values say nothing: None, NaN, NaT, '' and text such as 'nan' or 'None' (judged
    once per distinct value)."""
    s = pd.Series(values)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.isna().to_numpy()
    codes, uniques = pd.factorize(s.astype(object))
    u = pd.Series(uniques, dtype=object)
    bad = u.isna().to_numpy()
    try:
        t = u.str.strip().str.lower()  # NaN for values that are not text
        bad = bad | (t == "").to_numpy() | t.isin(MISSING_TEXT).to_numpy()
    except AttributeError:  # no text at all
        pass
    return np.where(codes < 0, True, np.append(bad, True)[codes])


def _format_all(template: str, cols: dict[str, np.ndarray], fallback) -> np.ndarray:
    """``template`` filled from ``cols`` for every item; ``fallback(positions)`` where
    formatting fails."""
    fields = list(cols)
    m = len(next(iter(cols.values()))) if cols else 0
    out = np.empty(m, dtype=object)
    failed = []
    for i, vals in enumerate(zip(*(cols[f] for f in fields), strict=True)):
        try:
            out[i] = template.format(**dict(zip(fields, vals, strict=True)))
        except (KeyError, ValueError, TypeError, IndexError, AttributeError):
            failed.append(i)
    if failed:
        out[failed] = fallback(np.asarray(failed))
    return out


def _value_text(feature: Feature, values: np.ndarray) -> np.ndarray:
    """A last resort that still says something: the feature's description and its value."""
    what = feature.description.strip().rstrip(".")
    what = what[:1].lower() + what[1:] if what[1:2].islower() else what
    return np.array([f"{what}: {v:,.3g}" for v in np.asarray(values, dtype="float64")], dtype=object)


# ---------------------------------------------------------------- rendering pairs
class _Renderer:
    """Renders (item, feature) pairs of one frame of flagged items; each context column is
    named and checked for missing values once."""

    def __init__(
        self,
        matrix: pd.DataFrame,
        context: pd.DataFrame,
        catalogue: list[Feature],
        names: Names,
    ):
        self.by_name = {f.name: f for f in catalogue}
        self.columns = list(matrix.columns)
        self.values = matrix.to_numpy(dtype="float64")
        self.context = context
        self.names = names
        self._cols: dict[str, np.ndarray] = {}
        self._gone: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray | None:
        """A context column as objects, codes named (None: not in the context)."""
        if name not in self._cols:
            if name not in self.context.columns:
                return None
            raw = self.context[name]
            kind = FIELD_NAMING.get(name)
            col = self.names.column(raw, kind) if kind else raw
            self._cols[name] = col.to_numpy(dtype=object)
            self._gone[name] = _missing_mask(raw)
        return self._cols[name]

    def gone(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` have nothing in column ``name`` (all, when it is not there)."""
        if self.column(name) is None:
            return np.ones(len(rows), dtype=bool)
        return self._gone[name][rows]

    def feature(self, name: str) -> Feature:
        f = self.by_name.get(name)
        return f if f is not None else Feature(name, "", name.replace("_", " "), "{" + name + "}")

    def fill(self, template: str, rows: np.ndarray, fallback) -> np.ndarray:
        """``template`` for each of ``rows``, leaving out the asides whose fields are missing
        for it; ``fallback(positions)`` where a field of its main sentence is missing."""
        m = len(rows)
        template = _named_template(template)
        fields = template_fields(template)
        if not fields:
            return np.full(m, template, dtype=object)
        bits = np.zeros(m, dtype=np.int64)
        for b, f in enumerate(fields):
            bits |= self.gone(f, rows).astype(np.int64) << b
        out = np.empty(m, dtype=object)
        for pattern in np.unique(bits):
            at = np.flatnonzero(bits == pattern)
            variant = _without(template, {f for b, f in enumerate(fields) if pattern >> b & 1})
            if variant is None:
                out[at] = fallback(at)
                continue
            used = template_fields(variant)
            if not used:
                out[at] = variant
                continue
            cols = {f: self._cols[f][rows[at]] for f in used}
            out[at] = _format_all(variant, cols, lambda pos, at=at: fallback(at[pos]))
        return out

    def render(self, item: np.ndarray, feat: np.ndarray, contribution: np.ndarray, both_ways: np.ndarray):
        """(texts, kinds, evidence) of each pair; ``both_ways``: say 'raises the risk' too."""
        n = len(item)
        text = np.empty(n, dtype=object)
        kind = np.empty(n, dtype=object)
        evidence = np.zeros(n, dtype=bool)
        order = np.argsort(feat, kind="stable")
        bounds = np.flatnonzero(np.r_[True, feat[order][1:] != feat[order][:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            at = order[a:b]
            j = int(feat[at[0]])
            feature = self.feature(self.columns[j])
            kind[at] = kind_of(feature)
            rows = item[at]
            values = self.values[rows, j]
            cf = count_field(feature)
            counts = self.column(cf) if cf else None
            if counts is not None:
                counts = pd.to_numeric(pd.Series(counts[rows], dtype=object), errors="coerce").to_numpy(
                    dtype="float64"
                )
            state = states(feature, values, counts)
            evidence[at] = state == 0
            for s in np.unique(state):
                sub = np.flatnonzero(state == s)
                name = STATES[s]
                if s == 0:
                    vals = values[sub]

                    def fallback(pos, feature=feature, vals=vals):
                        return _value_text(feature, vals[pos])
                else:  # an absence never ends in a raw value
                    generic = generic_sentence(feature, name)

                    def fallback(pos, generic=generic):
                        return np.full(len(pos), generic, dtype=object)

                text[at[sub]] = self.fill(sentence(feature, name), rows[sub], fallback)
        prefix = np.where(contribution < 0, LOWERS, np.where(both_ways, RAISES, ""))
        return (prefix.astype(object) + text.astype(object)), kind, evidence


# ---------------------------------------------------------------- reasons per item
def _top(x: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the ``k`` smallest values of each row, smallest first."""
    if k >= x.shape[1]:
        return np.argsort(x, axis=1, kind="stable")[:, :k]
    part = np.argpartition(x, k - 1, axis=1)[:, :k]
    return np.take_along_axis(
        part, np.argsort(np.take_along_axis(x, part, axis=1), axis=1, kind="stable"), axis=1
    )


PER_KIND = 2  # reasons of one kind of evidence shown before those of other kinds


def _diverse(phi: np.ndarray, kinds: np.ndarray | None, per_kind: int = PER_KIND) -> np.ndarray:
    """A ranking key for the reasons that raise the risk: within each kind of evidence, the
    ``per_kind`` largest keep their contribution and the rest rank after every other kind's, so the
    reasons shown name several kinds of evidence (who ships it, and also what the goods, value,
    weight, licence and route say) instead of five variations on one."""
    if kinds is None or phi.shape[1] == 0:
        return -phi
    key = -phi.astype("float64")
    for k in np.unique(kinds):
        cols = np.flatnonzero(kinds == k)
        if len(cols) <= per_kind:
            continue
        sub = phi[:, cols]
        rank = np.argsort(np.argsort(-sub, axis=1, kind="stable"), axis=1, kind="stable")
        later = (rank >= per_kind) & (sub > 0)
        key[:, cols] = np.where(later, -sub * 1e-6, key[:, cols])
    return key


def _pick(
    phi: np.ndarray,
    top_k: int,
    min_reasons: int,
    exploration: np.ndarray,
    against: int,
    kinds: np.ndarray | None = None,
):
    """(item, feature) pairs to show: the largest positive contributions, at most ``PER_KIND`` of a
    kind of evidence before the others (``kinds``, one per feature); padded to ``min_reasons`` with
    the most negative ones; exploration picks keep ``against`` of them."""
    n, f = phi.shape
    k = min(top_k, f)
    up, down = _top(_diverse(phi, kinds), k), _top(phi, k)
    n_up = np.minimum((phi > 0).sum(axis=1), k)
    n_down = np.minimum((phi < 0).sum(axis=1), k)
    want_down = np.where(exploration, np.minimum(against, max(k - 1, 0)), 0)
    take_down = np.minimum(n_down, want_down)
    take_up = np.minimum(n_up, k - take_down)
    take_down = np.where(exploration, np.minimum(n_down, k - take_up), take_down)
    take_down = np.maximum(take_down, np.minimum(n_down, np.maximum(min(min_reasons, k) - take_up, 0)))
    rank = np.arange(k)
    keep_up = rank[None, :] < take_up[:, None]
    keep_down = rank[None, :] < take_down[:, None]
    rows = np.repeat(np.arange(n)[:, None], k, axis=1)
    item = np.concatenate([rows[keep_up], rows[keep_down]])
    feat = np.concatenate([up[keep_up], down[keep_down]])
    value = phi[item, feat]
    order = np.lexsort((-value, item))  # per item, by contribution, largest first
    return item[order], feat[order], value[order]


def _in_order(catalogue: list[Feature], columns: list[str]) -> list[Feature]:
    by_name = {f.name: f for f in catalogue}
    return [by_name[c] for c in columns]


def reasons(
    contribs: np.ndarray,
    matrix: pd.DataFrame,
    context: pd.DataFrame,
    catalogue: list[Feature],
    top_k: int = 5,
    min_reasons: int = 3,
    *,
    history: pd.DataFrame | None = None,
    exploration: np.ndarray | None = None,
    against: int = 2,
    names: Names | None = None,
) -> pd.DataFrame:
    """Top reasons per item, as sentences, sorted by contribution.

    ``contribs``: SHAP contributions (log-odds), bias last, one row per item of ``matrix``;
    ``context``: the items' declaration and context columns (codes are named from the
    reference tables, and from ``history``'s usual goods description per code for codes in
    none); ``exploration``: which items are exploration picks (their reasons keep ``against``
    reasons that lower the risk). Every item gets at least ``min_reasons`` reasons when its
    contributions allow (padded with the features that lowered the score most).

    Returns one row per item: ``reasons`` (list of dicts: feature, kind, text, contribution,
    evidence), ``typology_hint``, ``note`` (says when an item is an exploration pick),
    ``base_value`` (the model's starting point in log-odds) and ``base_probability``.
    """
    n = len(matrix)
    if n == 0:
        return pd.DataFrame(
            {
                "reasons": pd.Series([], dtype=object),
                "typology_hint": pd.Series([], dtype="str"),
                "note": pd.Series([], dtype="str"),
                "base_value": pd.Series([], dtype="float64"),
                "base_probability": pd.Series([], dtype="float64"),
            }
        )
    context = context.reset_index(drop=True)
    explore = np.zeros(n, dtype=bool) if exploration is None else np.asarray(exploration, dtype=bool)
    if names is None:
        names = names_for(history, context["hs_code"] if "hs_code" in context.columns else None)
    phi = np.asarray(contribs)[:, :-1]
    kinds = np.array([kind_of(f) for f in _in_order(catalogue, list(matrix.columns))])
    item, feat, value = _pick(phi, top_k, min_reasons, explore, against, kinds)
    renderer = _Renderer(matrix, context, catalogue, names)
    text, kind, evidence = renderer.render(item, feat, value, explore[item])

    cols = list(matrix.columns)
    rounded = np.round(value, 4).tolist()
    out: list[list[dict]] = [[] for _ in range(n)]
    for i, j, c, t, k, e in zip(
        item.tolist(), feat.tolist(), rounded, text, kind, evidence.tolist(), strict=True
    ):
        out[i].append({"feature": cols[j], "kind": k, "text": t, "contribution": c, "evidence": e})

    hint = hint_typologies(
        _strength(item, kind, value, evidence, n),
        value_below=_value_below(matrix),
        blend=blend_candidates(context.get("hs_code"), context.get("goods_description"), n=n),
    )
    base = np.asarray(contribs)[:, -1].astype("float64")
    return pd.DataFrame(
        {
            "reasons": pd.Series(out, dtype=object),
            "typology_hint": hint.to_numpy(),
            "note": np.where(explore, EXPLORATION_NOTE, ""),
            "base_value": base,
            "base_probability": _sigmoid(base),
        }
    )


def _strength(item, kind, value, evidence, n: int) -> pd.DataFrame:
    """Summed positive contributions of the evidence shown, per item and kind."""
    kinds = list(KINDS)
    strength = np.zeros((n, len(kinds)))
    use = evidence & (value > 0)
    index = pd.Index(kinds).get_indexer(pd.Series(kind, dtype=object).fillna(""))
    use &= index >= 0
    np.add.at(strength, (item[use], index[use]), value[use])
    return pd.DataFrame(strength, columns=kinds)


def _value_below(matrix: pd.DataFrame) -> np.ndarray:
    """Items whose value per kg is below what the code usually declares (first signed value
    feature that has a value)."""
    below = np.zeros(len(matrix), dtype=bool)
    known = np.zeros(len(matrix), dtype=bool)
    for name in VALUE_DIRECTION:
        if name in matrix.columns:
            v = matrix[name].to_numpy(dtype="float64")
            here = ~known & np.isfinite(v)
            below[here] = v[here] < 0
            known |= here
    return below


def group_reasons(items: list[dict]) -> list[dict]:
    """An item's reasons grouped by kind of evidence: [{kind, label, contribution, reasons}],
    the group with the largest single contribution first; within a group, as given. Reasons
    without a kind are grouped as risk rules (features named ``rule:...``) or track record."""
    groups: dict[str, list[dict]] = {}
    for r in items:
        kind = r.get("kind") or ("rule" if str(r.get("feature", "")).startswith("rule:") else "record")
        groups.setdefault(kind, []).append(r)
    ordered = sorted(groups.items(), key=lambda kv: -max(abs(r.get("contribution") or 0.0) for r in kv[1]))
    return [
        {
            "kind": k,
            "label": KINDS.get(k, "risk rules" if k == "rule" else k),
            "contribution": round(sum(r.get("contribution") or 0.0 for r in rs), 4),
            "reasons": rs,
        }
        for k, rs in ordered
    ]


def render_reason(feature: Feature, record: dict, value: float, contribution: float) -> str:
    """One sentence for one feature of one item, with its actual values; never raises."""
    matrix = pd.DataFrame({feature.name: [float(value)]})
    context = pd.DataFrame({k: [v] for k, v in record.items()}) if record else pd.DataFrame(index=[0])
    context[feature.name] = float(value)
    renderer = _Renderer(matrix, context, [feature], names_for())
    text, _, _ = renderer.render(
        np.array([0]), np.array([0]), np.array([float(contribution)]), np.array([False])
    )
    return str(text[0])


# ---------------------------------------------------------------- waterfalls
def waterfalls(
    contribs: np.ndarray,
    matrix: pd.DataFrame,
    context: pd.DataFrame,
    catalogue: list[Feature],
    top: int = 8,
    *,
    history: pd.DataFrame | None = None,
    names: Names | None = None,
) -> list[dict]:
    """Waterfall data per item: the model's starting point, its largest contributions (by size)
    as reason sentences, the rest, and the score, in log-odds and in probability.

    Each dict: ``unit`` ("log-odds"), ``bias`` and ``contributions`` (log-odds per feature
    name, every feature), ``base`` {log_odds, probability}, ``steps`` [{feature, kind, text,
    log_odds, probability_before, probability_after}] in the order drawn, ``rest`` (the other
    features together, same keys) and ``score`` (the final probability).
    """
    n = len(matrix)
    if n == 0:
        return []
    context = context.reset_index(drop=True)
    phi = np.asarray(contribs)[:, :-1]
    base = np.asarray(contribs)[:, -1].astype("float64")
    k = min(top, phi.shape[1])
    order = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, :k]
    item = np.repeat(np.arange(n), k)
    feat = order.ravel()
    value = phi[item, feat]
    if names is None:
        names = names_for(history, context["hs_code"] if "hs_code" in context.columns else None)
    text, kind, _ = _Renderer(matrix, context, catalogue, names).render(
        item, feat, value, np.zeros(len(item), dtype=bool)
    )
    cols = list(matrix.columns)
    out = []
    for i in range(n):
        sl = slice(i * k, (i + 1) * k)
        steps_lo = value[sl]
        rest = float(phi[i].sum() - steps_lo.sum())
        path = base[i] + np.concatenate([[0.0], np.cumsum(steps_lo), [steps_lo.sum() + rest]])
        prob = _sigmoid(path)
        steps = [
            {
                "feature": cols[j],
                "kind": kd,
                "text": t,
                "log_odds": round(float(v), 4),
                "probability_before": round(float(prob[s]), 4),
                "probability_after": round(float(prob[s + 1]), 4),
            }
            for s, (j, kd, t, v) in enumerate(zip(feat[sl], kind[sl], text[sl], steps_lo, strict=True))
        ]
        out.append(
            {
                "unit": "log-odds",
                "bias": float(base[i]),
                "contributions": dict(zip(cols, phi[i].astype(float).tolist(), strict=True)),
                "base": {"log_odds": round(float(base[i]), 4), "probability": round(float(prob[0]), 4)},
                "steps": steps,
                "rest": {
                    "log_odds": round(rest, 4),
                    "probability_before": round(float(prob[-2]), 4),
                    "probability_after": round(float(prob[-1]), 4),
                },
                "score": round(float(prob[-1]), 6),
            }
        )
    return out


def mean_abs_contribution(contribs: np.ndarray, names: list[str]) -> pd.Series:
    """Global importance for a day: mean absolute contribution per feature."""
    if len(contribs) == 0:
        return pd.Series(0.0, index=names)
    return pd.Series(np.abs(contribs[:, :-1]).mean(axis=0), index=names).sort_values(ascending=False)
