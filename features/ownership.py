"""Shell companies: watchlist name variants, control paths to listed entities, registry facts.

Point in time: company age and the unknown-company flag use each row's ``declared_at``
(a company incorporated after the declaration counts as unknown to the registry for that
row). Ownership, officer, address and agent links are taken as of the registry snapshot
handed in: the registry carries no history of who owned or directed whom when.

Steps to a listed entity count ownership links (owner - owned) and officer links
(person - company), in either direction, so a person directing both a company and a
listed entity puts the company 2 steps away. Shared addresses and registered agents do
NOT count as links: formation agents serve thousands of unrelated companies at one
address, which would put half the registry within 2 steps of some listed entity; they
are reported as their own counts instead. Person ids and company ids share one id space
(ownership owners may be either), and a watchlist ``id`` equal to a registry
``company_id`` is the same entity. Listed entities are the watchlist ids plus registry
companies whose canonical name equals a listed name or alias; one multi-source search from
all of them gives every company's distance and path. No link within ``MAX_STEPS`` is NaN.

Names are compared as sanctions screening compares them (``features.names``: rigour's legal
forms of every language reduced to their class, other scripts transliterated), so "ООО
Ромашка", "Romashka OOO" and "Romashka LLC" are one name, and fuzzy similarity is taken
between the distinctive cores (rapidfuzz ``token_sort_ratio``, one matrix per chunk).

Context columns are categoricals (one copy of each path or name, not one per row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import networkx as nx
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from features.base import FamilyResult, Feature, FeatureContext, rows_of
from features.names import name_cores, name_forms, normalise_names, normalise_text

FAMILY = "ownership"

MAX_STEPS = 6  # search depth; farther (or no) links give NaN
NAME_SCORE_FLOOR = 50.0  # name similarities below this are reported as 0: unrelated names
CDIST_CELLS = 20_000_000  # similarity-matrix cells per chunk (float32: 80 MB)
_ABSENT = object()  # a lookup key equal to nothing
NOT_NAMES = frozenset({"Vessel", "Airplane", "CryptoWallet", "Security"})  # listed non-parties

FEATURES = [
    Feature(
        "exporter_watchlist_name_score",
        FAMILY,
        "Similarity (0-100) of the exporter's name to the closest listed name or alias, "
        "legal forms and script ignored; below 50 counts as 0.",
        "exporter name '{exporter_name}' resembles listed '{exporter_watchlist_best_name}' "
        "(watchlist id {exporter_watchlist_best_id}), {exporter_watchlist_name_score:.0f}/100",
        show_when="positive",
    ),
    Feature(
        "consignee_watchlist_name_score",
        FAMILY,
        "Similarity (0-100) of the consignee's name to the closest listed name or alias, "
        "legal forms and script ignored; below 50 counts as 0.",
        "consignee name '{consignee_name}' resembles listed "
        "'{consignee_watchlist_best_name}' (watchlist id {consignee_watchlist_best_id}), "
        "{consignee_watchlist_name_score:.0f}/100",
        show_when="positive",
    ),
    Feature(
        "exporter_steps_to_listed_entity",
        FAMILY,
        "Fewest ownership/officer links from the exporter to a listed entity (0: listed "
        "itself; empty: none within 6).",
        "exporter is {exporter_steps_to_listed_entity:.0f} ownership/officer step(s) from a "
        "listed entity: {exporter_listed_path}",
        show_when="notna",
    ),
    Feature(
        "consignee_steps_to_listed_entity",
        FAMILY,
        "Fewest ownership/officer links from the consignee to a listed entity (0: listed "
        "itself; empty: none within 6 or consignee not identified).",
        "consignee is {consignee_steps_to_listed_entity:.0f} ownership/officer step(s) from "
        "a listed entity: {consignee_listed_path}",
        show_when="notna",
    ),
    Feature(
        "exporter_company_age_days",
        FAMILY,
        "Days between the exporter's incorporation and the declaration.",
        "exporter incorporated {exporter_company_age_days:.0f} days before this declaration "
        "(on {exporter_incorporated_on})",
        show_when="notna",
    ),
    Feature(
        "consignee_company_age_days",
        FAMILY,
        "Days between the consignee's incorporation and the declaration.",
        "consignee {consignee_registry_name} incorporated {consignee_company_age_days:.0f} "
        "days before this declaration (on {consignee_incorporated_on})",
        show_when="notna",
    ),
    Feature(
        "exporter_unknown_to_registry",
        FAMILY,
        "1 if the exporter id is not in the company registry (or not yet incorporated at the "
        "declaration date).",
        "exporter id {exporter_id} is not in the company registry at the declaration date",
        show_when="positive",
    ),
    Feature(
        "consignee_unknown_to_registry",
        FAMILY,
        "1 if the consignee matches no registry company by id or by name (or was not yet "
        "incorporated at the declaration date).",
        "consignee '{consignee_name}' matches no company in the registry at the declaration date",
        show_when="positive",
    ),
    Feature(
        "exporter_address_shared_count",
        FAMILY,
        "Number of other registry companies at the exporter's registered address.",
        "exporter's registered address '{exporter_address}' is shared with "
        "{exporter_address_shared_count:.0f} other companies",
        show_when="positive",
    ),
    Feature(
        "consignee_address_shared_count",
        FAMILY,
        "Number of other registry companies at the consignee's registered address.",
        "consignee's registered address '{consignee_address}' is shared with "
        "{consignee_address_shared_count:.0f} other companies",
        show_when="positive",
    ),
    Feature(
        "exporter_agent_shared_count",
        FAMILY,
        "Number of other registry companies using the exporter's registered agent.",
        "exporter's registered agent '{exporter_registered_agent}' also serves "
        "{exporter_agent_shared_count:.0f} other companies",
        show_when="positive",
    ),
    Feature(
        "consignee_agent_shared_count",
        FAMILY,
        "Number of other registry companies using the consignee's registered agent.",
        "consignee's registered agent '{consignee_registered_agent}' also serves "
        "{consignee_agent_shared_count:.0f} other companies",
        show_when="positive",
    ),
    Feature(
        "exporter_max_director_boards",
        FAMILY,
        "Most company boards any one officer of the exporter sits on (nominee directors).",
        "exporter's officer {exporter_busiest_officer} sits on "
        "{exporter_max_director_boards:.0f} company boards",
        show_when="positive",
    ),
    Feature(
        "consignee_max_director_boards",
        FAMILY,
        "Most company boards any one officer of the consignee sits on (nominee directors).",
        "consignee's officer {consignee_busiest_officer} sits on "
        "{consignee_max_director_boards:.0f} company boards",
        show_when="positive",
    ),
]

PARTY_COLUMNS = [
    "declared_at",
    "exporter_id",
    "exporter_name",
    "consignee_id",
    "consignee_name",
    "consignee_country",
]

CONTEXT_COLUMNS = [
    f"{role}_{c}"
    for role in ("exporter", "consignee")
    for c in (
        "watchlist_best_name",
        "watchlist_best_id",
        "listed_path",
        "listed_path_json",
        "listed_entity_id",
        "registry_id",
        "registry_name",
        "incorporated_on",
        "address",
        "registered_agent",
        "busiest_officer",
    )
]


# ---------------------------------------------------------------- small helpers
def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """A column of a reference table, or all-NaN when the table lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype=object)


