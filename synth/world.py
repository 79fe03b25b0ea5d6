"""The synthetic customs world: a declaration history with planted smuggling, the registry,
watchlist and licenses around it, inspections chosen by an old rules regime, the next
day's manifest, and the truth for every row (kept apart from the bundle).

``generate_world`` builds it in memory; ``write_world`` writes the bundle layout of the
data contract. Everything is drawn from one ``numpy`` generator seeded by ``seed``: the
same seed gives the same world, byte for byte.

How the world is made, in order:
1. parties: legitimate exporters with stable product profiles, consignees, brokers, licensed
   rare-earth exporters, repeat offenders ("actors") and shell networks around listed entities;
2. rows: every row starts as legitimate trade from its exporter's profile;
3. typologies: violation rows are drawn mostly from actors, then transformed per typology
   (goods, parties, route, license, value), with a secondary typology for some and only one
   subtle signal for the hard cases;
4. licenses are granted for the controlled flows; some lapse (expired, exhausted), which turns
   the later rows into violations;
5. inspections: an old rules regime plus a small random quota; inspectors miss some.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.contract import TABLES
from data.reference import CONTAINERS, hs_profiles, ports
from synth import text as tx

TYPOLOGIES = (
    "mislabel",
    "concealment",
    "routing",
    "shell",
    "blending",
    "no_license",
    "undervaluation",
)
_TI = {t: i + 1 for i, t in enumerate(TYPOLOGIES)}  # 0 means clean
_TYPOLOGY_NAMES = np.array(["", *TYPOLOGIES], dtype=object)
TRUTH_COLUMNS = (
    "declaration_id",
    "is_violation",
    "typology",
    "secondary_typology",
    "hard_case",
    "scheme",
    "true_hs_code",
    "true_value_usd",
    # would an inspection of this row find its violation (inspectors miss some): what the labels of a
    # full inspection would say, to check the fair estimates of training against
    "found_if_inspected",
)
SECONDARY_OPTIONS: dict[str, tuple[str, ...]] = {
    "mislabel": ("undervaluation", "routing", "shell"),
    "concealment": ("routing", "shell"),
    "routing": ("shell", "no_license", "mislabel", "undervaluation"),
    "shell": ("no_license", "routing", "undervaluation"),
    "blending": ("routing", "shell", "undervaluation"),
    "no_license": ("shell", "routing", "undervaluation"),
    "undervaluation": ("shell", "routing"),
}
_ACTOR_TYPOLOGY_MIX = {
    "mislabel": 0.22,
    "no_license": 0.22,
    "routing": 0.13,
    "shell": 0.09,
    "undervaluation": 0.12,
    "concealment": 0.13,
    "blending": 0.09,
}


@dataclass(frozen=True)
class WorldKnobs:
    """Sizes and rates of the synthetic world (the defaults are the documented world)."""

    legit_exporters: int = 1500
    licensed_re_exporters: int = 50
    consignees: int = 3000
    declarants: int = 200
    registered_actors: int = 45
    networks: int = 30
    violation_rate: float = 0.03
    hard_share: float = 0.25
    secondary_share: float = 0.35
    transshipment_share: float = 0.25
    random_inspection_share: float = 0.01
    inspector_miss_rate: float = 0.10


@dataclass(frozen=True)
class World:
    """A generated world: the bundle tables, the next day's manifest and the truth."""

    declarations: pd.DataFrame
    inspections: pd.DataFrame
    companies: pd.DataFrame
    ownership: pd.DataFrame
    officers: pd.DataFrame
    watchlist: pd.DataFrame
    licenses: pd.DataFrame
    manifest: pd.DataFrame
    manifest_truth: pd.DataFrame
    history_truth: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def manifest_date(self) -> str:
        return str(self.params["manifest_date"])


# ================================================================= reference catalogue

_CONTROLLED_MIX = {"284690": 0.55, "280530": 0.2, "850511": 0.25}
_MISLABEL_COVERS = {
    "260111": 0.11,
    "260112": 0.04,
    "261510": 0.14,
    "282560": 0.12,
    "284610": 0.12,
    "690911": 0.09,
    "690919": 0.09,
    "691490": 0.05,
    "690790": 0.03,
    "690220": 0.06,
    "690290": 0.05,
    "381010": 0.10,
}
_CONCEAL_COVERS = {
    "690911": 0.2,
    "690919": 0.25,
    "691490": 0.15,
    "690790": 0.15,
    "690220": 0.15,
    "690290": 0.1,
}
_BLEND_CODES = {"720299": 0.6, "382499": 0.4}
_UNDERVALUE_CODES = {
    "847130": 0.2,
    "851713": 0.2,
    "851762": 0.15,
    "740311": 0.15,
    "850440": 0.1,
    "870899": 0.1,
    "640299": 0.1,
}
_SMALL_LOT_MEDIAN_KG = {"280530": 800.0, "284690": 2500.0, "850511": 1500.0, "381010": 1200.0}
_UNIT_KG = {
    "847130": 2.5,
    "851713": 0.45,
    "851762": 1.8,
    "841810": 65.0,
    "401110": 9.0,
    "940171": 14.0,
    "940360": 28.0,
}


def _packaging(code: str) -> tuple[float, float, str, float, float]:
    """(kg per package min, max, quantity unit, net/gross low, high) for an HS6 code."""
    ch = code[:2]
    if code in _UNIT_KG:
        return (8.0, 70.0, "u", 0.82, 0.93)
    if ch in ("26",) or code == "252329":
        return (1000.0, 1500.0, "t", 0.96, 0.995)
    if code in ("280530", "284690", "284610", "282560"):
        return (25.0, 500.0, "kg", 0.90, 0.98)
    if code == "850511":
        return (10.0, 30.0, "kg", 0.85, 0.95)
    if ch in ("72", "74", "76"):
        return (1500.0, 8000.0, "t", 0.97, 0.995)
    if ch in ("38", "31", "39") and code != "392690":
        return (25.0, 1000.0, "kg", 0.93, 0.99)
    if ch in ("69", "70"):
        return (400.0, 1500.0, "kg", 0.85, 0.95)
    if ch in ("09", "07"):
        return (50.0, 60.0, "kg", 0.98, 0.995)
    return (5.0, 40.0, "kg", 0.85, 0.95)


@dataclass(frozen=True)
class _Catalog:
    """HS profiles as arrays indexed by code number, plus description offsets."""

    code: np.ndarray
    role: np.ndarray
    dmin: np.ndarray
    dmax: np.ndarray
    vlow: np.ndarray
    vtyp: np.ndarray
    vhigh: np.ndarray
    vsig: np.ndarray
    small_median: np.ndarray
    pack_min: np.ndarray
    pack_max: np.ndarray
    unit: np.ndarray
    unit_kg: np.ndarray
    net_lo: np.ndarray
    net_hi: np.ndarray
    desc_start: np.ndarray
    desc_count: np.ndarray
    off_start: np.ndarray
    off_count: np.ndarray
    national: np.ndarray  # (codes, 3) declared code strings per national code length
    descriptions: np.ndarray
    vague: np.ndarray  # description indices of vague phrasings
    index: dict[str, int]

    def idx(self, codes: dict[str, float] | list[str]) -> np.ndarray:
        return np.array([self.index[c] for c in codes], dtype=np.int64)


def _build_catalog(rng: np.random.Generator) -> _Catalog:
    prof = hs_profiles()
    codes = prof["hs_code"].to_numpy(dtype=object)
    n = len(codes)
    vlow = prof["value_per_kg_low"].to_numpy()
    vhigh = prof["value_per_kg_high"].to_numpy()
    pack = [_packaging(c) for c in codes]
    descriptions: list[str] = []
    desc_start, desc_count, off_start, off_count = (np.zeros(n, np.int64) for _ in range(4))
    for i, c in enumerate(codes):
        table = tx.description_table(rng, c, count=12)
        desc_start[i], desc_count[i] = len(descriptions), len(table)
        descriptions += table
        off = list(tx.OFF_DESCRIPTIONS.get(c, ())) + list(tx.BLEND_DESCRIPTIONS.get(c, ()))
        off_start[i], off_count[i] = len(descriptions), len(off)
        descriptions += off
    vague = np.arange(len(descriptions), len(descriptions) + len(tx.VAGUE))
    descriptions += list(tx.VAGUE)
    national = np.empty((n, 3), dtype=object)
    for i, c in enumerate(codes):
        national[i, 0] = c + ("0000", "1000", "9000", "0010")[int(rng.integers(4))]  # CN, KR
        national[i, 1] = c + ("000", "100", "900")[int(rng.integers(3))]  # JP
        national[i, 2] = c + ("00", "10", "90")[int(rng.integers(3))]  # ASEAN, IN
    return _Catalog(
        code=codes,
        role=prof["role"].to_numpy(dtype=object),
        dmin=prof["density_min_t_m3"].to_numpy(),
        dmax=prof["density_max_t_m3"].to_numpy(),
        vlow=vlow,
        vtyp=prof["value_per_kg_typical"].to_numpy(),
        vhigh=vhigh,
        vsig=np.clip(np.log(vhigh / vlow) / 3.29, 0.25, 0.9),
        small_median=np.array([_SMALL_LOT_MEDIAN_KG.get(c, 0.0) for c in codes]),
        pack_min=np.array([p[0] for p in pack]),
        pack_max=np.array([p[1] for p in pack]),
        unit=np.array([p[2] for p in pack], dtype=object),
        unit_kg=np.array([_UNIT_KG.get(c, 1.0) for c in codes]),
        net_lo=np.array([p[3] for p in pack]),
        net_hi=np.array([p[4] for p in pack]),
        desc_start=desc_start,
        desc_count=desc_count,
        off_start=off_start,
        off_count=off_count,
        national=national,
        descriptions=np.array(descriptions, dtype=object),
        vague=vague,
        index={c: i for i, c in enumerate(codes)},
    )


# ================================================================= geography and routes

