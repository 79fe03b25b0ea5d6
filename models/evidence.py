"""What each feature is evidence of, and what its absence means: the table behind the reasons.

A reason is evidence only when its feature has a value drawn from at least one record. The
state of a feature for an item is decided generically from its value, its record count and
its catalogue entry (``show_when``):

- ``shown``: the value is there (and, for a flag, set): the feature's own reason template;
- ``absent``: the value is missing (NaN): what the absence means (``Evidence.absent``);
- ``unrecorded``: the value is a rate or share drawn from no record (its count column is 0):
  ``Evidence.unrecorded``, e.g. "this exporter has never been inspected";
- ``off``: a flag at 0, or a count of nothing: ``Evidence.off``, e.g. "shipped direct".

``EVIDENCE`` holds, per feature, the sentences for those states, the count column a rate is
drawn from, and the kind of evidence when the family's default (``FAMILY_KIND``) does not fit.
A feature missing from the table still gets a state and a generic sentence from its
description, so a new feature never shows a raw fallback.

``hint_typologies`` turns the kinds of evidence an item's score rests on into a typology
hint (e.g. ``mislabel;undervaluation``) for the case queue.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.base import Feature

# kinds of evidence, in the order the case page shows their groups when contributions tie
KINDS: dict[str, str] = {
    "goods": "goods vs code",
    "value": "value",
    "weight": "weight and density",
    "licence": "licence",
    "route": "route and origin",
    "parties": "parties and ownership",
    "record": "track record",
}
FAMILY_KIND: dict[str, str] = {
    "hs_mismatch": "goods",
    "routing": "route",
    "ownership": "parties",
    "density": "weight",
    "license": "licence",
    "behaviour": "record",
}
# feature-name patterns whose kind differs from their family's (first match wins)
NAME_KIND: tuple[tuple[str, str], ...] = ((r"(^|_)value(_|$)", "value"),)
# a template field named like these counts the records a rate was drawn from (when the table
# names no count column for a feature)
COUNT_FIELD = re.compile(r"_(inspections|inspected)(_before)?$|_history$|_declarations_before$")

STATES = ("shown", "absent", "unrecorded", "off")

NO_LICENSE = "no license quoted on the declaration is in the license register"


@dataclass(frozen=True)
class Evidence:
    """How one feature becomes a reason beyond its own template."""

    kind: str | None = None  # overrides FAMILY_KIND / NAME_KIND
    count: str | None = None  # context column: how many records the value is drawn from
    absent: str | None = None  # the value is missing
    unrecorded: str | None = None  # the count is 0 (default: ``absent``)
    off: str | None = None  # the value is 0 (a flag that is not set, a count of nothing)
    shown_at_zero: bool = False  # the template describes the value 0 (and ``off`` any other)


EVIDENCE: dict[str, Evidence] = {
    # ---- goods vs code, value
    "description_fits_declared_heading": Evidence(
        absent="the goods description could not be checked against heading {declared_heading} "
        "(no fitted text model)"
    ),
    "description_suggests_controlled": Evidence(
        absent="the goods description could not be checked for controlled goods (no fitted text model)"
    ),
    "value_per_kg_log_ratio_to_code": Evidence(
        absent="value per kg could not be compared with {hs_code}: no declared value or weight, "
        "and no history or reference for the code"
    ),
    "value_per_kg_robust_z": Evidence(
        absent="value per kg could not be compared with {hs_code}: no declared value or weight, "
        "and no history or reference for the code"
    ),
    "declared_value_log10": Evidence(absent="no declared value"),
    "exporter_share_of_this_heading": Evidence(absent="first shipment by exporter {exporter_id} on record"),
    "exporter_new_chapter": Evidence(
        off="exporter is new or has shipped goods of chapter {declared_chapter} before"
    ),
    "code_cover_violation_rate": Evidence(
        count="code_inspections_before",
        absent="no inspection outcomes on record",
        unrecorded="code {hs_code} has never been inspected",
    ),
    "value_per_kg_z_exporter": Evidence(
        absent="exporter {exporter_id} never declared {hs_code} before (nothing of its own to compare with)"
    ),
    "code_share_by_strategic_exporters": Evidence(absent="no earlier declarations of {hs6_code} on record"),
    "exporter_strategic_share": Evidence(absent="first shipment by exporter {exporter_id} on record"),
    "description_times_seen_under_code": Evidence(
        count="code_described_history", unrecorded="no earlier declarations of {hs6_code} on record"
    ),
    "description_share_under_code": Evidence(
        count="code_described_history",
        absent="no earlier declarations of {hs6_code} on record",
    ),
    "description_times_seen_from_exporter": Evidence(
        absent="first shipment by exporter {exporter_id} on record"
    ),
    "description_rare_word_share": Evidence(
        absent="too few earlier declarations of {hs6_code} to judge the description's words",
        off="every word of the description is common under {hs6_code}",
    ),
    # ---- route and origin
    "route_hops": Evidence(off="shipped direct, no transshipment stop declared"),
    "route_circuity": Evidence(
        absent="route length could not be measured: a port on the route {route_path} is not a known port"
    ),
    "route_unknown_ports": Evidence(off="every port on the route is a known port"),
    "transit_hub_violation_rate": Evidence(
        count="transit_hub_inspections",
        absent="no transit port on the declared route",
        unrecorded="transit port {transit_hub_worst} has never been inspected",
    ),
    "origin_differs_from_loading_country": Evidence(
        off="goods loaded in their declared origin country {origin_country}"
    ),
    "origin_produces_goods_share": Evidence(
        count="heading_declarations",
        absent="origin or heading not declared",
        unrecorded="first declaration under heading {hs_heading} on record",
    ),
    "destination_differs_from_consignee_country": Evidence(
        off="declared destination {destination_country} is the consignee's country"
    ),
    # ---- parties and ownership
    "exporter_watchlist_name_score": Evidence(
        absent="exporter name could not be compared with the watchlist (no watchlist)",
        off="exporter name '{exporter_name}' resembles no listed name",
    ),
    "consignee_watchlist_name_score": Evidence(
        absent="consignee name could not be compared with the watchlist (no watchlist)",
        off="consignee name '{consignee_name}' resembles no listed name",
    ),
    "exporter_steps_to_listed_entity": Evidence(
        absent="no ownership or officer link from exporter {exporter_id} to a listed entity within 6 steps"
    ),
    "consignee_steps_to_listed_entity": Evidence(
        absent="no ownership or officer link from consignee '{consignee_name}' to a listed entity "
        "within 6 steps (or the consignee is not in the registry)"
    ),
    "exporter_company_age_days": Evidence(
        absent="exporter {exporter_id} is not in the company registry (no incorporation date)"
    ),
    "consignee_company_age_days": Evidence(
        absent="consignee '{consignee_name}' is not in the company registry (no incorporation date)"
    ),
    "exporter_unknown_to_registry": Evidence(
        absent="no company registry to check the exporter against",
        off="exporter {exporter_id} is in the company registry",
    ),
    "consignee_unknown_to_registry": Evidence(
        absent="no company registry to check the consignee against",
        off="consignee '{consignee_name}' is in the company registry",
    ),
    "exporter_address_shared_count": Evidence(
        absent="exporter {exporter_id} is not in the company registry (no registered address)",
        off="no other company at the exporter's registered address",
    ),
    "consignee_address_shared_count": Evidence(
        absent="consignee '{consignee_name}' is not in the company registry (no registered address)",
        off="no other company at the consignee's registered address",
    ),
    "exporter_agent_shared_count": Evidence(
        absent="exporter {exporter_id} is not in the company registry (no registered agent)",
        off="exporter's registered agent serves no other company",
    ),
    "consignee_agent_shared_count": Evidence(
        absent="consignee '{consignee_name}' is not in the company registry (no registered agent)",
        off="consignee's registered agent serves no other company",
    ),
    "exporter_max_director_boards": Evidence(
        absent="no officers of exporter {exporter_id} on record",
        off="no officer of the exporter sits on other company boards",
    ),
    "consignee_max_director_boards": Evidence(
        absent="no officers of consignee '{consignee_name}' on record",
        off="no officer of the consignee sits on other company boards",
    ),
    # ---- weight and density
    "density_log_ratio_to_code": Evidence(
        absent="density could not be judged: no cargo volume declared or no density profile for {hs_code}"
    ),
    "density_above_code_max": Evidence(
        absent="density could not be judged: no cargo volume declared or no density profile for {hs_code}",
        off="declared density within the usual range for {hs_code}",
    ),
    "mass_per_container_to_payload": Evidence(
        absent="mass per container could not be judged (container type or count not declared)"
    ),
    "net_to_gross_ratio": Evidence(absent="net mass not declared"),
    "weight_per_package_z_exporter": Evidence(
        count="exporter_package_history",
        absent="too few earlier declarations by exporter {exporter_id} to judge the weight per package",
    ),
    "density_z_exporter": Evidence(
        absent="no earlier declarations of {hs_code} with a cargo volume by exporter {exporter_id}"
    ),
    "weight_per_package_log_ratio_to_code": Evidence(
        absent="weight per package could not be judged (no package count, or no history for {hs_code})"
    ),
    "mass_per_container_log_ratio_to_code": Evidence(
        absent="mass per container could not be judged (container type or count not declared)"
    ),
    "consignment_mass_log_ratio_to_code": Evidence(
        absent="consignment weight could not be judged (no weight declared, or no history for {hs_code})"
    ),
    "consignment_mass_z_exporter": Evidence(
        absent="exporter {exporter_id} never declared {hs_code} before (nothing of its own to compare with)"
    ),
    "weight_unusual_for_goods_z": Evidence(absent="weight could not be judged against {hs_code}"),
    # ---- licence
    "controlled_goods": Evidence(off="declared code {hs_code} is not export-controlled"),
    "license_missing": Evidence(
        absent="no license register to check against",
        off="{hs_code} is not controlled, or a registered license was quoted",
    ),
    "license_outside_validity": Evidence(absent=NO_LICENSE, off="license valid on the declaration date"),
    "license_held_by_other_exporter": Evidence(absent=NO_LICENSE, off="license held by this exporter"),
    "license_other_destination": Evidence(absent=NO_LICENSE, off="license is for the declared destination"),
    "license_other_consignee": Evidence(absent=NO_LICENSE, off="license names the declared consignee"),
    "license_code_not_covered": Evidence(absent=NO_LICENSE, off="license covers the declared code"),
    "license_quantity_used_share": Evidence(absent=NO_LICENSE),
    "exporter_holds_covering_license": Evidence(
        absent="{hs_code} is not export-controlled: no license needed",
        off="exporter holds a license valid today for {hs_code}",
        shown_at_zero=True,
    ),
    "license_check_failures": Evidence(
        absent="no license register to check against",
        off="every license check passes, or the goods need no license",
    ),
    # ---- track record
    "exporter_shipments_30d": Evidence(off="no other declarations by the exporter in the previous 30 days"),
    "exporter_shipments_90d": Evidence(off="no other declarations by the exporter in the previous 90 days"),
    "exporter_first_shipment": Evidence(off="exporter {exporter_id} has shipped before"),
    "exporter_days_trading": Evidence(absent="first shipment by exporter {exporter_id} on record"),
    "consignee_shipments_90d": Evidence(off="no other shipments to this consignee in the previous 90 days"),
    "exporter_violation_rate": Evidence(
        count="exporter_inspections_before",
        absent="no inspection outcomes on record",
        unrecorded="exporter {exporter_id} has never been inspected",
    ),
    "exporter_inspections_before": Evidence(off="exporter {exporter_id} has never been inspected"),
    "consignee_country_violation_rate": Evidence(
        count="consignee_country_inspections_before",
        absent="no inspection outcomes on record",
        unrecorded="goods for {consignee_country} have never been inspected",
    ),
    "declarant_violation_rate": Evidence(
        count="declarant_inspections_before",
        absent="no broker declared, or no inspection outcomes on record",
        unrecorded="broker {declarant_id} has never had a declaration inspected",
    ),
    "exporter_shipments_before": Evidence(off="first shipment by exporter {exporter_id} on record"),
    "exporter_consignee_shipments_before": Evidence(
        off="first shipment from this exporter to this consignee on record"
    ),
    "exporter_violations_before": Evidence(off="exporter {exporter_id} was never found violating before"),
    "consignee_violation_rate": Evidence(
        count="consignee_inspections_before",
        absent="no inspection outcomes on record",
        unrecorded="consignee '{consignee_name}' has never been inspected",
    ),
    "consignee_inspections_before": Evidence(off="consignee '{consignee_name}' has never been inspected"),
    "consignee_violations_before": Evidence(
        off="consignee '{consignee_name}' was never found violating before"
    ),
    "declarant_inspections_before": Evidence(off="broker {declarant_id} never had a declaration inspected"),
    "declarant_violations_before": Evidence(off="broker {declarant_id} was never found violating before"),
    "loading_port_violation_rate": Evidence(
        count="loading_port_inspections_before",
        absent="no inspection outcomes on record",
        unrecorded="no shipment from port of loading {port_of_loading} was inspected before",
    ),
    "loading_port_inspections_before": Evidence(
        off="no shipment from port of loading {port_of_loading} was inspected before"
    ),
    "loading_port_violations_before": Evidence(
        off="no violation found before in shipments from {port_of_loading}"
    ),
}

_FORMATTER = string.Formatter()


def template_fields(template: str) -> list[str]:
    """The context columns a ``str.format`` template reads, in order, once each."""
    out = []
    for _, f, _, _ in _FORMATTER.parse(template):
        if f:
            out.append(re.split(r"[.\[]", f, maxsplit=1)[0])
    return list(dict.fromkeys(out))


def entry(feature: Feature) -> Evidence:
    return EVIDENCE.get(feature.name, Evidence())


def kind_of(feature: Feature) -> str:
    """The kind of evidence a feature gives: the table, a name pattern, or its family's."""
    e = entry(feature)
    if e.kind:
        return e.kind
    for pattern, kind in NAME_KIND:
        if re.search(pattern, feature.name):
            return kind
    return FAMILY_KIND.get(feature.family, "record")


