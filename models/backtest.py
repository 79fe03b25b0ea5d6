"""Backtest: replay the last weeks of a bundle's history under inspection strategies.

Each week, for each strategy: the model trained on what that strategy has learned so far scores
the week's declarations (features point in time, built with that strategy's labels only); the
strategy selects under the daily red/yellow capacity (risk rules first, as in daily scoring);
only the selected items' outcomes are revealed and added to the strategy's labels; the model is
retrained at the end of the week. Strategies keep their own labels and models, so they are
compared on the same weeks.

Pure logic only: no Prefect, MLflow or files (``pipelines/backtest_flow.py`` wires it).

Honesty about labels. Four feature families read outcomes (track records, code and hub
violation rates, the "usual" values that leave known violations out, the text model's training
rows). The week's matrix is therefore rebuilt for every strategy from its own labels: the
bundle's outcomes recorded before the replay (shared: that is where every strategy starts) plus
the outcomes it revealed, each known from the end of the week it was revealed in. The fitted
text model is fitted once, on the history before the replay with the shared outcomes, and kept.

Cheaper than ``train`` on purpose, so that a week costs seconds: the weekly fit is unweighted (no
inspection-propensity estimate), with the number of trees chosen once by early stopping on the
latest window of the starting outcomes (capped at ``max_trees``), and no rolling folds; the
training's promotion gate is not replayed (``gate="shadow"`` is the replay's own, optional gate).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.errors import NotEnoughDataError
from features.build import FeatureSet, combine, fit_state, labels_from_inspections, make_context
from models.drift import psi
from models.engine import LOCAL, Engine
from models.evaluate import rules_profile_score
from models.select import Capacity, Rule, apply_rules, day_seed

STRATEGIES = ("exploit", "random", "uncertainty", "hybrid", "adaptive", "rules")
LABEL_COLUMNS = ["declaration_id", "label_time", "violation", "typology", "outcome", "inspected_on"]


# ---------------------------------------------------------------- configuration (plain values)
@dataclass(frozen=True)
class Bandit:
    """ADAPT-style exploration share: discounted Thompson sampling over ``arms`` (shares of red
    capacity), the drawn share raised by ``drift_gain`` x the week's measured drift."""

    arms: tuple[float, ...] = (0.0, 0.05, 0.10, 0.20, 0.30)
    discount: float = 0.8  # each week every arm's evidence is multiplied by this (old weeks fade)
    pseudo_count: float = 20.0  # a week's reward counts as this many Bernoulli trials
    novelty_weight: float = 1.0  # a new violation pattern is worth this many found violations
    drift_gain: float = 0.5
    max_share: float = 0.5


@dataclass(frozen=True)
class ReplayConfig:
    exploration_share: float = 0.10  # random, uncertainty, hybrid: share of red capacity
    hybrid_candidates: int = 5  # hybrid: uncertain candidates per exploration pick (then diversity)
    bandit: Bandit = field(default_factory=Bandit)
    reveal_channels: tuple[str, ...] = ("red", "yellow")
    retrain: str = "weekly"  # weekly | never
    gate: str = "none"  # none | shadow (a retrained model takes over only after beating it for a week)
    max_trees: int = 150  # cap on the trees chosen on the initial window (weekly fits stay cheap)
    validation_days: int = 30
    early_stopping_rounds: int = 30
    psi_warn: float = 0.25
    seed: int = 0


# ---------------------------------------------------------------- selection
@dataclass
class WeekSelection:
    channel: np.ndarray  # red / yellow / green per row of the week
    selected_by: np.ndarray  # rule / model / exploration / ""
    exploration_share: float  # share of red capacity given to exploration (asked for)


Picker = Callable[[np.ndarray, int, np.ndarray, pd.DataFrame, np.random.Generator], np.ndarray]


def pick_random(pool: np.ndarray, n: int, scores, matrix, rng) -> np.ndarray:
    """``n`` items of ``pool`` drawn uniformly."""
    return rng.choice(pool, size=min(n, len(pool)), replace=False)


def pick_uncertain(pool: np.ndarray, n: int, scores, matrix, rng) -> np.ndarray:
    """The ``n`` items of ``pool`` closest to the decision boundary (score 0.5), ties at random."""
    gap = np.abs(np.asarray(scores, dtype="float64")[pool] - 0.5)
    order = np.lexsort((rng.random(len(pool)), gap))
    return pool[order[:n]]