_LOAD_PORTS = {
    "CN": {
        "CNSHA": 20,
        "CNNGB": 16,
        "CNSZX": 14,
        "CNTAO": 10,
        "CNTSN": 8,
        "CNXMN": 7,
        "CNCAN": 6,
        "CNNSA": 5,
        "CNDLC": 5,
        "CNLYG": 4,
        "CNQZH": 3,
        "CNFAN": 2,
    },
    "VN": {"VNHPH": 45, "VNSGN": 45, "VNDAD": 10},
    "MY": {"MYPKG": 50, "MYTPP": 25, "MYPEN": 15, "MYKUA": 10},
    "TH": {"THLCH": 80, "THBKK": 20},
    "KR": {"KRPUS": 80, "KRINC": 20},
    "JP": {"JPYOK": 30, "JPTYO": 20, "JPOSA": 15, "JPNGO": 20, "JPUKB": 15},
    "IN": {"INNSA": 45, "INMUN": 30, "INMAA": 25},
    "ID": {"IDJKT": 60, "IDSUB": 40},
    "MM": {"MMRGN": 100},
    "LA": {"THLCH": 50, "VNDAD": 30, "VNHPH": 20},
}
_DISCHARGE_PORTS = {
    "US": ("USLAX", "USLGB", "USNYC", "USSAV", "USHOU", "USSEA"),
    "CA": ("CAVAN", "CAMTR"),
    "MX": ("MXZLO", "MXLZC"),
    "BR": ("BRSSZ", "BRPNG"),
    "CL": ("CLSAI",),
    "DE": ("DEHAM", "DEBRV"),
    "NL": ("NLRTM",),
    "BE": ("BEANR",),
    "FR": ("FRLEH", "FRFOS"),
    "GB": ("GBFXT", "GBSOU"),
    "IT": ("ITGOA", "ITGIT"),
    "ES": ("ESVLC", "ESBCN", "ESALG"),
    "PL": ("PLGDN",),
    "GR": ("GRPIR",),
    "TR": ("TRIST", "TRMER"),
    "RU": ("RULED", "RUVVO"),
    "GE": ("GEPTI",),
    "AM": ("GEPTI",),
    "AE": ("AEJEA", "AEDXB"),
    "SA": ("SAJED", "SADMN"),
    "IR": ("IRBND",),
    "PK": ("PKKHI",),
    "BD": ("BDCGP",),
    "IN": ("INNSA", "INMUN", "INMAA"),
    "LK": ("LKCMB",),
    "JP": ("JPYOK", "JPTYO", "JPOSA", "JPNGO"),
    "KR": ("KRPUS", "KRINC"),
    "TW": ("TWKHH", "TWTXG"),
    "HK": ("HKHKG",),
    "SG": ("SGSIN",),
    "VN": ("VNHPH", "VNSGN"),
    "MY": ("MYPKG", "MYTPP"),
    "TH": ("THLCH",),
    "ID": ("IDJKT", "IDSUB"),
    "PH": ("PHMNL",),
    "AU": ("AUSYD", "AUMEL", "AUBNE"),
    "NZ": ("NZAKL",),
    "ZA": ("ZADUR",),
    "NG": ("NGLOS",),
    "EG": ("EGPSD", "EGALY"),
    "KE": ("KEMBA",),
    "EE": ("EETLL",),
}
_REGION = {
    **dict.fromkeys(("JP", "KR", "TW", "HK", "CN", "RU"), "NEA"),
    **dict.fromkeys(("VN", "MY", "TH", "ID", "PH", "SG", "MM", "KH"), "SEA"),
    **dict.fromkeys(("IN", "PK", "BD", "LK"), "SAS"),
    **dict.fromkeys(("AE", "SA", "IR", "OM"), "ME"),
    **dict.fromkeys(("DE", "NL", "BE", "FR", "GB", "IT", "ES", "PL", "GR", "EE"), "EU"),
    **dict.fromkeys(("TR", "GE", "AM", "EG"), "MED"),
    **dict.fromkeys(("US", "CA"), "NAM"),
    **dict.fromkeys(("MX", "BR", "CL"), "LAM"),
    **dict.fromkeys(("ZA", "NG", "KE"), "AF"),
    **dict.fromkeys(("AU", "NZ"), "OC"),
}
# (first-leg hubs, second-leg hubs, share of rows transshipped) per destination region
_LEGIT_HUBS = {
    "NEA": (("KRPUS", "HKHKG", "TWKHH"), (), 0.12),
    "SEA": (("SGSIN", "HKHKG", "MYPKG", "MYTPP"), (), 0.2),
    "SAS": (("SGSIN", "LKCMB", "MYPKG", "MYTPP"), (), 0.3),
    "ME": (("SGSIN", "LKCMB", "MYTPP", "AEJEA"), ("AEJEA", "OMSLL"), 0.3),
    "EU": (("SGSIN", "MYTPP", "LKCMB"), ("EGPSD", "GRPIR", "ESALG", "NLRTM", "DEHAM"), 0.32),
    "MED": (("SGSIN", "LKCMB", "MYTPP"), ("EGPSD", "GRPIR"), 0.35),
    "NAM": (("KRPUS", "TWKHH", "HKHKG", "SGSIN"), ("PAMIT",), 0.28),
    "LAM": (("KRPUS", "SGSIN"), ("PABLB", "MXZLO"), 0.35),
    "AF": (("SGSIN", "LKCMB", "MYTPP"), ("AEJEA", "OMSLL", "ZADUR"), 0.35),
    "OC": (("SGSIN", "HKHKG", "TWKHH"), (), 0.25),
}
_LAUNDER_HUBS_EARLY = ("HKHKG", "AEJEA", "MYTPP", "SGSIN", "TRIST", "LKCMB", "KRPUS")
_LAUNDER_HUBS_LATE = ("OMSLL", "AEJEA", "TRMER", "GEPTI", "EGPSD", "MYPKG", "LKCMB", "PKKHI")
_NON_PRODUCER_ORIGINS = {
    "VN": 0.22,
    "TH": 0.2,
    "MY": 0.14,
    "KR": 0.1,
    "LA": 0.1,
    "KH": 0.1,
    "AE": 0.07,
    "TW": 0.07,
}
_CONSIGNEE_COUNTRIES = {
    "US": 13,
    "DE": 5,
    "NL": 3,
    "BE": 1.5,
    "FR": 2.5,
    "GB": 3.5,
    "IT": 2.5,
    "ES": 2,
    "PL": 1.5,
    "GR": 0.5,
    "JP": 6,
    "KR": 5,
    "TW": 2,
    "HK": 2,
    "SG": 1.5,
    "VN": 4,
    "MY": 3,
    "TH": 3,
    "ID": 3,
    "PH": 2,
    "IN": 5,
    "PK": 1.5,
    "BD": 1.5,
    "LK": 0.5,
    "AE": 3.5,
    "SA": 2,
    "TR": 2.5,
    "RU": 3.5,
    "GE": 0.3,
    "AU": 2.5,
    "NZ": 0.5,
    "CA": 2,
    "MX": 2.5,
    "BR": 2.5,
    "CL": 1,
    "ZA": 1,
    "NG": 1,
    "EG": 1,
    "KE": 0.5,
}
_RE_BUYER_COUNTRIES = ("JP", "US", "DE", "KR", "NL", "FR", "GB", "IN", "VN", "TW", "MY", "TH")
_NEIGHBOURS = ("VN", "KR", "JP", "TH", "MY", "IN", "TW")
_FRONT_CONSIGNEE_COUNTRIES = {
    "HK": 0.26,
    "AE": 0.2,
    "TR": 0.14,
    "SG": 0.08,
    "MY": 0.07,
    "TH": 0.06,
    "RU": 0.09,
    "GE": 0.04,
    "AM": 0.06,
}
_FRONT_EXPORTER_COUNTRIES = {"CN": 0.4, "VN": 0.2, "MY": 0.15, "TH": 0.1, "LA": 0.1, "KR": 0.05}
_ACTOR_COUNTRIES = {
    "CN": 0.55,
    "VN": 0.12,
    "MY": 0.08,
    "TH": 0.08,
    "LA": 0.07,
    "KR": 0.05,
    "MM": 0.05,
}
_EXPORTER_COUNTRIES = {
    "CN": 0.68,
    "VN": 0.08,
    "MY": 0.05,
    "TH": 0.04,
    "IN": 0.04,
    "KR": 0.03,
    "JP": 0.03,
    "ID": 0.03,
    "MM": 0.01,
    "LA": 0.01,
}
_NATIONAL_GROUP = {"CN": 0, "KR": 0, "JP": 1}


@dataclass(frozen=True)
class _Geo:
    """Port codes, per-country port choices and the table of transshipment strings."""

    locodes: np.ndarray
    index: dict[str, int]
    routes: list[str]
    legit_routes: dict[str, tuple[np.ndarray, np.ndarray, float]]
    launder_early: np.ndarray
    launder_late: np.ndarray
    launder_one_early: np.ndarray
    launder_one_late: np.ndarray

    def port(self, code: str) -> int:
        return self.index[code]


def _build_geo(rng: np.random.Generator) -> _Geo:
    frame = ports()
    locodes = frame["locode"].to_numpy(dtype=object)
    index = {c: i for i, c in enumerate(locodes)}
    used = (
        {c for d in _LOAD_PORTS.values() for c in d}
        | {c for t in _DISCHARGE_PORTS.values() for c in t}
        | set(_LAUNDER_HUBS_EARLY)
        | set(_LAUNDER_HUBS_LATE)
        | {c for a, b, _ in _LEGIT_HUBS.values() for c in a + b}
    )
    missing = sorted(used - set(index))
    if missing:
        raise ValueError(f"ports.csv lacks LOCODEs used by the generator: {missing}")
    routes: list[str] = [""]
    legit: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for region, (first, second, share) in _LEGIT_HUBS.items():
        ids, weights = [], []
        for rank, hub in enumerate(first):
            ids.append(len(routes))
            routes.append(hub)
            weights.append(0.85 / (rank + 1))
            for rank2, hub2 in enumerate(second):
                ids.append(len(routes))
                routes.append(f"{hub};{hub2}")
                weights.append(0.15 / (rank + 1) / (rank2 + 1))
        w = np.array(weights)
        legit[region] = (np.array(ids), w / w.sum(), share)

    def launder_pool(hubs: tuple[str, ...], hops: tuple[int, int], size: int) -> np.ndarray:
        w = 1.0 / (1.0 + np.arange(len(hubs)) * 0.4)
        w /= w.sum()
        ids = []
        for _ in range(size):
            k = int(rng.integers(hops[0], hops[1] + 1))
            pick = rng.choice(len(hubs), size=k, replace=False, p=w)
            ids.append(len(routes))
            routes.append(";".join(hubs[j] for j in pick))
        return np.array(ids)

    early = launder_pool(_LAUNDER_HUBS_EARLY, (2, 4), 300)
    late = launder_pool(_LAUNDER_HUBS_LATE, (2, 4), 300)
    one_early = launder_pool(_LAUNDER_HUBS_EARLY, (1, 1), 40)
    one_late = launder_pool(_LAUNDER_HUBS_LATE, (1, 1), 40)
    return _Geo(locodes, index, routes, legit, early, late, one_early, one_late)


# ================================================================= parties

_SECTORS: dict[str, tuple[tuple[str, ...], str]] = {
    "steel": (("720839", "720851", "721049", "730890"), "steel"),
    "metal": (("740311", "760110", "760120"), "metal"),
    "fertiliser": (("310210", "310530"), "chemical"),
    "plastics": (("390110", "390761", "392690"), "plastics"),
    "textile": (("520942", "610910", "620342"), "textile"),
    "footwear": (("640299", "610910"), "textile"),
    "furniture": (("940360", "940171"), "furniture"),
    "electronics": (("847130", "851713", "851762", "850440"), "electronics"),
    "solar": (("854143", "850440"), "electronics"),
    "appliances": (("841810", "850440"), "electronics"),
    "tyres": (("401110",), "rubber"),
    "glass": (("700529",), "glass"),
    "kitchen": (("732393", "691110"), "consumer"),
    "auto": (("870899", "848180"), "machinery"),
    "toys": (("950300", "392690"), "consumer"),
    "cement": (("252329",), "mineral"),
    "agri": (("090111", "030617", "071410"), "agri"),
    "ceramics": (("690911", "690919", "691490", "690790", "691110"), "ceramic"),
    "refractory": (("690220", "690290"), "refractory"),
    "ore": (("260111", "260112"), "mineral"),
    "zircon": (("261510", "282560"), "mineral"),
    "solder": (("381010", "382499"), "chemical"),
    "chemicals": (("382499", "284610", "282560"), "chemical"),
    "ferroalloy": (("720299",), "metal"),
}
_SECTOR_WEIGHTS_CN = {
    "steel": 10,
    "metal": 4,
    "fertiliser": 2,
    "plastics": 7,
    "textile": 10,
    "footwear": 4,
    "furniture": 7,
    "electronics": 10,
    "solar": 4,
    "appliances": 4,
    "tyres": 3,
    "glass": 2,
    "kitchen": 4,
    "auto": 5,
    "toys": 5,
    "cement": 1,
    "ceramics": 8,
    "refractory": 4,
    "chemicals": 3,
    "solder": 2,
    "ferroalloy": 2,
    "zircon": 1.5,
}
_SECTOR_WEIGHTS_OTHER = {
    "textile": 10,
    "footwear": 6,
    "furniture": 8,
    "agri": 12,
    "electronics": 8,
    "plastics": 5,
    "steel": 4,
    "metal": 2,
    "ceramics": 4,
    "tyres": 3,
    "auto": 4,
    "ore": 3,
    "zircon": 2,
    "refractory": 1,
    "chemicals": 1,
    "kitchen": 2,
    "toys": 2,
    "fertiliser": 2,
    "solder": 1,
}
_MAX_CODES = 4
_MAX_CONSIGNEES = 12


@dataclass
class _Registry:
    """Companies, persons, ownership, officers and watchlist entries under construction."""

    names: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    incorporated: list[int] = field(default_factory=list)  # days relative to the start date
    agent: list[str] = field(default_factory=list)
    employees: list[float] = field(default_factory=list)
    in_registry: list[bool] = field(default_factory=list)
    person_names: list[str] = field(default_factory=list)
    person_country: list[str] = field(default_factory=list)
    ownership: list[tuple[str, int, int, float]] = field(default_factory=list)
    officers: list[tuple[int, int, str]] = field(default_factory=list)
    watchlist: list[dict] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)

    def company(
        self,
        rng: np.random.Generator,
        country: str,
        industry: str,
        *,
        incorporated: int,
        employees: float,
        in_registry: bool = True,
        address: str | None = None,
        agent: str = "",
        name: str | None = None,
        core: str | None = None,
    ) -> int:
        if name is None:
            for _ in range(50):
                name = tx.company_name(rng, country, industry, core=core)
                if name not in self.used_names:
                    break
            else:
                name = f"{name} ({len(self.names)})"
        self.used_names.add(name)
        self.names.append(name)
        self.country.append(country)
        self.address.append(address if address is not None else tx.address(rng, country))
        self.incorporated.append(incorporated)
        self.agent.append(agent)
        self.employees.append(employees)
        self.in_registry.append(in_registry)
        return len(self.names) - 1

    def person(self, rng: np.random.Generator, country: str, name: str | None = None) -> int:
        self.person_names.append(name or tx.person_name(rng, country))
        self.person_country.append(country)
        return len(self.person_names) - 1

    def own(self, owner_kind: str, owner: int, owned: int, share: float) -> None:
        self.ownership.append((owner_kind, owner, owned, round(float(share), 2)))


@dataclass
class _Parties:
    """Exporters, consignees and declarants as arrays the row generator indexes."""

    exp_entity: np.ndarray
    exp_country: np.ndarray
    exp_codes: np.ndarray
    exp_code_cum: np.ndarray
    exp_vmult: np.ndarray
    exp_dens: np.ndarray
    exp_desc: np.ndarray
    exp_ports: np.ndarray
    exp_cons: np.ndarray
    exp_cons_cum: np.ndarray
    exp_declarants: np.ndarray
    exp_activity: np.ndarray
    exp_noise: np.ndarray
    exp_actor: np.ndarray  # bool: a repeat offender
    exp_front: np.ndarray  # bool: a front of a shell network
    exp_network: np.ndarray  # network id or -1
    exp_p_violation: np.ndarray
    exp_typ_cum: np.ndarray  # (n, 7) cumulative typology preferences of actors
    exp_tcode: np.ndarray  # (n, 8) declared code the actor uses per typology, -1 none
    exp_true: np.ndarray  # controlled code an actor really ships
    exp_window: np.ndarray  # (n, 2) first and last active day of actors
    exp_undervalue_p: np.ndarray
    exp_lic_ok: np.ndarray  # bool: licensed rare-earth exporter
    cons_entity: np.ndarray
    cons_country: np.ndarray
    cons_dest: np.ndarray
    cons_ports: np.ndarray
    cons_front: np.ndarray
    cons_network: np.ndarray
    cons_front_hard: np.ndarray
    cons_known: np.ndarray
    network_fronts: list[np.ndarray]
    hard_fronts: np.ndarray
    front_consignees: np.ndarray
    neighbour_consignees: np.ndarray
    declarant_ids: np.ndarray
    names: np.ndarray  # (entities, 6): canonical name and 5 variants
    registry: _Registry


