"""Selectivity: risk rules, channels under capacity, an exploration quota, and the rule floor.

Order of selection for the day's items: rule hits first (regardless of score), then the
exploration quota (so the model keeps learning about what it does not pick), then the
model's top scores until each channel's capacity is used. A rule-selected item then
publishes at least its channel's threshold of the day as its score (``floor_scores``), so
that its score, its channel and its reasons agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Op = Literal[">", ">=", "<", "<=", "==", "!="]
_OPS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class Condition:
    column: str
    op: Op
    value: float


@dataclass(frozen=True)
class Rule:
    """A risk profile: items meeting ``all`` of its conditions (any of its ``any_of`` groups).

    ``needs``: tables without which the rule cannot fire (a day scored without one is warned);
    ``reason``: a ``str.format`` template over the item's context saying what this item did
    (e.g. ``"{license_problem}"``), added to the rule's description in its reason.
    """

    name: str
    description: str
    channel: Literal["red", "yellow"]
    any_of: tuple[tuple[Condition, ...], ...]
    needs: tuple[str, ...] = ()
    reason: str = ""

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c.column for group in self.any_of for c in group))

    def hits(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frame), dtype=bool)
        for group in self.any_of:
            ok = np.ones(len(frame), dtype=bool)
            for c in group:
                if c.column not in frame.columns:
                    ok[:] = False
                    break
                values = pd.to_numeric(frame[c.column], errors="coerce").to_numpy(dtype="float64")
                ok &= np.nan_to_num(_OPS[c.op](values, c.value), nan=False).astype(bool) & ~np.isnan(values)
            out |= ok
        return out


def rules_from_config(items: list[dict]) -> list[Rule]:
    """Build rules from the YAML form: ``{name, description, channel, any_of: [[{column, op,
    value}]], needs: [table], reason: template}`` (the last two optional)."""
    rules = []
    for item in items:
        groups = tuple(
            tuple(Condition(c["column"], c["op"], float(c["value"])) for c in group)
            for group in item["any_of"]
        )
        rules.append(
            Rule(
                item["name"],
                item["description"],
                item["channel"],
                groups,
                tuple(item.get("needs") or ()),
                item.get("reason") or "",
            )
        )
    return rules


def rule_warnings(rules: list[Rule], frame: pd.DataFrame, tables: dict[str, object]) -> list[str]:
    """Why a rule cannot select anything today, in words: a table it needs is absent, or every
    feature it reads is empty for every item (so it did not stay silent by chance)."""
    out = []
    for rule in rules:
        absent = [t for t in rule.needs if tables.get(t) is None]
        if absent:
            files = ", ".join(f"{t}.csv" for t in absent)
            out.append(
                f"rule {rule.name} cannot select anything: the bundle has no {files} "
                f"(add {files} to the bundle to check {rule.description})"
            )
            continue
        columns = [c for c in rule.columns if c in frame.columns]
        if len(frame) and columns and all(frame[c].isna().all() for c in columns):
            out.append(
                f"rule {rule.name} cannot select anything today: its features "
                f"({', '.join(columns)}) are empty for every declaration"
            )
    return out


@dataclass(frozen=True)
class Capacity:
    red_rate: float = 0.02
    yellow_rate: float = 0.05
    exploration_share: float = 0.10  # of red capacity
    exploration_method: Literal["random", "uncertainty"] = "random"
    seed: int = 0


@dataclass
class Selection:
    channel: np.ndarray  # red / yellow / green
    selected_by: np.ndarray  # rule / model / exploration / ""
    rule_hits: np.ndarray  # ';'-joined rule names
    capacity: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


ScoreFloor = Literal["channel_threshold", "none"] | float


def channel_thresholds(scores: np.ndarray, sel: Selection) -> dict[str, float]:
    """Each channel's threshold of the day: the lowest score the model selected for it.

    Where the model selected nothing for a channel (rule hits filled it), the highest score
    left below it (red: of yellow and green items; yellow: of green ones), so that an item
    raised to the threshold still scores above everything in lower channels. NaN when
    neither exists.
    """
    scores = np.asarray(scores, dtype="float64")
    out: dict[str, float] = {}
    for channel, below in (("red", ("yellow", "green")), ("yellow", ("green",))):
        picked = (sel.channel == channel) & (sel.selected_by == "model")
        lower = np.isin(sel.channel, below)
        if picked.any():
            out[channel] = float(scores[picked].min())
        elif lower.any():
            out[channel] = float(scores[lower].max())
        else:
            out[channel] = float("nan")
    return out


def floor_scores(
    scores: np.ndarray, sel: Selection, floor: ScoreFloor
) -> tuple[np.ndarray, dict[str, float]]:
    """The scores to publish: a rule-selected item's score raised to at least the floor.

    ``floor``: ``"channel_threshold"`` (the item's channel threshold of the day, see
    ``channel_thresholds``), a number from 0 to 1, or ``"none"``. Returns the published
    scores and the floor applied per channel (NaN: none).
    """
    scores = np.asarray(scores, dtype="float64")
    if isinstance(floor, str) and floor == "none":
        return scores.copy(), {"red": float("nan"), "yellow": float("nan")}
    if isinstance(floor, str):
        floors = channel_thresholds(scores, sel)
    else:
        floors = {"red": float(floor), "yellow": float(floor)}
    out = scores.copy()
    for channel, value in floors.items():
        if np.isnan(value):
            continue
        hit = (sel.selected_by == "rule") & (sel.channel == channel)
        out[hit] = np.maximum(out[hit], value)
    return out, floors


def day_seed(key: str, seed: int) -> int:
    """A reproducible seed for a day's exploration draw (rerunning gives the same picks)."""
    return int.from_bytes(hashlib.sha256(f"{key}|{seed}".encode()).digest()[:8], "little")


