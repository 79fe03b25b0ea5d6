"""Sea distances between ports over the maritime lane network, for whole tables of legs at once.

A port is snapped to the nearest node of the lane network (``data.reference.sea_lanes``,
searoute's MARNET graph); a leg's sea distance is the great-circle hop from each port to its
node plus the shortest path between the nodes. One Dijkstra search per distinct departure node
gives every leg from that port at once, so a table of a few thousand distinct legs costs a few
hundred searches of ~10,000 nodes (milliseconds each), instead of one ``searoute`` call
(~58 ms) per leg.

Ports farther than ``MAX_SNAP_KM`` from any lane (inland dry ports, airports, rail and road
terminals) are off the network: their legs get NaN here, and the caller falls back to the
great circle. Legs computed once are kept for the life of the process (keyed by coordinates,
so a different port table never reuses another's answer); ``remember`` takes in legs measured
before (``data/reference/sea_legs.csv``, the legs between the ports real routes use), so a
build on those ports loads no network at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # imported when the network is first needed: most builds use remembered legs
    from scipy.sparse import csr_matrix
    from scipy.spatial import cKDTree

EARTH_RADIUS_KM = 6371.0088
MAX_SNAP_KM = 300.0  # farther from every sea lane than this, a port is off the network
SOURCES_PER_SEARCH = 64  # departure nodes per Dijkstra call (a float64 row of ~10k nodes each)
_MEMO_LIMIT = 1_000_000  # legs kept per process before the memo starts over
_memo: dict[tuple[float, float, float, float], float] = {}
_on_lanes: set[tuple[float, float]] = set()  # points known to be within MAX_SNAP_KM of a lane


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between coordinate arrays (degrees); NaN where any is NaN."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2, float)) - np.radians(np.asarray(lon1, float))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@dataclass(frozen=True)
class _Network:
    graph: csr_matrix
    tree: cKDTree
    lat: np.ndarray
    lon: np.ndarray


@cache
def _network() -> _Network:
    """The lane graph as a sparse matrix and a nearest-node index (built once per process)."""
    from data.reference import sea_lanes

    lanes = sea_lanes()
    n = len(lanes.lon)
    # zero-length edges join the two copies of a node on the date line: keep them as edges
    km = np.maximum(lanes.km, 1e-9)
    from scipy.sparse import csr_matrix
    from scipy.spatial import cKDTree

    graph = csr_matrix((km, (lanes.a, lanes.b)), shape=(n, n))
    return _Network(graph, cKDTree(_unit_vectors(lanes.lat, lanes.lon)), lanes.lat, lanes.lon)


def snap(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest lane node of each point and the great-circle km to it (NaN coordinates: -1, NaN)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    node = np.full(len(lat), -1, dtype=np.int64)
    km = np.full(len(lat), np.nan)
    ok = ~(np.isnan(lat) | np.isnan(lon))
    if ok.any():
        net = _network()
        node[ok] = net.tree.query(_unit_vectors(lat[ok], lon[ok]))[1]
        km[ok] = haversine_km(lat[ok], lon[ok], net.lat[node[ok]], net.lon[node[ok]])
    return node, km


def sea_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Sea-lane distance in km of each leg (coordinate arrays in degrees).

    NaN where an end has no coordinates, is more than ``MAX_SNAP_KM`` from the lanes, or no
    lane joins the two. Never shorter than the great circle; 0 for a leg from a place to itself.
    """
    lat1, lon1 = np.asarray(lat1, float), np.asarray(lon1, float)
    lat2, lon2 = np.asarray(lat2, float), np.asarray(lon2, float)
    # each leg in one direction (the smaller end first), so that its distance is computed the
    # same way to the last bit whichever way it is sailed and whatever was computed before
    swap = (lat2 < lat1) | ((lat2 == lat1) & (lon2 < lon1))
    legs = pd.DataFrame(
        {
            "lat1": np.where(swap, lat2, lat1),
            "lon1": np.where(swap, lon2, lon1),
            "lat2": np.where(swap, lat1, lat2),
            "lon2": np.where(swap, lon1, lon2),
        }
    )
    if legs.empty:
        return np.array([], dtype=float)
    codes, distinct = _distinct_legs(legs)
    known = np.array([_memo.get(k, np.nan) for k in distinct], dtype=float)
    seen = np.array([k in _memo for k in distinct], dtype=bool)
    if not seen.all():
        todo = np.asarray([k for k, s in zip(distinct, seen, strict=True) if not s], dtype=float)
        done = _compute(todo)
        known[~seen] = done
        if len(_memo) + len(todo) > _MEMO_LIMIT:
            _memo.clear()
            _on_lanes.clear()
        _memo.update(zip(map(tuple, todo.tolist()), done.tolist(), strict=True))
    return known[codes]