def _weighted(rng: np.random.Generator, table: dict[str, float], size: int | None = None):
    keys = list(table)
    w = np.array([table[k] for k in keys], dtype=float)
    pick = rng.choice(len(keys), size=size, p=w / w.sum())
    if size is None:
        return keys[int(pick)]
    return np.array(keys, dtype=object)[pick]


def _cum(weights: np.ndarray) -> np.ndarray:
    c = np.cumsum(weights, axis=-1)
    return c / c[..., -1:]


class _PartyBuilder:
    """Builds every party of the world; loops here run over companies, never over rows."""

    def __init__(
        self,
        rng: np.random.Generator,
        cat: _Catalog,
        geo: _Geo,
        knobs: WorldKnobs,
        days: int,
        start: np.datetime64,
    ) -> None:
        self.rng, self.cat, self.geo, self.knobs, self.days = rng, cat, geo, knobs, days
        self.start = start
        self.reg = _Registry()
        self.exporters: list[dict] = []
        self.consignees: list[dict] = []
        self.networks: list[dict] = []

    # -------------------------------------------------------------- helpers
    def _legit_company(
        self, country: str, industry: str, *, new_share: float = 0.08, in_registry: bool = True
    ) -> int:
        rng = self.rng
        new = rng.random() < new_share
        inc = -int(rng.integers(30, 730)) if new else -int(rng.integers(3 * 365, 35 * 365))
        emp = float(np.round(rng.lognormal(4.0, 1.2))) if not new else float(rng.integers(2, 40))
        e = self.reg.company(rng, country, industry, incorporated=inc, employees=emp, in_registry=in_registry)
        self._legit_owners(e, country)
        return e

    def _legit_owners(self, e: int, country: str) -> None:
        rng, reg = self.rng, self.reg
        k = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        shares = rng.dirichlet(np.ones(k) * 2) * 100
        for j in range(k):
            p = reg.person(rng, country)
            reg.own("P", p, e, shares[j])
            reg.officers.append((p, e, "legal representative" if j == 0 else "director"))
        if rng.random() < 0.4:
            reg.officers.append((reg.person(rng, country), e, "secretary"))

    def _ports_for(self, country: str, k: int = 2) -> list[int]:
        table = _LOAD_PORTS[country]
        picks = [_weighted(self.rng, table) for _ in range(k)]
        return [self.geo.port(p) for p in picks]

    def _discharge_for(self, country: str) -> list[int]:
        options = _DISCHARGE_PORTS[country]
        a = options[int(self.rng.integers(len(options)))]
        b = options[int(self.rng.integers(len(options)))] if self.rng.random() < 0.3 else a
        return [self.geo.port(a), self.geo.port(b)]

    def _consignee(
        self,
        entity: int,
        country: str,
        *,
        front: bool = False,
        network: int = -1,
        hard: bool = False,
        known: bool = True,
    ) -> int:
        dest = country
        self.consignees.append(
            dict(
                entity=entity,
                country=country,
                dest=dest,
                ports=self._discharge_for(country),
                front=front,
                network=network,
                hard=hard,
                known=known,
            )
        )
        return len(self.consignees) - 1

    def _exporter(self, entity: int, country: str, codes: list[str], **kw) -> int:
        rng, cat = self.rng, self.cat
        idx = [cat.index[c] for c in codes][:_MAX_CODES]
        w = rng.dirichlet(np.ones(len(idx)) * 1.5)
        dens = [rng.uniform(cat.dmin[i], cat.dmax[i]) for i in idx]
        vmult = list(np.exp(rng.normal(0, 0.8 * cat.vsig[idx])))
        desc = [cat.desc_start[i] + int(rng.integers(cat.desc_count[i])) for i in idx]
        rec = dict(
            entity=entity,
            country=country,
            codes=idx,
            w=list(w),
            dens=dens,
            vmult=vmult,
            desc=desc,
            ports=self._ports_for(country),
            activity=float(rng.lognormal(0, 1.0)),
            noise=float(rng.choice([0.08, 0.2, 0.45], p=[0.6, 0.3, 0.1])),
            actor=False,
            front=False,
            network=-1,
            p_violation=0.0,
            typ=np.zeros(len(TYPOLOGIES)),
            tcode=[-1] * (len(TYPOLOGIES) + 1),
            true=-1,
            window=(0, self.days),
            undervalue_p=0.0,
            lic_ok=False,
            cons=[],
            cons_w=[],
            declarants=[],
        )
        rec.update(kw)
        self.exporters.append(rec)
        return len(self.exporters) - 1

    def _attach_consignees(
        self, x: int, pool: np.ndarray, k: int, extra: list[int] | None = None, extra_w: float = 0.1
    ) -> None:
        rng, rec = self.rng, self.exporters[x]
        pool = pool[self._cons_country_array()[pool] != rec["country"]]
        chosen = list(rng.choice(pool, size=min(k, len(pool)), replace=False))
        w = list(rng.dirichlet(np.ones(len(chosen))))
        for c in extra or []:
            chosen.append(int(c))
            w.append(extra_w)
        rec["cons"], rec["cons_w"] = chosen[:_MAX_CONSIGNEES], w[:_MAX_CONSIGNEES]

    def _cons_country_array(self) -> np.ndarray:
        if len(getattr(self, "_cc_cache", ())) != len(self.consignees):
            self._cc_cache = np.array([c["country"] for c in self.consignees], dtype=object)
        return self._cc_cache

    # -------------------------------------------------------------- stages
    def ordinary_consignees(self) -> np.ndarray:
        rng, reg = self.rng, self.reg
        countries = _weighted(rng, _CONSIGNEE_COUNTRIES, self.knobs.consignees)
        out = []
        for country in countries:
            industry = _weighted(
                rng,
                {
                    "consumer": 5,
                    "trade": 2,
                    "steel": 1,
                    "electronics": 1,
                    "chemical": 1,
                    "metal": 0.6,
                    "magnet": 0.3,
                    "ceramic": 0.4,
                    "machinery": 1,
                },
            )
            in_reg = rng.random() < 0.6
            e = self._legit_company(country, industry, new_share=0.06, in_registry=in_reg)
            if country in ("HK", "SG", "AE") and rng.random() < 0.35:
                reg.address[e] = tx.AGENT_ADDRESSES[country][
                    int(rng.integers(len(tx.AGENT_ADDRESSES[country])))
                ]
                reg.agent[e] = tx.AGENT_NAMES[int(rng.integers(len(tx.AGENT_NAMES)))]
            out.append(self._consignee(e, country, known=in_reg and rng.random() < 0.85))
        return np.array(out)

    def declarants(self) -> None:
        self.declarant_country = _weighted(self.rng, _EXPORTER_COUNTRIES, self.knobs.declarants)
        self.dodgy_declarants = self.rng.choice(self.knobs.declarants, size=8, replace=False)

    def _declarants_for(self, country: str, dodgy: bool = False) -> list[int]:
        rng = self.rng
        pool = np.flatnonzero(self.declarant_country == country)
        if len(pool) == 0:
            pool = np.arange(self.knobs.declarants)
        picks = [int(rng.choice(pool)), int(rng.choice(pool))]
        if dodgy and rng.random() < 0.6:
            picks[0] = int(rng.choice(self.dodgy_declarants))
        return picks

    def legit_exporters(self, consignees: np.ndarray) -> None:
        rng, reg = self.rng, self.reg
        n_groups = max(1, self.knobs.legit_exporters // 10)
        parents = []
        for _ in range(n_groups):
            country = "CN" if rng.random() < 0.8 else _weighted(rng, _EXPORTER_COUNTRIES)
            parents.append(self._legit_company(country, "trade", new_share=0.0))
        for _ in range(self.knobs.legit_exporters):
            country = _weighted(rng, _EXPORTER_COUNTRIES)
            weights = _SECTOR_WEIGHTS_CN if country == "CN" else _SECTOR_WEIGHTS_OTHER
            sector = _weighted(rng, weights)
            codes, industry = _SECTORS[sector]
            k = int(rng.integers(1, min(4, len(codes)) + 1))
            picks = list(rng.choice(codes, size=k, replace=False))
            e = self._legit_company(country, industry, in_registry=rng.random() > 0.02)
            if rng.random() < 0.15:
                reg.own("C", parents[int(rng.integers(len(parents)))], e, 100.0)
            x = self._exporter(
                e,
                country,
                picks,
                declarants=self._declarants_for(country),
                undervalue_p=0.015 if rng.random() < 0.1 else 0.0,
            )
            self._attach_consignees(x, consignees, int(rng.integers(2, 11)))

    def licensed_exporters(self, consignees: np.ndarray) -> None:
        rng = self.rng
        buyers = consignees[np.isin([self.consignees[c]["country"] for c in consignees], _RE_BUYER_COUNTRIES)]
        n = self.knobs.licensed_re_exporters
        plan = (
            ["CN"] * int(n * 0.7)
            + ["MY"] * max(1, n // 10)
            + ["JP"] * max(1, n // 10)
            + ["KR"] * max(1, n // 20)
        )
        plan += ["VN"] * (n - len(plan))
        for country in plan[:n]:
            if country in ("JP", "KR"):
                codes = ["850511"] if rng.random() < 0.6 else ["850511", "284690"]
                industry = "magnet"
            elif country == "CN" and rng.random() < 0.35:
                codes, industry = ["850511"], "magnet"
            else:
                codes = ["284690", "280530", "284610"][: int(rng.integers(1, 4))]
                industry = "rare_earth"
            e = self._legit_company(country, industry, new_share=0.0)
            x = self._exporter(e, country, codes, lic_ok=True, declarants=self._declarants_for(country))
            self.exporters[x]["activity"] *= 2.0  # established producers ship often
            self._attach_consignees(x, buyers, int(rng.integers(3, 10)))

    def networks_and_watchlist(self) -> None:
        """Listed entities, the shell networks hanging from some of them, other list noise."""
        rng, reg = self.rng, self.reg
        nominees = [reg.person(rng, c) for c in rng.choice(["HK", "SG", "AE", "CY", "SC", "MY"], size=14)]
        self.nominees = nominees
        for k in range(self.knobs.networks):
            root_is_person = rng.random() < 0.35
            root_country = _weighted(rng, {"CN": 0.5, "HK": 0.2, "RU": 0.15, "IR": 0.05, "AE": 0.1})
            core = tx.name_core(rng, root_country)
            agent_country = _weighted(
                rng, {"HK": 0.4, "AE": 0.25, "SG": 0.1, "SC": 0.1, "VG": 0.1, "TR": 0.05}
            )
            addresses = tx.AGENT_ADDRESSES[agent_country]
            agent = tx.AGENT_NAMES[int(rng.integers(len(tx.AGENT_NAMES)))]
            if root_is_person:
                root = reg.person(rng, root_country)
                root_name = reg.person_names[root]
                self._watch_person(root, root_country)
                top_owner = ("P", root)
            else:
                in_reg = rng.random() < 0.6
                root = reg.company(
                    rng,
                    root_country,
                    _weighted(rng, {"rare_earth": 3, "magnet": 2, "trade": 3, "mineral": 1}),
                    incorporated=-int(rng.integers(5 * 365, 25 * 365)),
                    employees=float(rng.integers(50, 3000)),
                    in_registry=in_reg,
                    core=core,
                )
                root_name = reg.names[root]
                self._watch_company(root, in_registry=in_reg)
                top_owner = ("C", root)
                if not in_reg:
                    # the listed company is not in the registry: the chain starts at its
                    # listed owner, a person (linked to the company by name only)
                    p = reg.person(rng, root_country)
                    self._watch_person(p, root_country)
                    top_owner = ("P", p)
            net = dict(
                root_name=root_name,
                core=core,
                fronts_cons=[],
                fronts_exp=[],
                agent_country=agent_country,
            )
            # chain of holdings: depth 1-3 between root and fronts
            depth = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
            parent = top_owner
            for _ in range(depth - 1):
                h = reg.company(
                    rng,
                    agent_country,
                    "trade",
                    incorporated=-int(rng.integers(200, 1500)),
                    employees=float(rng.integers(0, 3)),
                    address=addresses[int(rng.integers(len(addresses)))],
                    agent=agent,
                )
                self._hold(parent, h, float(rng.choice([100.0, 75.0, 60.0])))
                parent = ("C", h)
            n_cons = int(rng.integers(2, 5))
            for j in range(n_cons + 1):
                is_exporter = j == n_cons
                country = (
                    _weighted(rng, _FRONT_EXPORTER_COUNTRIES)
                    if is_exporter
                    else _weighted(rng, _FRONT_CONSIGNEE_COUNTRIES)
                )
                kind = rng.choice(["variant", "alias", "unrelated"], p=[0.3, 0.1, 0.6])
                name = None
                if kind in ("variant", "alias"):
                    name = tx.company_name(rng, country, "trade", core=core.split()[-1])
                    if name in reg.used_names:
                        name = None
                in_reg = rng.random() > (0.4 if is_exporter else 0.15)
                f = reg.company(
                    rng,
                    country,
                    "trade",
                    incorporated=-int(rng.integers(30, 720)),
                    employees=float(rng.integers(0, 6)),
                    in_registry=in_reg,
                    name=name,
                    address=(
                        addresses[int(rng.integers(len(addresses)))]
                        if country == agent_country or rng.random() < 0.5
                        else tx.AGENT_ADDRESSES.get(country, addresses)[0]
                    ),
                    agent=agent,
                )
                self._hold(parent, f, float(rng.uniform(51, 100)))
                if kind == "alias":
                    self._add_alias(root_name, reg.names[f])
                hard = kind == "unrelated" and depth >= 2
                if is_exporter:
                    net["fronts_exp"].append((f, country))
                else:
                    c = self._consignee(
                        f,
                        country,
                        front=True,
                        network=k,
                        hard=hard,
                        known=in_reg and rng.random() < 0.7,
                    )
                    net["fronts_cons"].append(c)
            self.networks.append(net)
        for _ in range(max(0, 150 - len(reg.watchlist))):  # listed entities with no trade here
            if rng.random() < 0.35:
                country = _weighted(rng, {"CN": 3, "RU": 3, "IR": 2, "HK": 1, "AE": 1, "TR": 1})
                self._watch_person(reg.person(rng, country), country)
            else:
                country = _weighted(
                    rng, {"CN": 4, "RU": 3, "IR": 2, "HK": 2, "AE": 1, "KP": 1, "TR": 1, "BY": 1}
                )
                in_reg = rng.random() < 0.2
                e = reg.company(
                    rng,
                    country,
                    _weighted(
                        rng,
                        {
                            "rare_earth": 1,
                            "magnet": 1,
                            "trade": 3,
                            "electronics": 2,
                            "machinery": 1,
                        },
                    ),
                    incorporated=-int(rng.integers(3 * 365, 30 * 365)),
                    employees=float(rng.integers(10, 2000)),
                    in_registry=in_reg,
                )
                self._watch_company(e, in_registry=in_reg)

    def _hold(self, parent: tuple[str, int], e: int, share: float) -> None:
        """Company e owned by parent ("P" person or "C" company), with a nominee board."""
        reg = self.reg
        reg.own(parent[0], parent[1], e, share)
        if parent[0] == "P":  # the listed person sits on the board
            reg.officers.append((parent[1], e, "director"))
        self._nominee_board(e)

    def _nominee_board(self, e: int) -> None:
        rng, reg = self.rng, self.reg
        for p in rng.choice(self.nominees, size=int(rng.integers(1, 3)), replace=False):
            reg.officers.append((int(p), e, "director"))

    def _watch_common(self, country: str) -> dict:
        rng = self.rng
        first = self.start - np.timedelta64(int(rng.integers(60, 2500)), "D")
        dataset, program, sanction = [
            ("us_trade_csl", "US-BIS-EL", "Entity List - Bureau of Industry and Security"),
            ("us_ofac_sdn", "US-OFAC-SDN", "OFAC SDN List"),
            ("eu_fsf", "EU-RUS-833", "EU Financial Sanctions Files"),
            ("gb_hmt_sanctions", "UK-RUS", "UK HM Treasury Consolidated List"),
        ][int(rng.choice(4, p=[0.45, 0.25, 0.2, 0.1]))]
        return dict(
            countries=country.lower(),
            sanctions=sanction,
            program_ids=program,
            dataset=dataset,
            first_seen=f"{first}T00:00:00",
            last_seen=f"{self.start - np.timedelta64(1, 'D')}T00:00:00",
            last_change=f"{first}T00:00:00",
        )

    def _watch_company(self, e: int, *, in_registry: bool) -> None:
        rng, reg = self.rng, self.reg
        name = reg.names[e]
        aliases = tx.watch_aliases(rng, name, count=int(rng.integers(1, 4)))
        rec = dict(
            ref=("C", e),
            schema="Company",
            name=name,
            aliases=";".join(aliases),
            addresses=reg.address[e],
            in_registry=in_registry,
            identifiers=f"USCC 9133{int(rng.integers(10**9, 10**10))}" if reg.country[e] == "CN" else "",
            **self._watch_common(reg.country[e]),
        )
        reg.watchlist.append(rec)

    def _watch_person(self, p: int, country: str) -> None:
        rng, reg = self.rng, self.reg
        born = (
            f"{int(rng.integers(1950, 1990))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        )
        name = reg.person_names[p]
        alias = " ".join(reversed(name.split())) if " " in name else name
        reg.watchlist.append(
            dict(
                ref=("P", p),
                schema="Person",
                name=name,
                aliases=alias.upper(),
                birth_date=born,
                in_registry=False,
                **self._watch_common(country),
            )
        )

    def _add_alias(self, root_name: str, alias: str) -> None:
        for rec in self.reg.watchlist:
            if rec["name"] == root_name:
                rec["aliases"] = ";".join([a for a in rec["aliases"].split(";") if a] + [alias])
                return

    def actors(self, consignees: np.ndarray) -> None:
        """Repeat offenders: registered traders and the exporter fronts of shell networks."""
        rng, cat = self.rng, self.cat
        neighbour = consignees[np.isin([self.consignees[c]["country"] for c in consignees], _NEIGHBOURS)]
        self.neighbour_pool = neighbour
        specs: list[tuple[int, str, int, bool]] = []
        for _ in range(self.knobs.registered_actors):
            country = _weighted(rng, _ACTOR_COUNTRIES)
            network = int(rng.integers(len(self.networks))) if rng.random() < 0.4 else -1
            industry = _weighted(
                rng,
                {
                    "trade": 3,
                    "mineral": 2,
                    "ceramic": 2,
                    "chemical": 1,
                    "rare_earth": 1,
                    "metal": 1,
                },
            )
            e = self._legit_company(country, industry, new_share=0.35)
            if network >= 0 and rng.random() < 0.3:
                holder = self.networks[network]["fronts_exp"]
                if holder:
                    self.reg.own("C", holder[0][0], e, float(rng.uniform(20, 49)))
            specs.append((e, country, network, False))
        for k, net in enumerate(self.networks):
            for f, country in net["fronts_exp"]:
                specs.append((f, country, k, True))
        mix = np.array(list(_ACTOR_TYPOLOGY_MIX.values()))
        names = list(_ACTOR_TYPOLOGY_MIX)
        for i, (e, country, network, front) in enumerate(specs):
            # the first actors cover every typology twice, so small worlds have them all
            guaranteed = i < 2 * len(names)
            main = (
                names[i % len(names)] if guaranteed else names[int(rng.choice(len(names), p=mix / mix.sum()))]
            )
            other = names[int(rng.choice(len(names), p=mix / mix.sum()))]
            typ = np.zeros(len(TYPOLOGIES))
            typ[_TI[main] - 1] += 0.75 if rng.random() < 0.5 else 1.0
            typ[_TI[other] - 1] += 0.25 if typ.sum() < 1 else 0.0
            tcode = [-1] * (len(TYPOLOGIES) + 1)
            tcode[_TI["mislabel"]] = cat.index[_weighted(rng, _MISLABEL_COVERS)]
            tcode[_TI["concealment"]] = cat.index[_weighted(rng, _CONCEAL_COVERS)]
            tcode[_TI["blending"]] = cat.index[_weighted(rng, _BLEND_CODES)]
            tcode[_TI["undervaluation"]] = cat.index[_weighted(rng, _UNDERVALUE_CODES)]
            true = cat.index[_weighted(rng, _CONTROLLED_MIX)]
            for t in ("routing", "shell", "no_license"):
                tcode[_TI[t]] = true
            codes = sorted({cat.code[tcode[_TI[t]]] for t, v in zip(TYPOLOGIES, typ, strict=True) if v > 0})
            if front or rng.random() < 0.4:  # a front of ordinary trade
                sector = _weighted(rng, _SECTOR_WEIGHTS_CN)
                codes.append(str(rng.choice(_SECTORS[sector][0])))
            if typ[_TI["blending"] - 1] > 0 or typ[_TI["mislabel"] - 1] > 0:
                codes.append(cat.code[true])  # a rare-earth producer or trader at heart
            codes = list(dict.fromkeys(codes))[:_MAX_CODES]
            start, end = 0, self.days
            if not guaranteed and rng.random() < 0.3:  # new schemes appear, old ones stop
                if rng.random() < 0.6:
                    start = int(rng.uniform(0.2, 0.7) * self.days)
                else:
                    end = int(rng.uniform(0.4, 0.8) * self.days)
            x = self._exporter(
                e,
                country,
                codes,
                actor=True,
                front=front,
                network=network,
                p_violation=float(rng.uniform(0.3, 0.85)),
                typ=typ,
                tcode=tcode,
                true=true,
                window=(start, end),
                declarants=self._declarants_for(country, dodgy=True),
            )
            pool = consignees
            if typ[_TI["concealment"] - 1] > 0.5:
                pool = neighbour
            extra = self.networks[network]["fronts_cons"] if network >= 0 else []
            self._attach_consignees(x, pool, int(rng.integers(2, 7)), extra=extra, extra_w=0.15)

    def unknowing_legit(self) -> None:
        """Some licensed exporters ship to shell fronts without knowing it."""
        rng = self.rng
        fronts = [c for net in self.networks for c in net["fronts_cons"]]
        if not fronts:
            return
        for rec in self.exporters:
            if rec["lic_ok"] and rng.random() < 0.1 and len(rec["cons"]) < _MAX_CONSIGNEES:
                rec["cons"].append(int(rng.choice(fronts)))
                rec["cons_w"].append(float(rng.uniform(0.02, 0.08)))

    # -------------------------------------------------------------- assembly
    def build(self) -> _Parties:
        rng = self.rng
        self.declarants()
        consignees = self.ordinary_consignees()
        self.legit_exporters(consignees)
        self.licensed_exporters(consignees)
        self.networks_and_watchlist()
        self.actors(consignees)
        self.unknowing_legit()
        reg = self.reg
        names = np.empty((len(reg.names), 6), dtype=object)
        for e, name in enumerate(reg.names):
            names[e, 0] = name
            names[e, 1:] = tx.name_variants(rng, name, count=5)
        ex, co = self.exporters, self.consignees
        n = len(ex)

        def pad(key: str, width: int, fill: float) -> np.ndarray:
            out = np.full((n, width), fill, dtype=float)
            for i, rec in enumerate(ex):
                vals = rec[key][:width]
                out[i, : len(vals)] = vals
            return out

        codes = pad("codes", _MAX_CODES, -1).astype(np.int64)
        code_w = pad("w", _MAX_CODES, 0.0)
        cons = pad("cons", _MAX_CONSIGNEES, -1).astype(np.int64)
        cons_w = pad("cons_w", _MAX_CONSIGNEES, 0.0)
        typ = np.array([rec["typ"] for rec in ex])
        typ_cum = np.where(typ.sum(1, keepdims=True) > 0, _cum(typ + 1e-12), 0.0)
        fronts_by_net = [np.array(net["fronts_cons"], dtype=np.int64) for net in self.networks]
        hard_fronts = np.array([i for i, c in enumerate(co) if c["hard"]], dtype=np.int64)
        all_fronts = np.array([i for i, c in enumerate(co) if c["front"]], dtype=np.int64)
        return _Parties(
            exp_entity=np.array([r["entity"] for r in ex]),
            exp_country=np.array([r["country"] for r in ex], dtype=object),
            exp_codes=codes,
            exp_code_cum=_cum(code_w),
            exp_vmult=pad("vmult", _MAX_CODES, 1.0),
            exp_dens=pad("dens", _MAX_CODES, 1.0),
            exp_desc=pad("desc", _MAX_CODES, 0).astype(np.int64),
            exp_ports=np.array([r["ports"] for r in ex]),
            exp_cons=cons,
            exp_cons_cum=_cum(cons_w),
            exp_declarants=np.array([r["declarants"] for r in ex]),
            exp_activity=np.array([r["activity"] for r in ex]),
            exp_noise=np.array([r["noise"] for r in ex]),
            exp_actor=np.array([r["actor"] for r in ex]),
            exp_front=np.array([r["front"] for r in ex]),
            exp_network=np.array([r["network"] for r in ex]),
            exp_p_violation=np.array([r["p_violation"] for r in ex]),
            exp_typ_cum=typ_cum,
            exp_tcode=np.array([r["tcode"] for r in ex], dtype=np.int64),
            exp_true=np.array([r["true"] for r in ex], dtype=np.int64),
            exp_window=np.array([r["window"] for r in ex], dtype=np.int64),
            exp_undervalue_p=np.array([r["undervalue_p"] for r in ex]),
            exp_lic_ok=np.array([r["lic_ok"] for r in ex]),
            cons_entity=np.array([c["entity"] for c in co]),
            cons_country=np.array([c["country"] for c in co], dtype=object),
            cons_dest=np.array([c["dest"] for c in co], dtype=object),
            cons_ports=np.array([c["ports"] for c in co]),
            cons_front=np.array([c["front"] for c in co]),
            cons_network=np.array([c["network"] for c in co]),
            cons_front_hard=np.array([c["hard"] for c in co]),
            cons_known=np.array([c["known"] for c in co]),
            network_fronts=fronts_by_net,
            hard_fronts=hard_fronts,
            front_consignees=all_fronts,
            neighbour_consignees=self.neighbour_pool,
            declarant_ids=np.array(
                [f"BRK{v:05d}" for v in rng.choice(90000, size=self.knobs.declarants, replace=False) + 10000],
                dtype=object,
            ),
            names=names,
            registry=reg,
        )


# ================================================================= rows: legitimate trade


def _pick_slot(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: one column index per row from cumulative weights."""
    u = rng.random(len(cum))
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def _goods(
    rng: np.random.Generator,
    cat: _Catalog,
    code: np.ndarray,
    dens: np.ndarray,
    vmult: np.ndarray,
    *,
    small: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Quantities, packing and value for rows of the given codes (all legitimate-looking)."""
    n = len(code)
    vol_c = np.array([CONTAINERS[k].volume_m3 for k in ("20GP", "40GP", "40HC")])
    pay_c = np.array([CONTAINERS[k].payload_kg for k in ("20GP", "40GP", "40HC")])
    heavy = dens >= 0.9
    u = rng.random(n)
    ctype = np.where(heavy, np.where(u < 0.92, 0, 1), np.where(u < 0.55, 2, np.where(u < 0.9, 1, 0)))
    cap = np.minimum(
        pay_c[ctype] * rng.uniform(0.80, 0.97, n),
        vol_c[ctype] * rng.uniform(0.70, 0.92, n) * dens * 1000.0,
    )
    ncont = np.minimum(rng.geometric(0.45, n), 20)
    gross = ncont * cap * rng.uniform(0.85, 1.0, n)
    lot = cat.small_median[code] > 0
    if small is None:
        small = lot | (rng.random(n) < 0.06)
    med = np.where(lot, cat.small_median[code], cap * 0.2)
    small_gross = np.clip(med * rng.lognormal(0, 0.7, n), 30.0, pay_c[ctype] * 0.9)
    gross = np.where(small, small_gross, gross)
    ncont = np.where(small, 1, ncont)
    ctype = np.where(small & lot, 0, ctype)
    net = gross * rng.uniform(cat.net_lo[code], cat.net_hi[code])
    volume = gross / (dens * 1000.0) * rng.lognormal(0, 0.03, n)
    vpk = cat.vtyp[code] * vmult * np.exp(rng.normal(0, 0.6 * cat.vsig[code]))
    vpk = np.clip(vpk, cat.vlow[code] * 0.3, cat.vhigh[code] * 3.0)
    pack_kg = np.exp(rng.uniform(np.log(cat.pack_min[code]), np.log(cat.pack_max[code])))
    return dict(
        gross=gross,
        net=net,
        volume=volume,
        ncont=ncont,
        ctype=ctype,
        vpk=vpk,
        packages=np.maximum(1, np.ceil(net / pack_kg)),
        code=code,
    )


def _day_counts(rng: np.random.Generator, days: int, rows_per_day: int, start: np.datetime64) -> np.ndarray:
    """Rows per day: the history total split by weekday (quiet Sundays), then the manifest."""
    dates = start + np.arange(days + 1).astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    w = np.where(weekday == 6, 0.35, np.where(weekday == 5, 0.7, 1.0))[:days]
    hist = rng.multinomial(days * rows_per_day, w / w.sum())
    return np.append(hist, rows_per_day)


def _choose_exporters(
    rng: np.random.Generator, p: _Parties, day: np.ndarray, actor_share: float
) -> np.ndarray:
    n = len(day)
    legit = np.flatnonzero(~p.exp_actor)
    actors = np.flatnonzero(p.exp_actor)
    w_legit = p.exp_activity[legit] / p.exp_activity[legit].sum()
    exp = legit[rng.choice(len(legit), size=n, p=w_legit)]
    bad = rng.random(n) < actor_share
    w_act = p.exp_activity[actors] / p.exp_activity[actors].sum()
    pending = np.flatnonzero(bad)
    for _ in range(8):  # redraw actors drawn outside their active window
        if len(pending) == 0:
            break
        a = actors[rng.choice(len(actors), size=len(pending), p=w_act)]
        ok = (day[pending] >= p.exp_window[a, 0]) & (day[pending] <= p.exp_window[a, 1])
        exp[pending[ok]] = a[ok]
        pending = pending[~ok]
    return exp


def _effective_violation_rate(cat: _Catalog, p: _Parties) -> np.ndarray:
    """Share of an actor's rows that end up violations: its own schemes plus the controlled
    goods it sends through shell fronts (which are violations whatever else it does)."""
    slot_w = np.diff(np.concatenate([np.zeros((len(p.exp_code_cum), 1)), p.exp_code_cum], axis=1), axis=1)
    ctrl_w = (slot_w * ((p.exp_codes >= 0) & (cat.role[np.maximum(p.exp_codes, 0)] == "controlled"))).sum(
        axis=1
    )
    cons_w = np.diff(np.concatenate([np.zeros((len(p.exp_cons_cum), 1)), p.exp_cons_cum], axis=1), axis=1)
    front_w = (cons_w * ((p.exp_cons >= 0) & p.cons_front[np.maximum(p.exp_cons, 0)])).sum(1)
    via_front = np.where(p.exp_front, 1.0, front_w)
    pv = p.exp_p_violation
    return pv + (1 - pv) * ctrl_w * via_front


def _base_rows(
    rng: np.random.Generator,
    cat: _Catalog,
    geo: _Geo,
    p: _Parties,
    knobs: WorldKnobs,
    counts: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every row as legitimate trade from its exporter's profile."""
    day = np.repeat(np.arange(len(counts)), counts)
    n = len(day)
    act = p.exp_actor
    mean_p = float(
        (p.exp_activity[act] * _effective_violation_rate(cat, p)[act]).sum()
        / max(p.exp_activity[act].sum(), 1e-9)
    )
    actor_share = min(0.2, max(0.0, knobs.violation_rate - 0.004) / max(mean_p, 1e-9))
    exp = _choose_exporters(rng, p, day, actor_share)
    slot = _pick_slot(rng, p.exp_code_cum[exp])
    code = p.exp_codes[exp, slot]
    cons = p.exp_cons[exp, _pick_slot(rng, p.exp_cons_cum[exp])]
    g = _goods(rng, cat, code, p.exp_dens[exp, slot], p.exp_vmult[exp, slot])
    desc = np.where(
        rng.random(n) < 0.8,
        p.exp_desc[exp, slot],
        cat.desc_start[code] + (rng.random(n) * cat.desc_count[code]).astype(int),
    )
    vague = rng.random(n) < 0.015
    desc = np.where(vague, cat.vague[rng.integers(len(cat.vague), size=n)], desc)
    # origin: own country, re-exports of Chinese goods, Laos via Thai/Vietnamese ports,
    # Japanese re-exports of Estonian/Malaysian-processed rare-earth oxides
    exp_country = p.exp_country[exp]
    origin = exp_country.copy()
    reexport = (
        (exp_country != "CN")
        & (rng.random(n) < 0.05)
        & ~np.isin(code, cat.idx(["090111", "030617", "071410"]))
    )
    origin[reexport] = "CN"
    cn_other = (exp_country == "CN") & (rng.random(n) < 0.015)
    origin[cn_other] = np.array(["VN", "MY", "JP", "KR", "DE", "US"], dtype=object)[
        rng.integers(6, size=int(cn_other.sum()))
    ]
    jp_re = (exp_country == "JP") & (code == cat.index["284690"]) & (rng.random(n) < 0.6)
    origin[jp_re] = np.where(rng.random(int(jp_re.sum())) < 0.65, "EE", "MY")
    dest = p.cons_dest[cons].copy()
    region = np.array([_REGION.get(c, "SEA") for c in dest], dtype=object)
    route = np.zeros(n, dtype=np.int64)
    for reg_name, (ids, w, share) in geo.legit_routes.items():
        m = np.flatnonzero((region == reg_name) & (rng.random(n) < share * knobs.transshipment_share / 0.25))
        route[m] = ids[rng.choice(len(ids), size=len(m), p=w)]
    return dict(
        day=day,
        ts=rng.integers(6 * 3600, 22 * 3600, n),
        exp=exp,
        cons=cons,
        code=code,
        true_code=code.copy(),
        gross=g["gross"],
        net=g["net"],
        volume=g["volume"],
        ncont=g["ncont"],
        ctype=g["ctype"],
        packages=g["packages"],
        value=g["net"] * g["vpk"],
        true_value=g["net"] * g["vpk"],
        desc=desc,
        origin=origin,
        dest=dest,
        cons_country=p.cons_country[cons].copy(),
        pol=p.exp_ports[exp, rng.integers(2, size=n)],
        pod=p.cons_ports[cons, rng.integers(2, size=n)],
        route=route,
        declarant=p.exp_declarants[exp, (rng.random(n) > 0.8).astype(int)],
        exp_var=np.where(rng.random(n) < p.exp_noise[exp], rng.integers(1, 6, n), 0),
        cons_var=np.where(rng.random(n) < 0.15, rng.integers(1, 6, n), 0),
        lic=np.full(n, -1, dtype=np.int64),
        nolic=np.zeros(n, dtype=np.int64),
        typ=np.zeros(n, dtype=np.int64),
        sec=np.zeros(n, dtype=np.int64),
        hard=np.zeros(n, dtype=bool),
        scheme=np.full(n, "", dtype=object),
    )


def _legit_noise(rng: np.random.Generator, r: dict[str, np.ndarray]) -> None:
    """Clerical noise in legitimate rows: value keyed in per tonne or with an extra zero."""
    n = len(r["day"])
    typo = (r["typ"] == 0) & (rng.random(n) < 0.003)
    factor = rng.choice([0.1, 10.0, 0.001], size=n, p=[0.45, 0.45, 0.1])
    r["value"] = np.where(typo, r["value"] * factor, r["value"])
    r["true_value"] = np.where(typo, r["true_value"] * factor, r["true_value"])


# ================================================================= violations


def _assign_violations(
    rng: np.random.Generator, p: _Parties, knobs: WorldKnobs, r: dict[str, np.ndarray]
) -> None:
    """Which rows are violations, of which primary/secondary typology, and which are hard."""
    exp = r["exp"]
    n = len(exp)
    actor_row = p.exp_actor[exp]
    viol = actor_row & (rng.random(n) < p.exp_p_violation[exp])
    typ = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(viol)
    typ[idx] = _pick_slot(rng, p.exp_typ_cum[exp[idx]]) + 1
    under = ~actor_row & (rng.random(n) < p.exp_undervalue_p[exp])
    typ[under] = _TI["undervaluation"]
    r["scheme"][under] = "legit_undervaluation"
    viol |= under
    hard = viol & (rng.random(n) < knobs.hard_share)
    sec = np.zeros(n, dtype=np.int64)
    # shell fronts add secondary typologies later (_label_shell_fronts), hence the 0.7
    want_sec = (
        viol & actor_row & ~hard & (rng.random(n) < 0.7 * knobs.secondary_share / (1 - knobs.hard_share))
    )
    for t, options in SECONDARY_OPTIONS.items():
        m = np.flatnonzero(want_sec & (typ == _TI[t]))
        sec[m] = np.array([_TI[o] for o in options])[rng.integers(len(options), size=len(m))]
    r["typ"], r["sec"], r["hard"] = typ, sec, hard


def _has(r: dict[str, np.ndarray], t: str) -> np.ndarray:
    return (r["typ"] == _TI[t]) | (r["sec"] == _TI[t])


def _planted(
    p: _Parties, r: dict[str, np.ndarray], t: str
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Rows carrying typology t: positions, count, exporters, hard flags and the exporters' code for t."""
    m = np.flatnonzero(_has(r, t))
    exp = r["exp"][m]
    return m, len(m), exp, r["hard"][m], p.exp_tcode[exp, _TI[t]]


def _regoods(
    rng: np.random.Generator,
    cat: _Catalog,
    r: dict[str, np.ndarray],
    m: np.ndarray,
    code: np.ndarray,
    *,
    small: np.ndarray | None = None,
) -> None:
    """Replace the goods of rows m by fresh legitimate-looking goods of the given codes."""
    dens = rng.uniform(cat.dmin[code], cat.dmax[code])
    g = _goods(rng, cat, code, dens, np.ones(len(m)), small=small)
    for k in ("gross", "net", "volume", "ncont", "ctype", "packages"):
        r[k][m] = g[k]
    r["code"][m] = code
    r["true_code"][m] = code
    r["value"][m] = g["net"] * g["vpk"]
    r["true_value"][m] = g["net"] * g["vpk"]
    r["desc"][m] = cat.desc_start[code] + (rng.random(len(m)) * cat.desc_count[code]).astype(int)


def _true_vpk(rng: np.random.Generator, cat: _Catalog, code: np.ndarray) -> np.ndarray:
    return cat.vtyp[code] * np.exp(rng.normal(0, cat.vsig[code]))


def _plant_mislabel(rng: np.random.Generator, cat: _Catalog, p: _Parties, r: dict[str, np.ndarray]) -> None:
    """Rare earths declared under a cover code; value, density or description may give it away."""
    m, k, exp, hard, cover = _planted(p, r, "mislabel")
    if k == 0:
        return
    cover = np.where(
        cover >= 0, cover, cat.idx(_MISLABEL_COVERS)[rng.integers(len(_MISLABEL_COVERS), size=k)]
    )
    true = np.where(p.exp_true[exp] >= 0, p.exp_true[exp], cat.idx(_CONTROLLED_MIX)[rng.integers(3, size=k)])
    _regoods(rng, cat, r, m, cover, small=~hard)  # hard: a normal-sized cover consignment
    true_dens = rng.uniform(cat.dmin[true], cat.dmax[true])
    real_volume = r["gross"][m] / (true_dens * 1000.0)
    faked = hard | (rng.random(k) < 0.3)
    r["volume"][m] = np.where(faked, r["volume"][m], real_volume)
    tvpk = _true_vpk(rng, cat, true)
    u = rng.random(k)
    declared = np.where(
        u < 0.45,
        tvpk,
        np.where(u < 0.8, cat.vhigh[cover] * rng.uniform(3, 20, k), tvpk * rng.uniform(0.2, 0.6, k)),
    )
    declared = np.where(hard, cat.vhigh[cover] * rng.uniform(1.2, 2.5, k), declared)
    r["value"][m] = r["net"][m] * declared
    r["true_value"][m] = r["net"][m] * tvpk
    r["true_code"][m] = true
    off = ~hard & (rng.random(k) < 0.5) & (cat.off_count[cover] > 0)
    off_desc = cat.off_start[cover] + (rng.random(k) * np.maximum(cat.off_count[cover], 1)).astype(int)
    r["desc"][m] = np.where(off, off_desc, r["desc"][m])
    drums = ~hard & (rng.random(k) < 0.6)
    r["packages"][m] = np.where(drums, np.ceil(r["net"][m] / rng.uniform(50, 250, k)), r["packages"][m])
    r["scheme"][m] = np.where(
        hard,
        "mislabel_value_slightly_high",
        np.where(u < 0.45, "mislabel_real_value", "mislabel_value_reduced"),
    )


def _plant_concealment(
    rng: np.random.Generator, cat: _Catalog, p: _Parties, r: dict[str, np.ndarray]
) -> None:
    """Compounds hidden in ceramics/refractories: too heavy for the declared volume."""
    m, k, _, hard, cover = _planted(p, r, "concealment")
    if k == 0:
        return
    _regoods(rng, cat, r, m, cover, small=np.zeros(k, dtype=bool))
    ncont = np.minimum(r["ncont"][m], 3)
    pay = CONTAINERS["20GP"].payload_kg
    # hard: goods packed at the top of their usual density, a little extra weight;
    # otherwise heavy compounds fill the container to near its payload limit
    dens = np.where(
        hard,
        cat.dmax[cover] * rng.uniform(0.9, 1.0, k),
        rng.uniform(cat.dmin[cover], cat.dmax[cover]),
    )
    frac = np.where(hard, rng.uniform(0.08, 0.15, k), rng.uniform(0.3, 0.7, k))
    per_container = np.where(hard, pay * rng.uniform(0.7, 0.85, k), pay * rng.uniform(0.93, 1.02, k))
    cover_gross = ncont * np.minimum(
        per_container / (1 + frac), CONTAINERS["20GP"].volume_m3 * 0.85 * dens * 1000
    )
    hidden = cover_gross * frac
    cover_net = cover_gross * rng.uniform(0.85, 0.95, k)
    vpk = cat.vtyp[cover] * np.exp(rng.normal(0, 0.3, k))
    r["ncont"][m], r["ctype"][m] = ncont, 0
    r["volume"][m] = cover_gross / (dens * 1000.0)
    r["gross"][m] = cover_gross + hidden
    r["net"][m] = cover_net + hidden * 0.95
    r["value"][m] = cover_net * vpk
    true = cat.index["284690"]
    r["true_code"][m] = true
    r["true_value"][m] = cover_net * vpk + hidden * _true_vpk(rng, cat, np.full(k, true))
    near = np.flatnonzero(~np.isin(r["cons"][m], p.neighbour_consignees))
    if len(near) and len(p.neighbour_consignees):
        c = rng.choice(p.neighbour_consignees, size=len(near))
        _set_consignee(rng, p, r, m[near], c)
    r["scheme"][m] = np.where(hard, "concealment_slight_overweight", "concealment_overweight")


def _plant_blending(rng: np.random.Generator, cat: _Catalog, p: _Parties, r: dict[str, np.ndarray]) -> None:
    """Rare earths diluted into alloys/preparations, declared at an odd value per kg."""
    m, k, exp, hard, code = _planted(p, r, "blending")
    if k == 0:
        return
    _regoods(rng, cat, r, m, code)
    true = np.where(p.exp_true[exp] >= 0, p.exp_true[exp], cat.index["284690"])
    true = np.where(true == cat.index["850511"], cat.index["280530"], true)
    share = rng.uniform(0.2, 0.6, k)
    factor = np.where(hard, rng.uniform(1.6, 2.6, k), rng.uniform(4, 15, k))
    r["value"][m] = r["net"][m] * cat.vtyp[code] * factor
    r["true_value"][m] = r["net"][m] * (share * _true_vpk(rng, cat, true) + (1 - share) * cat.vtyp[code])
    r["true_code"][m] = true
    blend_desc = ~hard & (rng.random(k) < 0.7)
    r["desc"][m] = np.where(
        blend_desc,
        cat.off_start[code] + (rng.random(k) * np.maximum(cat.off_count[code], 1)).astype(int),
        r["desc"][m],
    )
    r["scheme"][m] = np.where(hard, "blending_value_slightly_high", "blending_odd_value")


def _ensure_controlled(
    rng: np.random.Generator, cat: _Catalog, p: _Parties, r: dict[str, np.ndarray]
) -> None:
    """Routing, shell and no_license rows carry controlled goods (unless mislabelled)."""
    need = (
        np.isin(r["typ"], [_TI["routing"], _TI["shell"], _TI["no_license"]])
        & ~_has(r, "mislabel")
        & ~_has(r, "concealment")
        & ~_has(r, "blending")
    )
    m = np.flatnonzero(need & (cat.role[r["code"]] != "controlled"))
    if len(m):
        exp = r["exp"][m]
        true = np.where(
            p.exp_true[exp] >= 0,
            p.exp_true[exp],
            cat.idx(_CONTROLLED_MIX)[rng.integers(3, size=len(m))],
        )
        _regoods(rng, cat, r, m, true)


def _set_consignee(
    rng: np.random.Generator, p: _Parties, r: dict[str, np.ndarray], m: np.ndarray, cons: np.ndarray
) -> None:
    r["cons"][m] = cons
    r["cons_country"][m] = p.cons_country[cons]
    r["dest"][m] = p.cons_dest[cons]
    r["pod"][m] = p.cons_ports[cons, rng.integers(2, size=len(m))]


def _plant_shell(rng: np.random.Generator, p: _Parties, r: dict[str, np.ndarray]) -> None:
    """Goods routed to a front of a shell network (unless a party already is one)."""
    m = np.flatnonzero(_has(r, "shell") & ~p.exp_front[r["exp"]] & ~p.cons_front[r["cons"]])
    if len(m) == 0 or len(p.front_consignees) == 0:
        return
    k = len(m)
    net = p.exp_network[r["exp"][m]]
    cons = p.front_consignees[rng.integers(len(p.front_consignees), size=k)]
    # an actor tied to a network uses that network's fronts
    width = max(1, max((len(f) for f in p.network_fronts), default=1))
    table = np.full((max(1, len(p.network_fronts)), width), -1, dtype=np.int64)
    sizes = np.zeros(len(table), dtype=np.int64)
    for i, fronts in enumerate(p.network_fronts):
        table[i, : len(fronts)], sizes[i] = fronts, len(fronts)
    own = (net >= 0) & (sizes[np.maximum(net, 0)] > 0)
    pick = (rng.random(k) * np.maximum(sizes[np.maximum(net, 0)], 1)).astype(np.int64)
    cons = np.where(own, table[np.maximum(net, 0), pick], cons)
    hard = r["hard"][m]
    if len(p.hard_fronts):
        cons = np.where(hard, p.hard_fronts[rng.integers(len(p.hard_fronts), size=k)], cons)
    _set_consignee(rng, p, r, m, cons)


def _launder_route(
    rng: np.random.Generator, geo: _Geo, day: np.ndarray, days: int, one_hop: np.ndarray
) -> np.ndarray:
    """Laundering hops; smugglers drift from the early hubs to the late ones over time."""
    late = rng.random(len(day)) < np.clip((day / max(days, 1) - 0.5) / 0.25, 0, 1)
    pools = [
        (geo.launder_early, ~late & ~one_hop),
        (geo.launder_late, late & ~one_hop),
        (geo.launder_one_early, ~late & one_hop),
        (geo.launder_one_late, late & one_hop),
    ]
    out = np.zeros(len(day), dtype=np.int64)
    for pool, mask in pools:
        out[mask] = pool[rng.integers(len(pool), size=int(mask.sum()))]
    return out


def _plant_routing(rng: np.random.Generator, geo: _Geo, r: dict[str, np.ndarray], days: int) -> None:
    """Origin laundered through a non-producer, several hubs, a route far longer than direct."""
    m = np.flatnonzero(_has(r, "routing"))
    if len(m) == 0:
        return
    k = len(m)
    hard = r["hard"][m]
    exp_country = np.array([None] * k, dtype=object)
    exp_country[:] = r["origin"][m]
    claimed = _weighted(rng, _NON_PRODUCER_ORIGINS, k)
    local = (exp_country != "CN") & (rng.random(k) < 0.6)
    # hard cases keep one signal: a claimed origin (Chinese exporter, direct route) or a
    # single laundering hop (local exporter claiming local origin)
    origin = np.where(local | hard & (exp_country != "CN"), exp_country, claimed)
    r["origin"][m] = origin
    route = _launder_route(rng, geo, r["day"][m], days, one_hop=hard)
    r["route"][m] = np.where(hard & (exp_country == "CN"), 0, route)
    r["scheme"][m] = np.where(
        r["typ"][m] == _TI["routing"],
        np.where(hard, "routing_one_hub", "routing_multi_hop"),
        r["scheme"][m],
    )


def _plant_undervaluation(rng: np.random.Generator, r: dict[str, np.ndarray]) -> None:
    """A fraction of the real value declared."""
    m = np.flatnonzero(_has(r, "undervaluation"))
    k = len(m)
    factor = np.where(r["hard"][m], rng.uniform(0.4, 0.6, k), rng.uniform(0.08, 0.35, k))
    r["value"][m] = r["value"][m] * factor
    prim = r["typ"][m] == _TI["undervaluation"]
    r["scheme"][m] = np.where(
        prim & (r["scheme"][m] == ""),
        np.where(r["hard"][m], "undervaluation_half", "undervaluation_fraction"),
        r["scheme"][m],
    )


def _mark_no_license(rng: np.random.Generator, r: dict[str, np.ndarray]) -> None:
    """How no_license rows lack a license: none quoted, someone else's, another destination."""
    m = np.flatnonzero(_has(r, "no_license"))
    k = len(m)
    u = rng.random(k)
    var = np.where(u < 0.45, 1, np.where(u < 0.65, 2, 3))
    var = np.where(r["hard"][m], 3, var)
    r["nolic"][m] = var
    names = np.array(
        ["", "no_license_missing", "no_license_other_exporter", "no_license_other_destination"],
        dtype=object,
    )
    prim = r["typ"][m] == _TI["no_license"]
    r["scheme"][m] = np.where(prim, names[var], r["scheme"][m])


def _label_shell_fronts(p: _Parties, cat: _Catalog, r: dict[str, np.ndarray]) -> None:
    """Controlled goods to or from a front of a listed entity are shell violations."""
    front = p.exp_front[r["exp"]] | p.cons_front[r["cons"]]
    hit = front & (cat.role[r["true_code"]] == "controlled")
    new = hit & (r["typ"] == 0)
    r["typ"][new] = _TI["shell"]
    r["hard"][new] = p.cons_front_hard[r["cons"][new]]
    r["scheme"][new] = "shell_front"
    add = hit & (r["typ"] != _TI["shell"]) & (r["sec"] == 0) & ~r["hard"] & ~new
    r["sec"][add] = _TI["shell"]
    # rows drawn as shell whose goods are not controlled after all (mislabel covers them)
    r["scheme"][(r["typ"] == _TI["shell"]) & (r["scheme"] == "")] = "shell_front"


# ================================================================= licenses


def _licenses(
    rng: np.random.Generator,
    cat: _Catalog,
    p: _Parties,
    r: dict[str, np.ndarray],
    start: np.datetime64,
) -> pd.DataFrame:
    """Grant licenses to the controlled flows; some lapse (expired, exhausted)."""
    controlled = cat.role[r["code"]] == "controlled"
    rows = np.flatnonzero(controlled & (r["nolic"] == 0))
    frame = _rows_frame(r, rows, "exp", "code", "dest", "cons", "day", "net")
    frame["t"] = r["day"][rows] * 86400 + r["ts"][rows]
    frame = frame.sort_values(["exp", "code", "dest", "cons", "t", "row"], kind="stable")
    gid = frame.groupby(["exp", "code", "dest", "cons"], sort=True).ngroup().to_numpy()
    frame["gid"] = gid
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    agg = frame.groupby("gid").agg(
        exp=("exp", "first"),
        code=("code", "first"),
        dest=("dest", "first"),
        cons=("cons", "first"),
        first=("day", "min"),
        last=("day", "max"),
        total=("net", "sum"),
        rows=("row", "size"),
    )
    valid_from = agg["first"].to_numpy() - rng.integers(10, 200, n_groups)
    valid_to = np.maximum(valid_from + 364, agg["last"].to_numpy() + rng.integers(5, 90, n_groups))
    quantity = agg["total"].to_numpy() * rng.uniform(1.15, 2.0, n_groups)
    # lapses: expired or exhausted part-way through the flow
    actor = p.exp_actor[agg["exp"].to_numpy()]
    lapse = (agg["rows"].to_numpy() >= 3) & (rng.random(n_groups) < np.where(actor, 0.35, 0.04))
    kind = np.where(rng.random(n_groups) < 0.5, 1, 2)  # 1 expired, 2 exhausted
    rank = frame.groupby("gid").cumcount().to_numpy()
    cumnet = frame.groupby("gid")["net"].cumsum().to_numpy()
    cut = np.ceil(agg["rows"].to_numpy() * rng.uniform(0.6, 0.9, n_groups)).astype(int)
    cut = np.clip(cut, 1, agg["rows"].to_numpy() - 1)
    at_cut = rank == cut[gid] - 1
    cut_day = np.zeros(n_groups, dtype=np.int64)
    cut_cum = np.zeros(n_groups)
    cut_day[gid[at_cut]] = frame["day"].to_numpy()[at_cut]
    cut_cum[gid[at_cut]] = cumnet[at_cut]
    expired = lapse & (kind == 1)
    exhausted = lapse & (kind == 2)
    valid_to = np.where(expired, cut_day, valid_to)
    valid_from = np.where(expired, np.minimum(valid_from, cut_day - 364), valid_from)
    quantity = np.where(exhausted, cut_cum * rng.uniform(1.0, 1.02, n_groups), quantity)
    lapsed_row = (expired[gid] & (frame["day"].to_numpy() > valid_to[gid])) | (
        exhausted[gid] & (cumnet > quantity[gid])
    )
    r["lic"][frame["row"].to_numpy()] = gid
    _label_lapses(
        r,
        frame["row"].to_numpy()[lapsed_row],
        np.where(expired[gid], "no_license_expired", "no_license_exhausted")[lapsed_row],
    )
    lic = pd.DataFrame(
        {
            "exp": agg["exp"].to_numpy(),
            "code": agg["code"].to_numpy(),
            "dest": agg["dest"].to_numpy(),
            "cons": agg["cons"].to_numpy(),
            "valid_from": valid_from,
            "valid_to": valid_to,
            "quantity": quantity,
        }
    )
    lic = pd.concat([lic, _wrong_destination_licenses(rng, p, r, n_groups)], ignore_index=True)
    _quote_other_exporters(rng, r, lic)
    lic["prefix_heading"] = rng.random(len(lic)) < 0.2
    return lic


def _rows_frame(r: dict[str, np.ndarray], rows: np.ndarray, *cols: str) -> pd.DataFrame:
    """The given rows as a frame: their positions ("row") and the named columns of r."""
    return pd.DataFrame({"row": rows} | {c: r[c][rows] for c in cols})


def _label_lapses(r: dict[str, np.ndarray], rows: np.ndarray, scheme: np.ndarray) -> None:
    new = r["typ"][rows] == 0
    r["typ"][rows[new]] = _TI["no_license"]
    r["hard"][rows[new]] = True
    r["scheme"][rows[new]] = scheme[new]
    old = rows[~new]
    add = (r["sec"][old] == 0) & (r["typ"][old] != _TI["no_license"]) & ~r["hard"][old]
    r["sec"][old[add]] = _TI["no_license"]


def _wrong_destination_licenses(
    rng: np.random.Generator, p: _Parties, r: dict[str, np.ndarray], offset: int
) -> pd.DataFrame:
    """Licenses the actor holds for another destination and consignee, quoted anyway."""
    rows = np.flatnonzero(r["nolic"] == 3)
    if len(rows) == 0:
        return pd.DataFrame(columns=["exp", "code", "dest", "cons", "valid_from", "valid_to", "quantity"])
    frame = _rows_frame(r, rows, "exp", "code", "day", "net")
    gid = frame.groupby(["exp", "code"], sort=True).ngroup().to_numpy()
    agg = frame.groupby(gid).agg(
        exp=("exp", "first"),
        code=("code", "first"),
        first=("day", "min"),
        last=("day", "max"),
        total=("net", "sum"),
    )
    k = len(agg)
    other = rng.integers(len(p.cons_country), size=k)
    other = np.where(p.cons_front[other], 0, other)
    dest = p.cons_dest[other].copy()
    actual = pd.Series(r["dest"][rows]).groupby(gid).first().to_numpy()
    same = dest == actual
    dest[same] = np.where(actual[same] == "JP", "KR", "JP")
    valid_from = agg["first"].to_numpy() - rng.integers(10, 200, k)
    r["lic"][rows] = offset + gid
    return pd.DataFrame(
        {
            "exp": agg["exp"].to_numpy(),
            "code": agg["code"].to_numpy(),
            "dest": dest,
            "cons": other,
            "valid_from": valid_from,
            "valid_to": np.maximum(valid_from + 364, agg["last"].to_numpy() + 30),
            "quantity": agg["total"].to_numpy() * rng.uniform(1.5, 3.0, k),
        }
    )


def _quote_other_exporters(rng: np.random.Generator, r: dict[str, np.ndarray], lic: pd.DataFrame) -> None:
    rows = np.flatnonzero(r["nolic"] == 2)
    if len(rows) == 0 or len(lic) < 2:
        return
    pick = rng.integers(len(lic), size=len(rows))
    own = lic["exp"].to_numpy()[pick] == r["exp"][rows]
    pick = np.where(own, (pick + 1) % len(lic), pick)
    r["lic"][rows] = pick


# ================================================================= inspections


def _watchlist_hits(p: _Parties, r: dict[str, np.ndarray], watchlist: pd.DataFrame) -> np.ndarray:
    """Rows whose exporter or consignee name, as written, is exactly a listed name or alias."""
    listed = {str(v).upper() for v in watchlist["name"].dropna()} | {
        a.upper() for v in watchlist["aliases"].dropna() for a in str(v).split(";") if a
    }
    hit = np.array([[str(v).upper() in listed for v in row] for row in p.names], dtype=bool)
    return hit[p.exp_entity[r["exp"]], r["exp_var"]] | hit[p.cons_entity[r["cons"]], r["cons_var"]]


def _inspections(
    rng: np.random.Generator,
    cat: _Catalog,
    p: _Parties,
    knobs: WorldKnobs,
    r: dict[str, np.ndarray],
    hit: np.ndarray,
    history: np.ndarray,
    days: int,
    would_find: np.ndarray,
) -> dict[str, np.ndarray]:
    """Old rules regime plus a random quota; inspectors miss some violations (``would_find``)."""
    n = len(r["day"])
    role = cat.role[r["code"]]
    prob = np.zeros(n)
    prob = np.maximum(prob, np.where(role == "controlled", 0.45, 0.0))
    prob = np.maximum(prob, np.where(role == "watch", 0.08, 0.0))
    prob = np.maximum(prob, np.where(hit, 0.9, 0.0))
    prob = np.maximum(prob, np.where(r["value"] > 400_000, 0.05, 0.0))
    origin, dest = pd.Series(r["origin"]), pd.Series(r["dest"])
    prob = np.maximum(prob, np.where(origin.isin(("MM", "LA", "KP", "IR")), 0.12, 0.0))
    prob = np.maximum(prob, np.where(r["origin"] != p.exp_country[r["exp"]], 0.04, 0.0))
    prob = np.maximum(prob, np.where(dest.isin(("RU", "IR", "BY")), 0.06, 0.0))
    prob = np.maximum(prob, np.where(role == "cover", 0.04, 0.0))
    prob = np.maximum(prob, np.where(r["route"] > 0, 0.02, 0.0))
    random_pick = history & (rng.random(n) < knobs.random_inspection_share)
    rule_pick = history & ~random_pick & (rng.random(n) < prob)
    chosen = np.flatnonzero(random_pick | rule_pick)
    rng.random(len(chosen))  # drawn as before, so the recording dates below stay as they were
    found = would_find[chosen]
    on = r["day"][chosen] + rng.integers(0, 11, len(chosen))
    keep = on <= days - 1  # results recorded after the last history day are still pending
    chosen, found, on = chosen[keep], found[keep], on[keep]
    return dict(
        row=chosen,
        found=found,
        on=on,
        selected_by=np.where(random_pick[chosen], "random", "rule").astype(object),
    )


# ================================================================= assembling the frames


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _ids(rng: np.random.Generator, prefix: str, n: int, digits: int = 6) -> np.ndarray:
    """Random, non-revealing ids: the number says nothing about what the entity is."""
    low = 10 ** (digits - 1)
    nums = rng.choice(9 * low, size=n, replace=False) + low
    return np.array([f"{prefix}{v}" for v in nums], dtype=object)


def _company_tables(
    rng: np.random.Generator, reg: _Registry, start: np.datetime64, names: np.ndarray
) -> tuple[pd.DataFrame, ...]:
    cids = _ids(rng, "C", len(reg.names))
    pids = _ids(rng, "P", len(reg.person_names))
    in_reg = np.array(reg.in_registry)
    inc = start + np.array(reg.incorporated, dtype="timedelta64[D]")
    emp = pd.array(np.array(reg.employees), dtype="Int64")
    companies = pd.DataFrame(
        {
            "company_id": _str(cids),
            "name": _str(names[:, 0]),
            "country": _str(np.array(reg.country, dtype=object)),
            "address": _str(np.array(reg.address, dtype=object)),
            "incorporated_on": pd.Series(inc.astype("datetime64[ns]")),
            "registered_agent": _str(np.array([a or None for a in reg.agent], dtype=object)),
            "employees": pd.Series(emp),
        }
    )[in_reg].reset_index(drop=True)
    own = pd.DataFrame(reg.ownership, columns=["kind", "owner", "owned", "share_pct"])
    owner_id = np.where(
        own["kind"] == "P",
        pids[own["owner"].clip(upper=len(pids) - 1)],
        cids[own["owner"].clip(upper=len(cids) - 1)],
    )
    ownership = pd.DataFrame(
        {
            "owner_id": _str(owner_id),
            "owned_id": _str(cids[own["owned"].to_numpy()]),
            "share_pct": own["share_pct"].astype("float64"),
        }
    )
    # only edges whose owned company is in the registry; company owners not in the registry
    # stay as ids (a listed company outside the registry can still be named by id)
    ownership = ownership[in_reg[own["owned"].to_numpy()]].reset_index(drop=True)
    off = pd.DataFrame(reg.officers, columns=["person", "company", "role"])
    off = off[in_reg[off["company"].to_numpy()]].drop_duplicates(["person", "company"])
    officers = pd.DataFrame(
        {
            "person_id": _str(pids[off["person"].to_numpy()]),
            "person_name": _str(np.array(reg.person_names, dtype=object)[off["person"].to_numpy()]),
            "company_id": _str(cids[off["company"].to_numpy()]),
            "role": _str(off["role"].to_numpy()),
        }
    ).reset_index(drop=True)
    wl_rows = []
    for rec in reg.watchlist:
        kind, ref = rec["ref"]
        if kind == "C" and rec["in_registry"]:
            wid = cids[ref]
        else:
            wid = "NK-" + "".join(
                rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"), size=22)
            )
        wl_rows.append({**{c: rec.get(c, "") for c in TABLES["watchlist"].column_names}, "id": wid})
    watchlist = pd.DataFrame(wl_rows, columns=TABLES["watchlist"].column_names)
    watchlist = watchlist.replace("", None).astype("str")
    return companies, ownership, officers, watchlist, cids


def _declaration_frame(
    cat: _Catalog,
    geo: _Geo,
    p: _Parties,
    r: dict[str, np.ndarray],
    cids: np.ndarray,
    lic_ids: np.ndarray,
    start: np.datetime64,
    exp_names: np.ndarray,
    cons_names: np.ndarray,
    decl_ids: np.ndarray,
) -> pd.DataFrame:
    n = len(r["day"])
    exp_entity = p.exp_entity[r["exp"]]
    cons_entity = p.cons_entity[r["cons"]]
    country_group = np.array([_NATIONAL_GROUP.get(c, 2) for c in p.exp_country])
    hs = cat.national[r["code"], country_group[r["exp"]]]
    declared_at = (start + r["day"].astype("timedelta64[D]")).astype("datetime64[s]") + r["ts"].astype(
        "timedelta64[s]"
    )
    unit = cat.unit[r["code"]]
    qty = np.where(
        unit == "t",
        np.round(r["net"] / 1000.0, 3),
        np.where(unit == "u", np.round(r["net"] / cat.unit_kg[r["code"]]), np.round(r["net"], 1)),
    )
    ctypes = np.array(["20GP", "40GP", "40HC"], dtype=object)
    cons_known = p.cons_known[r["cons"]]
    lic = r["lic"]
    end_use = np.where(
        lic >= 0,
        np.array(tx.END_USES, dtype=object)[(r["exp"] + r["code"]) % len(tx.END_USES)],
        None,
    )
    cols = {
        "declaration_id": _str(decl_ids),
        "declared_at": pd.Series(declared_at.astype("datetime64[ns]")),
        "exporter_id": _str(cids[exp_entity]),
        "exporter_name": _str(exp_names),
        "consignee_name": _str(cons_names),
        "consignee_country": _str(r["cons_country"]),
        "hs_code": _str(hs),
        "goods_description": _str(cat.descriptions[r["desc"]]),
        "gross_weight_kg": np.round(r["gross"], 1),
        "declared_value_usd": np.round(r["value"], 2),
        "origin_country": _str(r["origin"]),
        "port_of_loading": _str(geo.locodes[r["pol"]]),
        "port_of_discharge": _str(geo.locodes[r["pod"]]),
        "destination_country": _str(r["dest"]),
        "consignee_id": _str(np.where(cons_known, cids[cons_entity], None)),
        "declarant_id": _str(p.declarant_ids[r["declarant"]]),
        "net_weight_kg": np.round(np.minimum(r["net"], r["gross"]), 1),
        "quantity": qty,
        "quantity_unit": _str(unit),
        "packages": pd.array(r["packages"].astype(np.int64), dtype="Int64"),
        "package_volume_m3": np.round(np.maximum(r["volume"], 0.01), 2),
        "container_count": pd.array(r["ncont"].astype(np.int64), dtype="Int64"),
        "container_type": _str(ctypes[r["ctype"]]),
        "transshipment_ports": _str(np.array(geo.routes, dtype=object)[r["route"]]),
        "transport_mode": _str(np.full(n, "sea", dtype=object)),
        "license_id": _str(np.where(lic >= 0, lic_ids[np.maximum(lic, 0)], None)),
        "end_use": _str(end_use),
    }
    frame = pd.DataFrame(cols)
    return frame[TABLES["declarations"].column_names]


def _truth_frame(cat: _Catalog, r: dict[str, np.ndarray], decl_ids: np.ndarray) -> pd.DataFrame:
    viol = r["typ"] > 0
    return pd.DataFrame(
        {
            "declaration_id": _str(decl_ids),
            "is_violation": viol,
            "typology": _str(np.where(viol, _TYPOLOGY_NAMES[r["typ"]], None)),
            "secondary_typology": _str(np.where(r["sec"] > 0, _TYPOLOGY_NAMES[r["sec"]], None)),
            "hard_case": r["hard"] & viol,
            "scheme": _str(np.where(viol, r["scheme"], None)),
            "true_hs_code": _str(cat.code[r["true_code"]]),
            "true_value_usd": np.round(r["true_value"], 2),
        }
    )


def _license_frame(
    rng: np.random.Generator,
    cat: _Catalog,
    p: _Parties,
    lic: pd.DataFrame,
    cids: np.ndarray,
    names: np.ndarray,
    start: np.datetime64,
) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(lic)
    exp = lic["exp"].to_numpy().astype(np.int64)
    code = lic["code"].to_numpy().astype(np.int64)
    vf = start + lic["valid_from"].to_numpy().astype(np.int64).astype("timedelta64[D]")
    vt = start + lic["valid_to"].to_numpy().astype(np.int64).astype("timedelta64[D]")
    year = vf.astype("datetime64[Y]").astype(int) + 1970
    nums = rng.choice(90000, size=n, replace=False) + 10000 if n else np.array([], dtype=int)
    ids = np.array(
        [f"EL-{c}-{y}-{v}" for c, y, v in zip(p.exp_country[exp], year, nums, strict=True)],
        dtype=object,
    )
    codes6 = cat.code[code]
    prefix = np.where(
        lic["prefix_heading"].to_numpy(), np.array([c[:4] for c in codes6], dtype=object), codes6
    )
    frame = pd.DataFrame(
        {
            "license_id": _str(ids),
            "exporter_id": _str(cids[p.exp_entity[exp]]),
            "hs_code": _str(prefix),
            "destination_country": _str(lic["dest"].to_numpy()),
            "consignee_name": _str(names[p.cons_entity[lic["cons"].to_numpy().astype(np.int64)], 0]),
            "quantity_kg": np.round(lic["quantity"].to_numpy().astype(float), -2).clip(100),
            "valid_from": pd.Series(vf.astype("datetime64[ns]")),
            "valid_to": pd.Series(vt.astype("datetime64[ns]")),
            "end_use": _str(np.array(tx.END_USES, dtype=object)[(exp + code) % len(tx.END_USES)]),
        }
    )
    return frame[TABLES["licenses"].column_names], ids


def generate_world(
    seed: int = 1,
    days: int = 180,
    rows_per_day: int = 2000,
    start: str = "2026-05-01",
    knobs: WorldKnobs | None = None,
) -> World:
    """Generate a synthetic customs world: history of ``days`` days, then one manifest day."""
    if days < 1 or rows_per_day < 1:
        raise ValueError("days and rows_per_day must be at least 1")
    knobs = knobs or WorldKnobs()
    rng = np.random.Generator(np.random.PCG64(seed))
    start_day = np.datetime64(start, "D")
    cat = _build_catalog(rng)
    geo = _build_geo(rng)
    parties = _PartyBuilder(rng, cat, geo, knobs, days, start_day).build()
    counts = _day_counts(rng, days, rows_per_day, start_day)
    r = _base_rows(rng, cat, geo, parties, knobs, counts)
    _assign_violations(rng, parties, knobs, r)
    _plant_mislabel(rng, cat, parties, r)
    _plant_concealment(rng, cat, parties, r)
    _plant_blending(rng, cat, parties, r)
    _ensure_controlled(rng, cat, parties, r)
    _plant_shell(rng, parties, r)
    _plant_routing(rng, geo, r, days)
    _mark_no_license(rng, r)
    _plant_undervaluation(rng, r)
    _label_shell_fronts(parties, cat, r)
    lic = _licenses(rng, cat, parties, r, start_day)
    _legit_noise(rng, r)
    # rows in time order; ids say nothing about the row but its day and place in the day
    order = np.lexsort((rng.random(len(r["day"])), r["ts"], r["day"]))
    r = {k: v[order] for k, v in r.items()}
    names = parties.names
    exp_names = names[parties.exp_entity[r["exp"]], r["exp_var"]]
    cons_names = names[parties.cons_entity[r["cons"]], r["cons_var"]]
    seq = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    day_str = np.array(
        [str(d).replace("-", "") for d in start_day + np.arange(len(counts)).astype("timedelta64[D]")],
        dtype=object,
    )
    decl_ids = (
        pd.Series(day_str[r["day"]]).radd("DCL") + pd.Series(seq + 1).astype(str).str.zfill(6)
    ).to_numpy(dtype=object)
    companies, ownership, officers, watchlist, cids = _company_tables(rng, parties.registry, start_day, names)
    licenses, lic_ids = _license_frame(rng, cat, parties, lic, cids, names, start_day)
    decl = _declaration_frame(cat, geo, parties, r, cids, lic_ids, start_day, exp_names, cons_names, decl_ids)
    # whether an inspection would find each violation, from a stream of its own (hard cases hide better)
    detect = np.random.Generator(np.random.PCG64([seed, 1])).random(len(decl_ids))
    would_find = (r["typ"] > 0) & (detect < np.where(r["hard"], 0.8, 0.93))
    truth = _truth_frame(cat, r, decl_ids).assign(found_if_inspected=would_find)
    history = r["day"] < days
    hit = _watchlist_hits(parties, r, watchlist)
    ins = _inspections(rng, cat, parties, knobs, r, hit, history, days, would_find)
    inspections = _inspection_frame(cat, r, ins, decl_ids, start_day)
    manifest_date = str(start_day + np.timedelta64(days, "D"))
    world = World(
        declarations=decl[history].reset_index(drop=True),
        inspections=inspections,
        companies=companies,
        ownership=ownership,
        officers=officers,
        watchlist=watchlist,
        licenses=licenses,
        manifest=decl[~history].reset_index(drop=True),
        manifest_truth=truth[~history].reset_index(drop=True),
        history_truth=truth[history].reset_index(drop=True),
        params=dict(
            seed=seed,
            days=days,
            rows_per_day=rows_per_day,
            start=start,
            manifest_date=manifest_date,
            knobs=knobs.__dict__,
        ),
    )
    return world


def _inspected_typology(typ: np.ndarray, sec: np.ndarray) -> np.ndarray:
    """What the inspector records: the primary typology, then the secondary one (``a;b``)."""
    primary = _TYPOLOGY_NAMES[typ].astype(object)
    both = primary + ";" + _TYPOLOGY_NAMES[sec].astype(object)
    return np.where(sec > 0, both, primary)


def _inspection_frame(
    cat: _Catalog,
    r: dict[str, np.ndarray],
    ins: dict[str, np.ndarray],
    decl_ids: np.ndarray,
    start: np.datetime64,
) -> pd.DataFrame:
    rows, found = ins["row"], ins["found"]
    frame = pd.DataFrame(
        {
            "declaration_id": _str(decl_ids[rows]),
            "inspected_on": pd.Series((start + ins["on"].astype("timedelta64[D]")).astype("datetime64[ns]")),
            "outcome": _str(np.where(found, "violation", "clear")),
            "typology": _str(np.where(found, _inspected_typology(r["typ"][rows], r["sec"][rows]), None)),
            "found_hs_code": _str(np.where(found, cat.code[r["true_code"][rows]], None)),
            "seized_value_usd": np.where(found, np.round(r["true_value"][rows], 2), np.nan),
            "selected_by": _str(ins["selected_by"]),
        }
    )
    return frame[TABLES["inspections"].column_names]


# ================================================================= writing


def _summary(world: World) -> dict:
    def counts(truth: pd.DataFrame) -> dict:
        v = truth[truth["is_violation"]]
        primary = v["typology"].str.split(";").str[0]  # the foreign profile's truth may say ``a;b``
        return {
            "rows": len(truth),
            "violations": len(v),
            "violation_rate": round(len(v) / max(len(truth), 1), 5),
            "hard_cases": int(v["hard_case"].sum()),
            "with_secondary": int(v["secondary_typology"].notna().sum()),
            "by_typology": {t: int((primary == t).sum()) for t in TYPOLOGIES},
            "by_secondary_typology": {t: int((v["secondary_typology"] == t).sum()) for t in TYPOLOGIES},
        }

    ins = world.inspections
    by = ins["selected_by"].value_counts().sort_index().to_dict() if "selected_by" in ins else {}
    return {
        "generator": world.params.get("generator", "synth.world"),
        "params": world.params,
        "rows": {name: len(getattr(world, name)) for name in (*TABLES, "manifest")},
        "history": counts(world.history_truth),
        "manifest": counts(world.manifest_truth),
        "inspections": {
            "share_of_history_inspected": round(len(ins) / max(len(world.declarations), 1), 5),
            "by_selected_by": by,
            "violations_found": int((ins["outcome"] == "violation").sum()),
        },
    }


def _to_arrow(frame: pd.DataFrame, table: str | None, for_csv: bool):
    import pyarrow as pa

    out = {}
    for col in frame.columns:
        s = frame[col]
        kind = TABLES[table].column(col).kind if table and col in TABLES[table].column_names else None
        if pd.api.types.is_datetime64_any_dtype(s):
            values = s.to_numpy(dtype="datetime64[s]")
            date_only = kind == "date" and col != "declared_at"
            if for_csv:
                text = np.datetime_as_string(values, unit="D" if date_only else "s")
                out[col] = pa.array(text, type=pa.string(), mask=s.isna().to_numpy())
            else:  # Parquet keeps dates as timestamps (midnight for date-only columns)
                out[col] = pa.array(values, mask=s.isna().to_numpy())
        elif s.dtype == "Int64":
            out[col] = pa.array(s.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True).cast(
                pa.int64()
            )
        elif s.dtype == bool or pd.api.types.is_float_dtype(s):
            out[col] = pa.array(s.to_numpy(), from_pandas=True)
        else:
            out[col] = pa.array(s, type=pa.string(), from_pandas=True)
    return pa.table(out)


def _write_table(frame: pd.DataFrame, path: Path, table: str | None, fmt: str) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = path.with_suffix("." + ("csv" if fmt == "csv" else "parquet"))
    arrow = _to_arrow(frame, table, for_csv=fmt == "csv")
    if fmt == "csv":
        pacsv.write_csv(arrow, path, pacsv.WriteOptions(quoting_style="needed"))
    else:
        pq.write_table(arrow, path)
    return path


def write_world(world: World, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the bundle, the manifest, the truth (outside the bundle) and ``world.json``.

    The folder is written beside ``out_dir`` and renamed into place only when complete; an
    existing ``out_dir`` is replaced only after success.
    """
    from data.io import atomic_dir

    if fmt not in ("csv", "parquet"):
        raise ValueError("fmt must be 'csv' or 'parquet'")
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        rel = _write_into(world, tmp, fmt)
    return {k: out_dir / v for k, v in rel.items()}


def _write_into(world: World, root: Path, fmt: str) -> dict[str, Path]:
    bundle = root / "bundle"
    (bundle / "declarations").mkdir(parents=True)
    (root / "manifest").mkdir()
    (root / "truth").mkdir()
    paths: dict[str, Path] = {
        "bundle": Path("bundle"),
        "declarations": Path("bundle") / "declarations",
        "truth": Path("truth"),
    }
    decl = world.declarations
    month = decl["declared_at"].dt.strftime("%Y-%m") if len(decl) else pd.Series(dtype=str)
    for m in sorted(month.unique()):
        _write_table(decl[month == m], bundle / "declarations" / f"declarations_{m}", "declarations", fmt)
    for name in ("inspections", "companies", "ownership", "officers", "watchlist", "licenses"):
        p = _write_table(getattr(world, name), bundle / name, name, fmt)
        paths[name] = p.relative_to(root)
    p = _write_table(world.manifest, root / "manifest" / world.manifest_date, "declarations", fmt)
    paths["manifest"] = p.relative_to(root)
    for name in ("manifest_truth", "history_truth"):
        p = _write_table(getattr(world, name), root / "truth" / name, None, fmt)
        paths[name] = p.relative_to(root)
    (root / "world.json").write_text(
        json.dumps(_summary(world), indent=2, sort_keys=True, default=str) + "\n"
    )
    paths["world_json"] = Path("world.json")
    return paths