def _ids(values: pd.Series) -> pd.Series:
    """Ids of a (small) reference table as stripped strings (object), NaN for missing or blank."""
    return _clean_ids(pd.Series(values).astype(object))


class _Keys:
    """A column as codes into its distinct values, so that lookups run once per distinct value."""

    def __init__(self, codes: np.ndarray, values: np.ndarray, index: pd.Index):
        self.codes, self.values, self.index = codes, values, index  # code -1: missing

    @classmethod
    def of(cls, column: pd.Series, clean=None) -> _Keys:
        """Factorise a column; ``clean`` maps distinct values (NaN drops, equal results merge)."""
        codes, uniques = pd.factorize(column)
        values = np.asarray(uniques, dtype=object)
        if clean is not None:
            merged, values = pd.factorize(clean(pd.Series(values, dtype=object)))
            codes = np.append(merged, -1)[np.where(codes < 0, len(merged), codes)]
            values = np.asarray(values, dtype=object)
        return cls(codes, values, column.index)

    @classmethod
    def missing(cls, index: pd.Index) -> _Keys:
        """Every row missing."""
        return cls(np.full(len(index), -1), np.array([], dtype=object), index)

    def take(self, per_value) -> np.ndarray:
        """One value per row from one value per distinct key (NaN/NaT for missing keys)."""
        per_value = np.asarray(per_value)
        if per_value.dtype.kind in "biu":
            per_value = per_value.astype("float64")
        fill = np.datetime64("NaT") if per_value.dtype.kind == "M" else np.nan
        filled = np.append(per_value, np.array([fill], dtype=per_value.dtype))
        return filled[np.where(self.codes < 0, len(per_value), self.codes)]

    def lookup(self, table: pd.Series) -> np.ndarray:
        """``table[key]`` per row, NaN/NaT where the key is missing or not in the table."""
        return self.take(table.reindex(pd.Index(self.values, dtype=object)).to_numpy())

    def category(self, per_value) -> pd.Categorical:
        """Text per row, stored once per distinct text (context columns for reasons)."""
        codes, texts = pd.factorize(pd.Series(np.asarray(per_value, dtype=object), dtype=object))
        rows = np.append(codes, -1)[np.where(self.codes < 0, len(codes), self.codes)]
        return pd.Categorical.from_codes(rows, categories=pd.Index(texts, dtype=object))