def pick_diverse_uncertain(
    pool: np.ndarray, n: int, scores, matrix: pd.DataFrame, rng, candidates_per_pick: int = 5
) -> np.ndarray:
    """gATE-style: the most uncertain items, weighted up by declared value, spread over kinds of
    goods and parties (k-means on their features; the most uncertain item of each cluster)."""
    if n <= 0 or len(pool) == 0:
        return pool[:0]
    s = np.asarray(scores, dtype="float64")[pool]
    value = (
        matrix["_declared_value_usd"].to_numpy()[pool]
        if "_declared_value_usd" in matrix
        else np.zeros(len(pool))
    )
    weight = s * (1 - s) * (1 + np.log1p(np.maximum(np.nan_to_num(value), 0)) / 20)
    top = np.argsort(-weight, kind="stable")[: min(len(pool), n * candidates_per_pick)]
    cand, w = pool[top], weight[top]
    if len(cand) <= n:
        return cand
    from sklearn.cluster import KMeans

    X = (
        matrix.iloc[cand]
        .drop(columns=[c for c in matrix.columns if c.startswith("_")])
        .to_numpy(dtype="float64")
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-empty columns: no mean, set to 0
        X = np.nan_to_num((X - np.nanmean(X, axis=0)) / (np.nanstd(X, axis=0) + 1e-9))
    cluster = KMeans(n_clusters=n, n_init=3, random_state=int(rng.integers(1 << 31))).fit_predict(X)
    best = pd.DataFrame({"c": cluster, "w": w, "i": cand}).sort_values("w", ascending=False, kind="stable")
    return best.groupby("c", sort=False).head(1)["i"].to_numpy()[:n]


def select_day(
    scores: np.ndarray,
    ids: np.ndarray,
    rule_channel: np.ndarray,
    capacity: Capacity,
    share: float,
    picker: Picker | None,
    matrix: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One day's channels under capacity, in the daily scoring's order: rule hits, then the
    exploration share of red capacity (picked by ``picker`` among the items the top scores would
    not take), then the top scores for red and yellow. Never past either capacity."""
    n = len(scores)
    red_cap = int(np.ceil(capacity.red_rate * n))
    yellow_cap = int(np.ceil(capacity.yellow_rate * n))
    channel = np.full(n, "green", dtype=object)
    by = np.full(n, "", dtype=object)
    order = np.lexsort((ids.astype(str), -np.asarray(scores, dtype="float64")))  # by score, ties by id
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    rule_red = np.flatnonzero(rule_channel == "red")
    rule_red = rule_red[np.argsort(rank[rule_red])][:red_cap]  # more hits than capacity: best scores
    channel[rule_red] = "red"
    by[rule_red] = "rule"
    free = red_cap - len(rule_red)
    n_explore = min(int(round(share * red_cap)), max(free, 0)) if picker is not None else 0
    if n_explore:
        eligible = channel == "green"
        eligible[order[channel[order] == "green"][: free - n_explore]] = False  # the model takes these
        pool = np.flatnonzero(eligible)
        pick = picker(pool, n_explore, scores, matrix, rng) if len(pool) else pool
        channel[pick] = "red"
        by[pick] = "exploration"
    left = red_cap - int((channel == "red").sum())
    if left > 0:
        top = order[channel[order] == "green"][:left]
        channel[top], by[top] = "red", "model"
    rule_yellow = np.flatnonzero((rule_channel == "yellow") & (channel == "green"))
    rule_yellow = rule_yellow[np.argsort(rank[rule_yellow])][:yellow_cap]
    channel[rule_yellow], by[rule_yellow] = "yellow", "rule"
    left = yellow_cap - len(rule_yellow)
    if left > 0:
        top = order[channel[order] == "green"][:left]
        channel[top], by[top] = "yellow", "model"
    return channel.astype(str), by.astype(str)


def select_week(
    scores: np.ndarray,
    context: pd.DataFrame,
    matrix: pd.DataFrame,
    rule_channel: np.ndarray,
    capacity: Capacity,
    share: float,
    picker: Picker | None,
    key: str,
) -> WeekSelection:
    """Every day of the week selected under that day's capacity (capacity is per day)."""
    day = pd.to_datetime(context["declared_at"]).dt.normalize().to_numpy()
    ids = context["declaration_id"].astype(str).to_numpy()
    channel = np.full(len(scores), "green", dtype=object)
    by = np.full(len(scores), "", dtype=object)
    for d in np.unique(day):
        rows = np.flatnonzero(day == d)
        rng = np.random.default_rng(day_seed(f"{key}|{pd.Timestamp(d).date()}", capacity.seed))
        ch, b = select_day(
            scores[rows], ids[rows], rule_channel[rows], capacity, share, picker, matrix.iloc[rows], rng
        )
        channel[rows], by[rows] = ch, b
    return WeekSelection(channel.astype(str), by.astype(str), share)


# ---------------------------------------------------------------- the bandit over shares
@dataclass
class ShareBandit:
    """Discounted Beta-Bernoulli Thompson sampling over exploration shares (ADAPT-style)."""

    params: Bandit
    alpha: np.ndarray = field(init=False)
    beta: np.ndarray = field(init=False)
    last_arm: int = -1

    def __post_init__(self) -> None:
        self.alpha = np.ones(len(self.params.arms))
        self.beta = np.ones(len(self.params.arms))

    def choose(self, drift: float, rng: np.random.Generator) -> float:
        """The share for this week: the arm with the highest draw, raised by the measured drift."""
        draws = rng.beta(self.alpha, self.beta)
        self.last_arm = int(np.argmax(draws))
        share = self.params.arms[self.last_arm] + self.params.drift_gain * max(float(drift), 0.0)
        return float(min(share, self.params.max_share))

    def update(self, reward: float) -> None:
        """Fade all arms' evidence, then credit the arm played with a reward in [0, 1]."""
        p = self.params
        self.alpha = 1 + (self.alpha - 1) * p.discount
        self.beta = 1 + (self.beta - 1) * p.discount
        if self.last_arm >= 0:
            r = float(np.clip(reward, 0, 1))
            self.alpha[self.last_arm] += r * p.pseudo_count
            self.beta[self.last_arm] += (1 - r) * p.pseudo_count

    def reward(self, found: float, new_patterns: float, selected: float) -> float:
        """The week's yield per inspection, a new violation pattern counting ``novelty_weight`` finds."""
        return (found + self.params.novelty_weight * new_patterns) / max(selected, 1.0)


# ---------------------------------------------------------------- the world the replay runs on
@dataclass
class ReplayData:
    """What every strategy shares: the history, the replay weeks, the starting labels and model."""

    decl: pd.DataFrame  # every declaration, time-ordered (``combine``)
    tables: dict[str, pd.DataFrame | None]
    hs_profiles: pd.DataFrame | None
    ports: pd.DataFrame | None
    week_starts: list[pd.Timestamp]
    initial_labels: pd.DataFrame  # LABEL_COLUMNS, known before the replay
    state: dict[str, Any]  # fitted feature state (text model), fitted before the replay
    train_X: pd.DataFrame  # features of the initially labelled rows
    train_y: np.ndarray
    train_ids: np.ndarray
    reference: pd.DataFrame  # features of the week before the replay (the first week's drift reference)
    trees: int
    params: dict[str, Any]
    outcomes: pd.DataFrame  # what inspecting an item reveals: declaration_id, y, typology, value
    truth_mode: bool
    notes: list[str] = field(default_factory=list)


def week_starts(declared_at: pd.Series, weeks: int) -> list[pd.Timestamp]:
    """The starts of the last ``weeks`` whole weeks of the history (the last day included)."""
    end = pd.Timestamp(declared_at.max()).normalize() + pd.Timedelta(days=1)
    return [end - pd.Timedelta(days=7 * (weeks - k)) for k in range(weeks)]


def revealable_outcomes(
    decl: pd.DataFrame, truth: pd.DataFrame | None, inspections: pd.DataFrame | None, start: pd.Timestamp
) -> pd.DataFrame:
    """What an inspection of each replay-period item would reveal.

    With the truth (generated worlds): every item, its label being whether an inspection would
    find the violation (``found_if_inspected``: inspectors miss some), its typologies and its true
    value. Without it: only the items the old regime actually inspected, with their recorded
    outcome (the figures are then biased toward the old regime's choices).
    """
    period = decl.loc[decl["declared_at"] >= start, ["declaration_id", "exporter_id"]]
    if truth is not None:
        t = truth.drop_duplicates("declaration_id", keep="last").set_index("declaration_id")
        t = t.reindex(period["declaration_id"])
        covered = t["is_violation"].notna().to_numpy()
        found = t["found_if_inspected"] if "found_if_inspected" in t else t["is_violation"]
        typ = t["typology"].fillna("").astype(str)
        if "secondary_typology" in t:
            sec = t["secondary_typology"].fillna("").astype(str)
            typ = typ.where(sec.eq(""), typ + ";" + sec)
        out = pd.DataFrame(
            {
                "declaration_id": period["declaration_id"].to_numpy(),
                "exporter_id": period["exporter_id"].to_numpy(),
                "y": found.fillna(False).astype(float).to_numpy(),
                "violation": t["is_violation"].fillna(False).astype(float).to_numpy(),
                "typology": typ.to_numpy(),
                "value": t["true_value_usd"].fillna(0).to_numpy(dtype="float64")
                if "true_value_usd" in t
                else np.zeros(len(t)),
            }
        )
        return out[covered].reset_index(drop=True)
    if inspections is None or inspections.empty:
        return pd.DataFrame(columns=["declaration_id", "exporter_id", "y", "violation", "typology", "value"])
    ins = inspections.drop_duplicates("declaration_id", keep="last").set_index("declaration_id")
    ins = ins.reindex(period["declaration_id"])
    keep = ins["outcome"].notna().to_numpy()
    y = (ins["outcome"] == "violation").astype(float).to_numpy()
    seized = ins["seized_value_usd"] if "seized_value_usd" in ins else pd.Series(0.0, index=ins.index)
    typ = ins["typology"] if "typology" in ins else pd.Series("", index=ins.index)
    out = pd.DataFrame(
        {
            "declaration_id": period["declaration_id"].to_numpy(),
            "exporter_id": period["exporter_id"].to_numpy(),
            "y": y,
            "violation": y,
            "typology": typ.fillna("").astype(str).to_numpy(),
            "value": pd.to_numeric(seized, errors="coerce").fillna(0).to_numpy(dtype="float64"),
        }
    )
    return out[keep].reset_index(drop=True)


def prepare_replay(
    tables: dict[str, pd.DataFrame | None],
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    weeks: int,
    params: dict[str, Any],
    num_boost_round: int,
    cfg: ReplayConfig,
    truth: pd.DataFrame | None = None,
    engine: Engine = LOCAL,
) -> ReplayData:
    """Everything the strategies share: the weeks, the outcomes known before the replay, the text
    model fitted on the history before it, and the starting model (its number of trees chosen
    by early stopping on the latest ``validation_days`` of those outcomes, capped at ``max_trees``)."""
    decl = combine(None, tables["declarations"])
    starts = week_starts(decl["declared_at"], weeks)
    start = starts[0]
    if decl["declared_at"].min() >= start - pd.Timedelta(days=cfg.validation_days):
        raise NotEnoughDataError(
            f"the history is too short for {weeks} replay weeks: it must start at least "
            f"{cfg.validation_days} days before the replay's first week ({start.date()})"
        )
    labels = labels_from_inspections(tables.get("inspections"), decl)
    if labels is None:
        raise NotEnoughDataError(
            "the bundle has no inspection outcomes before the replay: no model to start from"
        )
    initial = _label_frame(labels[labels["label_time"] < start])
    before = (decl["declared_at"] < start).to_numpy()
    ctx = _context(tables, decl, hs_profiles, ports, initial, {})
    state = fit_state(decl, ctx, before)
    ctx.state = state
    ref_week = before & (decl["declared_at"] >= start - pd.Timedelta(days=7)).to_numpy()
    labelled = before & decl["declaration_id"].isin(set(initial["declaration_id"])).to_numpy()
    hist = decl[before].assign(_is_target=(labelled | ref_week)[before])
    fs = engine.build(hist, ctx)
    ids = fs.declaration_ids.to_numpy()
    is_lab = np.isin(ids, initial["declaration_id"].to_numpy())
    y_of = initial.drop_duplicates("declaration_id", keep="last").set_index("declaration_id")["violation"]
    train_X = fs.matrix[is_lab].reset_index(drop=True)
    train_y = y_of.reindex(ids[is_lab]).to_numpy(dtype="float64")
    in_ref = (fs.context["declared_at"] >= start - pd.Timedelta(days=7)).to_numpy()
    t_lab = fs.context["declared_at"].to_numpy()[is_lab]
    valid = t_lab >= np.datetime64(start - pd.Timedelta(days=cfg.validation_days))
    first = engine.fit(
        train_X[~valid],
        train_y[~valid],
        train_X[valid],
        train_y[valid],
        params,
        min(num_boost_round, cfg.max_trees),
        cfg.early_stopping_rounds,
    )
    trees = max(int(first.best_iteration) + 1, 10)
    outcomes = revealable_outcomes(decl, truth, tables.get("inspections"), start)
    notes = []
    if truth is not None:
        n_period = int((decl["declared_at"] >= start).sum())
        if len(outcomes) < n_period:
            notes.append(
                f"{n_period - len(outcomes):,} replay declarations are not in the truth: never revealed"
            )
    else:
        notes.append(
            "no --truth: only items the old regime actually inspected can reveal an outcome; every figure "
            "is biased toward the old regime's choices (a strategy is credited only where they agreed)"
        )
    return ReplayData(
        decl=decl,
        tables=tables,
        hs_profiles=hs_profiles,
        ports=ports,
        week_starts=starts,
        initial_labels=initial,
        state=state,
        train_X=train_X,
        train_y=train_y,
        train_ids=ids[is_lab],
        reference=fs.matrix[in_ref].reset_index(drop=True),
        trees=trees,
        params=dict(params),
        outcomes=outcomes,
        truth_mode=truth is not None,
        notes=notes,
    )


def _label_frame(labels: pd.DataFrame) -> pd.DataFrame:
    out = labels.copy()
    for c in LABEL_COLUMNS:
        if c not in out:
            out[c] = None
    return out[LABEL_COLUMNS].reset_index(drop=True)


def _context(tables, decl, hs_profiles, ports, labels: pd.DataFrame, state: dict[str, Any]):
    ctx = make_context({**tables, "inspections": None}, decl, hs_profiles, ports, state=state)
    ctx.labels = labels if len(labels) else None
    return ctx


# ---------------------------------------------------------------- one strategy's state
@dataclass
class StrategyState:
    name: str
    labels: pd.DataFrame  # what this strategy knows: the initial outcomes + what it revealed
    X: pd.DataFrame  # training rows: features as they were when each item was scored
    y: np.ndarray
    ids: np.ndarray  # declaration ids of the training rows
    booster: Any = None
    shadow: Any = None  # gate=shadow: the retrained model waiting for a week of evidence
    version: int = 0
    seen_typologies: set[str] = field(default_factory=set)
    seen_exporters: set[str] = field(default_factory=set)
    bandit: ShareBandit | None = None
    selected_ids: list[np.ndarray] = field(default_factory=list)  # per week
    revealed_ids: list[np.ndarray] = field(default_factory=list)  # per week
    feature_label_ids: list[set] = field(default_factory=list)  # per week: outcomes its features read
    previous: pd.DataFrame | None = None  # last week's matrix: the drift reference


@dataclass
class BacktestResult:
    rows: pd.DataFrame  # one row per week and strategy
    states: dict[str, StrategyState]
    notes: list[str]
    initial_ids: set = field(default_factory=set)  # outcomes every strategy started from


def _picker(name: str, cfg: ReplayConfig) -> Picker | None:
    if name in ("random", "adaptive"):
        return pick_random
    if name == "uncertainty":
        return pick_uncertain
    if name == "hybrid":
        return lambda pool, n, s, m, rng: pick_diverse_uncertain(pool, n, s, m, rng, cfg.hybrid_candidates)
    return None


def drift_share(reference: pd.DataFrame, recent: pd.DataFrame, warn: float) -> float:
    """Share of the features whose population stability index against the reference exceeds ``warn``."""
    values = [psi(reference[c], recent[c]) for c in reference.columns]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(np.array(values) > warn)) if values else 0.0


def _split(typology: str) -> list[str]:
    return [t for t in str(typology).split(";") if t and t != "nan"]


def replay(
    data: ReplayData,
    strategies: list[str],
    capacity: Capacity,
    rules: list[Rule],
    cfg: ReplayConfig,
    engine: Engine = LOCAL,
    on_week: Callable[[dict[str, Any]], None] | None = None,
) -> BacktestResult:
    """Replay ``data``'s weeks under each strategy; ``on_week`` gets each week's row as it is made."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}: choose from {', '.join(STRATEGIES)}")
    init_booster = engine.fit(data.train_X, data.train_y, None, None, data.params, data.trees, None).booster
    known = data.outcomes.set_index("declaration_id")
    init_violations = data.initial_labels[data.initial_labels["violation"] == 1]
    exporter_of = data.decl.set_index("declaration_id")["exporter_id"]
    seen_t = {t for v in init_violations["typology"].dropna() for t in _split(v)}
    seen_e = set(exporter_of.reindex(init_violations["declaration_id"]).dropna().astype(str))
    states = {
        s: StrategyState(
            s,
            data.initial_labels,
            data.train_X,
            data.train_y,
            data.train_ids,
            booster=None if s == "rules" else init_booster,
            seen_typologies=set(seen_t),
            seen_exporters=set(seen_e),
            bandit=ShareBandit(cfg.bandit) if s == "adaptive" else None,
        )
        for s in strategies
    }
    rows: list[dict[str, Any]] = []
    for w, start in enumerate(data.week_starts):
        end = start + pd.Timedelta(days=7)
        upto = data.decl[data.decl["declared_at"] < end]
        target = (upto["declared_at"] >= start).to_numpy()
        week_cache: dict[frozenset, FeatureSet] = {}
        for name in strategies:
            st = states[name]
            t0 = time.perf_counter()
            revealed = frozenset(st.labels["declaration_id"].iloc[len(data.initial_labels) :])
            fs = week_cache.get(revealed)
            if fs is None:  # strategies that know the same outcomes share one build
                ctx = _context(data.tables, upto, data.hs_profiles, data.ports, st.labels, data.state)
                fs = engine.build(upto.assign(_is_target=target), ctx)
                week_cache[revealed] = fs
            st.feature_label_ids.append(set(st.labels["declaration_id"]))
            matrix, context = fs.matrix, fs.context
            # drift: how much the traffic moved since the week before (what the model last learned from)
            drift = drift_share(data.reference if st.previous is None else st.previous, matrix, cfg.psi_warn)
            st.previous = matrix
            if name == "rules":
                scores = (
                    rules_profile_score(matrix)
                    + np.random.default_rng(cfg.seed + w).random(len(matrix)) * 1e-3
                )
            else:
                scores = engine.predict(st.booster, matrix)
            share = {"exploit": 0.0, "rules": 0.0}.get(name, cfg.exploration_share)
            if st.bandit is not None:
                share = st.bandit.choose(drift, np.random.default_rng(day_seed(f"bandit|{w}", cfg.seed)))
            _, rule_channel = apply_rules(matrix, rules)
            m = matrix.assign(_declared_value_usd=context["declared_value_usd"].to_numpy(dtype="float64"))
            sel = select_week(
                scores, context, m, rule_channel, capacity, share, _picker(name, cfg), f"{name}|{w}"
            )
            picked = np.isin(sel.channel, cfg.reveal_channels)
            ids = context["declaration_id"].to_numpy()
            week_truth = known.reindex(ids)
            has = week_truth["y"].notna().to_numpy()
            reveal = picked & has
            y = week_truth["y"].to_numpy(dtype="float64")
            value = week_truth["value"].fillna(0).to_numpy(dtype="float64")
            found = np.nan_to_num(y) * reveal
            total_found = float(np.nansum(y[has]))
            # new violation patterns: typologies or exporters this strategy had not seen violating
            new_t, new_e = set(), set()
            hit = np.flatnonzero(found > 0)
            for i in hit:
                new_t.update(t for t in _split(week_truth["typology"].iloc[i]) if t not in st.seen_typologies)
                e = str(context["exporter_id"].iloc[i])
                if e not in st.seen_exporters:
                    new_e.add(e)
            explored = (sel.selected_by == "exploration").sum()
            red = (sel.channel == "red").sum()
            row = {
                "week_start": start.date().isoformat(),
                "week": w + 1,
                "strategy": name,
                "declarations": len(ids),
                "selected": int(picked.sum()),
                "revealed": int(reveal.sum()),
                "violations_found": int(found.sum()),
                "week_violations": int(total_found),
                "precision": float(found.sum() / reveal.sum()) if reveal.sum() else float("nan"),
                "recall": float(found.sum() / total_found) if total_found else float("nan"),
                "revenue_share": float((value * found).sum() / (value * np.nan_to_num(y) * has).sum())
                if (value * np.nan_to_num(y) * has).sum() > 0
                else float("nan"),
                "exploration_share": float(explored / red) if red else 0.0,
                "exploration_asked": float(share),
                "new_typologies": len(new_t),
                "new_exporters": len(new_e),
                "new_patterns": len(new_t) + len(new_e),
                "model_version": "rules" if name == "rules" else f"v{st.version}",
                "drift": drift,
                "labels": len(st.labels),
            }
            # the week's outcomes become known at its end: only the selected items'
            rid = ids[reveal]
            rev_truth = week_truth[reveal]
            new_labels = pd.DataFrame(
                {
                    "declaration_id": rid,
                    "label_time": end,
                    "violation": rev_truth["y"].to_numpy(dtype="float64"),
                    "typology": rev_truth["typology"].to_numpy(),
                    "outcome": np.where(rev_truth["y"].to_numpy() == 1, "violation", "clear"),
                    "inspected_on": end,
                }
            )
            st.labels = pd.concat([st.labels, new_labels], ignore_index=True)
            st.X = pd.concat([st.X, matrix[reveal]], ignore_index=True)
            st.y = np.r_[st.y, rev_truth["y"].to_numpy(dtype="float64")]
            st.ids = np.r_[st.ids, rid]
            st.selected_ids.append(ids[picked])
            st.revealed_ids.append(rid)
            st.seen_typologies |= new_t
            st.seen_exporters |= new_e
            if st.bandit is not None:
                st.bandit.update(st.bandit.reward(found.sum(), len(new_t) + len(new_e), reveal.sum()))
            if name != "rules" and cfg.retrain == "weekly":
                _retrain(st, scores, matrix, reveal, y, data, cfg, engine)
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            if on_week is not None:
                on_week(row)
    initial_ids = set(data.initial_labels["declaration_id"])
    return BacktestResult(pd.DataFrame(rows), states, list(data.notes), initial_ids)


def _retrain(
    st: StrategyState, scores, matrix, reveal, y, data: ReplayData, cfg: ReplayConfig, engine
) -> None:
    """Fit on every label the strategy knows (the trees fixed at the start); with the shadow gate
    the new model first runs beside the current one for a week and takes over only if it ranked
    that week's revealed items at least as well."""
    from sklearn.metrics import average_precision_score

    if cfg.gate == "shadow" and st.shadow is not None and reveal.sum() > 1:
        yy = y[reveal]
        if 0 < yy.sum() < len(yy):
            cur = average_precision_score(yy, scores[reveal])
            new = average_precision_score(yy, engine.predict(st.shadow, matrix[reveal]))
            if new >= cur:
                st.booster, st.version = st.shadow, st.version + 1
    fit = engine.fit(st.X, st.y, None, None, data.params, data.trees, None).booster
    if cfg.gate == "shadow":
        st.shadow = fit
    else:
        st.booster, st.version = fit, st.version + 1


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per strategy over the replay: found, recall and revenue (of all weeks' violations), mean
    precision, mean exploration share, new patterns, and the last week's recall."""
    g = rows.groupby("strategy", sort=False)
    last = rows[rows["week"] == rows["week"].max()].set_index("strategy")
    out = pd.DataFrame(
        {
            "selected": g["selected"].sum(),
            "found": g["violations_found"].sum(),
            "recall": g["violations_found"].sum() / g["week_violations"].sum().clip(lower=1),
            "mean_weekly_recall": g["recall"].mean(),
            "mean_revenue_share": g["revenue_share"].mean(),
            "precision": g["violations_found"].sum() / g["revealed"].sum().clip(lower=1),
            "exploration_share": g["exploration_share"].mean(),
            "new_patterns": g["new_patterns"].sum(),
            "last_week_recall": last["recall"],
            "seconds_per_week": g["seconds"].mean(),
        }
    )
    return out.reset_index()