def remember(lat1, lon1, lat2, lon2, km) -> None:
    """Take legs already measured (the committed leg table) as known, without searching."""
    lat1, lon1 = np.asarray(lat1, float), np.asarray(lon1, float)
    lat2, lon2 = np.asarray(lat2, float), np.asarray(lon2, float)
    swap = (lat2 < lat1) | ((lat2 == lat1) & (lon2 < lon1))
    keys = zip(
        np.where(swap, lat2, lat1).tolist(),
        np.where(swap, lon2, lon1).tolist(),
        np.where(swap, lat1, lat2).tolist(),
        np.where(swap, lon1, lon2).tolist(),
        strict=True,
    )
    if len(_memo) + len(lat1) > _MEMO_LIMIT:
        _memo.clear()
        _on_lanes.clear()
    _memo.update(zip(keys, np.asarray(km, float).tolist(), strict=True))
    ok = ~np.isnan(np.asarray(km, float))  # a leg measured by sea has both ends on the lanes
    _on_lanes.update(zip(lat1[ok].tolist(), lon1[ok].tolist(), strict=True))
    _on_lanes.update(zip(lat2[ok].tolist(), lon2[ok].tolist(), strict=True))


def _distinct_legs(legs: pd.DataFrame) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    uniques, codes = np.unique(legs.to_numpy(dtype=float), axis=0, return_inverse=True)
    return codes.reshape(-1), list(map(tuple, uniques.tolist()))


def _compute(legs: np.ndarray) -> np.ndarray:
    """Sea km of distinct legs (rows lat1, lon1, lat2, lon2): one search per departure node."""
    lat1, lon1, lat2, lon2 = legs.T
    if ((lat1 == lat2) & (lon1 == lon2)).all():  # from a place to itself: nothing to search
        return np.where(np.isnan(lat1) | np.isnan(lon1), np.nan, 0.0)
    node1, snap1 = snap(lat1, lon1)
    node2, snap2 = snap(lat2, lon2)
    great = haversine_km(lat1, lon1, lat2, lon2)
    out = np.full(len(legs), np.nan)
    on = (snap1 <= MAX_SNAP_KM) & (snap2 <= MAX_SNAP_KM)
    near = on & (node1 == node2)  # both ports on one stretch of lane: the direct hop
    out[near] = great[near]
    far = np.flatnonzero(on & ~near)
    if len(far):
        sources, which = np.unique(node1[far], return_inverse=True)
        lane = np.full(len(far), np.inf)
        graph = _network().graph
        for start in range(0, len(sources), SOURCES_PER_SEARCH):
            block = sources[start : start + SOURCES_PER_SEARCH]
            from scipy.sparse.csgraph import dijkstra

            dist = dijkstra(graph, directed=False, indices=block)
            mine = (which >= start) & (which < start + len(block))
            lane[mine] = dist[which[mine] - start, node2[far[mine]]]
        out[far] = np.where(np.isfinite(lane), snap1[far] + lane + snap2[far], np.nan)
    out = np.where(np.isnan(out), np.nan, np.maximum(out, great))
    out[on & (great == 0)] = 0.0
    return out


def on_network(lat, lon) -> np.ndarray:
    """True where a point (degrees) is within ``MAX_SNAP_KM`` of a sea lane."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    known = np.array([p in _on_lanes for p in zip(lat.tolist(), lon.tolist(), strict=True)], dtype=bool)
    out = known.copy()
    if not known.all():
        out[~known] = snap(lat[~known], lon[~known])[1] <= MAX_SNAP_KM
        _on_lanes.update(zip(lat[out & ~known].tolist(), lon[out & ~known].tolist(), strict=True))
    return out
