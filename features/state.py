"""The feature state: everything a day's features need from the history, as accumulators per key.

The families never read the history directly: every history-based value goes through a ``Rows``
primitive (``earlier``, ``earlier_all``, ``sums_of``, ``window_sums``, ``first_times``, and
``track_record`` / ``usual_by_code`` / ``usual_in_lane`` built on them), whose keys are codes that
know the hash of the key each stands for (``features.base.Keyed``). A ``Session`` attached to the
prepared rows does two things with every such call:

- it adds the history's part, read from the state by key hash (the sums of every event of the
  history, strictly before any row of the frame), to what the frame's own rows give; so the
  frame can be the day alone, and rows of the same day still count for each other in time order;
- it records the frame's events (key hash, time, values), which ``commit`` folds into the state.

The same family code therefore runs in two modes: full point-in-time recomputation over history
and target rows (training), or the day against the state (scoring). Building the state from
scratch is the same fold, a slice of the history at a time in time order (``build``): each
slice is described against the state of the slices before it and its events are folded in.

An accumulator keeps per key the totals of the events up to its cut (the last time folded in;
for window sums, that time less the window), and the later events one by one: outcomes recorded
after the last declaration (an inspection dated after it) and the window's recent rows.

Pure: no file I/O (``pipelines.feature_state`` stores and loads it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from features.base import FeatureContext, Rows, key_hashes, times_ns

STATE_VERSION = 1
_NAT = np.iinfo(np.int64).min
_LATEST = np.iinfo(np.int64).max

# which reference tables each family's accumulators are computed from (a change of one of them
# means that family's accumulators are rebuilt; the others are kept)
REFERENCE_OF_FAMILY: dict[str, tuple[str, ...]] = {
    "hs_mismatch": ("hs_profiles",),
    "license": ("licenses", "hs_profiles"),
    "routing": (),
    "density": (),
    "behaviour": (),
    "ownership": (),
}


class StateMismatch(ValueError):
    """The state cannot describe these rows (they are not all after it, or it is of another
    version)."""


# ---------------------------------------------------------------- accumulators
@dataclass
class Accumulator:
    """Per key (sorted uint64 hashes): totals of the events up to ``cut``, and the later events
    one by one (``tail_*``). ``kind`` "sum" adds values; "first" keeps the earliest time."""

    kind: str
    m: int  # values per event
    window: int = 0  # ns of events behind the end kept one by one (window sums)
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    totals: np.ndarray | None = None  # (n_keys, m) float64; "first": (n_keys,) int64
    tail_t: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tail_k: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    tail_v: np.ndarray | None = None  # (n_tail, m)

    _tail: tuple | None = field(default=None, repr=False, compare=False)  # the recent events, indexed

    def __post_init__(self) -> None:
        if self.totals is None:
            self.totals = np.zeros(0, np.int64) if self.kind == "first" else np.zeros((0, self.m))
        if self.tail_v is None:
            self.tail_v = np.zeros((0, self.m))

    def copy(self) -> Accumulator:
        """The same accumulator (arrays shared until changed), without the tail's index."""
        return Accumulator(
            self.kind, self.m, self.window, self.keys, self.totals, self.tail_t, self.tail_k, self.tail_v
        )

    @property
    def n_keys(self) -> int:
        return len(self.keys)

    def _find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position of each hash among the keys, whether it is there)."""
        if not len(self.keys):
            return np.zeros(len(hashes), np.int64), np.zeros(len(hashes), dtype=bool)
        pos = np.searchsorted(self.keys, hashes)
        pos = np.minimum(pos, len(self.keys) - 1)
        return pos, (np.asarray(self.keys[pos]) == hashes) & (hashes != 0)

    def sums(self, hashes: np.ndarray, time: np.ndarray) -> np.ndarray:
        """(n queries, m): the sums of the key's events strictly before each query time."""
        out = np.zeros((len(hashes), self.m))
        pos, hit = self._find(hashes)
        if hit.any():
            out[hit] = np.asarray(self.totals[pos[hit]])
        if len(self.tail_t) and len(hashes):
            out += self._tail_sums(hashes, np.asarray(time, np.int64))
        return out

    def _tail_sums(self, hashes: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Sums of the recent events of each query's key strictly before its time: the events
        sorted once by (key, time) with running totals, each query found by binary search."""
        if self._tail is None or self._tail[0] != len(self.tail_t):
            order = np.lexsort((self.tail_t, self.tail_k))
            k = self.tail_k[order]
            new = np.r_[True, k[1:] != k[:-1]]
            keys, code = k[new], np.cumsum(new) - 1
            # a time's rank: how many events came strictly before it (equal times, equal ranks)
            by_time = np.argsort(self.tail_t, kind="stable")
            times = self.tail_t[by_time]
            n = len(times)
            first = np.maximum.accumulate(np.where(np.r_[True, times[1:] != times[:-1]], np.arange(n), 0))
            rank = np.empty(n, np.int64)
            rank[by_time] = first
            width = n + 1
            composite = code * width + rank[order]
            running = np.zeros((len(order) + 1, self.m))
            np.cumsum(self.tail_v[order], axis=0, out=running[1:])
            self._tail = (len(self.tail_t), keys, times, width, composite, running)
        _, keys, times, width, composite, running = self._tail
        pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
        hit = (keys[pos] == hashes) & (hashes != 0)
        start = np.searchsorted(composite, pos * width)
        # events of the key ranked before the query's time (an event at that very time does not count)
        upto = np.searchsorted(composite, pos * width + np.searchsorted(times, time))
        sums = running[upto] - running[start]
        sums[~hit] = 0.0
        return sums

    def first(self, hashes: np.ndarray) -> np.ndarray:
        """The earliest time of each key (int64 max: never seen)."""
        pos, hit = self._find(hashes)
        return np.where(hit, np.asarray(self.totals)[pos] if len(self.keys) else _LATEST, _LATEST)

    def add(self, hashes: np.ndarray, time: np.ndarray, values: np.ndarray) -> None:
        """Events of a new slice of rows (all after what is folded in already)."""
        self._tail = None
        if self.kind == "first":
            self._fold_first(hashes, time)
            return
        self.tail_t = np.concatenate([self.tail_t, time])
        self.tail_k = np.concatenate([self.tail_k, hashes])
        self.tail_v = np.concatenate([self.tail_v, values])

    def settle(self, end: int) -> None:
        """Fold the events up to the cut (``end`` less the window) into the totals."""
        self._tail = None
        if self.kind == "first" or not len(self.tail_t):
            return
        move = self.tail_t <= end - self.window
        if not move.any():
            return
        k, v = self.tail_k[move], self.tail_v[move]
        keys = np.asarray(self.keys)
        totals = np.array(self.totals, dtype="float64").reshape(-1, self.m)
        # events of keys already there: summed per key position (no sort); new keys: inserted
        pos = np.minimum(np.searchsorted(keys, k), max(len(keys) - 1, 0))
        there = (keys[pos] == k) if len(keys) else np.zeros(len(k), dtype=bool)
        if there.any():
            for j in range(self.m):
                totals[:, j] += np.bincount(pos[there], weights=v[there, j], minlength=len(keys))
        if not there.all():
            mk, inv = np.unique(k[~there], return_inverse=True)
            mv = np.column_stack(
                [np.bincount(inv, weights=v[~there, j], minlength=len(mk)) for j in range(self.m)]
            ).reshape(len(mk), self.m)
            at = np.searchsorted(keys, mk)
            keys, totals = np.insert(keys, at, mk), np.insert(totals, at, mv, axis=0)
        self.keys, self.totals = keys, totals
        keep = ~move
        self.tail_t, self.tail_k, self.tail_v = self.tail_t[keep], self.tail_k[keep], self.tail_v[keep]

    def _fold_first(self, hashes: np.ndarray, time: np.ndarray) -> None:
        if not len(hashes):
            return
        order = np.lexsort((time, hashes))
        h, t = hashes[order], time[order]
        first = np.r_[True, h[1:] != h[:-1]]
        mk, mt = h[first], t[first]
        pos = np.searchsorted(self.keys, mk)
        there = pos < len(self.keys)
        there[there] = np.asarray(self.keys[pos[there]]) == mk[there]
        totals = np.array(self.totals, dtype=np.int64)
        totals[pos[there]] = np.minimum(totals[pos[there]], mt[there])
        self.keys = np.insert(np.asarray(self.keys), pos[~there], mk[~there])
        self.totals = np.insert(totals, pos[~there], mt[~there])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "keys": np.asarray(self.keys),
            "totals": np.asarray(self.totals),
            "tail_t": self.tail_t,
            "tail_k": self.tail_k,
            "tail_v": self.tail_v,
        }


@dataclass
class FeatureState:
    """The history as of ``end`` (the last declaration time folded in), by accumulator name
    (``family:primitive:tag:values``).

    ``labelled``: declaration id and time of every folded declaration with an outcome (an
    outcome becomes known no earlier than its declaration); ``ids``/``id_time``/``id_source``:
    every folded declaration's id hash (sorted), time and source file (index into
    ``meta["sources"]``); ``outcomes``: hashes of the outcomes folded (sorted); ``meta``: what it
    reflects (fingerprints of the history, outcomes and reference tables, rows folded, version).
    """

    end: int = _NAT
    accumulators: dict[str, Accumulator] = field(default_factory=dict)
    labelled: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"declaration_id": pd.Series(dtype=object), "declared_at": pd.Series(dtype="datetime64[ns]")}
        )
    )
    meta: dict[str, Any] = field(default_factory=dict)
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    id_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    id_source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    outcomes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    # tables the pipeline keeps with the state (e.g. description counts for the reasons' names)
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    # (id hashes, times, sources) of rows folded in but not merged into the index yet (a build
    # merges them once at its end instead of re-writing the whole index for every slice)
    unindexed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def copy_with(self, **changes) -> FeatureState:
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields["meta"] = dict(self.meta)
        fields["extras"] = dict(self.extras)
        fields["unindexed"] = list(self.unindexed)
        return FeatureState(**{**fields, **changes})

    def merge_index(self) -> None:
        """Merge the rows folded in but not indexed yet into the index (sorted id hashes; equal
        hashes in the order they were folded)."""
        if not self.unindexed:
            return
        ids = np.concatenate([np.asarray(self.ids), *(p[0] for p in self.unindexed)])
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        del ids
        self.id_time = np.concatenate([np.asarray(self.id_time), *(p[1] for p in self.unindexed)])[order]
        self.id_source = np.concatenate([np.asarray(self.id_source), *(p[2] for p in self.unindexed)])[order]
        self.unindexed = []

    def known(self, ids: pd.Series) -> pd.DataFrame:
        """(declaration_id, declared_at, source) of those of ``ids`` the folded history holds."""
        self.merge_index()
        ids = pd.Series(ids, dtype=object).dropna().reset_index(drop=True)
        h = id_hashes(ids)
        pos = np.zeros(len(h), np.int64)
        by_hash = np.argsort(h)  # queries in order: the memory-mapped index is read front to back
        pos[by_hash] = np.minimum(np.searchsorted(self.ids, h[by_hash]), max(len(self.ids) - 1, 0))
        hit = (np.asarray(self.ids[pos]) == h) if len(self.ids) else np.zeros(len(h), dtype=bool)
        sources = list(self.meta.get("sources", []))
        src = np.asarray(self.id_source[pos[hit]]) if len(self.ids) else np.zeros(0, np.int32)
        return pd.DataFrame(
            {
                "declaration_id": ids[hit].to_numpy(dtype=object),
                "declared_at": pd.to_datetime(np.asarray(self.id_time[pos[hit]]) if len(self.ids) else []),
                "source": [sources[i] if 0 <= i < len(sources) else None for i in src],
            }
        )

    @property
    def rows(self) -> int:
        return int(self.meta.get("rows", 0))

    def describe(self) -> pd.DataFrame:
        """One line per accumulator: keys, values, events kept one by one."""
        return pd.DataFrame(
            [
                {
                    "accumulator": name,
                    "kind": a.kind,
                    "keys": a.n_keys,
                    "values": a.m,
                    "recent_events": len(a.tail_t),
                    "window_days": a.window / 86_400e9,
                }
                for name, a in sorted(self.accumulators.items())
            ]
        )

    def drop_families(self, families: Iterable[str]) -> FeatureState:
        """A copy without the accumulators of ``families``."""
        fams = set(families)
        keep = {n: a for n, a in self.accumulators.items() if n.split(":", 1)[0] not in fams}
        return self.copy_with(accumulators=keep)


def id_hashes(ids: pd.Series) -> np.ndarray:
    """Stable 64-bit hashes of declaration ids (as text)."""
    text = pd.Series(ids, dtype=object).astype("str").to_numpy(dtype=object)
    return pd.util.hash_array(text) if len(text) else np.zeros(0, np.uint64)


def _member(values: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Which of the hashes ``values`` are among ``universe`` (binary search in it, sorted)."""
    if not len(universe) or not len(values):
        return np.zeros(len(values), dtype=bool)
    u = np.sort(universe)
    return u[np.minimum(np.searchsorted(u, values), len(u) - 1)] == values