def _clean_ids(values: pd.Series) -> pd.Series:
    """Distinct ids as stripped strings, NaN for blank."""
    clean = values.astype(str).str.strip()
    return clean.where(values.notna() & (clean != "")).astype(object)


def _clean_codes(values: pd.Series) -> pd.Series:
    """Distinct codes (countries) as stripped strings, NaN for blank."""
    return _clean_ids(values)


def _as_known_ids(known: Iterable[str]) -> Callable[[pd.Series], pd.Series]:
    """Declared ids -> the id the reference tables write for the same party (compared as
    ``features.names.party_ids``: a declared '116766265' is the registry's '0116766265'), else
    the declared id stripped. The reference tables' own spelling is what reasons show."""
    from features.names import party_ids

    known = pd.Series(sorted(set(known)), dtype=object)
    by_key = pd.Series(known.to_numpy(), index=party_ids(known).to_numpy()).groupby(level=0).first()

    def clean(values: pd.Series) -> pd.Series:
        ids = _clean_ids(values)
        mapped = pd.Series(
            by_key.reindex(party_ids(ids).to_numpy()).to_numpy(), index=ids.index, dtype=object
        )
        return mapped.where(mapped.notna(), ids)

    return clean


def _naive_dates(s: pd.Series) -> pd.Series:
    """Datetimes without time zone (UTC for aware ones), parsed leniently."""
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def _usable(df: pd.DataFrame | None, *required: str) -> bool:
    return df is not None and all(c in df.columns for c in required)


# ---------------------------------------------------------------- reference tables
def _registry(companies: pd.DataFrame) -> pd.DataFrame:
    """One row per company id: name, country, address, agent, dates and sharing counts."""
    reg = pd.DataFrame(
        {
            "company_id": _ids(companies["company_id"]),
            "name": _col(companies, "name"),
            "country": _col(companies, "country"),
            "address": _col(companies, "address"),
            "registered_agent": _col(companies, "registered_agent"),
            "incorporated_on": _naive_dates(_col(companies, "incorporated_on")),
        }
    )
    reg = reg[reg["company_id"].notna()].drop_duplicates("company_id").set_index("company_id")
    forms = name_forms(reg["name"])
    reg["name_norm"], reg["name_core"] = forms["canonical"], forms["core"]
    for col, norm in (("address", normalise_text), ("registered_agent", normalise_names)):
        key = norm(reg[col])
        reg[f"{col}_shared"] = (key.map(key.value_counts()) - 1).astype("float64")
    return reg


