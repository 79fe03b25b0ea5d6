"""Reference tables shipped with the package: HS profiles, ports, countries, container specs,
and the sea-lane network.

Files are read from the installed package (``data/reference/``), parsed once and cached;
every call returns a fresh copy so callers may modify what they get (the sea-lane network's
arrays are read-only instead: it is large and nobody needs to change it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

HS_ROLES = ("controlled", "watch", "cover", "common")
_HS_TEXT_COLUMNS = ("hs_code", "description", "chapter", "heading", "role", "source_note")
_HS_FLOAT_COLUMNS = (
    "density_min_t_m3",
    "density_max_t_m3",
    "value_per_kg_low",
    "value_per_kg_typical",
    "value_per_kg_high",
)


# Passages a ship does not take by default: the Northwest Passage is ice-bound most of the year
# (searoute leaves it out by default too).
CLOSED_PASSAGES = ("northwest",)


@dataclass(frozen=True)
class SeaLanes:
    """The maritime network as arrays: nodes (lon, lat in degrees) and undirected edges
    (node a, node b, length in km). Read-only."""

    lon: np.ndarray
    lat: np.ndarray
    a: np.ndarray
    b: np.ndarray
    km: np.ndarray


@dataclass(frozen=True)
class ContainerSpec:
    """An ISO container type: inside volume and maximum payload."""

    volume_m3: float
    payload_kg: float


CONTAINERS: dict[str, ContainerSpec] = {
    "20GP": ContainerSpec(volume_m3=33.2, payload_kg=28_180.0),
    "40GP": ContainerSpec(volume_m3=67.7, payload_kg=26_730.0),
    "40HC": ContainerSpec(volume_m3=76.3, payload_kg=26_540.0),
}


def _read_reference_csv(name: str) -> pd.DataFrame:
    with (files("data") / "reference" / name).open("r", encoding="utf-8", newline="") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@cache
def _hs_profiles() -> pd.DataFrame:
    frame = _read_reference_csv("hs_profiles.csv")
    for col in _HS_FLOAT_COLUMNS:
        frame[col] = frame[col].astype("float64")
    for col in _HS_TEXT_COLUMNS:
        frame[col] = frame[col].astype("str")
    bad = ~frame["role"].isin(HS_ROLES)
    if bad.any():
        raise ValueError(f"hs_profiles.csv: unknown role(s) {sorted(frame.loc[bad, 'role'])}")
    return frame


def hs_profiles() -> pd.DataFrame:
    """HS6 profiles: role, packed density range and value per kg (low/typical/high, USD)."""
    return _hs_profiles().copy()


@cache
def _ports() -> pd.DataFrame:
    frame = _read_reference_csv("ports.csv")
    frame["lat"] = frame["lat"].astype("float64")
    frame["lon"] = frame["lon"].astype("float64")
    frame["major"] = frame["major"].astype("int64").astype(bool)
    return frame


def ports() -> pd.DataFrame:
    """Sea ports: UN/LOCODE, name, country, latitude, longitude and a major-port flag."""
    return _ports().copy()


@cache
def _countries() -> pd.DataFrame:
    import pycountry

    rows = sorted((c.alpha_2, c.name) for c in pycountry.countries)
    return pd.DataFrame(rows, columns=["alpha_2", "name"]).astype("str")


def countries() -> pd.DataFrame:
    """ISO 3166-1 countries: alpha_2 code and English short name (pycountry)."""
    return _countries().copy()


@cache
def _sea_legs() -> pd.DataFrame:
    frame = _read_reference_csv("sea_legs.csv")
    frame["km"] = frame["km"].astype("float64")
    return frame


def sea_legs() -> pd.DataFrame:
    """Sea-lane km between pairs of the ports that routes use (``from_locode`` < ``to_locode``),
    measured over ``sea_lanes()`` between the coordinates of ``ports()``."""
    return _sea_legs().copy()


@cache
def sea_lanes() -> SeaLanes:
    """searoute's maritime network (Eurostat MARNET, Apache-2.0), without closed passages.

    Each edge once, in both of its listed directions deduplicated; lengths in km as searoute
    gives them. Loaded once per process (about a second).
    """
    from searoute.data.marnet_dict import edge_list, node_list

    nodes = list(node_list)
    index = {node: i for i, node in enumerate(nodes)}
    a, b, km = [], [], []
    for u, neighbours in edge_list.items():
        for v, attrs in neighbours.items():
            if attrs.get("passage") in CLOSED_PASSAGES:
                continue
            for node in (u, v):
                if node not in index:
                    index[node] = len(nodes)
                    nodes.append(node)
            a.append(index[u])
            b.append(index[v])
            km.append(float(attrs["weight"]))
    coords = np.asarray(nodes, dtype="float64")
    a, b, km = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64), np.asarray(km)
    keep = a < b  # each undirected edge once (both directions are listed)
    lanes = SeaLanes(lon=coords[:, 0], lat=coords[:, 1], a=a[keep], b=b[keep], km=km[keep])
    for arr in (lanes.lon, lanes.lat, lanes.a, lanes.b, lanes.km):
        arr.setflags(write=False)
    return lanes