def sorted_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Values of sorted ``a`` not in sorted ``b`` (binary search: no hashing of either)."""
    if not len(b):
        return a
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[pos] != a]


def outcome_hashes(inspections: pd.DataFrame | None) -> np.ndarray:
    """Sorted hashes of the outcomes as the features see them (declaration, date, outcome)."""
    if inspections is None or not len(inspections):
        return np.zeros(0, np.uint64)
    frame = pd.DataFrame(
        {
            "declaration_id": inspections["declaration_id"].astype("str").to_numpy(dtype=object),
            "inspected_on": times_ns(inspections["inspected_on"]),  # not text: its format varies
            "outcome": inspections["outcome"].astype("str").to_numpy(dtype=object),
        }
    )
    return np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy())


# ---------------------------------------------------------------- the session on a frame
class Session:
    """Attached to ``Rows.session`` by the builder: adds the state's part to every history-based
    sum of the frame (``use``), and records the frame's events (``record``) for ``commit``."""

    def __init__(self, state: FeatureState | None, record: bool | str = False, use: bool = True):
        """``record``: True records every event of the frame, "outcomes" only those of its
        outcomes (late outcomes of rows folded already); ``use``: add the state's part."""
        self.state = state if state is not None else FeatureState()
        self.record = record if record == "outcomes" else bool(record)
        self.use = use
        self.family = ""
        self._names: set[str] = set()
        self.events: dict[str, tuple[Accumulator, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}
        self.end = _NAT  # the latest row time of the frames seen

    def attach(self, rows: Rows) -> None:
        """Check that every row of the frame comes after the state, and attach to the rows."""
        t = rows.times()
        self.frame = rows.decl  # the rows described (what ``commit`` indexes)
        if self.record == "outcomes":
            rows.session = self
            return
        if len(t) and (t == _NAT).any():
            raise StateMismatch("rows without a declaration time cannot be described against a state")
        if self.use and len(t) and self.state.end != _NAT and t.min() <= self.state.end:
            raise StateMismatch(
                "rows declared at or before the end of the feature state "
                f"({pd.Timestamp(self.state.end)}) cannot be described against it"
            )
        if len(t):
            self.end = max(self.end, int(t.max()))
        rows.session = self

    def begin(self, family: str) -> None:
        self.family = family
        self._names = {n for n in self._names if not n.startswith(f"{family}:")}

    def _name(self, prim: str, tag: str, m: int) -> str:
        name = f"{self.family}:{prim}:{tag}:{m}"
        if name in self._names:
            raise ValueError(f"two history-based sums of one family share the name {name!r}: give each a tag")
        self._names.add(name)
        return name

    def _accumulator(self, name: str, kind: str, m: int, window: int) -> Accumulator | None:
        acc = self.state.accumulators.get(name)
        if acc is not None and (acc.kind != kind or acc.m != m or acc.window != window):
            raise StateMismatch(f"the state's {name} is of another shape: rebuild the state")
        return acc

    def sums(
        self,
        prim: str,
        tag: str,
        query_times: Sequence[np.ndarray],
        query_key: np.ndarray,
        event_time: np.ndarray,
        event_key: np.ndarray,
        values: Sequence[np.ndarray | None],
        window: int = 0,
        outcomes: bool = False,
    ) -> list[list[np.ndarray]]:
        """The history's sums of ``values`` (None: count) at each of ``query_times``, per key;
        records the frame's events."""
        m = len(values)
        name = self._name(prim, tag, m)
        if self.record is True or (self.record == "outcomes" and outcomes):
            h = key_hashes(event_key)
            t = np.asarray(event_time, np.int64)
            ok = (h != 0) & (t != _NAT)
            v = np.empty((int(ok.sum()), m))
            for j, x in enumerate(values):
                v[:, j] = 1.0 if x is None else np.nan_to_num(np.asarray(x, "float64")[ok])
            self._record(name, "sum", m, window, h[ok], t[ok], v)
        nq = len(query_times[0])
        acc = self._accumulator(name, "sum", m, window) if self.use else None
        if acc is None:
            return [[np.zeros(nq) for _ in range(m)] for _ in query_times]
        qh = key_hashes(query_key)
        out = []
        for qt in query_times:
            s = acc.sums(qh, np.asarray(qt, np.int64))
            out.append([s[:, j] for j in range(m)])
        return out

    def first_times(self, codes: np.ndarray, tag: str, time: np.ndarray) -> np.ndarray | None:
        """The history's first time of each code's key (int64 max: none); records the frame's."""
        name = self._name("first", tag, 1)
        if self.record is True:
            h = key_hashes(codes)
            t = np.asarray(time, np.int64)
            ok = (h != 0) & (t != _NAT)
            self._record(name, "first", 1, 0, h[ok], t[ok], np.zeros((int(ok.sum()), 1)))
        acc = self._accumulator(name, "first", 1, 0) if self.use else None
        hashes = getattr(codes, "hashes", None)
        if acc is None or hashes is None:
            return None
        return acc.first(np.asarray(hashes, np.uint64))

    def _record(self, name, kind, m, window, h, t, v) -> None:
        if name not in self.events:
            self.events[name] = (Accumulator(kind, m, window), [])
        self.events[name][1].append((h, t, v))


def commit(
    state: FeatureState,
    session: Session,
    rows: pd.DataFrame | None = None,
    inspections: pd.DataFrame | None = None,
    source: str | None = None,
    index_later: bool = False,
) -> FeatureState:
    """The state with the session's recorded events folded in (its end moves to the latest row
    time the session saw). ``rows``: the declarations described (indexed, unless only their late
    outcomes were recorded), ``inspections``: the outcomes folded with them, ``source``: the file
    the rows came from when they have no ``_source`` column; ``index_later``: the rows are kept
    aside for ``FeatureState.merge_index``."""
    accs = dict(state.accumulators)
    for name, (shape, parts) in session.events.items():
        acc = accs.get(name)
        acc = Accumulator(shape.kind, shape.m, shape.window) if acc is None else acc.copy()
        for h, t, v in parts:
            acc.add(h, t, v)
        accs[name] = acc
    end = max(state.end, session.end)
    for name, acc in accs.items():
        if name not in session.events:
            accs[name] = acc = acc.copy()
        acc.settle(end)
    out = state.copy_with(end=end, accumulators=accs)
    if rows is None or not len(rows):
        return out
    ids = rows["declaration_id"]
    h = id_hashes(ids)
    if inspections is not None and len(inspections):
        mine = inspections[_member(id_hashes(inspections["declaration_id"]), h)]
        both = np.sort(np.concatenate([np.asarray(out.outcomes), outcome_hashes(mine)]))
        out.outcomes = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both
        has = _member(h, id_hashes(mine["declaration_id"]))
        new = rows.loc[has, ["declaration_id", "declared_at"]]
        if len(new) and len(out.labelled):
            new = new[~_member(h[has], id_hashes(out.labelled["declaration_id"]))]
        if len(new):
            out.labelled = pd.concat([out.labelled, new], ignore_index=True)
    if session.record is True:  # the rows themselves are new: index them
        sources = list(out.meta.get("sources", []))
        if "_source" in rows.columns:
            names = rows["_source"].astype("str").to_numpy(dtype=object)
        else:
            names = np.full(len(rows), source or "", dtype=object)
        for name in pd.unique(names):
            if name not in sources:
                sources.append(name)
        out.meta["sources"] = sources
        lookup = {name: i for i, name in enumerate(sources)}
        src_idx = pd.Series(names).map(lookup).to_numpy(dtype=np.int32)
        out.meta["rows"] = int(out.meta.get("rows", 0)) + len(rows)
        if index_later:
            out.unindexed.append((h, times_ns(rows["declared_at"]), src_idx))
            return out
        out.merge_index()
        order = np.argsort(h, kind="stable")  # the new rows' hashes sorted, merged into the index
        at = np.searchsorted(np.asarray(out.ids), h[order], side="right")
        out.ids = np.insert(np.asarray(out.ids), at, h[order])
        out.id_time = np.insert(np.asarray(out.id_time), at, times_ns(rows["declared_at"])[order])
        out.id_source = np.insert(np.asarray(out.id_source), at, src_idx[order])
    return out


# ---------------------------------------------------------------- building and updating
def slices(times: np.ndarray, size: int) -> list[tuple[int, int]]:
    """(start, stop) positions of time-ordered rows in slices of about ``size`` rows, never
    splitting rows declared at the same moment (a slice must come strictly after the last)."""
    n = len(times)
    bounds, start = [], 0
    while start < n:
        stop = min(start + size, n)
        if n - stop < size // 4:  # a small remainder goes with this slice (each slice costs a pass)
            stop = n
        if stop < n:  # move the cut to where the time changes
            stop = int(np.searchsorted(times, times[stop - 1], side="right"))
        bounds.append((start, stop))
        start = stop
    return bounds


def fold(
    state: FeatureState,
    decl: pd.DataFrame,
    ctx: FeatureContext,
    families: Sequence[ModuleType],
    size: int = 200_000,
    progress: Callable[[str], None] | None = None,
    index_later: bool = False,
) -> FeatureState:
    """Fold time-ordered declarations (``decl``, every row after ``state.end``) into the state,
    a slice at a time: each slice is described against the state so far (the families' code, as
    for scoring) and its events folded in. ``ctx.labels`` are the outcomes to fold with them;
    ``index_later``: the rows are indexed by ``FeatureState.merge_index``, not slice by slice."""
    from features.build import FAMILIES

    fams = [f for f in FAMILIES if f in families and f.FAMILY != "ownership"]
    t = times_ns(decl["declared_at"])
    if len(t) and not (t[1:] >= t[:-1]).all():
        raise ValueError("fold needs declarations in time order (features.build.combine)")
    for start, stop in slices(t, size):
        part = decl.iloc[start:stop].reset_index(drop=True).assign(_is_target=True)
        rows = Rows(part)
        session = Session(state, record=True)
        session.attach(rows)
        pctx = replace(ctx, rows=rows, state={})  # no text model: it feeds no accumulator
        for fam in fams:
            session.begin(fam.FAMILY)
            fam.compute(part, pctx)
        state = commit(state, session, part, ctx.labels, index_later=index_later)
        if progress:
            progress(f"folded rows {start:,}..{stop:,} up to {pd.Timestamp(state.end)}")
    return state


def build(
    decl: pd.DataFrame,
    ctx: FeatureContext,
    families: Sequence[ModuleType] | None = None,
    size: int = 200_000,
    progress: Callable[[str], None] | None = None,
    base: FeatureState | None = None,
) -> FeatureState:
    """The state of a whole history (``decl`` time-ordered, e.g. ``combine(None, history)``);
    ``base``: a state to add the families' accumulators to (a partial rebuild)."""
    return build_from([decl], ctx, families, size, progress, base)


def build_from(
    parts: Iterable[pd.DataFrame],
    ctx: FeatureContext,
    families: Sequence[ModuleType] | None = None,
    size: int = 200_000,
    progress: Callable[[str], None] | None = None,
    base: FeatureState | None = None,
    each: Callable[[FeatureState, pd.DataFrame], None] | None = None,
) -> FeatureState:
    """As ``build``, the history given in time-ordered parts (each time-ordered, declared strictly
    after the part before): only one part is held at a time. ``each(state, part)`` after each
    part is folded in (e.g. to count what the pipeline keeps with the state)."""
    from features.build import FAMILIES

    fams = list(FAMILIES if families is None else families)
    fresh = FeatureState()
    for part in parts:
        fresh = fold(fresh, part, ctx, fams, size, progress, index_later=True)
        if each is not None:
            each(fresh, part)
    fresh.merge_index()
    if base is None:
        return fresh
    accs = dict(base.drop_families(f.FAMILY for f in fams).accumulators)
    accs.update(fresh.accumulators)
    return fresh.copy_with(accumulators=accs, meta=dict(base.meta))


def fold_outcomes(
    state: FeatureState,
    decl: pd.DataFrame,
    ctx: FeatureContext,
    size: int = 200_000,
) -> FeatureState:
    """Fold late outcomes (``ctx.labels``: only the new ones) of declarations folded already
    (``decl``: those declarations, from the history) into the state: the families describe the
    rows again, and only their outcome events are recorded."""
    from features.build import FAMILIES

    fams = [f for f in FAMILIES if f.FAMILY != "ownership"]
    decl = decl.reset_index(drop=True)
    for start in range(0, len(decl), size):
        part = decl.iloc[start : start + size].reset_index(drop=True).assign(_is_target=True)
        rows = Rows(part)
        session = Session(state, record="outcomes", use=False)
        session.attach(rows)
        pctx = replace(ctx, rows=rows, state={})
        for fam in fams:
            session.begin(fam.FAMILY)
            fam.compute(part, pctx)
        state = commit(state, session, part, ctx.labels)
    return state


def outcome_declarations(state: FeatureState, decl: pd.DataFrame) -> pd.DataFrame:
    """The declarations outcomes are dated against in state mode: the frame's and the folded
    declarations with outcomes (an outcome is known no earlier than its declaration)."""
    return pd.concat([decl[["declaration_id", "declared_at"]], state.labelled], ignore_index=True)


def fingerprint(frame: pd.DataFrame | None, columns: Sequence[str] | None = None) -> str:
    """A short content hash of a table (order-free over rows); '' for none."""
    if frame is None:
        return ""
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    if not len(frame):
        return "empty:" + ",".join(cols)
    rows = pd.util.hash_pandas_object(frame[cols].astype("str"), index=False).to_numpy()
    digest = hashlib.sha256(np.sort(rows).tobytes())
    digest.update(",".join(cols).encode())
    return digest.hexdigest()[:16]


def feature_code_version() -> str:
    """The state version and the feature catalogue (a state of other features is rebuilt)."""
    from features.build import feature_names

    return f"{STATE_VERSION}:" + hashlib.sha256(",".join(feature_names()).encode()).hexdigest()[:12]
