"""What every feature family shares: the feature catalogue and point-in-time primitives.

A family module exposes ``FEATURES`` (its catalogue entries) and a pure function
``compute(decl, ctx) -> FamilyResult``. ``decl`` holds the history and the rows to
describe together, one row per declaration; the rows to describe are those whose
``_is_target`` is true (every row when the column is absent). A family computes per-row
values for the target rows only and uses every row as history: each history-based value for
a row at time t is computed from data strictly before t, with the primitives below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TARGET = "_is_target"
# identifiers of parties, keyed as compared (features.names.party_ids): a broker's software that
# drops the leading zero of a tax number does not make a new exporter
PARTY_ID_COLUMNS = frozenset({"exporter_id", "consignee_id", "declarant_id"})
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Feature:
    """A model input with a domain name, a one-line description, and a reason template.

    ``reason`` is a ``str.format`` template over the row's feature values and its
    context columns (e.g. ``"{value_per_kg:.2f} USD/kg"``); it turns a SHAP contribution
    into a sentence an investigator can act on.
    """

    name: str
    family: str
    description: str
    reason: str
    # Values at which the reason is worth showing at all (e.g. a flag that is 0 says nothing).
    show_when: str = "any"  # "any", "positive" (value > 0), "notna"
    # Depends on inspection outcomes known before the declaration (track records, and what is
    # usual learned from history without the declarations already found violating).
    uses_outcomes: bool = False


@dataclass
class FamilyResult:
    """Feature columns (model inputs) and context columns (for reasons).

    Indexed like ``decl`` (every row) or like its target rows only (the target rows' index
    labels, in ``decl``'s order); the builder accepts both.
    """

    features: pd.DataFrame
    context: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: list[str] = field(default_factory=list)  # why parts could not be computed


@dataclass
class FeatureContext:
    """Reference tables and fitted state a family may use; any table may be None."""

    companies: pd.DataFrame | None = None
    ownership: pd.DataFrame | None = None
    officers: pd.DataFrame | None = None
    watchlist: pd.DataFrame | None = None
    licenses: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None  # declaration_id, label_time, violation, typology
    hs_profiles: pd.DataFrame | None = None
    ports: pd.DataFrame | None = None
    state: dict[str, Any] = field(default_factory=dict)  # fitted feature state by family
    # the builder's prepared view of the frame it hands to every family (never saved)
    rows: Rows | None = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------- the rows to describe
def target_mask(decl: pd.DataFrame) -> np.ndarray:
    """Which rows of ``decl`` to describe: its ``_is_target`` column, or every row."""
    if TARGET not in decl.columns:
        return np.ones(len(decl), dtype=bool)
    return decl[TARGET].to_numpy(dtype=bool)


class Keyed(np.ndarray):
    """Codes (-1: no key) that know which key each code stands for: ``hashes[code]`` is a stable
    64-bit hash of the key's value, the same in any frame (what a feature state is keyed by)."""

    hashes: np.ndarray | None = None

    def __array_finalize__(self, obj) -> None:
        self.hashes = getattr(obj, "hashes", None)


_GLOBAL_KEY = np.uint64(0x9E3779B97F4A7C15)  # the one key of rows counted all together


def keyed(codes: np.ndarray, keys) -> Keyed:
    """``codes`` (into ``keys``, -1: none) carrying the hash of each key's text."""
    out = np.asarray(codes, np.int64).view(Keyed)
    text = pd.Series(keys, dtype=object).astype("str").to_numpy(dtype=object)
    out.hashes = pd.util.hash_array(text) if len(text) else np.zeros(0, np.uint64)
    out.hashes = np.where(out.hashes == 0, np.uint64(1), out.hashes)  # 0 stands for no key
    return out


def key_hashes(codes: np.ndarray) -> np.ndarray:
    """The key hash of every element of ``codes`` (0: no key). Codes without key identity are
    only accepted as the one key of everything (zeros)."""
    c = np.asarray(codes, np.int64)
    hashes = getattr(codes, "hashes", None)
    if hashes is None:
        if len(c) and c.max() > 0:
            raise ValueError("codes without key identity (features.base.keyed) cannot use a feature state")
        return np.where(c == 0, _GLOBAL_KEY, np.uint64(0))
    return np.where(c >= 0, hashes[np.maximum(c, 0)] if len(hashes) else np.uint64(0), np.uint64(0))


class Rows:
    """``decl`` prepared for the families: its target rows, times as integers, key codes.

    What is derived from a whole column (the codes of its distinct values, where each
    outcome's declaration sits) is computed on first use and kept, so the families of one
    build share it. Codes count from 0 over the distinct keys; -1 is a missing key.
    """

    def __init__(self, decl: pd.DataFrame):
        self.decl = decl
        self.target = target_mask(decl)
        self.pos = np.flatnonzero(self.target)
        self.every_row = len(self.pos) == len(decl)
        self.index = decl.index if self.every_row else decl.index[self.pos]
        self._memo: dict[Any, Any] = {}
        # a feature state session (features.state.Session): the history as accumulators (its part
        # is added to every history-based sum) and/or a recorder of this frame's events
        self.session: Any = None

    def __len__(self) -> int:
        return len(self.decl)

    @property
    def n_targets(self) -> int:
        return len(self.pos)

    def at(self, values: np.ndarray) -> np.ndarray:
        """Values of every row, cut to the target rows."""
        return values if self.every_row else values[self.pos]

    def column(self, name: str) -> pd.Series:
        """A column of ``decl`` at the target rows (index: their labels)."""
        return self.decl[name] if self.every_row else self.decl[name].iloc[self.pos]

    def frame(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of ``decl`` at the target rows (index: their labels)."""
        return pd.DataFrame({c: self.column(c) for c in columns}, index=self.index)

    def times(self, name: str = "declared_at") -> np.ndarray:
        """A datetime column of every row as int64 nanoseconds (NaT: int64 min)."""
        if ("times", name) not in self._memo:
            self._memo["times", name] = times_ns(self.decl[name])
        return self._memo["times", name]

    def codes(
        self, column: str, derive: Callable[[pd.Series], pd.Series] | None = None, name: str | None = None
    ) -> np.ndarray:
        """Codes of ``column``'s keys for every row, compared as text.

        ``derive`` turns the distinct values (a text Series) into the keys they stand for,
        e.g. the heading of a commodity code; NaN means missing. ``name`` tells derived keys
        apart in the cache.
        """
        return self.keys(column, derive, name)[0]

    def keys(
        self, column: str, derive: Callable[[pd.Series], pd.Series] | None = None, name: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(codes for every row, the key of each code) of ``column``; see ``codes``."""
        if derive is not None and name is None:
            raise ValueError("derived keys need a name")
        key = ("keys", name or column)
        if key not in self._memo:
            raw, uniques = self.distinct(column)
            values = _key(pd.Series(uniques, dtype=object))
            if column in PARTY_ID_COLUMNS:  # ids as compared: leading zeros, separators, case aside
                from features.names import party_ids

                values = party_ids(values)
            if derive is not None:
                values = derive(values)
            codes, uniques = recode(raw, values)
            self._memo[key] = (keyed(codes, uniques), uniques)
        return self._memo[key]

    def distinct(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes for every row, distinct values as objects) of a raw column; missing values
        (None, NaN, NA alike) are one distinct value, NaN."""
        if ("distinct", column) not in self._memo:
            codes, uniques = pd.factorize(self.decl[column], use_na_sentinel=False)
            self._memo["distinct", column] = (codes.astype(np.int64), np.asarray(uniques, dtype=object))
        return self._memo["distinct", column]

    def mapped(self, name: str, column: str, per_value: Callable[[pd.Series], pd.Series]) -> pd.Series:
        """``per_value`` of ``column`` at the target rows, computed once per distinct value.

        ``per_value`` gets the distinct values (an object Series, NaN for missing) and returns
        a Series of one result each, whose dtype the result keeps (booleans become 0/1
        floats). ``name`` identifies the result in the cache.
        """
        key = ("mapped", name)
        if key not in self._memo:
            raw, uniques = self.distinct(column)
            done = pd.Series(per_value(pd.Series(uniques, dtype=object))).reset_index(drop=True)
            if done.dtype == bool:
                done = done.astype("float64")
            self._memo[key] = done.take(self.at(raw)).set_axis(self.index)
        return self._memo[key]

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per prepared frame under ``name``."""
        if ("cached", name) not in self._memo:
            self._memo["cached", name] = make()
        return self._memo["cached", name]

    def label_rows(self, labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(outcome position, row position) for each outcome whose declaration is a row."""
        key = ("labels", id(labels))
        hit = self._memo.get(key)
        if hit is None or hit[0] is not labels:
            hit = (labels, match_positions(labels["declaration_id"], self.decl["declaration_id"]))
            self._memo[key] = hit
        return hit[1]

    def earlier(
        self,
        codes: np.ndarray,
        values: Sequence[np.ndarray | None] = (None,),
        whole: bool = False,
        tag: str = "",
    ) -> list[np.ndarray]:
        """For each target row, the sums of ``values`` (None: count) over the rows of ``decl``
        with the same key (``codes`` of every row) declared strictly before it.

        As ``as_of_sums_of`` with every row as an event. When ``decl`` is in time order, one
        merge pass in row order with a running total per key does it (whole numbers; else one
        pass over the rows in (key, time) order when most rows are targets).
        ``whole``: the caller promises whole numbers (summed exactly in any order), which
        spares checking them. ``tag`` names the sums among the family's others on the same key
        (for a feature state).
        """
        out = self._earlier(codes, values, whole)
        if self.session is not None:
            q = self.pos
            t = self.times()
            part = self.session.sums("earlier", tag, [t[q]], codes[q], t, codes, values)
            out = [a + b for a, b in zip(out, part[0], strict=True)]
        return out

    def _earlier(self, codes, values, whole) -> list[np.ndarray]:
        t = self.times()
        if not self._time_ordered():
            return as_of_sums_of(self.at(t), self.at(codes), t, codes, values, whole)
        codes = np.asarray(codes, np.int64)
        if _sums_before is not None and (whole or all(v is None or _whole(v) for v in values)):
            return self._earlier_in_one_pass(codes, values, whole)
        if self.n_targets * 4 < len(self):
            return as_of_sums_of(self.at(t), self.at(codes), t, codes, values, whole)
        order = _stable_order(codes + 1, int(codes.max(initial=-1)) + 2)
        k, ts = codes[order], t[order]
        n = len(order)
        new_key = np.r_[True, k[1:] != k[:-1]]
        first_of_key = np.maximum.accumulate(np.where(new_key, np.arange(n), 0))
        new_time = new_key | np.r_[True, ts[1:] != ts[:-1]]
        first_at_time = np.maximum.accumulate(np.where(new_time, np.arange(n), 0))
        del new_key, new_time, ts
        # where each target row sits in the (key, time) order
        where_in_order = np.empty(n, np.int64)
        where_in_order[order] = np.arange(n)
        at = self.at(where_in_order)
        fat, fok = first_at_time[at], first_of_key[at]
        keyless = k[at] < 0
        del where_in_order, first_at_time, first_of_key
        if whole and len(values) > 1 and all(v is not None for v in values):
            return _block_sums(values, order, fat, fok, keyless)
        csum = np.empty(n + 1)
        csum[0] = 0.0
        out = []
        for v in values:
            if v is None:
                before = (fat - fok).astype("float64")
            else:
                ordered = np.nan_to_num(np.asarray(v, "float64")[order])
                if whole or not (ordered % 1).any():
                    np.cumsum(ordered, out=csum[1:])
                    before = csum[fat] - csum[fok]
                else:
                    running = _running_sums(ordered, k)[1]
                    before = np.where(fat > fok, running[np.maximum(fat - 1, 0)], 0.0)
            before[keyless] = 0.0
            out.append(before)
        return out

    def _earlier_in_one_pass(self, codes: np.ndarray, values, whole: bool) -> list:
        """``earlier`` for time-ordered rows: one pass in row order with a running total per key
        (the same additions, in the same order within a key, as the sorted cumulative sums).
        ``values`` may come stacked already (a float64 values x rows array of whole numbers)."""
        t = self.times()
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype == "float64" and whole:
            stacked = np.ascontiguousarray(values)
        else:
            stacked = np.empty((len(values), len(self)))
            for j, v in enumerate(values):
                stacked[j] = 1.0 if v is None else (v if whole else np.nan_to_num(np.asarray(v, "float64")))
        n_keys = int(codes.max(initial=-1)) + 1
        return list(_sums_before(codes, t, stacked, self.at(codes), self.at(t), n_keys))

    def _time_ordered(self) -> bool:
        """Rows in declaration time order, none without a time."""
        if "time_ordered" not in self._memo:
            t = self.times()
            self._memo["time_ordered"] = bool(len(t) and (t[0] != _NAT) and (t[1:] >= t[:-1]).all())
        return self._memo["time_ordered"]

    def label_rate(
        self, labels: pd.DataFrame | None, codes: np.ndarray, strength: float = 20.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``as_of_label_rate`` for the target rows, keyed by ``codes`` of every row."""
        n = self.n_targets
        if labels is None or labels.empty:
            return np.full(n, np.nan), np.zeros(n)
        lab, row, lt, lv = self.outcomes(labels)
        return label_rate_codes(
            self.at(self.times()),
            self.at(codes),
            lt[lab],
            codes[row],
            lv[lab],
            lt,
            lv,
            strength,
            self.label_prior(labels),
        )

    def outcomes(self, labels: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """(outcome position, row position) pairs as ``label_rows``, then every outcome's time
        (int64 ns) and violation (0/1)."""
        lab, row = self.label_rows(labels)
        return (lab, row, times_ns(labels["label_time"]), labels["violation"].to_numpy(dtype="float64"))

    def label_prior(self, labels: pd.DataFrame) -> np.ndarray:
        """``label_prior`` at the target rows' times (computed once)."""
        key = ("prior", id(labels))
        hit = self._memo.get(key)
        if hit is None or hit[0] is not labels:
            _, _, lt, lv = self.outcomes(labels)
            hit = (labels, label_prior(self.at(self.times()), lt, lv))
            self._memo[key] = hit
        return hit[1]

    def earlier_all(self, codes: np.ndarray, values: Sequence[np.ndarray | None], tag: str = "") -> list:
        """As ``earlier`` for every row of ``decl``, not only the target rows."""
        t = self.times()
        out = as_of_sums_of(t, np.asarray(codes, np.int64), t, np.asarray(codes, np.int64), values)
        if self.session is not None:
            part = self.session.sums("earlier_all", tag, [t], codes, t, codes, values)
            out = [a + b for a, b in zip(out, part[0], strict=True)]
        return out

    def sums_of(
        self,
        query_time: np.ndarray,
        query_key: np.ndarray,
        event_time: np.ndarray,
        event_key: np.ndarray,
        values: Sequence[np.ndarray | None],
        tag: str = "",
        whole: bool = False,
        done: list[np.ndarray] | None = None,
        outcomes: bool = False,
    ) -> list[np.ndarray]:
        """``as_of_sums_of`` of events of this frame (its rows' outcomes, words...), with the
        history's part when a feature state is in use. ``done``: the frame's sums, when the caller
        computed them already; ``outcomes``: the events are outcomes (a state can take late
        outcomes of its rows in)."""
        if done is None:
            done = as_of_sums_of(
                query_time,
                np.asarray(query_key, np.int64),
                event_time,
                np.asarray(event_key, np.int64),
                values,
                whole,
            )
        if self.session is None:
            return done
        part = self.session.sums(
            "events", tag, [query_time], query_key, event_time, event_key, values, outcomes=outcomes
        )
        return [a + b for a, b in zip(done, part[0], strict=True)]

    def window_sums(
        self, codes: np.ndarray, windows: Sequence[pd.Timedelta], tag: str = ""
    ) -> list[np.ndarray]:
        """``as_of_window_sums`` for the target rows over every row (count per key): the count
        before, then the count in each window."""
        t = self.times()
        qt = self.at(t)
        plain = np.asarray(codes, np.int64)
        out = as_of_window_sums(qt, self.at(plain), t, plain, windows)
        if self.session is not None:
            q_times = [qt, *(minus(qt, w) for w in windows)]
            keep = max(pd.Timedelta(w).value for w in windows)
            part = self.session.sums("window", tag, q_times, self.at(codes), t, codes, [None], window=keep)
            before, *starts = (p[0] for p in part)
            out = [out[0] + before, *(o + before - s for o, s in zip(out[1:], starts, strict=True))]
        return out

    def first_times(self, codes: np.ndarray, tag: str = "") -> np.ndarray:
        """Time (int64 ns) of each key's first row, for every code (a slot past the last code:
        none, int64 max); with the history's when a feature state is in use."""
        latest = np.iinfo(np.int64).max
        plain = np.asarray(codes, np.int64)
        t = self.times()
        first = np.full(int(plain.max(initial=-1)) + 2, latest)
        seen = (plain >= 0) & (t != _NAT)
        np.minimum.at(first, plain[seen], t[seen])
        if self.session is not None:
            past = self.session.first_times(codes, tag, t)
            if past is not None:
                first[: len(past)] = np.minimum(first[: len(past)], past)
        return first


def _whole(values: np.ndarray) -> bool:
    """Whole numbers or NaN only (summed exactly in any order)."""
    return not (np.nan_to_num(np.asarray(values, "float64")) % 1).any()


def _make_sums_before():
    """The merge kernel of ``sums_before_sorted`` compiled with numba (None without numba)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba ships with shap
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(e_keys, e_times, e_values, q_keys, q_times, n_keys):  # pragma: no cover - compiled
        m, ne = e_values.shape
        acc = np.zeros((max(n_keys, 1), m))
        out = np.zeros((m, len(q_keys)))
        j = 0
        for a in range(len(q_keys)):
            while j < ne and e_times[j] < q_times[a]:
                k = e_keys[j]
                if k >= 0:
                    for c in range(m):
                        acc[k, c] += e_values[c, j]
                j += 1
            k = q_keys[a]
            if k >= 0:
                for c in range(m):
                    out[c, a] = acc[k, c]
        return out

    return kernel


_sums_before = _make_sums_before()


def sums_before_sorted(
    query_time: np.ndarray,
    query_key: np.ndarray,
    event_time: np.ndarray,
    event_key: np.ndarray,
    event_values: Sequence[np.ndarray | None],
) -> list[np.ndarray] | None:
    """``as_of_sums_of`` in one merge pass, for whole-number values (None: count; never NaN) and
    ascending times on both sides (no NaT); keys are codes (-1: none). A running total per key
    adds the events in their order, so the sums are the same exact whole numbers. None when the
    kernel is unavailable or the times are not in order (the caller falls back)."""
    qt, et = np.asarray(query_time, np.int64), np.asarray(event_time, np.int64)
    if _sums_before is None or not _ascending(qt) or not _ascending(et):
        return None
    if (len(qt) and qt[0] == _NAT) or (len(et) and et[0] == _NAT):
        return None
    qk, ek = np.asarray(query_key, np.int64), np.asarray(event_key, np.int64)
    stacked = np.empty((len(event_values), len(et)))
    for j, v in enumerate(event_values):
        stacked[j] = 1.0 if v is None else v
    n_keys = max(int(qk.max(initial=-1)), int(ek.max(initial=-1))) + 1
    return list(_sums_before(ek, et, stacked, qk, qt, n_keys))


def _ascending(t: np.ndarray) -> bool:
    return bool((t[1:] >= t[:-1]).all())


def _block_sums(
    values: Sequence[np.ndarray], order: np.ndarray, fat: np.ndarray, fok: np.ndarray, keyless: np.ndarray
) -> list[np.ndarray]:
    """``Rows.earlier``'s sums of whole-number values (never NaN), several columns at a time: one
    row gather and one cumulative sum per block (the same exact sums as one value at a time)."""
    out: list[np.ndarray] = []
    width = 6
    for start in range(0, len(values), width):
        block = np.column_stack([np.asarray(v, "float64") for v in values[start : start + width]])
        ordered = block[order]  # whole numbers: no NaN to clear
        del block
        csum = np.empty((len(order) + 1, ordered.shape[1]))
        csum[0] = 0.0
        np.cumsum(ordered, axis=0, out=csum[1:])
        del ordered
        before = csum[fat] - csum[fok]
        del csum
        before[keyless] = 0.0
        out += [np.ascontiguousarray(before[:, j]) for j in range(before.shape[1])]
    return out


def rows_of(decl: pd.DataFrame, ctx: FeatureContext) -> Rows:
    """The builder's prepared rows when ``decl`` is the frame it prepared, else fresh ones."""
    rows = ctx.rows
    return rows if rows is not None and rows.decl is decl else Rows(decl)


def recode(codes: np.ndarray, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into one value per code, re-coded so equal values share a code (NaN: -1)."""
    merged, uniques = pd.factorize(pd.Series(values).reset_index(drop=True))
    table = np.append(merged.astype(np.int64), -1)  # code -1 picks the last entry
    return table[codes], np.asarray(uniques, dtype=object)


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of the pairs of two code arrays (-1 where either is -1)."""
    ha, hb = getattr(a, "hashes", None), getattr(b, "hashes", None)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    width = int(b.max(initial=-1)) + 2
    combined = np.where((a < 0) | (b < 0), -1, a * width + b)
    codes, uniques = pd.factorize(combined)
    codes = codes.astype(np.int64)
    codes = np.where(combined < 0, -1, codes) if (combined < 0).any() else codes
    if ha is None or hb is None:
        return codes
    # the pair's key: its two keys' hashes, mixed (the same pair hashes alike in any frame)
    uniques = np.asarray(uniques, np.int64)
    ok = uniques >= 0
    ua, ub = np.where(ok, uniques // width, 0), np.where(ok, uniques % width, 0)
    with np.errstate(over="ignore"):
        mixed = ha[ua] * np.uint64(0x100000001B3) ^ (hb[ub] + np.uint64(0x9E3779B97F4A7C15))
    out = codes.view(Keyed)
    h = pd.util.hash_array(mixed)
    out.hashes = np.where(ok, np.where(h == 0, np.uint64(1), h), np.uint64(0))
    return out


def match_positions(values: pd.Series, universe: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(position in values, position in universe) for every pair of equal non-missing values.

    As an inner join, duplicates on either side included; pairs come in universe order. The
    hash table is built on the distinct ``values`` (the outcomes, few), the ``universe`` (the
    declarations, many) only probes it.
    """
    import pyarrow.compute as pc

    codes, uniques = pd.factorize(pd.Series(values))
    if not len(uniques):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    found = pc.index_in(_arrow_text(universe), value_set=_arrow_text(pd.Series(uniques)), skip_nulls=True)
    found = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.flatnonzero(found >= 0)
    distinct = found[rows]
    # the values of each distinct one, as slices of one array
    has = np.flatnonzero(codes >= 0)
    by_value = has[np.argsort(codes[has], kind="stable")]
    count = np.bincount(codes[has], minlength=len(uniques))
    start = np.cumsum(count) - count
    k = count[distinct]
    pair = np.repeat(np.arange(len(rows)), k)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(k) - k, k)
    return by_value[start[distinct][pair] + offset], rows[pair]


def is_member(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Which ``values`` occur in ``universe``, compared as text (missing: never)."""
    import pyarrow.compute as pc

    if not len(values):
        return np.zeros(0, dtype=bool)
    found = pc.is_in(_arrow_text(values), value_set=_arrow_text(universe), skip_nulls=True)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _arrow_text(values: pd.Series):
    """A column as an Arrow large_string array (values compared as text)."""
    import pyarrow as pa

    s = pd.Series(values)
    try:
        arr = pa.array(s, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(_key(s).to_numpy(dtype=object), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.array(_key(s).to_numpy(dtype=object), from_pandas=True)
    return arr.cast(pa.large_string())


# ---------------------------------------------------------------- point-in-time primitives
def as_of_sum(
    query_time: pd.Series,
    query_key: pd.Series | None,
    event_time: pd.Series,
    event_key: pd.Series | None,
    event_value: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """For each query, the sum of ``event_value`` over events of the same key strictly before it.

    With no key, all events count. With no value, events are counted. Missing keys, times or
    values count for nothing. Keys compare as text. Aligned by position, not by index.
    """
    if len(query_time) == 0:
        return np.zeros(0)
    qk, ek = (None, None) if query_key is None else _joint_codes(query_key, event_key)
    return as_of_sums([times_ns(query_time)], qk, times_ns(event_time), ek, event_value)[0]


def as_of_sums(
    query_times: Sequence[np.ndarray],
    query_key: np.ndarray | None,
    event_time: np.ndarray,
    event_key: np.ndarray | None,
    event_value: np.ndarray | pd.Series | None = None,
) -> list[np.ndarray]:
    """``as_of_sum`` on integers, for several query times over the same events.

    Times are int64 nanoseconds (int64 min: missing), keys are codes of one key space (-1:
    missing; None: no key). Returns one array of sums per entry of ``query_times``. Only
    events that can precede a query of their key are kept; they are sorted once by (key,
    time) and each query finds its place by binary search (an event at exactly the query's
    time does not count). Sums run per key, so other keys' rows never change a key's sums.
    """
    return [sums[0] for sums in _as_of(query_times, query_key, event_time, event_key, [event_value])]


def as_of_sums_of(
    query_time: np.ndarray,
    query_key: np.ndarray | None,
    event_time: np.ndarray,
    event_key: np.ndarray | None,
    event_values: Sequence[np.ndarray | None],
    whole: bool = False,
) -> list[np.ndarray]:
    """``as_of_sums`` of several event values (None: count) at one set of query times.

    ``whole``: the caller promises whole numbers, never NaN (summed exactly in any order),
    which spares checking and clearing them."""
    return _as_of([query_time], query_key, event_time, event_key, list(event_values), whole)[0]


def _as_of(query_times, query_key, event_time, event_key, values, whole=False) -> list[list[np.ndarray]]:
    """The sums of each of ``values`` (None: count) at each of ``query_times``."""
    nq, ne = len(query_times[0]), len(event_time)
    outs = [[np.zeros(nq) for _ in values] for _ in query_times]
    if nq == 0 or ne == 0:
        return outs
    keyless = query_key is None
    qk = np.zeros(nq, np.int64) if keyless else np.asarray(query_key, np.int64)
    ek = np.zeros(ne, np.int64) if keyless else np.asarray(event_key, np.int64)
    qts = [np.asarray(t, np.int64) for t in query_times]
    event_time = np.asarray(event_time, np.int64)
    valid = [(qk >= 0) & (t != _NAT) for t in qts]
    if not any(v.any() for v in valid):
        return outs
    size = int(max(qk.max(), ek.max())) + 1
    wanted = np.zeros(size + 1, dtype=bool)  # the extra slot stands for missing keys
    for v in valid:
        wanted[qk[v]] = True
    # only events that can precede a query of their key, and add something, matter
    latest = max(int(t[v].max()) for t, v in zip(qts, valid, strict=True) if v.any())
    keep = wanted[ek] & (event_time > _NAT) & (event_time < latest)
    values = [None if v is None else np.asarray(v, dtype="float64") for v in values]
    if all(v is not None for v in values) and not whole:
        keep &= np.logical_or.reduce([(v != 0) & ~np.isnan(v) for v in values])
    if not keep.any():
        return outs
    dense = np.cumsum(wanted) - 1  # keys asked for, renumbered 0..k-1
    n_keys = int(dense[-1] + 1)
    e_k, e_t = dense[ek[keep]], event_time[keep]
    e_vs = [None if v is None else (v[keep] if whole else np.nan_to_num(v[keep], nan=0.0)) for v in values]
    q_k = dense[np.where(qk >= 0, qk, size)]
    t0 = min(int(e_t.min()), *(int(t[v].min()) for t, v in zip(qts, valid, strict=True) if v.any()))
    unit = _time_unit(e_t - t0, *[t[v] - t0 for t, v in zip(qts, valid, strict=True)])
    t_bits = ((latest - t0) // unit).bit_length() + 1
    if n_keys.bit_length() + t_bits > 62:
        per_value = [
            _as_of_sums_lexsort(qts, valid, q_k, e_t, e_k, np.ones(len(e_k)) if e_v is None else e_v)
            for e_v in e_vs
        ]
        return [list(sums) for sums in zip(*per_value, strict=True)]
    composite = (e_k << t_bits) | (((e_t - t0) // unit) << 1) | 1
    order = _key_time_order(e_k, e_t, composite, n_keys)
    composite = composite[order]
    key_start = np.searchsorted(composite, np.arange(n_keys + 1) << t_bits)
    running = [
        (True, np.arange(len(order) + 1, dtype="float64"))
        if v is None
        else ((True, _cumsum0(e_v[order])) if whole else _running_sums(e_v[order], composite >> t_bits))
        for v, e_v in zip(values, e_vs, strict=True)
    ]
    for out, t, v in zip(outs, qts, valid, strict=True):
        k, qt = q_k[v], t[v]
        wanted_at = (k << t_bits) | (((qt - t0) // unit) << 1)
        q_order = _key_time_order(k, qt, wanted_at, n_keys)
        at = np.empty(len(k), np.int64)
        at[q_order] = np.searchsorted(composite, wanted_at[q_order])  # sorted: a merge
        start = key_start[k]
        for j, (whole, csum) in enumerate(running):
            if whole:
                out[j][v] = csum[at] - csum[start]
            else:
                out[j][v] = np.where(at > start, csum[np.maximum(at - 1, 0)], 0.0)
    return outs


def _cumsum0(values: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading 0."""
    out = np.empty(len(values) + 1)
    out[0] = 0.0
    np.cumsum(values, out=out[1:])
    return out


def _running_sums(values: np.ndarray, keys: np.ndarray) -> tuple[bool, np.ndarray]:
    """Running totals of values sorted by key: (whole numbers?, totals).

    Whole numbers add up exactly, so one cumulative sum (with a leading 0) serves every key;
    other values are summed per key, so that a key's sums never depend on other keys' values.
    """
    if not (values % 1).any():
        return True, np.concatenate([[0.0], np.cumsum(values)])
    return False, pd.Series(values).groupby(keys, sort=False).cumsum().to_numpy()


def _key_time_order(keys: np.ndarray, times: np.ndarray, composite: np.ndarray, n_keys: int) -> np.ndarray:
    """Stable order by (key, time): a radix sort of the keys when the times are already in order
    (rows of a frame sorted by time), else a sort of the composite (key, time) integers."""
    if n_keys <= 1 << 16 and len(times) > 1 and (times[1:] >= times[:-1]).all():
        return _stable_order(keys, n_keys)
    return np.argsort(composite, kind="stable")


def _time_unit(*offsets: np.ndarray) -> int:
    """The coarsest of second, millisecond, microsecond, nanosecond dividing every offset."""
    for unit in (1_000_000_000, 1_000_000, 1_000):
        if all(not (o % unit).any() for o in offsets):
            return unit
    return 1


def _as_of_sums_lexsort(qts, valid, q_k, e_t, e_k, e_v) -> list[np.ndarray]:
    """The sums of one value at each query time, queries and events sorted together (for keys
    or times too wide for one integer)."""
    outs = []
    for t, v in zip(qts, valid, strict=True):
        out = np.zeros(len(t))
        nq = int(v.sum())
        keys = np.concatenate([q_k[v], e_k])
        times = np.concatenate([t[v], e_t])
        is_event = np.concatenate([np.zeros(nq, np.int8), np.ones(len(e_t), np.int8)])
        values = np.concatenate([np.zeros(nq), e_v])
        order = np.lexsort((is_event, times, keys))
        # per key running totals; a query's own value is 0, so its total is what came before
        running = pd.Series(values[order]).groupby(keys[order], sort=False).cumsum()
        before = np.empty(len(keys))
        before[order] = running.to_numpy()
        out[v] = before[:nq]
        outs.append(out)
    return outs


def times_ns(t) -> np.ndarray:
    """Datetimes as int64 nanoseconds (NaT as int64 min)."""
    if isinstance(t, np.ndarray) and t.dtype == np.dtype("datetime64[ns]"):
        return t.view("int64")
    values = pd.to_datetime(pd.Series(t)).to_numpy(dtype="datetime64[ns]")
    return values.view("int64")


def _joint_codes(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Codes of two key columns in one key space, compared as text."""
    both = pd.concat([_key(a), _key(b)], ignore_index=True)
    codes = both.factorize()[0].astype(np.int64)
    return codes[: len(a)], codes[len(a) :]


def as_of_window_sum(
    query_time: pd.Series,
    query_key: pd.Series | None,
    event_time: pd.Series,
    event_key: pd.Series | None,
    window: pd.Timedelta,
    event_value=None,
) -> np.ndarray:
    """Sum over events of the same key in ``[t - window, t)``."""
    if len(query_time) == 0:
        return np.zeros(0)
    qk, ek = (None, None) if query_key is None else _joint_codes(query_key, event_key)
    return as_of_window_sums(times_ns(query_time), qk, times_ns(event_time), ek, [window], event_value)[1]


def as_of_window_sums(
    query_time: np.ndarray,
    query_key: np.ndarray | None,
    event_time: np.ndarray,
    event_key: np.ndarray | None,
    windows: Sequence[pd.Timedelta],
    event_value=None,
) -> list[np.ndarray]:
    """The sum before each query, then the sum in each window: ``as_of_sums`` at once.

    Events exactly at ``t - window`` belong to the window (the sum before ``t - window``
    excludes them).
    """
    qt = np.asarray(query_time, np.int64)
    starts = [minus(qt, w) for w in windows]
    upto, *before = as_of_sums([qt, *starts], query_key, event_time, event_key, event_value)
    return [upto, *(upto - b for b in before)]


def minus(times: np.ndarray, window: pd.Timedelta) -> np.ndarray:
    """Integer times moved back by ``window`` (missing times stay missing)."""
    return np.where(times == _NAT, _NAT, times - pd.Timedelta(window).value)


def smoothed_rate(
    hits: np.ndarray, n: np.ndarray, prior: np.ndarray | float, strength: float = 20.0
) -> np.ndarray:
    """Bayesian-smoothed rate: ``(hits + strength * prior) / (n + strength)``."""
    return (np.asarray(hits, float) + strength * np.asarray(prior, float)) / (np.asarray(n, float) + strength)


def as_of_label_rate(
    decl: pd.DataFrame, labels: pd.DataFrame | None, key: str, strength: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed violation rate of ``decl[key]`` from outcomes recorded strictly before each row.

    ``labels`` has declaration_id, label_time and violation. Returns (rate, labelled count).
    The prior is the overall violation rate known at the same time.
    """
    n = len(decl)
    if labels is None or labels.empty or key not in decl.columns:
        return np.full(n, np.nan), np.zeros(n)
    lab, row = match_positions(labels["declaration_id"], decl["declaration_id"])
    qk, ek = _joint_codes(decl[key], decl[key].iloc[row])
    lt = times_ns(labels["label_time"])
    lv = labels["violation"].to_numpy(dtype="float64")
    return label_rate_codes(times_ns(decl["declared_at"]), qk, lt[lab], ek, lv[lab], lt, lv, strength)


def label_rate_codes(
    query_time: np.ndarray,
    query_key: np.ndarray,
    event_time: np.ndarray,
    event_key: np.ndarray,
    violation: np.ndarray,
    all_time: np.ndarray,
    all_violation: np.ndarray,
    strength: float = 20.0,
    prior: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed as-of violation rate on integers: keyed outcome events and all outcomes.

    ``prior`` (``label_prior`` at the query times) may be given when already known.
    """
    hits, count = as_of_sums_of(query_time, query_key, event_time, event_key, [violation, None])
    if prior is None:
        prior = label_prior(query_time, all_time, all_violation)
    return smoothed_rate(hits, count, prior, strength), count


def label_prior(query_time: np.ndarray, time: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """The overall violation rate known before each query time, lightly smoothed."""
    all_hits, all_n = as_of_sums_of(query_time, None, time, None, [violation, None])
    return np.where(all_n > 0, (all_hits + 1.0) / (all_n + 30.0), 1.0 / 30.0)


def _key(s: pd.Series | None) -> pd.Series:
    s = pd.Series(s)
    return s.astype("str").where(s.notna())


def month_start(t: pd.Series) -> pd.Series:
    return pd.to_datetime(t).dt.to_period("M").dt.start_time


def as_of_monthly_stats(
    values: pd.Series,
    group: pd.Series,
    time: pd.Series,
    stats: tuple[str, ...] = ("median",),
    queries: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-group statistics of ``values`` over all rows before the start of each row's month.

    Medians and quantiles cannot be accumulated row by row cheaply; a month-close snapshot
    keeps them strictly in the past (a row never sees its own month). Loops over the months
    asked about, not rows. Returns one row per input row (or per row of the boolean mask
    ``queries``) with one column per statistic, plus ``n``.
    """
    codes = pd.factorize(_key(group))[0].astype(np.int64)
    qpos = np.arange(len(values)) if queries is None else np.flatnonzero(queries)
    table = monthly_stats_codes(np.asarray(values, dtype="float64"), codes, months(time), stats, qpos)
    return pd.DataFrame(table, index=values.index[qpos], columns=[*stats, "n"])


def months(time) -> np.ndarray:
    """Calendar month of each (wall-clock) time as an integer (int64 min: missing)."""
    t = pd.to_datetime(pd.Series(time))
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_localize(None)
    return t.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").view("int64")


def monthly_stats_codes(
    values: np.ndarray, group: np.ndarray, month: np.ndarray, stats: Sequence[str], queries: np.ndarray
) -> np.ndarray:
    """``as_of_monthly_stats`` on arrays, for the rows at positions ``queries``.

    Values are sorted by (group, value) once; each month asked about keeps the rows of earlier
    months (still in that order) and reads medians and quantiles at computed positions, as
    pandas' groupby median and linear quantile do.
    """
    out = np.full((len(queries), len(stats) + 1), np.nan)
    q_month, q_group = month[queries], group[queries]
    asked = (q_month != _NAT) & (q_group >= 0)
    if not asked.any():
        return out
    size = int(group.max()) + 1
    wanted = np.zeros(size + 1, dtype=bool)  # the extra slot stands for missing groups
    wanted[q_group[asked]] = True
    # rows that some month asked about can see: a wanted group, before the last month asked
    valid = ~np.isnan(values) & wanted[group] & (month != _NAT) & (month < q_month[asked].max())
    if not valid.any():
        return out
    v, g, m = values[valid], group[valid], month[valid]
    order = np.argsort(v)  # then stably by group: by (group, value)
    order = order[_stable_order(g[order], size)]
    v, g, m = v[order], g[order], m[order]
    for this in np.unique(q_month[asked]):
        past = m < this
        if not past.any():
            continue
        pv, pg = v[past], g[past]
        count = np.bincount(pg, minlength=size)
        start = np.cumsum(count) - count
        rows = np.flatnonzero(asked & (q_month == this))
        n = count[q_group[rows]]
        rows, first, n = rows[n > 0], start[q_group[rows]][n > 0], n[n > 0]
        for j, stat in enumerate(stats):
            out[rows, j] = _group_stat(pv, pg, first, n, stat, q_group[rows])
        out[rows, -1] = n
    return out


def _stable_order(keys: np.ndarray, size: int) -> np.ndarray:
    """Stable order of non-negative integer keys below ``size`` (a radix sort when small)."""
    if size <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def _group_stat(
    v: np.ndarray, g: np.ndarray, first: np.ndarray, n: np.ndarray, stat: str, groups: np.ndarray
) -> np.ndarray:
    """One statistic per asked group from values sorted by (group, value)."""
    if stat == "median":
        lo, hi = v[first + (n - 1) // 2], v[first + n // 2]
        return np.where(n % 2 == 1, lo, (lo + hi) / 2)
    if stat.startswith("q"):  # q25, q75 ...: linear interpolation
        h = float(stat[1:]) / 100 * (n - 1)
        below = np.floor(h).astype(np.int64)
        frac = h % 1
        lo, hi = v[first + below], v[first + np.minimum(below + 1, n - 1)]
        with np.errstate(invalid="ignore"):
            return np.where(frac == 0.0, lo, lo + (hi - lo) * frac)
    agg = pd.Series(v).groupby(g).agg(stat)
    return agg.reindex(groups).to_numpy(dtype="float64")


# ---------------------------------------------------------------- what is usual, learned from history
HS_LEVELS = (10, 8, 6, 4, 2)  # commodity code digits, narrowest first
SHRINK_ROWS = 5.0  # a level's own rows weigh against this many rows' worth of the broader level
LANE_SHRINK_ROWS = 2.0  # an exporter's lane against the code's usual
LANE_LOG_SD = 0.3  # a lane's spread is shrunk toward the code's, but no wider than this
PRIOR_ROWS = 5.0  # the reference profile counts as this many earlier declarations of its HS6
DEFAULT_LOG_SD = 0.7  # spread assumed before any history (natural log units)
LOG_SD_MIN = 0.05  # no learned spread is narrower than ~5%


def hs_level_codes(rows: Rows, digits: int) -> np.ndarray:
    """Codes of the declared commodity code cut to ``digits`` digits, for every row; -1 where the
    declared code has fewer digits (a 6-digit code has no 8- or 10-digit level)."""

    def cut(codes: pd.Series) -> pd.Series:
        text = codes.str.replace(r"\D", "", regex=True)
        return text.str[:digits].where(text.str.len() >= digits)

    return rows.codes("hs_code", cut, name=f"hs_level{digits}")


def own_code_codes(rows: Rows) -> np.ndarray:
    """Codes of the declared commodity code as given (digits only), for every row."""
    return rows.codes(
        "hs_code", lambda c: c.str.replace(r"\D", "", regex=True).where(lambda s: s != ""), "hs_own"
    )


@dataclass
class Usual:
    """What is usual for a quantity (natural log scale) at the target rows, learned from history.

    ``mean``/``sd``: the shrunk estimate and spread; ``n_code``: earlier declarations of the
    declared code itself with the quantity; ``n_hs6``: of its HS6; ``level``: the narrowest
    level (digits) that had earlier rows (0: only the overall history or the prior).
    """

    mean: np.ndarray
    sd: np.ndarray
    n_code: np.ndarray
    n_hs6: np.ndarray
    level: np.ndarray

    def z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (x - self.mean) / self.sd


LOG_STEPS = 1024.0  # logs are summed as whole multiples of 1/1024 (exact, order-free sums)
LOG_LIMIT = 40.0


def _moment_values(measures: list[np.ndarray]) -> list[np.ndarray]:
    """Per measure: present (0/1), the log in whole steps of 1/``LOG_STEPS``, and its square.

    Whole numbers add up exactly in any order (below 2^53), so running sums are one cumulative
    sum, and the same whichever rows are described; the rounding (0.1% of a ratio) is far
    below anything a feature distinguishes.
    """
    values: list[np.ndarray] = []
    for x in measures:
        x = np.asarray(x, dtype="float64")
        ok = ~np.isnan(x)
        q = np.where(ok, np.rint(np.clip(x, -LOG_LIMIT, LOG_LIMIT) * LOG_STEPS), 0.0)
        values += [ok.astype("float64"), q, q**2]
    return values


def _moments(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of the logs from count, sum and sum of squares of their
    whole steps; NaN where n is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 0, np.maximum(ss / n - mean**2, 0.0), np.nan)
    return mean / LOG_STEPS, var / LOG_STEPS**2


def _shrink(n, mean, var, parent_mean, parent_var, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes step: ``(n * level + k * parent) / (n + k)`` for mean and variance; the
    parent where the level has no rows, the level (variance shrunk toward the default) where the
    parent is unknown."""
    default = DEFAULT_LOG_SD**2
    has = n > 0
    orphan = has & np.isnan(parent_mean)
    pm = np.where(orphan, 0.0, parent_mean)
    pv = np.where(np.isnan(parent_var), default, parent_var)
    with np.errstate(invalid="ignore"):
        m = np.where(has, (n * np.nan_to_num(mean) + k * pm) / (n + k), parent_mean)
        v = np.where(has, (n * np.nan_to_num(var) + k * pv) / (n + k), parent_var)
    m = np.where(orphan, mean, m)
    return m, v


def usual_by_code(
    rows: Rows,
    measures: dict[str, np.ndarray],
    priors: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    labels: pd.DataFrame | None = None,
) -> dict[str, Usual]:
    """What is usual for each measure (log values of every row, NaN: not given) under the
    declared code, from the rows declared strictly before each target row.

    The overall history is the root; each code level (2, 4, 6, 8, 10 digits) pulls the
    estimate toward its own earlier rows by empirical-Bayes shrinkage,
    ``(n * level + SHRINK_ROWS * broader) / (n + SHRINK_ROWS)`` for the mean and variance of the
    logs, so a code with few rows leans on its heading and chapter. ``priors`` (per measure,
    (log mean, log sd) of the target rows' HS6 from a reference table, NaN when none) count as
    ``PRIOR_ROWS`` declarations at the HS6 level: a weak prior that history soon outweighs.
    Declarations already found violating (``labels``: outcomes recorded before the target row)
    are left out of what is normal.
    """
    priors = priors or {}
    names = list(measures)
    values = np.stack(_moment_values([measures[name] for name in names]))  # shared by every level
    found = known_violations(rows, labels)
    tag = "usual:" + ",".join(names)
    root = _earlier_normal(rows, np.zeros(len(rows), np.int64), values, found, f"{tag}:root")
    est = {}
    for j, name in enumerate(names):
        n, s, ss = root[3 * j : 3 * j + 3]
        mean, var = _moments(n, s, ss)
        est[name] = _shrink(n, mean, var, np.full(len(n), np.nan), np.full(len(n), np.nan), SHRINK_ROWS)
    level = {name: np.zeros(rows.n_targets) for name in names}
    n_hs6 = {name: np.zeros(rows.n_targets) for name in names}
    own = _earlier_normal(rows, own_code_codes(rows), values[0::3], found, f"{tag}:own")
    broader = {name: root[3 * j] for j, name in enumerate(names)}  # rows of the broader level
    for digits in reversed(HS_LEVELS):
        codes = hs_level_codes(rows, digits)
        sums = _earlier_normal(rows, codes, values, found, f"{tag}:hs{digits}")
        at = rows.at(codes)
        for j, name in enumerate(names):
            n, s, ss = (a.copy() for a in sums[3 * j : 3 * j + 3])
            n[at < 0] = 0.0
            # a level holding exactly the broader level's rows adds nothing (no double counting),
            # unless the prior joins them there
            same = n == broader[name]
            broader[name] = n.copy()
            has = np.zeros(len(n), dtype=bool)
            if digits == 6:
                n_hs6[name] = n.copy()
                if name in priors:
                    pm, psd = (np.asarray(a, dtype="float64") for a in priors[name])
                    has = ~np.isnan(pm) & (at >= 0)
                    psd = np.where(np.isnan(psd), DEFAULT_LOG_SD, psd)
                    pm, psd = np.nan_to_num(pm) * LOG_STEPS, psd * LOG_STEPS
                    n = n + np.where(has, PRIOR_ROWS, 0.0)
                    s = s + np.where(has, PRIOR_ROWS * pm, 0.0)
                    ss = ss + np.where(has, PRIOR_ROWS * (pm**2 + psd**2), 0.0)
            skip = same & ~has
            n[skip], s[skip], ss[skip] = 0.0, 0.0, 0.0
            mean, var = _moments(n, s, ss)
            est[name] = _shrink(n, mean, var, *est[name], SHRINK_ROWS)
            level[name] = np.where(n > 0, digits, level[name])
    out = {}
    for j, name in enumerate(names):
        mean, var = est[name]
        sd = np.maximum(np.sqrt(var), LOG_SD_MIN)
        out[name] = Usual(mean, sd, own[j], n_hs6[name], level[name])
    return out


def usual_in_lane(
    rows: Rows,
    lane: np.ndarray,
    measures: dict[str, np.ndarray],
    usual: dict[str, Usual],
    labels: pd.DataFrame | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per measure, (mean, sd, count) of the lane's own earlier rows (``lane``: codes of every
    row, e.g. exporter x code), shrunk toward the code's usual by ``LANE_SHRINK_ROWS`` (the spread
    toward the code's, capped at ``LANE_LOG_SD``: one trader's habits vary less than a whole
    code's); mean and sd are NaN where the lane has no earlier row with the measure (no record
    is not a record). Declarations found violating before the row are left out, as in
    ``usual_by_code``."""
    names = list(measures)
    values = np.stack(_moment_values([measures[name] for name in names]))
    tag = "lane:" + ",".join(names)
    sums = _earlier_normal(rows, lane, values, known_violations(rows, labels), tag)
    at = rows.at(lane)
    out = {}
    for j, name in enumerate(names):
        n, s, ss = sums[3 * j : 3 * j + 3]
        n = np.where(at >= 0, n, 0.0)
        mean, var = _moments(n, s, ss)
        u = usual[name]
        m, v = _shrink(n, mean, var, u.mean, np.minimum(u.sd**2, LANE_LOG_SD**2), LANE_SHRINK_ROWS)
        none = n == 0
        out[name] = (
            np.where(none, np.nan, m),
            np.where(none, np.nan, np.maximum(np.sqrt(v), LOG_SD_MIN)),
            n,
        )
    return out


def known_violations(rows: Rows, labels: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(row position, time the violation became known) of each row found violating, once per
    row (its earliest violation outcome); None without outcomes."""
    if labels is None or labels.empty:
        return None
    lab, row, lt, lv = rows.outcomes(labels)
    bad = (lv[lab] == 1) & (lt[lab] != _NAT)
    r, t = row[bad], lt[lab][bad]
    order = np.lexsort((t, r))
    r, t = r[order], t[order]
    first = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, dtype=bool)
    return r[first], t[first]


def _earlier_normal(
    rows: Rows,
    codes: np.ndarray,
    values: list[np.ndarray],
    found: tuple[np.ndarray, np.ndarray] | None,
    tag: str = "",
) -> list[np.ndarray]:
    """``rows.earlier`` of whole-number values, less the rows found violating before each target
    row (a row leaves what is normal from the moment its violation is known)."""
    sums = rows.earlier(codes, values, whole=True, tag=tag)
    if found is None or (not len(found[0]) and rows.session is None):
        return sums
    r, t = found
    qt, qk = rows.at(rows.times()), rows.at(codes)
    by_time = np.argsort(t, kind="stable")
    r, t = r[by_time], t[by_time]
    events = [v[r] for v in values]
    plain, plain_q = np.asarray(codes, np.int64)[r], np.asarray(qk, np.int64)
    removed = sums_before_sorted(qt, plain_q, t, plain, events)
    if removed is None:
        removed = as_of_sums_of(qt, plain_q, t, plain, events, True)
    removed = rows.sums_of(qt, qk, t, codes[r], events, tag=f"{tag}:found", done=removed, outcomes=True)
    return [a - b for a, b in zip(sums, removed, strict=True)]


def track_record(
    rows: Rows, labels: pd.DataFrame | None, codes: np.ndarray, strength: float = 20.0, tag: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inspections, violations, smoothed violation rate) of each target row's key (``codes`` of
    every row) from outcomes recorded strictly before the row's declaration.

    The rate is shrunk toward the overall rate known at the time by ``strength`` outcomes, and
    is NaN where the key has no earlier outcome: never inspected is no record, not a clean one.
    """
    n = rows.n_targets
    if labels is None or labels.empty:
        return np.zeros(n), np.zeros(n), np.full(n, np.nan)
    lab, row, lt, lv = rows.outcomes(labels)
    hits, count = rows.sums_of(
        rows.at(rows.times()),
        rows.at(codes),
        lt[lab],
        codes[row],
        [lv[lab], None],
        tag=f"track_record:{tag}",
        outcomes=True,
    )
    rate = smoothed_rate(hits, count, rows.label_prior(labels), strength)
    return count, hits, np.where(count > 0, rate, np.nan)


def ratio_text(ratio: np.ndarray) -> pd.Series:
    """'12x' for ratios of 1 or more, '1/12 of' below, 'about' within 5% (NaN: empty); formatted
    once per distinct rounding."""
    ratio = np.asarray(ratio, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.where(ratio >= 1, np.round(ratio, 1), np.round(1 / ratio, 1))
    shown = np.where(shown >= 10, np.rint(shown), shown)
    uniq, inverse = np.unique(np.nan_to_num(shown, nan=-1.0), return_inverse=True)
    texts = pd.Series(
        [f"{x:,.4g}x" for x in uniq] + [f"1/{x:,.4g} of" for x in uniq] + [None, "about"], dtype=object
    )
    pick = np.where(np.isnan(shown), 2 * len(uniq), np.where(ratio >= 1, inverse, len(uniq) + inverse))
    with np.errstate(invalid="ignore"):
        pick = np.where((ratio > 0.95) & (ratio < 1.05), 2 * len(uniq) + 1, pick)
    return texts.take(pick).reset_index(drop=True)


def compact(context: pd.DataFrame) -> pd.DataFrame:
    """Context columns (values for reasons, never model inputs) with float64 stored as float32:
    half the memory, and every figure a reason shows keeps its digits."""
    floats = [c for c in context.columns if context[c].dtype == "float64"]
    return context.astype(dict.fromkeys(floats, "float32")) if floats else context