def _officer_boards(officers: pd.DataFrame) -> pd.DataFrame:
    """Per company: the most boards any of its officers sits on, and that officer's name."""
    off = pd.DataFrame(
        {
            "person_id": _ids(officers["person_id"]),
            "company_id": _ids(officers["company_id"]),
            "person_name": _col(officers, "person_name"),
        }
    )
    off = off.dropna(subset=["person_id", "company_id"]).drop_duplicates(["person_id", "company_id"])
    off["boards"] = off["person_id"].map(off["person_id"].value_counts()).astype("float64")
    off["person_name"] = off["person_name"].fillna(off["person_id"])
    top = off.sort_values(["boards", "person_id"], ascending=[False, True], kind="stable")
    return top.drop_duplicates("company_id").set_index("company_id")[["boards", "person_name"]]


def _watchlist(watchlist: pd.DataFrame) -> pd.DataFrame:
    """Listed parties (not vessels etc.): id, name, dataset; ids cleaned, one row per id."""
    wl = pd.DataFrame(
        {
            "id": _ids(watchlist["id"]),
            "name": watchlist["name"],
            "aliases": _col(watchlist, "aliases"),
            "schema": _col(watchlist, "schema"),
            "dataset": _col(watchlist, "dataset"),
        }
    )
    wl = wl[wl["id"].notna() & ~wl["schema"].isin(NOT_NAMES)]
    return wl.drop_duplicates("id").reset_index(drop=True)


def _listed_names(wl: pd.DataFrame) -> pd.DataFrame:
    """Every listed name and alias, one row each: id, the name as listed, canonical, core."""
    primary = pd.DataFrame({"id": wl["id"], "listed_name": wl["name"]})
    aliases = pd.DataFrame(
        {
            "id": wl["id"],
            "listed_name": wl["aliases"].astype(object).where(wl["aliases"].notna()).str.split(";"),
        }
    )
    aliases = aliases.explode("listed_name")
    aliases["listed_name"] = aliases["listed_name"].str.strip()
    names = pd.concat([primary, aliases], ignore_index=True)
    names = names[names["listed_name"].notna()].reset_index(drop=True)
    names[["canonical", "core"]] = name_forms(names["listed_name"])[["canonical", "core"]]
    return names[names["core"].notna()].reset_index(drop=True)