def apply_rules(frame: pd.DataFrame, rules: list[Rule]) -> tuple[np.ndarray, np.ndarray]:
    """Names of the rules each item hits, and the strictest channel those rules ask for."""
    n = len(frame)
    names = np.full(n, "", dtype=object)
    channel = np.full(n, "", dtype=object)
    for rule in rules:
        hit = rule.hits(frame)
        names[hit] = np.where(names[hit] == "", rule.name, names[hit] + ";" + rule.name)
        if rule.channel == "red":
            channel[hit] = "red"
        else:
            channel[hit & (channel != "red")] = "yellow"
    return names.astype(str), channel.astype(str)


def select(
    scores: np.ndarray,
    ids: pd.Series,
    rule_names: np.ndarray,
    rule_channel: np.ndarray,
    capacity: Capacity,
    day_key: str,
) -> Selection:
    """Assign channels under capacity. Deterministic for the same items, scores and day."""
    n = len(scores)
    red_cap = int(np.ceil(capacity.red_rate * n))
    yellow_cap = int(np.ceil(capacity.yellow_rate * n))
    channel = np.full(n, "green", dtype=object)
    by = np.full(n, "", dtype=object)
    warnings: list[str] = []

    is_rule_red = rule_channel == "red"
    is_rule_yellow = rule_channel == "yellow"
    channel[is_rule_red] = "red"
    by[is_rule_red] = "rule"
    if is_rule_red.sum() > red_cap:
        warnings.append(f"{int(is_rule_red.sum())} rule hits for red exceed its capacity of {red_cap}")

    # exploration: part of red capacity kept for items the model would not choose; it never
    # pushes red past capacity, so days whose rule hits fill red have less of it (warned)
    wanted = int(round(capacity.exploration_share * red_cap))
    n_explore = min(wanted, max(red_cap - int(is_rule_red.sum()), 0))
    if n_explore < wanted:
        warnings.append(f"exploration cut from {wanted} to {n_explore}: rule hits fill red capacity")
    order = np.lexsort((ids.to_numpy().astype(str), -scores))  # by score, ties by id
    eligible = channel == "green"
    eligible[order[: max(red_cap - int(is_rule_red.sum()), 0)]] = False  # the model picks these anyway
    pool = np.flatnonzero(eligible)
    if n_explore and len(pool):
        rng = np.random.default_rng(day_seed(day_key, capacity.seed))
        if capacity.exploration_method == "uncertainty":
            weight = scores[pool] * (1 - scores[pool]) + 1e-9
            pick = rng.choice(pool, size=min(n_explore, len(pool)), replace=False, p=weight / weight.sum())
        else:
            pick = rng.choice(pool, size=min(n_explore, len(pool)), replace=False)
        channel[pick] = "red"
        by[pick] = "exploration"

    left = red_cap - int((channel == "red").sum())
    if left > 0:
        candidates = order[channel[order] == "green"][:left]
        channel[candidates] = "red"
        by[candidates] = "model"

    yellow_rule = is_rule_yellow & (channel == "green")
    channel[yellow_rule] = "yellow"
    by[yellow_rule] = "rule"
    left = yellow_cap - int(yellow_rule.sum())
    if left > 0:
        candidates = order[channel[order] == "green"][:left]
        channel[candidates] = "yellow"
        by[candidates] = "model"
    return Selection(
        channel.astype(str),
        by.astype(str),
        rule_names,
        {"items": n, "red": red_cap, "yellow": yellow_cap, "exploration": n_explore},
        warnings,
    )
