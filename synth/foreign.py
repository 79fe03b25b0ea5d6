"""The ``foreign`` synthetic world: another administration's export data, drawn independently.

The default world (:mod:`synth.world`) was written beside the pipeline's features and agrees with
them too well. This profile was designed from the domain brief and the data contract only, as a
different administration's customs data would look:

- its own national tariff lines (8 and 10 digits, leading zeros, chapters the default world never
  uses), prices, packed densities and packing habits (:mod:`synth.foreign_catalog`);
- its own cover goods for mislabelling (ilmenite, barite, manganese and chromium ores, kaolin,
  steel shot) and concealment (tiles, granite, bricks, glass, steel balls, sanitary ware), its own
  laundering hubs, with NEW hubs and NEW cover codes used only in the last ``drift_days`` of the
  history and in the manifest;
- parties named in several languages and legal forms, spelled differently on declarations, in the
  registry, on the watchlist and on licences; ids with leading zeros in mixed formats, and a few
  brokers whose software drops the leading zero of the exporter id;
- all seven typologies, often several per case (``no_license;routing``), from repeat offenders,
  shell fronts, licence lapses and INSIDERS (long-established exporters with clean records on their
  usual lanes), with WEAK-SIGNAL cases that show only one mild anomaly;
- data habits: cargo volume blank on ~40% of rows, ``container_type``, ``end_use`` and
  ``consignee_id`` absent, quantities in units other than kg, extra columns, inspections without
  ``selected_by`` and with an occasional typology word outside the contract (``misdeclaration``);
- an old inspection regime that inspects rule hits (controlled codes, exact watchlist names, value
  and destination thresholds) plus a ~1% random quota; inspectors miss some violations.

HELD-OUT SEEDS: seeds 1000 and up of this profile are kept for the final, independent evaluation.
Develop, tune and test on seeds below 1000 only; never look at a world of seed >= 1000 while
changing features or models.

Everything is drawn from one ``numpy`` generator seeded by ``seed`` and vectorised over rows:
the same seed gives the same world, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.contract import TABLES
from synth import foreign_catalog as fc
from synth.world import TRUTH_COLUMNS, TYPOLOGIES, World

HELD_OUT_SEEDS_FROM = 1000
_T = {t: i for i, t in enumerate(TYPOLOGIES)}
_NT = len(TYPOLOGIES)

# what co-occurs with each primary typology (extras are drawn from these)
_EXTRAS = {
    "mislabel": ("routing", "undervaluation", "shell", "no_license"),
    "concealment": ("routing", "shell", "no_license"),
    "routing": ("no_license", "shell", "undervaluation"),
    "shell": ("no_license", "routing", "undervaluation"),
    "blending": ("routing", "no_license", "shell"),
    "no_license": ("routing", "shell", "undervaluation"),
    "undervaluation": ("routing", "shell"),
}
_SOURCE_MIX = {"actor": 0.54, "insider": 0.13, "front": 0.18, "lapse": 0.15}
_PRIMARY_BY_SOURCE = {
    "actor": {
        "mislabel": 0.24,
        "concealment": 0.15,
        "routing": 0.14,
        "blending": 0.13,
        "undervaluation": 0.14,
        "no_license": 0.1,
        "shell": 0.1,
    },
    "front": {"shell": 0.55, "no_license": 0.2, "routing": 0.15, "blending": 0.1},
    "lapse": {"no_license": 1.0},
}
_DROPPED_COLUMNS = ("container_type", "end_use", "consignee_id")
_EXTRA_COLUMNS = ("customs_office", "procedure_code", "incoterms", "invoice_currency")


@dataclass(frozen=True)
class ForeignKnobs:
    """Sizes and rates of the foreign world."""

    exporters: int = 1100
    licensed_re_exporters: int = 30
    consignees: int = 2200
    declarants: int = 120
    actors: int = 35
    listed_actors: int = 4
    insiders: int = 50
    insider_max_violations: int = 40  # per insider, all in the last half of the history
    networks: int = 18
    violation_rate: float = 0.03
    weak_share: float = 0.2
    multi_share: float = 0.5
    volume_blank_share: float = 0.4
    transshipment_share: float = 0.22
    random_inspection_share: float = 0.01
    inspector_miss_rate: float = 0.07
    weak_miss_rate: float = 0.2
    unknown_typology_share: float = 0.02
    drift_days: int = 21


def _pick(rng: np.random.Generator, table: dict, size: int | None = None):
    keys = list(table)
    w = np.array([table[k] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=size, p=w / w.sum())
    return np.array(keys, dtype=object)[idx] if size is not None else keys[int(idx)]


def _isin(values: np.ndarray, allowed) -> np.ndarray:
    """Membership over a row-sized array (hashing, fast on object arrays)."""
    return pd.Series(values, dtype=object, copy=False).isin(list(allowed)).to_numpy()


def _cum_pick(rng: np.random.Generator, cum: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(cum, rng.random(n) * cum[-1], side="right").clip(0, len(cum) - 1)


# ================================================================= parties


class _Entities:
    """Every company and person of the world, one row each (lists grown while building)."""

    def __init__(self, rng: np.random.Generator, start: np.datetime64) -> None:
        self.rng, self.start = rng, start
        self.kind: list[str] = []
        self.country: list[str] = []
        self.name: list[str] = []
        self.spell: list[list[str]] = []
        self.licname: list[str] = []
        self.inc: list[int] = []  # incorporation, days relative to the start
        self.registered: list[bool] = []
        self.address: list[str] = []
        self.agent: list[str] = []
        self.employees: list[float] = []
        self.listed: list[bool] = []

    def add_companies(self, kind: str, country: str, n: int, inc_range: tuple[int, int]) -> np.ndarray:
        rng = self.rng
        first = len(self.kind)
        names = fc.listed_names(rng, country, n) if kind == "listed" else fc.company_names(rng, country, n)
        for k, (legal, spellings, lic) in enumerate(names):
            self.kind.append(kind)
            self.country.append(country)
            self.name.append(legal)
            self.spell.append(spellings)
            self.licname.append(lic)
            self.inc.append(int(rng.integers(*inc_range)))
            self.registered.append(True)
            self.address.append(fc.address(rng, country, first + k))
            self.agent.append("")
            self.employees.append(float(np.round(rng.lognormal(3.5, 1.1))))
            self.listed.append(False)
        return np.arange(first, first + n)

    def add_person(self, country: str) -> int:
        name = fc.person_name(self.rng, country)
        self.kind.append("person")
        self.country.append(country)
        self.name.append(name)
        self.spell.append([name, name.upper()])
        self.licname.append(name)
        self.inc.append(0)
        self.registered.append(False)
        self.address.append("")
        self.agent.append("")
        self.employees.append(np.nan)
        self.listed.append(False)
        return len(self.kind) - 1

    def spell_matrix(self, width: int = 10) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.spell)
        mat = np.empty((n, width), dtype=object)
        count = np.zeros(n, dtype=np.int64)
        for i, s in enumerate(self.spell):
            s = list(dict.fromkeys(s))[:width]
            mat[i, : len(s)] = s
            mat[i, len(s) :] = s[0]
            count[i] = len(s)
        return mat, count


@dataclass
class _Parties:
    ents: _Entities
    exp_ent: np.ndarray  # exporter slot -> entity
    exp_group: np.ndarray  # legit | licensed | actor | insider | front
    exp_weight: np.ndarray
    exp_codes: np.ndarray  # [n_exp, 3] line indices
    exp_cons: np.ndarray  # [n_exp, 6] consignee entities
    exp_port: np.ndarray
    exp_price: np.ndarray
    exp_lot: np.ndarray
    exp_pkg: np.ndarray
    exp_habit: np.ndarray  # usual spelling index
    exp_declarant: np.ndarray
    shells: np.ndarray  # shell consignee entities
    ownership: list[tuple[int, int, float]]
    officers: list[tuple[int, int, str]]


def _sector_lines(sector: str) -> np.ndarray:
    ok = (sector == fc.SECTOR) & np.isin(
        fc.ROLE, ["trade", "cover", "conceal", "metal", "blend", "late_cover"]
    )
    return np.flatnonzero(ok)


_SECTOR_MIX = {
    "agri": 0.3,
    "wood": 0.16,
    "textile": 0.18,
    "electro": 0.06,
    "minerals": 0.1,
    "ceramics": 0.08,
    "metals": 0.07,
    "chem": 0.05,
}


def _build_parties(
    rng: np.random.Generator, knobs: ForeignKnobs, days: int, start: np.datetime64
) -> _Parties:
    ents = _Entities(rng, start)
    # ---- consignees abroad
    cons_by_country: dict[str, np.ndarray] = {}
    countries = _pick(rng, fc.BUYER_COUNTRIES, knobs.consignees)
    for c in sorted(set(countries)):
        n = int((countries == c).sum())
        cons_by_country[c] = ents.add_companies("consignee", c, n, (-9000, -400))
    re_buyers = {c: cons_by_country[c][: max(2, len(cons_by_country[c]) // 6)] for c in fc.RE_BUYER_COUNTRIES}
    # ---- exporters at home
    n_leg, n_lic = knobs.exporters, knobs.licensed_re_exporters
    n_act, n_ins = knobs.actors, knobs.insiders
    leg = ents.add_companies("exporter", "VN", n_leg, (-11000, -30))
    lic = ents.add_companies("exporter", "VN", n_lic, (-9000, -700))
    act = ents.add_companies("exporter", "VN", n_act, (-5000, -60))
    sectors = _pick(rng, _SECTOR_MIX, n_leg)
    # insiders: long-established exporters of dense goods, clean records
    inc = np.array(ents.inc)
    old_dense = np.flatnonzero(np.isin(sectors, ["minerals", "ceramics", "metals"]) & (inc[leg] < -4000))
    insiders = rng.choice(old_dense, size=min(n_ins, len(old_dense)), replace=False)
    group = np.full(n_leg, "legit", dtype=object)
    group[insiders] = "insider"
    exp_ent = np.concatenate([leg, lic, act])
    exp_group = np.concatenate([group, np.full(n_lic, "licensed"), np.full(n_act, "actor")]).astype(object)
    exp_sector = np.concatenate(
        [
            sectors,
            np.full(n_lic, "rare"),
            _pick(rng, {"minerals": 3, "ceramics": 2, "metals": 2, "chem": 1}, n_act),
        ]
    ).astype(object)
    # ---- networks: a listed entity, a holding, shells abroad, fronts at home
    ownership: list[tuple[int, int, float]] = []
    officers: list[tuple[int, int, str]] = []
    shells: list[int] = []
    fronts: list[int] = []
    nominees = [ents.add_person(c) for c in ("AE", "TR", "RU", "CN", "VN", "AE", "CN", "RU")]
    for _ in range(knobs.networks):
        lc = str(_pick(rng, {"CN": 3, "RU": 3, "HK": 1, "AE": 1, "KZ": 1}))
        listed = int(ents.add_companies("listed", lc, 1, (-8000, -2000))[0])
        ents.listed[listed] = True
        ents.registered[listed] = rng.random() < 0.5
        owner = ents.add_person(lc if lc in ("RU", "CN", "AE") else "RU")
        ents.listed[owner] = rng.random() < 0.6
        ownership.append((owner, listed, 100.0))
        hc = str(_pick(rng, {"HK": 3, "AE": 2, "SG": 1, "TR": 1}))
        holding = int(ents.add_companies("holding", hc, 1, (-3000, -300))[0])
        ownership.append((listed, holding, float(rng.choice([51.0, 75.0, 100.0]))))
        agent_addr, agent_country, agent_name = fc.AGENT_ADDRESSES[rng.integers(len(fc.AGENT_ADDRESSES))]
        n_sh = int(rng.integers(2, 5))
        for _k in range(n_sh):
            sc = str(_pick(rng, fc.SHELL_COUNTRIES))
            s = int(ents.add_companies("shell", sc, 1, (-700, days - 30))[0])
            if rng.random() < 0.4:  # a name that is a variant of the listed one
                base = fc.listed_core(ents.name[listed])
                ents.name[s] = f"{base} {ents.name[s]}"
                ents.spell[s] = [f"{base} {v}" for v in ents.spell[s]]
                ents.licname[s] = f"{base.upper()} {ents.licname[s]}"
            if sc == agent_country:
                ents.address[s], ents.agent[s] = agent_addr, agent_name
            ents.employees[s] = float(rng.integers(0, 3))
            ownership.append((holding, s, 100.0))
            officers.append((nominees[rng.integers(len(nominees))], s, "director"))
            shells.append(s)
        n_fr = int(rng.integers(1, 3))
        for _k in range(n_fr):
            f = int(ents.add_companies("front", "VN", 1, (-500, days - 40))[0])
            ents.employees[f] = float(rng.integers(1, 6))
            ents.registered[f] = rng.random() < 0.85
            ownership.append(
                (holding if rng.random() < 0.6 else shells[-1], f, float(rng.choice([49.0, 60.0, 100.0])))
            )
            officers.append((nominees[rng.integers(len(nominees))], f, "director"))
            fronts.append(f)
    # listed actors: repeat offenders that are themselves on the list
    k = min(knobs.listed_actors, n_act)
    for a, (legal, spell, lic) in zip(
        act[:k], fc.company_names(rng, "VN", k, cores=fc.LISTED_VN_CORES), strict=True
    ):
        ents.listed[a] = True
        ents.name[a], ents.spell[a], ents.licname[a] = legal, spell, lic
    # legitimate groups: parents owning subsidiaries, ordinary directors
    for e in leg[: n_leg // 5]:
        p = ents.add_person("VN")
        ownership.append((p, int(e), float(rng.choice([60.0, 80.0, 100.0]))))
        officers.append((p, int(e), "director"))
    for e in leg[n_leg // 5 : n_leg // 5 + n_leg // 20]:
        parent = int(leg[rng.integers(len(leg))])
        if parent != e:
            ownership.append((parent, int(e), 100.0))
    # about 3% of exporters are unknown to the registry, as are fronts sometimes (set above)
    for e in leg[rng.random(n_leg) < 0.03]:
        ents.registered[int(e)] = False
    fr = np.array(fronts, dtype=np.int64)
    exp_ent = np.concatenate([exp_ent, fr])
    exp_group = np.concatenate([exp_group, np.full(len(fr), "front", dtype=object)])
    exp_sector = np.concatenate([exp_sector, np.full(len(fr), "metals", dtype=object)])
    n_exp = len(exp_ent)
    # ---- profiles
    codes = np.zeros((n_exp, 3), dtype=np.int64)
    cons = np.zeros((n_exp, 6), dtype=np.int64)
    port = np.empty(n_exp, dtype=object)
    rare = np.concatenate([fc.by_role("controlled"), fc.by_role("open_re")])
    all_cons = np.concatenate(list(cons_by_country.values()))
    shells_a = np.array(shells, dtype=np.int64)
    for i in range(n_exp):
        sec = exp_sector[i]
        pool = rare if sec == "rare" else _sector_lines(sec)
        codes[i] = rng.choice(pool, size=3, replace=len(pool) < 3)
        if sec == "rare":
            buyers = np.concatenate([re_buyers[c] for c in _pick(rng, fc.RE_BUYER_COUNTRIES, 2)])
            cons[i] = rng.choice(buyers, size=6)
        elif exp_group[i] == "front":
            cons[i] = rng.choice(shells_a, size=6)
        else:
            k = int(rng.integers(1, 7))
            chosen = rng.choice(all_cons, size=k, replace=False)
            cons[i] = chosen[np.arange(6) % k]
        port[i] = _pick(rng, fc.SEA_LOADING)
    weight = rng.lognormal(0.0, 1.0, n_exp)
    weight[exp_group == "licensed"] *= 0.5
    weight[exp_group == "actor"] *= 0.25
    weight[exp_group == "front"] = 0.0  # fronts only ship for the scheme
    # insiders are among the big, long-established shippers
    ins = exp_group == "insider"
    weight[ins] = np.maximum(weight[ins], np.quantile(weight, 0.85))
    return _Parties(
        ents=ents,
        exp_ent=exp_ent,
        exp_group=exp_group,
        exp_weight=weight,
        exp_codes=codes,
        exp_cons=cons,
        exp_port=port,
        exp_price=rng.lognormal(0.0, 0.12, n_exp),
        exp_lot=rng.lognormal(0.0, 0.35, n_exp),
        exp_pkg=rng.lognormal(0.0, 0.12, n_exp),
        exp_habit=rng.integers(0, 3, n_exp),
        exp_declarant=rng.integers(0, knobs.declarants, n_exp),
        shells=shells_a,
        ownership=ownership,
        officers=officers,
    )


# ================================================================= rows


def _day_counts(rng: np.random.Generator, days: int, rows_per_day: int, start: np.datetime64) -> np.ndarray:
    weekday = (
        (start + np.arange(days).astype("timedelta64[D]")).astype("datetime64[D]").view("int64") - 4
    ) % 7
    shape = np.where(weekday == 6, 0.35, np.where(weekday == 5, 0.7, 1.1)) * rng.lognormal(0, 0.08, days)
    counts = rng.multinomial(days * rows_per_day, shape / shape.sum()) if days else np.zeros(0, int)
    return np.append(counts, rows_per_day).astype(np.int64)  # the manifest day: exactly rows_per_day


def _goods(rng: np.random.Generator, r: dict, rows: np.ndarray, code: np.ndarray, p: _Parties) -> None:
    """Net and gross mass, packages, volume and value of ``rows`` declared as ``code`` lines."""
    e = r["exp"][rows]
    n = len(rows)
    net = fc.LOT_KG[code] * p.exp_lot[e] * rng.lognormal(0.0, 0.35, n)
    pkg_kg = fc.KG_PER_PKG[code] * p.exp_pkg[e]
    pkgs = np.maximum(1, np.round(net / pkg_kg))
    net = np.where(fc.KG_PER_PKG[code] >= 200, pkgs * pkg_kg * rng.uniform(0.97, 1.0, n), net)
    gross = net * (1.0 + fc.TARE[code] * rng.uniform(0.8, 1.25, n))
    r["net"][rows] = net
    r["gross"][rows] = gross
    r["pkgs"][rows] = pkgs
    r["vol"][rows] = gross / (fc.DENSITY[code] * 1000.0) * rng.lognormal(0.0, 0.07, n)
    r["value"][rows] = net * fc.PRICE[code] * p.exp_price[e] * rng.lognormal(0.0, 0.12, n)
    r["true_value"][rows] = r["value"][rows]


def _base_rows(
    rng: np.random.Generator, p: _Parties, knobs: ForeignKnobs, counts: np.ndarray, days: int
) -> dict[str, np.ndarray]:
    n = int(counts.sum())
    day = np.repeat(np.arange(len(counts)), counts)
    cum = np.cumsum(p.exp_weight)
    exp = _cum_pick(rng, cum, n)
    slot = rng.choice(3, size=n, p=[0.6, 0.28, 0.12])
    code = p.exp_codes[exp, slot]
    # late covers are ordinary but rare goods: most of their exporters ship something else
    late = fc.ROLE[code] == "late_cover"
    code = np.where(late & (rng.random(n) < 0.7), p.exp_codes[exp, 0], code)
    cons = p.exp_cons[exp, rng.integers(0, 6, n)]
    ents = p.ents
    ccountry = np.array(ents.country, dtype=object)[cons]
    r: dict[str, np.ndarray] = {
        "day": day,
        "ts": rng.integers(6 * 3600, 20 * 3600, n),
        "exp": exp,
        "cons": cons,
        "code": code,
        "true_code": code.copy(),
        "cons_country": ccountry,
        "dest": ccountry.copy(),
        "origin": np.full(n, fc.ADMIN_COUNTRY, dtype=object),
        "load": p.exp_port[exp].copy(),
        "disch": np.empty(n, dtype=object),
        "hubs": np.full(n, "", dtype=object),
        "mode": np.full(n, "sea", dtype=object),
        "lic": np.full(n, -1, dtype=np.int64),
        "net": np.zeros(n),
        "gross": np.zeros(n),
        "pkgs": np.zeros(n),
        "vol": np.zeros(n),
        "value": np.zeros(n),
        "true_value": np.zeros(n),
        "typ": np.zeros((n, _NT), dtype=bool),
        "primary": np.full(n, -1, dtype=np.int64),
        "weak": np.zeros(n, dtype=bool),
        "scheme": np.full(n, "", dtype=object),
        "exp_var": np.where(rng.random(n) < 0.8, p.exp_habit[exp], rng.integers(0, 10, n)),
        "cons_var": rng.integers(0, 10, n),
    }
    _goods(rng, r, np.arange(n), code, p)
    # origin: re-exports of goods processed here from neighbours' material
    minerals = _isin(fc.SECTOR[code], ["minerals", "metals"])
    reexp = minerals & (rng.random(n) < 0.12)
    r["origin"][reexp] = _pick(rng, fc.REEXPORT_ORIGINS, int(reexp.sum()))
    # controlled goods from the licensed exporters: part of it processed from imported concentrate
    ctrl = fc.ROLE[code] == "controlled"
    cimp = ctrl & (rng.random(n) < 0.35)
    r["origin"][cimp] = _pick(rng, fc.RE_ORIGINS, int(cimp.sum()))
    _transport(rng, r, np.arange(n), knobs)
    return r


def _discharge(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    out = np.empty(len(country), dtype=object)
    codes, uniques = pd.factorize(pd.Series(country, dtype=object), sort=True)
    pick = rng.random(len(country))
    for k, c in enumerate(uniques):
        m = codes == k
        ports = np.array(fc.DISCHARGE.get(str(c), ("SGSIN",)), dtype=object)
        out[m] = ports[(pick[m] * len(ports)).astype(np.int64)]
    return out


def _transport(rng: np.random.Generator, r: dict, rows: np.ndarray, knobs: ForeignKnobs) -> None:
    """Mode, ports and ordinary transshipment of ``rows`` (road and rail only to neighbours)."""
    n = len(rows)
    dest = r["dest"][rows]
    code = r["code"][rows]
    dcode, duniq = pd.factorize(pd.Series(dest, dtype=object))
    disch = _discharge(rng, dest)
    load = r["load"][rows].copy()
    mode = np.zeros(n, dtype=np.int8)  # 0 sea, 1 road, 2 rail, 3 air
    u = rng.random(n)
    for k, c in enumerate(duniq):
        m = dcode == k
        if c in fc.ROAD_LANES:
            road = m & (u < 0.35)
            mode[road] = 1
            load[road], disch[road] = fc.ROAD_LANES[c]
        if c in fc.RAIL_LANES:
            rail = m & (u >= 0.35) & (u < 0.5)
            mode[rail] = 2
            load[rail], disch[rail] = fc.RAIL_LANES[c]
    small = (r["net"][rows] < 1500) & (fc.PRICE[code] > 30)
    air = small & (rng.random(n) < 0.6)
    mode[air] = 3
    load[air] = np.array(fc.AIR_LOADING, dtype=object)[rng.integers(0, 2, int(air.sum()))]
    r["mode"][rows] = np.array(["sea", "road", "rail", "air"], dtype=object)[mode]
    r["load"][rows], r["disch"][rows] = load, disch
    hop = (mode == 0) & (rng.random(n) < knobs.transshipment_share)
    legit = np.array(fc.LEGIT_HUBS, dtype=object)
    i1 = rng.integers(0, len(legit), n)
    i2 = rng.integers(0, len(legit), n)
    two = hop & (rng.random(n) < 0.2) & (i1 != i2)
    hubs = np.full(n, "", dtype=object)
    hubs[hop] = legit[i1[hop]]
    hubs[two] = legit[i1[two]] + ";" + legit[i2[two]]
    r["hubs"][rows] = hubs


# ================================================================= violations


def _choose_violations(
    rng: np.random.Generator, p: _Parties, knobs: ForeignKnobs, r: dict, days: int
) -> dict[str, np.ndarray]:
    """Pick the violation rows and who commits them; returns row indices per source."""
    n = len(r["day"])
    n_v = int(round(knobs.violation_rate * n))
    src = _pick(rng, _SOURCE_MIX, n_v) if n_v else np.array([], dtype=object)
    taken = np.zeros(n, dtype=bool)
    out: dict[str, np.ndarray] = {}
    grp = p.exp_group
    deficit = 0
    for s in ("insider", "actor", "front", "lapse"):
        k = int((src == s).sum()) + (deficit if s == "actor" else 0)
        if s == "insider":
            # insiders: their own rows in the last half, after years of clean trade; a few each
            main_line = r["code"] == p.exp_codes[r["exp"], 0]
            cand = np.flatnonzero((grp[r["exp"]] == "insider") & main_line & (r["day"] >= days // 2) & ~taken)
            cand = cand[rng.permutation(len(cand))]
            rank = pd.Series(r["exp"][cand]).groupby(r["exp"][cand]).cumcount().to_numpy()
            cand = cand[rank < knobs.insider_max_violations]
            deficit = k - min(k, len(cand) // 2)  # what insiders cannot take, repeat offenders do
            k -= deficit
            rows = rng.choice(cand, size=k, replace=False) if k else np.array([], dtype=np.int64)
        else:
            cand = np.flatnonzero(
                ~taken & (grp[r["exp"]] != "insider") & (fc.ROLE[r["code"]] != "controlled")
            )
            rows = rng.choice(cand, size=min(k, len(cand)), replace=False)
            members = np.flatnonzero(grp == {"actor": "actor", "front": "front", "lapse": "licensed"}[s])
            if s == "actor":  # a handful of very active offenders, many occasional ones
                w = rng.pareto(1.2, len(members)) + 0.2
                r["exp"][rows] = members[_cum_pick(rng, np.cumsum(w), len(rows))]
            else:
                r["exp"][rows] = members[rng.integers(0, len(members), len(rows))]
            e = r["exp"][rows]
            r["cons"][rows] = p.exp_cons[e, rng.integers(0, 6, len(rows))]
            r["code"][rows] = p.exp_codes[e, rng.integers(0, 3, len(rows))]
            r["true_code"][rows] = r["code"][rows]
            cc = np.array(p.ents.country, dtype=object)[r["cons"][rows]]
            r["cons_country"][rows] = cc
            r["dest"][rows] = cc
            r["load"][rows] = p.exp_port[e]
            r["exp_var"][rows] = np.where(
                rng.random(len(rows)) < 0.7, p.exp_habit[e], rng.integers(0, 10, len(rows))
            )
        taken[rows] = True
        out[s] = rows.astype(np.int64)
    return out


def _assign_typologies(
    rng: np.random.Generator, p: _Parties, knobs: ForeignKnobs, r: dict, src: dict[str, np.ndarray]
) -> None:
    for s, rows in src.items():
        if not len(rows):
            continue
        if s == "insider":
            sector = fc.SECTOR[r["code"][rows]]
            prim = np.where(
                sector == "minerals",
                _pick(rng, {"mislabel": 0.6, "undervaluation": 0.4}, len(rows)),
                np.where(
                    sector == "ceramics",
                    _pick(rng, {"concealment": 0.7, "undervaluation": 0.3}, len(rows)),
                    _pick(rng, {"blending": 0.4, "undervaluation": 0.6}, len(rows)),
                ),
            )
            # an insider blends only where its usual goods are alloys
            prim = np.where(
                (prim == "blending") & (fc.ROLE[r["code"][rows]] != "blend"), "undervaluation", prim
            )
        else:
            prim = _pick(rng, _PRIMARY_BY_SOURCE[s], len(rows))
        pi = np.array([_T[t] for t in prim], dtype=np.int64)
        r["primary"][rows] = pi
        r["typ"][rows, pi] = True
        r["scheme"][rows] = s
        weak = rng.random(len(rows)) < (knobs.weak_share * (1.6 if s == "insider" else 1.0))
        if s == "front":  # a front always ships to a shell: weak only where that is all there is
            weak &= prim == "shell"
        r["weak"][rows] = weak
        # extras: one more often, two more sometimes; weak cases stay single
        n_extra = np.where(weak, 0, (rng.random(len(rows)) < knobs.multi_share).astype(int))
        n_extra += np.where(weak, 0, (rng.random(len(rows)) < 0.12).astype(int))
        if s == "insider":
            n_extra = np.minimum(n_extra, 0)  # insiders keep their lanes: one typology, hidden well
        for t in TYPOLOGIES:
            m = (prim == t) & (n_extra > 0)
            if not m.any():
                continue
            opts = np.array([_T[x] for x in _EXTRAS[t]], dtype=np.int64)
            for k in range(2):
                mm = m & (n_extra > k)
                pick = opts[rng.integers(0, len(opts), int(mm.sum()))]
                r["typ"][rows[mm], pick] = True
        # fronts always ship to shells: shell is present whatever the primary
        if s == "front":
            r["typ"][rows, _T["shell"]] = True


def _has(r: dict, t: str) -> np.ndarray:
    return np.flatnonzero(r["typ"][:, _T[t]])


def _controlled_true_goods(rng: np.random.Generator, n: int) -> np.ndarray:
    ctrl = fc.by_role("controlled")
    w = np.array([0.22, 0.06, 0.3, 0.08, 0.03, 0.11, 0.15, 0.05])[: len(ctrl)]
    return ctrl[rng.choice(len(ctrl), size=n, p=w / w.sum())]


def _drift(r: dict, rows: np.ndarray, days: int, knobs: ForeignKnobs) -> np.ndarray:
    return r["day"][rows] >= max(days - knobs.drift_days, 1)


def _plant_goods(rng: np.random.Generator, p: _Parties, knobs: ForeignKnobs, r: dict, days: int) -> None:
    """Mislabel, concealment, blending and no_license change what the goods are (or declared as)."""
    insider = r["scheme"] == "insider"
    # ---- mislabel: rare earths declared as a dense cheap mineral
    rows = _has(r, "mislabel")
    if len(rows):
        n = len(rows)
        true = _controlled_true_goods(rng, n)
        covers = fc.by_role("cover")
        late = fc.by_role("late_cover")
        cover = covers[rng.integers(0, len(covers), n)]
        drift = _drift(r, rows, days, knobs) & (rng.random(n) < 0.6) & ~insider[rows]
        cover[drift] = late[rng.integers(0, len(late), int(drift.sum()))]
        role = fc.ROLE[r["code"][rows]]
        own = (insider[rows] | (role == "cover")) & (role != "late_cover")
        cover = np.where(own & ~drift, r["code"][rows], cover)  # insiders: their own usual mineral
        r["code"][rows] = cover
        r["true_code"][rows] = true
        _goods(rng, r, rows, cover, p)  # packed and weighed like the cover...
        net = r["net"][rows] * np.where(
            r["weak"][rows], 1.0, rng.uniform(0.08, 0.3, n)
        )  # ...but smaller lots
        scale = net / r["net"][rows]
        for k in ("net", "gross", "pkgs", "value"):
            r[k][rows] = r[k][rows] * scale
        r["pkgs"][rows] = np.maximum(1, np.round(r["pkgs"][rows]))
        # the true goods are far denser than the cover: the declared volume betrays the mass
        r["vol"][rows] = np.where(
            r["weak"][rows], r["vol"][rows], r["gross"][rows] / (fc.DENSITY[true] * 1000.0) * 0.9
        )
        r["true_value"][rows] = net * fc.PRICE[true] * rng.lognormal(0, 0.15, n)
        # the declared value: near the real one (payment must flow) or a few times the cover's
        paid = rng.random(n) < 0.5
        mild = r["value"][rows] * rng.uniform(2.0, 3.5, n)
        r["value"][rows] = np.where(
            r["weak"][rows], mild, np.where(paid, r["true_value"][rows] * rng.uniform(0.35, 0.9, n), mild * 3)
        )
    # ---- concealment: compounds inside tiles, granite, bricks, steel balls...
    rows = _has(r, "concealment")
    if len(rows):
        n = len(rows)
        covers = fc.by_role("conceal")
        own = insider[rows] | (fc.ROLE[r["code"][rows]] == "conceal")
        cover = np.where(own, r["code"][rows], covers[rng.integers(0, len(covers), n)])
        r["code"][rows] = cover
        true = _controlled_true_goods(rng, n)
        r["true_code"][rows] = true
        _goods(rng, r, rows, cover, p)
        hidden = r["net"][rows] * np.where(
            r["weak"][rows], rng.uniform(0.04, 0.07, n), rng.uniform(0.1, 0.3, n)
        )
        r["gross"][rows] = r["gross"][rows] + hidden  # weighed at the gate: the hidden mass is in
        keep_net = rng.random(n) < 0.7  # the declared net mass is the cover's (mostly)
        r["net"][rows] = np.where(keep_net, r["net"][rows], r["net"][rows] + hidden)
        r["true_value"][rows] = r["value"][rows] + hidden * fc.PRICE[true]
    # ---- blending: controlled material in a mixture declared as alloy or preparation
    rows = _has(r, "blending")
    if len(rows):
        n = len(rows)
        blends = fc.by_role("blend")
        own = fc.ROLE[r["code"][rows]] == "blend"
        code = np.where(own, r["code"][rows], blends[rng.integers(0, len(blends), n)])
        r["code"][rows] = code
        true = fc.by_role("controlled")[rng.choice([0, 1, 2, 5], size=n)]
        r["true_code"][rows] = true
        _goods(rng, r, rows, code, p)
        content = rng.uniform(0.2, 0.6, n)
        r["true_value"][rows] = r["net"][rows] * content * fc.PRICE[true]
        odd = np.where(r["weak"][rows], rng.uniform(4.5, 7.0, n), rng.uniform(9.0, 45.0, n))
        r["value"][rows] = r["net"][rows] * odd
        prod = ~insider[rows] & (rng.random(n) < 0.6)
        r["origin"][rows[prod]] = _pick(rng, fc.RE_ORIGINS, int(prod.sum()))
    # ---- no_license, shell, routing and undervaluation with no goods of their own: controlled goods
    plain = (r["primary"] >= 0) & (r["true_code"] == r["code"]) & (fc.ROLE[r["code"]] != "controlled")
    needs = plain & (
        r["typ"][:, _T["no_license"]] | (r["primary"] == _T["shell"]) | (r["primary"] == _T["routing"])
    )
    needs &= r["scheme"] != "insider"
    und = plain & (r["primary"] == _T["undervaluation"]) & (r["scheme"] != "insider")
    needs |= und & (rng.random(len(und)) < 0.5)
    rows = np.flatnonzero(needs)
    if len(rows):
        true = _controlled_true_goods(rng, len(rows))
        r["code"][rows] = true
        r["true_code"][rows] = true
        _goods(rng, r, rows, true, p)
    # undervaluation without controlled goods: the dearer metals
    rows = np.flatnonzero(und & (fc.ROLE[r["code"]] != "controlled"))
    if len(rows):
        metals = fc.by_role("metal")
        code = metals[rng.integers(0, len(metals), len(rows))]
        r["code"][rows] = code
        r["true_code"][rows] = code
        _goods(rng, r, rows, code, p)


def _plant_parties(rng: np.random.Generator, p: _Parties, r: dict) -> None:
    rows = _has(r, "shell")
    if not len(rows):
        return
    n = len(rows)
    shells = p.shells
    r["cons"][rows] = shells[rng.integers(0, len(shells), n)]
    cc = np.array(p.ents.country, dtype=object)[r["cons"][rows]]
    r["cons_country"][rows] = cc
    onward = ~r["weak"][rows] & (rng.random(n) < 0.3)
    dest = cc.copy()
    dest[onward] = _pick(rng, fc.SANCTIONED_DEST, int(onward.sum()))
    r["dest"][rows] = dest
    r["cons_var"][rows] = rng.integers(0, 10, n)


def _plant_routing(rng: np.random.Generator, knobs: ForeignKnobs, r: dict, days: int) -> None:
    rows = _has(r, "routing")
    if not len(rows):
        return
    n = len(rows)
    r["mode"][rows] = "sea"
    r["load"][rows] = np.where(_isin(r["load"][rows], list(fc.SEA_LOADING)), r["load"][rows], "VNHPH")
    r["disch"][rows] = _discharge(rng, r["dest"][rows])
    early = np.array(fc.LAUNDER_EARLY, dtype=object)
    new = np.array(fc.LAUNDER_NEW, dtype=object)
    drift = _drift(r, rows, days, knobs) & (rng.random(n) < 0.8)

    def pool_pick() -> np.ndarray:
        return np.where(drift, new[rng.integers(0, len(new), n)], early[rng.integers(0, len(early), n)])

    h1, h2, h3 = pool_pick(), pool_pick(), pool_pick()
    hops = np.where(r["weak"][rows], 1, rng.choice([2, 3], size=n, p=[0.6, 0.4]))
    hubs = h1.copy()
    hubs = np.where((hops >= 2) & (h2 != h1), hubs + ";" + h2, hubs)
    hubs = np.where((hops >= 3) & (h3 != h2) & (h3 != h1), hubs + ";" + h3, hubs)
    r["hubs"][rows] = hubs
    # origin laundered: goods of Chinese or Burmese origin declared as from a non-producer
    hide = ~r["weak"][rows] & (rng.random(n) < 0.75)
    r["origin"][rows[hide]] = _pick(rng, fc.LAUNDER_ORIGINS, int(hide.sum()))
    # destination declared as a hub country while the consignee sits elsewhere
    detour = ~r["weak"][rows] & (rng.random(n) < 0.35)
    r["dest"][rows[detour]] = _pick(rng, {"AE": 3, "TR": 2, "GE": 1, "AZ": 1}, int(detour.sum()))


def _plant_undervaluation(rng: np.random.Generator, r: dict) -> None:
    rows = _has(r, "undervaluation")
    if not len(rows):
        return
    n = len(rows)
    f = np.where(r["weak"][rows], rng.uniform(0.55, 0.72, n), rng.uniform(0.08, 0.4, n))
    # the truth is the full value; what is declared is a fraction of it
    r["value"][rows] = np.minimum(r["value"][rows], r["true_value"][rows] * f)


# ================================================================= licences


def _licences(
    rng: np.random.Generator, p: _Parties, r: dict, start: np.datetime64, days: int
) -> pd.DataFrame:
    """Yearly licences for the licensed lanes; dedicated ones that do not fit for no_license rows."""
    ctrl = fc.ROLE[r["code"]] == "controlled"
    viol_nl = r["typ"][:, _T["no_license"]]
    legit = ctrl & ~viol_nl
    recs: list[dict] = []
    # ---- lanes of legitimate controlled trade (and of violations that are not about the licence)
    lane_rows = np.flatnonzero(legit)
    lanes = pd.DataFrame(
        {"exp": r["exp"][lane_rows], "code": r["code"][lane_rows], "cons": r["cons"][lane_rows]}
    )
    lane_id = lanes.groupby(["exp", "code", "cons"], sort=True).ngroup().to_numpy()
    keys = lanes.drop_duplicates(["exp", "code", "cons"]).sort_values(["exp", "code", "cons"])
    first_from = -rng.integers(10, 300, len(keys))
    cons_country = np.array(p.ents.country, dtype=object)
    for j, (e, c, k) in enumerate(keys.itertuples(index=False)):
        f0 = int(first_from[j])
        for f in (f0, f0 + 365):
            recs.append(
                dict(exp=int(e), code=int(c), cons=int(k), dest=cons_country[k], vf=f, vt=f + 364, q=0.0)
            )
    lic_from = np.array([x["vf"] for x in recs], dtype=np.int64)
    if len(lane_rows):
        # the licence valid on the row's day: the first one of the lane, or its renewal
        first = lane_id * 2
        second = first + 1
        use = np.where(r["day"][lane_rows] >= lic_from[second], second, first)
        quoted = rng.random(len(lane_rows)) < 0.95
        r["lic"][lane_rows[quoted]] = use[quoted]
        used = np.bincount(use, weights=r["net"][lane_rows], minlength=len(recs))
        for i, x in enumerate(recs):
            x["q"] = max(used[i], 500.0) * rng.uniform(1.2, 1.7)
    # ---- no_license rows: none, expired, exhausted, other consignee, other destination
    rows = np.flatnonzero(viol_nl & ctrl)
    kinds = np.where(
        r["weak"][rows],
        "exhausted",
        _pick(
            rng,
            {"none": 0.35, "expired": 0.2, "exhausted": 0.15, "consignee": 0.18, "destination": 0.12},
            len(rows),
        )
        if len(rows)
        else np.array([], dtype=object),
    )
    for row, kind in zip(rows, kinds, strict=True):
        if kind == "none":
            r["scheme"][row] += ":no_licence"
            continue
        e, c, k, d = int(r["exp"][row]), int(r["code"][row]), int(r["cons"][row]), int(r["day"][row])
        x = dict(exp=e, code=c, cons=k, dest=r["dest"][row], vf=d - 200, vt=d + 160, q=r["net"][row] * 3)
        if kind == "expired":
            x["vt"] = d - int(rng.integers(3, 60))
            x["vf"] = x["vt"] - 364
        elif kind == "exhausted":
            share = 0.88 if r["weak"][row] else rng.uniform(0.3, 0.75)
            x["q"] = r["net"][row] * share
        elif kind == "consignee":
            x["cons"] = int(p.exp_cons[e, 0]) if p.exp_cons[e, 0] != k else int(p.exp_cons[e, 1])
            if x["cons"] == k:
                x["cons"] = int(p.shells[0])
        else:
            x["dest"] = "JP" if r["dest"][row] != "JP" else "DE"
        r["scheme"][row] += ":" + kind
        r["lic"][row] = len(recs)
        recs.append(x)
    frame = pd.DataFrame(recs, columns=["exp", "code", "cons", "dest", "vf", "vt", "q"])
    frame["n"] = np.arange(len(frame))
    return frame


# ================================================================= ids and frames


def _company_ids(rng: np.random.Generator, ents: _Entities) -> np.ndarray:
    n = len(ents.kind)
    ids = np.empty(n, dtype=object)
    nums = rng.choice(90_000_000, size=n, replace=False) + 1_000_000
    for i in range(n):
        c, v = ents.country[i], int(nums[i])
        if ents.kind[i] == "person":
            ids[i] = f"P{v:08d}" if v % 3 else f"ID-0{v:08d}"
        elif c == "VN":
            prov = ("01", "02", "03", "04", "09")[v % 5]
            ids[i] = f"{prov}{v % 100_000_000:08d}" + ("-001" if v % 11 == 0 else "")
        elif c == "PL":
            ids[i] = f"KRS {v % 10_000_000_000:010d}"
        elif c in ("RU", "KZ"):
            ids[i] = f"1{v:07d}{v % 100_000:05d}"
        elif c == "DE":
            ids[i] = f"HRB {v}"
        elif c == "CN":
            ids[i] = f"91440{v:08d}MA5X"
        else:
            ids[i] = f"{c}-{v:08d}"
    return ids


def _declared_ids(rng: np.random.Generator, p: _Parties, r: dict, cids: np.ndarray) -> np.ndarray:
    exp_ids = cids[p.exp_ent[r["exp"]]]
    # a few brokers' software drops the leading zero of the tax code, one writes it with dashes
    declarant = p.exp_declarant[r["exp"]]
    strip = (declarant % 13 == 0) & (rng.random(len(exp_ids)) < 0.8)
    dashed = declarant % 17 == 1
    s = pd.Series(exp_ids, dtype="str")
    s = s.where(~strip, s.str.lstrip("0"))
    s = s.where(~dashed, s.str.slice(0, 4) + "-" + s.str.slice(4))
    return s.to_numpy(dtype=object)


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _declarations(
    rng: np.random.Generator,
    p: _Parties,
    knobs: ForeignKnobs,
    r: dict,
    cids: np.ndarray,
    lic_ids: np.ndarray,
    start: np.datetime64,
    decl_ids: np.ndarray,
) -> pd.DataFrame:
    n = len(r["day"])
    names, count = p.ents.spell_matrix()
    exp_e = p.exp_ent[r["exp"]]
    exp_names = names[exp_e, r["exp_var"] % count[exp_e]]
    cons_names = names[r["cons"], r["cons_var"] % count[r["cons"]]]
    code = r["code"]
    desc_k = rng.integers(0, 12, n)
    desc = fc.WORDS[fc.WORD_START[code] + desc_k % fc.WORD_COUNT[code]]
    blend = r["typ"][:, _T["blending"]] & (fc.ROLE[code] == "blend")
    if blend.any():
        for c, words in fc.BLEND_WORDS.items():
            m = blend & (fc.CODES[code] == c)
            desc[m] = np.array(words, dtype=object)[rng.integers(0, len(words), int(m.sum()))]
    at = start + r["day"].astype("timedelta64[D]") + r["ts"].astype("timedelta64[s]")
    declarant = p.exp_declarant[r["exp"]]
    vol = np.round(r["vol"], 2).clip(0.01)
    blank_broker = declarant % 4 == 0  # a quarter of brokers never give the volume
    blank = blank_broker | (rng.random(n) < (knobs.volume_blank_share - 0.25) / 0.75)
    unit = fc.UNIT[code].copy()
    kgm = (unit == "kg") & (declarant % 7 == 3)
    unit[kgm] = "KGM"
    qty = r["net"] / fc.KG_PER_UNIT[code] * np.where(unit == "t", 1.0, rng.lognormal(0, 0.04, n))
    qty = np.where(_isin(unit, ["kg", "KGM"]), np.round(r["net"], 1).clip(0.1), qty)
    qty = np.where(_isin(unit, ["u", "pr"]), np.maximum(1, np.round(qty)), np.round(qty, 3))
    containered = _isin(r["mode"], ["sea", "rail"])
    cont = np.maximum(np.ceil(r["gross"] / 25_500), np.ceil(r["vol"] / 67.0)).clip(1)
    value = np.where(declarant % 9 == 2, np.round(r["value"]), np.round(r["value"], 2))
    frame = pd.DataFrame(
        {
            "declaration_id": _str(decl_ids),
            "declared_at": pd.Series(at.astype("datetime64[ns]")),
            "exporter_id": _str(_declared_ids(rng, p, r, cids)),
            "exporter_name": _str(exp_names),
            "consignee_name": _str(cons_names),
            "consignee_country": _str(r["cons_country"]),
            "hs_code": _str(fc.CODES[code]),
            "goods_description": _str(desc),
            "gross_weight_kg": np.round(r["gross"], 1).clip(0.1),
            "declared_value_usd": value.clip(0),
            "origin_country": _str(r["origin"]),
            "port_of_loading": _str(r["load"]),
            "port_of_discharge": _str(r["disch"]),
            "destination_country": _str(r["dest"]),
            "declarant_id": _str(
                np.array([f"DL{d:05d}" for d in range(knobs.declarants)], dtype=object)[declarant]
            ),
            "net_weight_kg": np.round(r["net"], 1).clip(0.1),
            "quantity": qty,
            "quantity_unit": _str(unit),
            "packages": pd.array(r["pkgs"].astype(np.int64), dtype="Int64"),
            "package_volume_m3": np.where(blank, np.nan, vol),
            "container_count": pd.array(np.where(containered, cont, np.nan), dtype="Int64"),
            "transshipment_ports": _str(np.where(r["hubs"] == "", None, r["hubs"])),
            "transport_mode": _str(r["mode"]),
            "license_id": _str(
                np.where(r["lic"] >= 0, np.append(lic_ids, None)[np.where(r["lic"] >= 0, r["lic"], -1)], None)
            ),
            "customs_office": _str(
                np.array(["HQ-HPH-01", "HQ-HCM-02", "HQ-VTU-03", "HQ-LSN-04", "HQ-DNG-05"])[
                    declarant % 5
                ].astype(object)
            ),
            "procedure_code": _str(
                np.where(r["origin"] == fc.ADMIN_COUNTRY, "B11", np.where(rng.random(n) < 0.5, "B13", "E62"))
            ),
            "incoterms": _str(
                np.array(["FOB", "CIF", "EXW", "FCA", "CFR"], dtype=object)[(declarant + r["exp"]) % 5]
            ),
            "invoice_currency": _str(
                np.array(["USD", "USD", "USD", "EUR", "JPY", "CNY"], dtype=object)[r["exp"] % 6]
            ),
        }
    )
    cols = [c for c in TABLES["declarations"].column_names if c not in _DROPPED_COLUMNS]
    return frame[cols + list(_EXTRA_COLUMNS)]


def _truth(r: dict, decl_ids: np.ndarray) -> pd.DataFrame:
    viol = r["primary"] >= 0
    names = np.array(TYPOLOGIES, dtype=object)
    typ = np.full(len(viol), None, dtype=object)
    sec = np.full(len(viol), None, dtype=object)
    rows = np.flatnonzero(viol)
    for i in rows:  # violations only (a few percent of rows)
        prim = int(r["primary"][i])
        others = [t for t in range(_NT) if r["typ"][i, t] and t != prim]
        typ[i] = ";".join([names[prim], *names[others]])
        sec[i] = ";".join(names[others]) if others else None
    return pd.DataFrame(
        {
            "declaration_id": _str(decl_ids),
            "is_violation": viol,
            "typology": _str(typ),
            "secondary_typology": _str(sec),
            "hard_case": r["weak"] & viol,
            "scheme": _str(np.where(viol, r["scheme"], None)),
            "true_hs_code": _str(fc.CODES[r["true_code"]]),
            "true_value_usd": np.round(r["true_value"], 2),
            "found_if_inspected": r["would_find"] & viol,
        }
    )[list(TRUTH_COLUMNS)]


def _registry(
    rng: np.random.Generator, p: _Parties, cids: np.ndarray, start: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ents = p.ents
    kind = np.array(ents.kind, dtype=object)
    reg = np.flatnonzero((kind != "person") & np.array(ents.registered))
    # the registry writes the legal name; a few entries in upper case or local script
    name = np.array(ents.name, dtype=object)[reg]
    upper = rng.random(len(reg)) < 0.15
    name[upper] = np.array([s.upper() for s in name[upper]], dtype=object)
    inc = start + np.array(ents.inc, dtype=np.int64)[reg].astype("timedelta64[D]")
    companies = pd.DataFrame(
        {
            "company_id": _str(cids[reg]),
            "name": _str(name),
            "country": _str(np.array(ents.country, dtype=object)[reg]),
            "address": _str(np.array(ents.address, dtype=object)[reg]),
            "incorporated_on": pd.Series(inc.astype("datetime64[ns]")),
            "registered_agent": _str(
                np.where(
                    np.array(ents.agent, dtype=object)[reg] == "",
                    None,
                    np.array(ents.agent, dtype=object)[reg],
                )
            ),
            "employees": pd.array(np.array(ents.employees)[reg], dtype="Int64"),
            "legal_status": _str(np.where(rng.random(len(reg)) < 0.02, "dissolved", "active")),
        }
    )
    ownership = pd.DataFrame(
        {
            "owner_id": _str(np.array([cids[o] for o, _, _ in p.ownership], dtype=object)),
            "owned_id": _str(np.array([cids[d] for _, d, _ in p.ownership], dtype=object)),
            "share_pct": np.array([s for _, _, s in p.ownership], dtype=float),
        }
    )
    officers = pd.DataFrame(
        {
            "person_id": _str(np.array([cids[a] for a, _, _ in p.officers], dtype=object)),
            "person_name": _str(np.array([ents.name[a] for a, _, _ in p.officers], dtype=object)),
            "company_id": _str(np.array([cids[c] for _, c, _ in p.officers], dtype=object)),
            "role": _str(np.array([x for _, _, x in p.officers], dtype=object)),
        }
    )
    # ---- the watchlist (OpenSanctions targets.simple layout)
    listed = np.flatnonzero(np.array(ents.listed))
    wl_ids, wl_names, wl_alias, wl_schema, wl_c = [], [], [], [], []
    for i in listed:
        person = ents.kind[i] == "person"
        in_reg = ents.registered[i] and not person
        wl_ids.append(cids[i] if in_reg else f"NK-{rng.integers(16**8):08x}")
        spell = ents.spell[i]
        wl_names.append(spell[1] if (not person and rng.random() < 0.3) else spell[0])
        wl_alias.append(";".join(s for s in spell[2:5]))
        wl_schema.append("Person" if person else "Company")
        wl_c.append(ents.country[i].lower())
    # and the rest of a real list: entities that never trade here
    others = fc.listed_names(rng, "RU", 40) + fc.listed_names(rng, "CN", 30) + fc.listed_names(rng, "AE", 15)
    for legal, spell, _lic in others:
        wl_ids.append(f"NK-{rng.integers(16**8):08x}")
        wl_names.append(legal)
        wl_alias.append(";".join(spell[3:6]))
        wl_schema.append("Company")
        wl_c.append(("ru", "cn", "ae")[min(len(wl_c) % 3, 2)])
    for _k in range(30):
        wl_ids.append(f"NK-{rng.integers(16**8):08x}")
        wl_names.append(fc.person_name(rng, ("RU", "CN", "AE")[_k % 3]))
        wl_alias.append("")
        wl_schema.append("Person")
        wl_c.append(("ru", "cn", "ae")[_k % 3])
    m = len(wl_ids)
    watchlist = pd.DataFrame(
        {
            "id": _str(np.array(wl_ids, dtype=object)),
            "schema": _str(np.array(wl_schema, dtype=object)),
            "name": _str(np.array(wl_names, dtype=object)),
            "aliases": _str(np.array([a or None for a in wl_alias], dtype=object)),
            "birth_date": _str(np.full(m, None, dtype=object)),
            "countries": _str(np.array(wl_c, dtype=object)),
            "addresses": _str(np.full(m, None, dtype=object)),
            "identifiers": _str(np.full(m, None, dtype=object)),
            "sanctions": _str(np.full(m, "Export control list; asset freeze", dtype=object)),
            "phones": _str(np.full(m, None, dtype=object)),
            "emails": _str(np.full(m, None, dtype=object)),
            "program_ids": _str(np.full(m, "EXPCTRL-RE", dtype=object)),
            "dataset": _str(np.full(m, "national_export_control;us_bis_entity", dtype=object)),
            "first_seen": _str(np.full(m, "2024-03-01T00:00:00", dtype=object)),
            "last_seen": _str(np.full(m, "2026-04-28T00:00:00", dtype=object)),
            "last_change": _str(np.full(m, "2025-11-02T00:00:00", dtype=object)),
        }
    )
    watchlist = watchlist.drop_duplicates("id").reset_index(drop=True)
    return companies, ownership, officers, watchlist


def _licence_frame(
    rng: np.random.Generator, p: _Parties, lic: pd.DataFrame, cids: np.ndarray, start: np.datetime64
) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(lic)
    nums = rng.choice(99_999, size=n, replace=False) + 1 if n else np.array([], dtype=int)
    vf = start + lic["vf"].to_numpy(dtype=np.int64).astype("timedelta64[D]")
    vt = start + lic["vt"].to_numpy(dtype=np.int64).astype("timedelta64[D]")
    year = vf.astype("datetime64[Y]").astype(int) + 1970
    style = nums % 3
    ids = np.array(
        [
            f"{v:05d}/GP-BCT" if s == 0 else (f"GP-{y}-{v:05d}" if s == 1 else f"0{v:06d}/{y}/XNK")
            for v, y, s in zip(nums, year, style, strict=True)
        ],
        dtype=object,
    )
    code = fc.CODES[lic["code"].to_numpy(dtype=np.int64)]
    width = np.array([4, 6, 8], dtype=np.int64)[rng.choice(3, size=n, p=[0.3, 0.4, 0.3])]
    prefix = np.array([c[:w] for c, w in zip(code, width, strict=True)], dtype=object)
    exp_e = p.exp_ent[lic["exp"].to_numpy(dtype=np.int64)]
    cons = lic["cons"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "license_id": _str(ids),
            "exporter_id": _str(cids[exp_e]),
            "hs_code": _str(prefix),
            "destination_country": _str(lic["dest"].to_numpy(dtype=object)),
            "consignee_name": _str(np.array(p.ents.licname, dtype=object)[cons]),
            "quantity_kg": np.round(lic["q"].to_numpy(dtype=float), -1).clip(10),
            "valid_from": pd.Series(vf.astype("datetime64[ns]")),
            "valid_to": pd.Series(vt.astype("datetime64[ns]")),
            "end_use": _str(np.array(fc.END_USES, dtype=object)[(exp_e + cons) % len(fc.END_USES)]),
        }
    )
    return frame[TABLES["licenses"].column_names], ids


def _inspections(
    rng: np.random.Generator,
    knobs: ForeignKnobs,
    r: dict,
    decl: pd.DataFrame,
    watchlist: pd.DataFrame,
    history: np.ndarray,
    days: int,
    start: np.datetime64,
) -> pd.DataFrame:
    """The old regime: rule hits (controlled codes, exact listed names, thresholds) and a 1% quota."""
    n = len(decl)
    listed = set(watchlist["name"].str.upper()) | {
        a.upper() for v in watchlist["aliases"].dropna() for a in str(v).split(";") if a
    }
    exact = decl["exporter_name"].str.upper().isin(listed) | decl["consignee_name"].str.upper().isin(listed)
    code = r["code"]
    prob = np.zeros(n)
    prob = np.maximum(prob, np.where(fc.ROLE[code] == "controlled", 0.5, 0.0))
    prob = np.maximum(prob, np.where(exact.to_numpy(), 0.95, 0.0))
    prob = np.maximum(prob, np.where(r["value"] > 250_000, 0.12, 0.0))
    prob = np.maximum(prob, np.where(_isin(r["dest"], list(fc.SANCTIONED_DEST)), 0.15, 0.0))
    prob = np.maximum(prob, np.where(_isin(r["origin"], ["MM", "KP", "IR"]), 0.15, 0.0))
    prob = np.maximum(prob, np.where(_isin(fc.ROLE[code], ["cover", "blend"]), 0.03, 0.0))
    random_pick = history & (rng.random(n) < knobs.random_inspection_share)
    rule_pick = history & ~random_pick & (rng.random(n) < prob)
    chosen = np.flatnonzero(random_pick | rule_pick)
    rng.random(len(chosen))  # drawn as before, so the later draws stay as they were
    found = (r["primary"][chosen] >= 0) & r["would_find"][chosen]
    on = r["day"][chosen] + rng.integers(0, 15, len(chosen))
    keep = on <= days - 1
    chosen, found, on = chosen[keep], found[keep], on[keep]
    truth = _truth(
        {k: v[chosen] for k, v in r.items()}, decl["declaration_id"].to_numpy(dtype=object)[chosen]
    )
    typ = truth["typology"].fillna("").to_numpy(dtype=object)
    odd = found & (rng.random(len(chosen)) < knobs.unknown_typology_share)
    typ = np.where(
        odd, np.where(rng.random(len(chosen)) < 0.5, "misdeclaration", typ + ";misdeclaration"), typ
    )
    frame = pd.DataFrame(
        {
            "declaration_id": _str(decl["declaration_id"].to_numpy(dtype=object)[chosen]),
            "inspected_on": pd.Series((start + on.astype("timedelta64[D]")).astype("datetime64[ns]")),
            "outcome": _str(np.where(found, "violation", "clear")),
            "typology": _str(np.where(found, typ, None)),
            "found_hs_code": _str(np.where(found, fc.CODES[r["true_code"][chosen]], None)),
            "seized_value_usd": np.where(found, np.round(r["true_value"][chosen], 2), np.nan),
            "customs_office": decl["customs_office"].to_numpy(dtype=object)[chosen],
        }
    )
    frame["customs_office"] = _str(frame["customs_office"].to_numpy())
    # the regime's own record: in order of the result, not of the declaration
    frame = frame.sort_values(["inspected_on", "declaration_id"], kind="stable").reset_index(drop=True)
    frame.attrs["rule_hit"] = (prob[chosen] > 0) & ~random_pick[chosen]
    return frame


# ================================================================= the world


def generate_foreign_world(
    seed: int = 1,
    days: int = 180,
    rows_per_day: int = 2000,
    start: str = "2026-05-01",
    knobs: ForeignKnobs | None = None,
) -> World:
    """Generate the foreign world: ``days`` of history, then one manifest day (seeds >= 1000 held out)."""
    if days < 1 or rows_per_day < 1:
        raise ValueError("days and rows_per_day must be at least 1")
    knobs = knobs or ForeignKnobs()
    rng = np.random.Generator(np.random.PCG64([seed, 0xF0E1]))
    start_day = np.datetime64(start, "D")
    parties = _build_parties(rng, knobs, days, start_day)
    counts = _day_counts(rng, days, rows_per_day, start_day)
    r = _base_rows(rng, parties, knobs, counts, days)
    src = _choose_violations(rng, parties, knobs, r, days)
    _assign_typologies(rng, parties, knobs, r, src)
    _plant_goods(rng, parties, knobs, r, days)
    _plant_parties(rng, parties, r)
    moved = np.flatnonzero((r["primary"] >= 0) & (r["scheme"] != "insider"))
    _transport(rng, r, moved, knobs)  # the scheme's goods and parties decide mode and ports
    _plant_routing(rng, knobs, r, days)
    _plant_undervaluation(rng, r)
    lic = _licences(rng, parties, r, start_day, days)
    # rows in time order; ids: office-year-sequence with leading zeros
    order = np.lexsort((rng.random(len(r["day"])), r["ts"], r["day"]))
    r = {k: v[order] for k, v in r.items()}
    year = (start_day + r["day"].astype("timedelta64[D]")).astype("datetime64[Y]").astype(int) % 100
    office = parties.exp_declarant[r["exp"]] % 5 + 1
    decl_ids = (
        "0"
        + pd.Series(office).astype(str)
        + pd.Series(year).astype(str).str.zfill(2)
        + pd.Series(np.arange(len(order)) + 1).astype(str).str.zfill(9)
    ).to_numpy(dtype=object)
    cids = _company_ids(rng, parties.ents)
    licenses, lic_ids = _licence_frame(rng, parties, lic, cids, start_day)
    decl = _declarations(rng, parties, knobs, r, cids, lic_ids, start_day, decl_ids)
    # whether an inspection would find each violation, from a stream of its own (weak signals hide better)
    detect = np.random.Generator(np.random.PCG64([seed, 0xF0E2])).random(len(decl_ids))
    miss = np.where(r["weak"], knobs.weak_miss_rate, knobs.inspector_miss_rate)
    r["would_find"] = detect >= miss
    truth = _truth(r, decl_ids)
    companies, ownership, officers, watchlist = _registry(rng, parties, cids, start_day)
    history = r["day"] < days
    k = int(history.sum())  # rows are in time order: the history is a prefix, the manifest the rest
    inspections = _inspections(rng, knobs, r, decl, watchlist, history, days, start_day)
    rule_hit = inspections.attrs.pop("rule_hit")
    manifest_date = str(start_day + np.timedelta64(days, "D"))
    return World(
        declarations=decl.iloc[:k].reset_index(drop=True),
        inspections=inspections,
        companies=companies,
        ownership=ownership,
        officers=officers,
        watchlist=watchlist,
        licenses=licenses,
        manifest=decl.iloc[k:].reset_index(drop=True),
        manifest_truth=truth.iloc[k:].reset_index(drop=True),
        history_truth=truth.iloc[:k].reset_index(drop=True),
        params=dict(
            generator="synth.foreign",
            profile="foreign",
            seed=seed,
            held_out=seed >= HELD_OUT_SEEDS_FROM,
            days=days,
            rows_per_day=rows_per_day,
            start=start,
            manifest_date=manifest_date,
            drift_from=str(start_day + np.timedelta64(max(days - knobs.drift_days, 1), "D")),
            inspected_rule_hits=int(rule_hit.sum()),
            knobs=knobs.__dict__,
        ),
    )