def count_field(feature: Feature) -> str | None:
    """The column counting the records a feature's value is drawn from, if it has one."""
    e = entry(feature)
    if e.count:
        return e.count
    for f in template_fields(feature.reason):
        if f != feature.name and COUNT_FIELD.search(f):
            return f
    return None


def _lower_first(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def sentence(feature: Feature, state: str) -> str:
    """The template for a feature in a state (``shown``: its own reason template)."""
    if state == "shown":
        return feature.reason
    e = entry(feature)
    table = {"off": e.off, "unrecorded": e.unrecorded or e.absent, "absent": e.absent}[state]
    return table or generic_sentence(feature, state)


def generic_sentence(feature: Feature, state: str) -> str:
    """A sentence for a state from the feature's description alone (no fields to fill)."""
    what = _lower_first(feature.description)
    if state == "shown":
        return what
    if state == "off":
        return f"no sign that {what}"
    if state == "unrecorded":
        return f"no record to measure: {what}"
    return f"not on record: {what}"


def states(feature: Feature, values: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
    """The state (index into ``STATES``) of one feature for each item, from its values and
    record counts (None: the feature has no count column in the context)."""
    v = np.asarray(values, dtype="float64")
    e = entry(feature)
    state = np.zeros(len(v), dtype=np.int8)  # shown
    zero_is_off = e.off is not None or feature.show_when == "positive"
    if e.shown_at_zero:
        state[v != 0] = 3
    elif zero_is_off:
        state[v <= 0 if feature.show_when == "positive" else v == 0] = 3
    if counts is not None:
        c = np.asarray(counts, dtype="float64")
        state[~(c > 0)] = 2
    state[np.isnan(v)] = 1
    return state


# ---------------------------------------------------------------- typology hints
# the typology each kind of evidence points to (value evidence is decided by its direction)
TYPOLOGY_OF_KIND: dict[str, str] = {
    "goods": "mislabel",
    "weight": "concealment",
    "licence": "no_license",
    "route": "routing",
    "parties": "shell",
}
# codes for alloys and preparations that controlled material is blended into (DOMAIN.md)
BLEND_HEADINGS = ("7202", "3824")
BLEND_WORDS = re.compile(r"\b(?:mix|mixed|mixture|alloy|alloyed|blend|blended|compound of)\b", re.IGNORECASE)
# the signed value features, in order of preference, that say whether value is above or below usual
VALUE_DIRECTION = (
    "value_per_kg_log_ratio_to_code",
    "value_per_kg_robust_z",
)
HINT_COLUMN_CHARS = 32  # the case store's typology_hint column


def blend_candidates(hs_codes=None, descriptions=None, n: int | None = None) -> np.ndarray:
    """Items declared under an alloy/preparation code, or described as a mixture or alloy."""
    size = n if n is not None else len(hs_codes if hs_codes is not None else descriptions)
    out = np.zeros(size, dtype=bool)
    if hs_codes is not None:
        digits = pd.Series(hs_codes, dtype=object).astype("str").str.replace(r"\D", "", regex=True)
        out |= digits.str[:4].isin(BLEND_HEADINGS).to_numpy()
    if descriptions is not None:
        d = pd.Series(descriptions, dtype=object)
        out |= d.fillna("").astype("str").str.contains(BLEND_WORDS).to_numpy()
    return out


def hint_typologies(
    strength: pd.DataFrame,
    value_below: np.ndarray | None = None,
    blend: np.ndarray | None = None,
    min_strength: float = 0.05,
    max_hints: int = 2,
) -> pd.Series:
    """Typology hint per item from the strength of each kind of evidence.

    ``strength``: one row per item, one column per kind (``KINDS``), the summed positive
    contributions (log-odds) of the evidence of that kind the item's score rests on (missing
    columns count as 0). ``value_below``: the item's value per kg is below what its code
    usually declares; ``blend``: it is declared under an alloy/preparation code or described
    as a mixture (``blend_candidates``).

    goods vs code -> mislabel; value above usual -> mislabel (below -> undervaluation; on an
    alloy/mixture code -> blending); weight/density -> concealment; licence -> no_license;
    route -> routing; parties -> shell. The strongest ``max_hints`` typologies whose evidence
    reaches ``min_strength`` are given, strongest first, joined with ';' ('' when none).
    """
    n = len(strength)
    s = strength.reindex(columns=list(KINDS), fill_value=0.0).fillna(0.0).clip(lower=0.0)
    below = np.zeros(n, bool) if value_below is None else np.asarray(value_below, bool)
    mixed = np.zeros(n, bool) if blend is None else np.asarray(blend, bool)
    value = s["value"].to_numpy()
    typ = pd.DataFrame(
        0.0, index=s.index, columns=[*dict.fromkeys(TYPOLOGY_OF_KIND.values()), "undervaluation", "blending"]
    )
    for kind, typology in TYPOLOGY_OF_KIND.items():
        typ[typology] += s[kind].to_numpy()
    typ["blending"] += np.where(mixed, value, 0.0)
    typ["undervaluation"] += np.where(~mixed & below, value, 0.0)
    typ["mislabel"] += np.where(~mixed & ~below, value, 0.0)
    m = typ.to_numpy()
    order = np.argsort(-m, axis=1, kind="stable")[:, :max_hints]
    cols = np.asarray(typ.columns, dtype=object)
    picked = np.take_along_axis(m, order, axis=1)
    hints = pd.Series("", index=s.index, dtype=object)
    for r in range(order.shape[1]):  # a column per rank, not a loop over items
        named = pd.Series(np.where(picked[:, r] >= min_strength, cols[order[:, r]], ""), index=s.index)
        joiner = np.where((hints != "") & (named != ""), ";", "")
        hints = hints + joiner + named
    return hints.astype("str").str.slice(0, HINT_COLUMN_CHARS)