# ---------------------------------------------------------------- watchlist name similarity
def best_listed_match(cores: pd.Series, listed: pd.DataFrame) -> pd.DataFrame:
    """For each distinct name core: best similarity to a listed core, that name and its id."""
    queries = pd.Series(cores.dropna().unique(), dtype=object)
    out = pd.DataFrame(
        {"score": np.zeros(len(queries)), "best_name": np.nan, "best_id": np.nan},
        index=pd.Index(queries, dtype=object),
    )
    out[["best_name", "best_id"]] = out[["best_name", "best_id"]].astype(object)
    choices = listed.drop_duplicates("core").reset_index(drop=True)
    if queries.empty or choices.empty:
        return out
    score = np.zeros(len(queries), dtype="float32")
    best = np.zeros(len(queries), dtype="int64")
    step = max(1, CDIST_CELLS // len(choices))
    for start in range(0, len(queries), step):
        block = process.cdist(
            queries.iloc[start : start + step].tolist(),
            choices["core"].tolist(),
            scorer=fuzz.token_sort_ratio,
            score_cutoff=NAME_SCORE_FLOOR,
            dtype=np.float32,
            workers=-1,
        )
        best[start : start + step] = block.argmax(axis=1)
        score[start : start + step] = block.max(axis=1)
    hit = score > 0
    out["score"] = score.astype("float64")
    out["best_name"] = np.where(hit, choices["listed_name"].to_numpy(dtype=object)[best], np.nan)
    out["best_id"] = np.where(hit, choices["id"].to_numpy(dtype=object)[best], np.nan)
    return out


# ---------------------------------------------------------------- control graph
def control_graph(
    reg: pd.DataFrame | None,
    ownership: pd.DataFrame | None,
    officers: pd.DataFrame | None,
    listed_ids: pd.Series,
) -> tuple[nx.Graph, dict[tuple[str, str], str]]:
    """Undirected graph of ownership and officer links, and each directed step's wording."""
    graph = nx.Graph()
    if reg is not None:
        graph.add_nodes_from(reg.index)
    graph.add_nodes_from(listed_ids.dropna())
    relation: dict[tuple[str, str], str] = {}
    if _usable(officers, "person_id", "company_id"):
        person, company = _ids(officers["person_id"]), _ids(officers["company_id"])
        role = _col(officers, "role").astype(object).where(_col(officers, "role").notna())
        role = role.str.strip().str.casefold().fillna("officer").replace("", "officer")
        keep = (person.notna() & company.notna() & (person != company)).to_numpy()
        person, company, role = person[keep], company[keep], role[keep]
        graph.add_edges_from(zip(person, company, strict=True))
        relation.update(zip(zip(company, person, strict=True), "has " + role, strict=True))
        relation.update(zip(zip(person, company, strict=True), role + " of", strict=True))
    if _usable(ownership, "owner_id", "owned_id"):
        owner, owned = _ids(ownership["owner_id"]), _ids(ownership["owned_id"])
        keep = (owner.notna() & owned.notna() & (owner != owned)).to_numpy()
        owner, owned = owner[keep], owned[keep]
        graph.add_edges_from(zip(owner, owned, strict=True))
        relation.update(dict.fromkeys(zip(owned, owner, strict=True), "owned by"))
        relation.update(dict.fromkeys(zip(owner, owned, strict=True), "owns"))
    return graph, relation


def _node_names(
    reg: pd.DataFrame | None, officers: pd.DataFrame | None, wl: pd.DataFrame | None
) -> dict[str, str]:
    """Display name per node id: registry name, else listed name, else officer name."""
    names: dict[str, str] = {}
    if _usable(officers, "person_id", "person_name"):
        people = pd.DataFrame({"id": _ids(officers["person_id"]), "n": officers["person_name"]})
        people = people.dropna().drop_duplicates("id")
        names.update(zip(people["id"], people["n"].astype(str), strict=True))
    if wl is not None:
        named = wl.dropna(subset=["name"])
        names.update(zip(named["id"], named["name"].astype(str), strict=True))
    if reg is not None:
        named = reg["name"].dropna()
        names.update(zip(named.index, named.astype(str), strict=True))
    return names


def listed_search(graph: nx.Graph, sources: dict[str, str]) -> tuple[dict, dict]:
    """Steps and path from the nearest listed source to every node within MAX_STEPS."""
    present = sorted(s for s in sources if s in graph)  # a set would make ties random
    if not present:
        return {}, {}
    return nx.multi_source_dijkstra(graph, present, cutoff=MAX_STEPS)


def render_paths(
    wanted: pd.Series,
    dist: dict,
    paths: dict,
    sources: dict[str, str],
    relation: dict[tuple[str, str], str],
    names: dict[str, str],
) -> pd.DataFrame:
    """Steps, listed entity, the path in words and the path as data (``path_json``: one entry
    per company or person, with its id, how it is tied to the next one, and for the last how it
    is listed) for each distinct wanted node reached."""
    reached = [n for n in pd.unique(wanted.dropna()) if n in dist]
    rows = []
    for node in reached:  # one per distinct company reached, not per declaration
        path = paths[node][::-1]
        text = names.get(path[0], path[0])
        for a, b in zip(path, path[1:], strict=False):
            text += f" -{relation.get((a, b), 'linked to')}-> {names.get(b, b)}"
        steps = [
            {
                "name": names.get(a, a),
                "id": a,
                "relation": relation.get((a, b), "linked to") if b is not None else "",
                "listed_as": sources[a] if b is None else "",
            }
            for a, b in zip(path, [*path[1:], None], strict=True)
        ]
        rows.append((float(dist[node]), f"{text} ({sources[path[-1]]})", path[-1], json.dumps(steps)))
    out = pd.DataFrame(
        rows, columns=["steps", "path", "listed", "path_json"], index=pd.Index(reached, dtype=object)
    )
    return out.astype({"steps": "float64", "path": object, "listed": object, "path_json": object})


def _listed_sources(wl: pd.DataFrame, listed: pd.DataFrame, reg: pd.DataFrame | None) -> dict[str, str]:
    """Listed nodes and how each is listed: by watchlist id, or registry name = listed name."""
    dataset = wl["dataset"].astype(object).where(wl["dataset"].notna())
    by_id = "listed: " + wl["id"] + np.where(dataset.notna(), ", " + dataset.fillna(""), "")
    sources: dict[str, str] = {}
    if reg is not None:
        first = listed.drop_duplicates("canonical").set_index("canonical")
        match = reg[reg["name_norm"].isin(first.index)]
        hit = first.loc[match["name_norm"]]
        label = "name of listed " + hit["id"] + " '" + hit["listed_name"].astype(str) + "'"
        sources.update(zip(match.index, label, strict=True))
    sources.update(zip(wl["id"], by_id, strict=True))
    return sources


# ---------------------------------------------------------------- the family
def _first_by(frame: pd.DataFrame, keys: list[str], value: str) -> pd.Series:
    """``value`` of the first row per key combination (frame pre-sorted by preference)."""
    return frame.dropna(subset=keys).drop_duplicates(keys).set_index(keys)[value]


def _consignee_keys(
    decl: pd.DataFrame,
    reg: pd.DataFrame | None,
    graph_nodes: set[str],
    listed: pd.DataFrame | None,
    dist: pd.Series,
    names: _Keys,
    forms: pd.DataFrame,
) -> _Keys:
    """Who each consignee is, as keys into node ids (NaN when it cannot be identified).

    Its ``consignee_id`` when the registry or the graph knows it; else, by name, in order: the
    registry company with the same canonical name in the consignee's country, the same canonical
    name anywhere, the listed entity with that canonical name, the registry company with the
    same name core (legal form ignored) in the consignee's country. Among equals, the one
    closest to a listed entity, then the smallest id. Resolved once per distinct name/country;
    ``forms`` holds the canonical name and core of each of ``names.values``.
    """
    cid = (
        _Keys.of(decl["consignee_id"], _as_known_ids(graph_nodes))
        if "consignee_id" in decl.columns
        else _Keys.missing(decl.index)
    )
    known = np.append(pd.Index(cid.values, dtype=object).isin(graph_nodes), False)
    by_id = known[np.where(cid.codes < 0, len(cid.values), cid.codes)]
    country = _Keys.of(decl["consignee_country"], lambda v: _clean_codes(v).str.upper())
    width = len(country.values) + 1
    pair_codes, pairs = pd.factorize((names.codes + 1).astype("int64") * width + country.codes + 1)
    name_pos = pairs // width - 1  # -1: missing, which picks the NaN appended last
    q = pd.DataFrame(
        {c: np.append(forms[c].to_numpy(dtype=object), np.nan)[name_pos] for c in ("canonical", "core")}
    )
    q["country"] = np.append(country.values, np.nan)[pairs % width - 1]
    found = pd.Series(np.nan, index=q.index, dtype=object)
    steps: list[tuple[pd.Series, list[str]]] = []
    if reg is not None and not reg.empty:
        cand = pd.DataFrame(
            {
                "canonical": reg["name_norm"].to_numpy(),
                "core": reg["name_core"].to_numpy(),
                "country": _clean_codes(pd.Series(reg["country"]).astype(object)).str.upper().to_numpy(),
                "company_id": reg.index.to_numpy(dtype=object),
                "dist": dist.reindex(reg.index).to_numpy(dtype="float64"),
            }
        )
        cand = cand.sort_values(["dist", "company_id"], na_position="last", kind="stable")
        for keys in (["canonical", "country"], ["canonical"]):
            steps.append((_first_by(cand, keys, "company_id"), keys))
    if listed is not None and not listed.empty:
        steps.append((_first_by(listed, ["canonical"], "id"), ["canonical"]))
    if reg is not None and not reg.empty:
        steps.append((_first_by(cand, ["core", "country"], "company_id"), ["core", "country"]))
    for table, keys in steps:
        open_ = found.isna() & q[keys].notna().all(axis=1)
        if not open_.any() or table.empty:
            continue
        hit = q.loc[open_, keys].merge(table.rename("hit").reset_index(), on=keys, how="left")
        found[open_] = hit["hit"].to_numpy(dtype=object)
    codes = np.where(by_id, cid.codes, len(cid.values) + pair_codes)
    return _Keys(codes, np.concatenate([cid.values, found.to_numpy(dtype=object)]), decl.index)


def _missing_tables(ctx: FeatureContext, reg, officers, ownership, wl) -> list[str]:
    """Plain sentences on what could not be computed and why."""
    missing = []
    if reg is None:
        missing.append(
            "ownership: company registry absent, company age, unknown-company and "
            "shared address/agent features left empty"
        )
    else:
        for col, what in (
            ("incorporated_on", "company age"),
            ("address", "shared-address"),
            ("registered_agent", "shared-agent"),
        ):
            if col not in ctx.companies.columns:
                missing.append(f"ownership: company registry has no {col} column, {what} features left empty")
    if officers is None:
        missing.append(
            "ownership: officers table absent, nominee-director features left empty "
            "and links to listed entities follow ownership only"
        )
    if ownership is None:
        missing.append("ownership: ownership table absent, links to listed entities follow officers only")
    if wl is None:
        missing.append(
            "ownership: watchlist absent, watchlist name-match and steps-to-listed features left empty"
        )
    return missing


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Watchlist name similarity, steps to listed entities and registry facts per declaration.

    Described: the target rows of ``decl``; every value is a fact of the row itself.
    """
    rows = rows_of(decl, ctx)
    return _describe(rows.frame([c for c in PARTY_COLUMNS if c in decl.columns]), ctx)


def _describe(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """The features and context of every row of ``decl``."""
    n, idx = len(decl), decl.index
    feats = {f.name: np.full(n, np.nan) for f in FEATURES}
    context: dict[str, object] = {}

    reg = _registry(ctx.companies) if _usable(ctx.companies, "company_id") else None
    officers = ctx.officers if _usable(ctx.officers, "person_id", "company_id") else None
    ownership = ctx.ownership if _usable(ctx.ownership, "owner_id", "owned_id") else None
    wl = _watchlist(ctx.watchlist) if _usable(ctx.watchlist, "id", "name") else None
    listed = _listed_names(wl) if wl is not None else None
    missing = _missing_tables(ctx, reg, officers, ownership, wl)

    if n:
        # who the parties are, and how far each is from a listed entity (one search for all)
        known_ids = set(reg.index) if reg is not None else set()
        if wl is not None:
            known_ids |= set(wl["id"])
        exporter = _Keys.of(decl["exporter_id"], _as_known_ids(known_ids))
        consignee_names = _Keys.of(decl["consignee_name"])
        consignee_forms = name_forms(pd.Series(consignee_names.values, dtype=object))
        dist: dict = {}
        graph_nodes: set[str] = set(reg.index) if reg is not None else set()
        if wl is not None:
            graph, relation = control_graph(reg, ownership, officers, wl["id"])
            graph_nodes = set(graph.nodes)
            sources = _listed_sources(wl, listed, reg)
            dist, found = listed_search(graph, sources)
        consignee = _consignee_keys(
            decl, reg, graph_nodes, listed, pd.Series(dist, dtype="float64"), consignee_names, consignee_forms
        )
        if wl is not None:
            wanted = pd.Series(np.concatenate([exporter.values, consignee.values]), dtype=object)
            paths = render_paths(wanted, dist, found, sources, relation, _node_names(reg, officers, wl))
        boards = _officer_boards(officers) if officers is not None and reg is not None else None
        t = _naive_dates(decl["declared_at"]).to_numpy()

        for role, node in (("exporter", exporter), ("consignee", consignee)):
            if wl is not None:
                feats[f"{role}_steps_to_listed_entity"] = node.lookup(paths["steps"])
                context[f"{role}_listed_path"] = node.category(paths["path"].reindex(node.values))
                context[f"{role}_listed_path_json"] = node.category(paths["path_json"].reindex(node.values))
                context[f"{role}_listed_entity_id"] = node.category(paths["listed"].reindex(node.values))
            if reg is None:
                continue
            in_reg = pd.Index(node.values, dtype=object).isin(reg.index)
            at = reg.reindex(pd.Index(node.values, dtype=object))
            age = (t - node.take(at["incorporated_on"].to_numpy())) / np.timedelta64(1, "D")
            not_yet = age < 0
            feats[f"{role}_company_age_days"] = np.where(not_yet, np.nan, age)
            feats[f"{role}_unknown_to_registry"] = (~node.take(in_reg).astype(bool) | not_yet).astype(
                "float64"
            )
            feats[f"{role}_address_shared_count"] = node.take(at["address_shared"].to_numpy())
            feats[f"{role}_agent_shared_count"] = node.take(at["registered_agent_shared"].to_numpy())
            context[f"{role}_registry_id"] = node.category(np.where(in_reg, node.values, np.nan))
            context[f"{role}_registry_name"] = node.category(at["name"])
            context[f"{role}_incorporated_on"] = node.category(at["incorporated_on"].dt.strftime("%Y-%m-%d"))
            context[f"{role}_address"] = node.category(at["address"])
            context[f"{role}_registered_agent"] = node.category(at["registered_agent"])
            if boards is not None:
                on_board = boards.reindex(pd.Index(node.values, dtype=object))
                feats[f"{role}_max_director_boards"] = node.take(on_board["boards"].to_numpy())
                context[f"{role}_busiest_officer"] = node.category(on_board["person_name"])

        if listed is not None:
            names = {"exporter": _Keys.of(decl["exporter_name"]), "consignee": consignee_names}
            cores = {
                "exporter": name_cores(pd.Series(names["exporter"].values, dtype=object)),
                "consignee": consignee_forms["core"],
            }
            cores = {role: core.to_numpy(dtype=object) for role, core in cores.items()}
            match = best_listed_match(pd.Series(np.concatenate(list(cores.values()))), listed)
            for role, keys in names.items():
                best = match.reindex(pd.Index(cores[role], dtype=object))
                feats[f"{role}_watchlist_name_score"] = keys.take(best["score"].to_numpy())
                context[f"{role}_watchlist_best_name"] = keys.category(best["best_name"])
                context[f"{role}_watchlist_best_id"] = keys.category(best["best_id"])

    none = _Keys.missing(idx)
    context_frame = pd.DataFrame({c: context.get(c, none.category([])) for c in CONTEXT_COLUMNS}, index=idx)
    return FamilyResult(
        features=pd.DataFrame(feats, index=idx, dtype="float64"), context=context_frame, missing=missing
    )
