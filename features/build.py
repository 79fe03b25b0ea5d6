"""Assemble the feature matrix for a set of declarations against a bundle's history, point in time.

History and the rows to describe (``_is_target``) are put in one time-ordered frame; every
family computes its columns for the rows to describe as of each one's declaration time, with
every row as history, so training rows and scoring rows go through exactly the same code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from features import behaviour, density, hs_mismatch, license, ownership, routing
from features.base import Feature, FeatureContext, Rows, is_member, match_positions, times_ns

FAMILIES: tuple[ModuleType, ...] = (hs_mismatch, routing, ownership, density, license, behaviour)


def catalogue() -> list[Feature]:
    """Every model feature, in matrix column order."""
    feats = [f for fam in FAMILIES for f in fam.FEATURES]
    names = [f.name for f in feats]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"feature names defined twice: {sorted(dup)}")
    return feats


def feature_names() -> list[str]:
    return [f.name for f in catalogue()]


@dataclass
class FeatureSet:
    """The matrix for the target rows, the context to explain them, and what was left out."""

    declaration_ids: pd.Series
    matrix: pd.DataFrame  # float columns in catalogue order
    context: pd.DataFrame  # declaration fields + family context, for reasons
    missing: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # fitted state (when fitted here)
    seconds: dict[str, float] = field(default_factory=dict)  # time spent per family


def labels_from_inspections(
    inspections: pd.DataFrame | None, declarations: pd.DataFrame
) -> pd.DataFrame | None:
    """Outcomes as time-stamped events: known from ``inspected_on`` (never before the
    declaration)."""
    if inspections is None or inspections.empty:
        return None
    lab = inspections[["declaration_id", "inspected_on", "outcome"]].copy()
    at, row = match_positions(lab["declaration_id"], declarations["declaration_id"])
    declared = pd.Series(pd.NaT, index=lab.index, dtype=declarations["declared_at"].dtype)
    declared.iloc[at] = declarations["declared_at"].to_numpy()[row]
    lab["label_time"] = lab["inspected_on"].where(lab["inspected_on"] > declared, declared)
    lab["label_time"] = lab["label_time"].fillna(lab["inspected_on"])
    lab["violation"] = (lab["outcome"] == "violation").astype("float64")
    if "typology" in inspections.columns:
        lab["typology"] = inspections["typology"].to_numpy()
    return lab[lab["label_time"].notna()].reset_index(drop=True)


def combine(history: pd.DataFrame | None, targets: pd.DataFrame) -> pd.DataFrame:
    """History plus target rows, one row per declaration id (a target replaces its history copy).

    Sorted by declaration time, then id (missing times last), with a fresh index.
    """
    targets = targets.assign(_is_target=True)
    if history is None or history.empty:
        decl = targets
    else:
        replaced = is_member(history["declaration_id"], targets["declaration_id"])
        past = history[~replaced] if replaced.any() else history
        decl = pd.concat([past.assign(_is_target=False), targets], ignore_index=True)
    order = _time_then_id_order(decl)
    if (order[1:] > order[:-1]).all():  # already in order
        return decl.reset_index(drop=True)
    return decl.take(order).reset_index(drop=True)


def _time_then_id_order(decl: pd.DataFrame) -> np.ndarray:
    """Positions in (declared_at, declaration_id) order, stable; ids are compared only among
    rows declared at the same moment."""
    t = times_ns(decl["declared_at"])
    t = np.where(t == np.iinfo(np.int64).min, np.iinfo(np.int64).max, t)  # missing: last
    order = np.argsort(t, kind="stable")
    sorted_t = t[order]
    same = sorted_t[1:] == sorted_t[:-1]
    tied = np.r_[same, False] | np.r_[False, same]
    if tied.any():
        sub = order[tied]
        ties = pd.DataFrame({"t": sorted_t[tied], "id": decl["declaration_id"].iloc[sub].to_numpy()})
        order[tied] = sub[ties.sort_values(["t", "id"], kind="stable").index.to_numpy()]
    return order


def make_context(
    tables: dict[str, pd.DataFrame | None],
    declarations: pd.DataFrame,
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    state: dict[str, Any] | None = None,
) -> FeatureContext:
    """Reference tables and outcomes, as the families expect them."""
    return FeatureContext(
        companies=tables.get("companies"),
        ownership=tables.get("ownership"),
        officers=tables.get("officers"),
        watchlist=tables.get("watchlist"),
        licenses=tables.get("licenses"),
        labels=labels_from_inspections(tables.get("inspections"), declarations),
        hs_profiles=hs_profiles,
        ports=ports,
        state=dict(state or {}),
    )


def fit_state(decl: pd.DataFrame, ctx: FeatureContext, train_mask: np.ndarray) -> dict[str, Any]:
    """Fit whatever the families learn (the text model) on the training rows only."""
    state: dict[str, Any] = {}
    for fam in FAMILIES:
        fit = getattr(fam, "fit", None)
        if fit is not None:
            state[fam.FAMILY] = fit(decl, ctx, train_mask)
    return state


def portable_state(state: dict[str, Any]) -> dict[str, Any]:
    """The fitted state without training-only parts (keys starting with '_')."""
    return {fam: {k: v for k, v in s.items() if not k.startswith("_")} for fam, s in state.items()}


def build_features(
    decl: pd.DataFrame,
    ctx: FeatureContext,
    session: Any = None,
    families: Sequence[str] | None = None,
) -> FeatureSet:
    """Compute every family for the target rows of the combined frame, against all its rows.

    A family may return its columns for every row of ``decl`` or for the target rows only
    (indexed by their labels in ``decl``); the matrix holds the target rows either way.
    ``session`` (``features.state.Session``): the history is (also) a feature state, whose part
    every history-based value adds to the frame's own; it records the frame's events when asked.
    ``families``: only these (by name; the matrix then holds only their columns, in catalogue
    order): the families are independent of each other, so they may be computed apart.
    """
    fams = FAMILIES if families is None else tuple(f for f in FAMILIES if f.FAMILY in set(families))
    ctx_state = ctx.state
    rows = Rows(decl)
    if session is not None:
        session.attach(rows)
    ctx = replace(ctx, rows=rows)  # the families share what is derived from decl's columns
    names = [f.name for fam in fams for f in fam.FEATURES]
    # the matrix is one float64 block filled family by family (no per-family copies kept)
    values = np.empty((rows.n_targets, len(names)), order="F")  # a column's pages only when written
    contexts, missing, seconds, col = [], [], {}, 0
    for fam in fams:
        t0 = time.perf_counter()
        if session is not None:
            session.begin(fam.FAMILY)
        result = fam.compute(decl, ctx)
        seconds[fam.FAMILY] = time.perf_counter() - t0
        fam_names = [f.name for f in fam.FEATURES]
        absent = [n for n in fam_names if n not in result.features.columns]
        if absent:
            raise ValueError(f"family {fam.FAMILY} did not compute {absent}")
        part = _target_rows(result.features[fam_names], rows, fam.FAMILY)
        values[:, col : col + len(fam_names)] = part.to_numpy(dtype="float64")
        col += len(fam_names)
        if len(result.context.columns):
            contexts.append(_target_rows(result.context, rows, fam.FAMILY))
        missing += result.missing
        del result, part
    rows._memo.clear()  # what the families shared is no longer needed
    del ctx
    values[np.isinf(values)] = np.nan
    matrix = pd.DataFrame(values, columns=names, copy=False)  # the block itself, not a copy
    base = decl.drop(columns=[c for c in decl.columns if c.startswith("_")])
    base = base if rows.every_row else base.iloc[rows.pos]
    base = base.reset_index(drop=True)
    seen, extra = set(base.columns), []
    for c in contexts:
        keep = [name for name in c.columns if name not in seen]
        seen.update(keep)
        if keep:
            extra.append(c[keep].reset_index(drop=True))
    del contexts
    context = pd.concat([base, *extra, matrix], axis=1)
    del extra
    return FeatureSet(
        declaration_ids=base["declaration_id"],
        matrix=matrix,
        context=context,
        missing=missing,
        state=ctx_state,
        seconds=seconds,
    )


def _target_rows(frame: pd.DataFrame, rows: Rows, family: str) -> pd.DataFrame:
    """A family's frame cut to the target rows, whether it holds every row or only those."""
    if len(frame) == rows.n_targets and frame.index.equals(rows.index):
        return frame
    if len(frame) == len(rows) and frame.index.equals(rows.decl.index):
        return frame.iloc[rows.pos]
    raise ValueError(f"family {family} returned rows that are neither every row of decl nor its target rows")
