"""License coverage as one check per declaration: does a valid export license cover this trade?

For every declaration that needs a license (its code is export-controlled in the reference
table, or learned to be licensed: see ``licensed_codes``) or quotes one, the check finds the
license (the quoted ``license_id``; when none is quoted, the exporter's own license covering
the code) and checks, in one pass: it exists, covers the code prefix, belongs to the
exporter, is for the destination and the consignee (names compared after
``features.names`` normalisation), is valid on the declaration day, and has quantity left.

The quantity ledger draws each declaration's quantity on its license in time order: the
declared ``quantity`` converted to kg when ``quantity_unit`` is a mass unit, else net mass,
else gross mass (the reason says which). Earlier declarations draw first (strictly earlier
times, so the rows of one day in their time order); a declaration sees only what was drawn
before it.

The family yields a failure count, the failed checks, and one sentence naming every
failure ("license L-0042 covers 2846 for consignee 'Kobe Magnetics' but this goes to 'Osaka
Trading'; quota 12,000 kg used up by 3 earlier shipments"); every license flag's reason is
that sentence, so an item gets one license reason however many checks fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.arrays import isin
from features.base import FamilyResult, Feature, FeatureContext, Rows, keyed, pair_codes, rows_of

FAMILY = "license"

# the checks, in the order the reason names them
CHECKS = ("exists", "code", "exporter", "destination", "consignee", "validity", "quota")

# a code is learned to need a license once this many earlier declarations under its HS6 quoted a
# registered license covering it, and they were at least this share of its earlier declarations
LEARN_MIN_QUOTES = 5
LEARN_MIN_SHARE = 0.5
# consignee names this alike (rapidfuzz ratio of the canonical forms, 0-100) are one consignee
CONSIGNEE_MIN_SIMILARITY = 90.0

# kilograms per unit of the mass units a declaration's quantity may be given in (casefolded,
# dots and spaces dropped; UN/ECE Recommendation 20 codes included)
MASS_UNITS_KG: dict[str, float] = {
    "kg": 1.0,
    "kgs": 1.0,
    "kgm": 1.0,
    "kilo": 1.0,
    "kilos": 1.0,
    "kilogram": 1.0,
    "kilograms": 1.0,
    "t": 1000.0,
    "tne": 1000.0,
    "mt": 1000.0,
    "tonne": 1000.0,
    "tonnes": 1000.0,
    "metricton": 1000.0,
    "metrictons": 1000.0,
    "g": 0.001,
    "grm": 0.001,
    "gr": 0.001,
    "gram": 0.001,
    "grams": 0.001,
    "mg": 1e-6,
    "mgm": 1e-6,
    "lb": 0.45359237,
    "lbs": 0.45359237,
    "lbr": 0.45359237,
    "pound": 0.45359237,
    "pounds": 0.45359237,
    "oz": 0.028349523125,
    "onz": 0.028349523125,
    "ounce": 0.028349523125,
    "ounces": 0.028349523125,
}

_PROBLEM = "{license_problem}"

FEATURES = [
    Feature(
        "controlled_goods",
        FAMILY,
        "Declared code needs an export license: controlled in the reference table, or learned "
        "from the license register and the licenses quoted under it before.",
        "declared code {hs_code} needs an export license ({license_required_why})",
        show_when="positive",
    ),
    Feature(
        "license_check_failures",
        FAMILY,
        "How many license checks fail (exists, code, exporter, destination, consignee, validity, "
        "quota) for goods that need a license or quote one.",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_missing",
        FAMILY,
        "Goods needing a license declared without quoting one that is in the register (the "
        "exporter may still hold one: the license check says).",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_outside_validity",
        FAMILY,
        "The license was not valid on the declaration date (expired or not yet valid).",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_held_by_other_exporter",
        FAMILY,
        "The quoted license belongs to another exporter.",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_other_destination",
        FAMILY,
        "The license is for another destination country.",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_other_consignee",
        FAMILY,
        "The license names another consignee (names compared after normalisation).",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_code_not_covered",
        FAMILY,
        "The quoted license does not cover the declared commodity code.",
        _PROBLEM,
        show_when="positive",
    ),
    Feature(
        "license_quantity_used_share",
        FAMILY,
        "Share of the licensed quantity drawn by earlier shipments plus this one (>1: exhausted).",
        "{license_quota_text}",
    ),
    Feature(
        "exporter_holds_covering_license",
        FAMILY,
        "The exporter holds some license valid today for this code (quoted or not).",
        "exporter holds no valid license for {hs_code} on this date",
        show_when="notna",
    ),
]

_FLAG_OF_CHECK = {
    "validity": "license_outside_validity",
    "exporter": "license_held_by_other_exporter",
    "destination": "license_other_destination",
    "consignee": "license_other_consignee",
    "code": "license_code_not_covered",
}


def _controlled_codes(profiles: pd.DataFrame | None) -> list[str]:
    """The prior: HS6 codes the reference table marks export-controlled."""
    if profiles is None:
        return ["280530", "284690", "850511"]
    return profiles.loc[profiles["role"].eq("controlled"), "hs_code"].astype("str").str[:6].tolist()


def code_profile(hs_code: pd.Series, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """Look up an HS profile column by the declared code's 6-digit prefix."""
    if profiles is None:
        return pd.Series(np.nan, index=hs_code.index)
    table = profiles.set_index(profiles["hs_code"].astype("str").str[:6])[column]
    table = table[~table.index.duplicated()]
    return hs_code.astype("str").str[:6].map(table)


def target_code_profile(rows: Rows, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """``code_profile`` of the target rows' codes, looked up once per distinct code."""
    if profiles is None:
        return pd.Series(np.nan, index=rows.index)
    return rows.mapped(
        f"code_profile:{column}", "hs_code", lambda codes: code_profile(codes, profiles, column)
    )


def code_startswith(codes: pd.Series, prefixes: pd.Series) -> pd.Series:
    """Element-wise ``code.startswith(prefix)`` for non-empty prefixes, vectorised by prefix
    length."""
    codes = codes.astype("str")
    prefixes = prefixes.fillna("").astype("str")
    lengths = prefixes.str.len()
    out = pd.Series(False, index=codes.index)
    for n in lengths[lengths > 0].unique():
        sel = lengths == n
        out[sel] = codes[sel].str[: int(n)] == prefixes[sel]
    return out


def mass_unit_kg(units: pd.Series) -> pd.Series:
    """Kilograms per unit for each quantity unit (NaN: not a mass unit this check knows)."""
    key = units.astype("str").str.casefold().str.replace(r"[\s.]+", "", regex=True)
    return key.map(MASS_UNITS_KG).where(units.notna()).astype("float64")


def drawn_quantity(decl: pd.DataFrame, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What each declaration (every row) draws on a license, in kg, and how it was measured.

    The declared quantity converted to kg where its unit is a mass unit; else net mass, else
    gross mass. Returns (kg, source) with source 0 = quantity, 1 = net mass, 2 = gross mass.
    """
    n = len(decl)
    kg = np.full(n, np.nan)
    if "quantity" in decl.columns and "quantity_unit" in decl.columns:
        if rows is not None and rows.decl is decl:
            raw, units = rows.distinct("quantity_unit")
            factor = mass_unit_kg(pd.Series(units, dtype=object)).to_numpy()[raw]
        else:
            factor = mass_unit_kg(decl["quantity_unit"]).to_numpy()
        qty = pd.to_numeric(decl["quantity"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        kg = qty * factor
    kg = np.where(kg > 0, kg, np.nan)
    source = np.where(np.isnan(kg), 1, 0)
    if "net_weight_kg" in decl.columns:
        net = decl["net_weight_kg"].to_numpy(dtype="float64", na_value=np.nan)
        kg = np.where(np.isnan(kg), np.where(net > 0, net, np.nan), kg)
    source = np.where(np.isnan(kg), 2, source)
    gross = decl["gross_weight_kg"].to_numpy(dtype="float64", na_value=np.nan)
    kg = np.where(np.isnan(kg), gross, kg)
    return kg, source


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """The license check of the target rows of ``decl``; the ledger and what is learned about
    codes draw on all its rows, point in time."""
    rows = rows_of(decl, ctx)
    idx = rows.index
    n_all = len(decl)
    hs6_codes, hs6 = rows.keys("hs_code", lambda c: c.str[:6], name="hs6")
    prior_all = np.append(isin(pd.Series(hs6, dtype=object), _controlled_codes(ctx.hs_profiles)), False)[
        hs6_codes
    ]
    has_quote_col = "license_id" in decl.columns
    if has_quote_col:
        quote_raw, quote_values = rows.distinct("license_id")
        quote_values = pd.Series(quote_values, dtype=object)
        quoted_value = (quote_values.notna() & (quote_values.astype("str").str.strip() != "")).to_numpy()
        quoted_all = quoted_value[quote_raw]
    else:
        quote_raw, quote_values = np.zeros(n_all, np.int64), pd.Series([np.nan], dtype=object)
        quoted_value = np.zeros(1, dtype=bool)
        quoted_all = np.zeros(n_all, dtype=bool)

    out = pd.DataFrame(index=idx, dtype="float64")
    context = pd.DataFrame(index=idx)
    context["code_description"] = target_code_profile(rows, ctx.hs_profiles, "description")
    quoted = rows.at(quoted_all)
    quote_text = quote_values.astype("str").to_numpy(dtype=object)[rows.at(quote_raw)]
    context["license_quoted"] = np.where(quoted, quote_text, "none")

    lic = _register(ctx.licenses)
    if lic is None:
        prior = rows.at(prior_all)
        out["controlled_goods"] = prior.astype("float64")
        for f in FEATURES[1:]:
            out[f.name] = np.nan
        context["license_required_why"] = np.where(prior, "export-controlled in the reference table", "")
        missing = ["license: licenses table absent, license coverage left empty"]
        return FamilyResult(out, _as_text(context), missing)

    # the quoted license of every row (-1: none quoted, or not in the register) and whether it
    # covers the declared code, once per distinct (code, quote) pair
    quote_lic = np.where(quoted_value, _positions(quote_values, lic["license_id"]), -1)
    q_lic = quote_lic[quote_raw]
    hs_raw, hs_values = rows.distinct("hs_code")
    covers_q = _covers(hs_raw, hs_values, quote_raw, lic["hs_code"].to_numpy(dtype=object)[quote_lic], q_lic)
    quoted_ok = (q_lic >= 0) & covers_q

    # which codes need a license (target rows): the reference prior, or learned as of the row's time
    learned_all, quotes_before = _learned(rows, hs6_codes, quoted_ok, need=~prior_all & rows.target)
    required_all = prior_all | learned_all

    # the license each target row is checked against: the quoted one, else the exporter's own
    day = pd.Series(decl["declared_at"]).dt.normalize().to_numpy(dtype="datetime64[ns]")
    consignees = _consignees(rows, lic, ctx.state.get(FAMILY, {}))
    exporter_keys = _exporter_keys(rows)
    attributed = _attribute(
        exporter_keys, decl, rows, lic, ~quoted_all & required_all & rows.target, day, consignees
    )
    lic_row = np.where(quoted_all, q_lic, attributed)

    # the ledger: the holder's declarations quoting a license draw on it, earlier ones first
    # (a declaration quoting none draws nothing: the ledger is what was declared against it)
    drawn, drawn_as = drawn_quantity(decl, rows)
    draws = np.flatnonzero(q_lic >= 0)
    holder = lic["holder_key"].to_numpy(dtype=object)[q_lic[draws]]
    draws = draws[holder == exporter_keys[draws]]
    key = np.full(len(decl), -1, dtype=np.int64)
    key[draws] = q_lic[draws]
    key = keyed(key, lic["license_id"])  # a ledger's key: its license id
    n_before, used_before = rows.earlier(key, [None, drawn], tag="ledger")

    # ---- the checks of the target rows, compared only where a license was found
    n = len(idx)
    required = rows.at(required_all)
    tl = rows.at(lic_row)
    found = tl >= 0
    applies = required | quoted
    at = np.flatnonzero(found)
    k = tl[at]
    reg = {c: lic[c].to_numpy(dtype=object) for c in ("license_id", "exporter_id", "hs_code")}
    reg |= {c: lic[c].to_numpy(dtype=object) for c in ("destination_country", "consignee_name")}
    valid_from = lic["valid_from"].to_numpy(dtype="datetime64[ns]")
    valid_to = lic["valid_to"].to_numpy(dtype="datetime64[ns]")
    this_day = rows.at(day)
    this_kg, this_as = rows.at(drawn), rows.at(drawn_as)
    quota = np.full(n, np.nan)
    quota[at] = lic["quantity_kg"].to_numpy(dtype="float64")[k]
    checked = np.full(n, np.nan, dtype=object)
    checked[at] = reg["license_id"][k]

    def text_at(column: str, positions: np.ndarray) -> np.ndarray:
        return rows.column(column).iloc[positions].to_numpy(dtype=object)

    compared = {
        "code": ~rows.at(np.where(quoted_all, covers_q, True))[at],
        "exporter": lic["holder_key"].to_numpy(dtype=object)[k] != rows.at(exporter_keys)[at],
        "destination": reg["destination_country"][k] != text_at("destination_country", at),
        "consignee": ~same_consignee(k, rows.at(consignees.row_code)[at], consignees),
        "validity": ~((this_day[at] >= valid_from[k]) & (this_day[at] <= valid_to[k])),
        "quota": used_before[at] + np.nan_to_num(this_kg[at]) > quota[at],
    }
    fail = {"exists": applies & ~found}
    for check, values in compared.items():
        full = np.zeros(n, dtype=bool)
        full[at] = values
        fail[check] = full & applies
    failures = np.sum([fail[c] for c in CHECKS], axis=0).astype("float64")

    out["controlled_goods"] = required.astype("float64")
    out["license_check_failures"] = np.where(applies, failures, np.nan)
    unquoted = required & ~(quoted & (rows.at(q_lic) >= 0))  # no registered license quoted
    out["license_missing"] = unquoted.astype("float64")
    for check, flag in _FLAG_OF_CHECK.items():
        out[flag] = np.where(found, fail[check].astype("float64"), np.nan)
    share = (used_before + np.nan_to_num(this_kg)) / np.where(quota > 0, quota, np.nan)
    out["license_quantity_used_share"] = np.where(found, share, np.nan)
    out["exporter_holds_covering_license"] = _exporter_holds_license(
        rows.frame(["hs_code", "declared_at"]).assign(exporter_id=rows.at(exporter_keys)),
        lic,
        pd.Series(required, index=idx),
    )
    out = out[[f.name for f in FEATURES]]

    # ---- context for the reasons
    context["license_checked"] = checked
    context["license_quantity_kg"] = quota
    failed = np.flatnonzero(failures > 0)
    failed_checks = np.full(n, "", dtype=object)
    failed_checks[failed] = _joined([fail[c][failed] for c in CHECKS], CHECKS)
    context["license_checks_failed"] = failed_checks
    context["license_required_why"] = _required_why(
        rows.at(prior_all), rows.at(learned_all), rows.at(quotes_before), rows.at(hs6_codes), hs6
    )
    problem = np.full(n, np.nan, dtype=object)
    if len(failed):
        kf = tl[failed]

        def register(values: np.ndarray) -> np.ndarray:
            return np.where(kf >= 0, values[np.maximum(kf, 0)], None)

        days = pd.Series(np.concatenate([valid_from, valid_to, this_day[failed]])).dt.strftime("%Y-%m-%d")
        days = days.to_numpy(dtype=object)
        nl = len(valid_from)
        problem[failed] = _problem_text(
            {c: v[failed] for c, v in fail.items()},
            sub=pd.DataFrame(
                {
                    "quoted": quoted[failed],
                    "quote": quote_text[failed],
                    "license": register(reg["license_id"]),
                    "holder": register(reg["exporter_id"]),
                    "prefix": register(reg["hs_code"]),
                    "lic_dest": register(reg["destination_country"]),
                    "lic_cons": register(reg["consignee_name"]),
                    "valid_from": register(days[:nl]),
                    "valid_to": register(days[nl : 2 * nl]),
                    "quota": quota[failed],
                    "used": used_before[failed],
                    "n_before": n_before[failed],
                    "kg": this_kg[failed],
                    "drawn_as": this_as[failed],
                    "hs_code": text_at("hs_code", failed),
                    "exporter": text_at("exporter_id", failed),
                    "dest": text_at("destination_country", failed),
                    "cons": text_at("consignee_name", failed),
                    "day": days[2 * nl :],
                    "unit": _unit_text(decl, rows, failed),
                    "qty_given": _quantity_given(decl, rows, failed),
                }
            ),
        )
    held = np.flatnonzero(unquoted & found & (failures == 0))  # not quoted, but the exporter's fits
    if len(held):
        problem[held] = (
            "no license quoted for "
            + _txt(pd.Series(text_at("hs_code", held), dtype=object)).to_numpy(dtype=object)
            + "; the exporter's own license "
            + checked[held].astype(str)
            + " would cover it"
        )
    context["license_problem"] = problem
    context["license_quota_text"] = _quota_text(problem, found, checked, quota, share)
    return FamilyResult(out.astype("float64"), _as_text(context), [])


def _as_text(context: pd.DataFrame) -> pd.DataFrame:
    """Text context columns as object dtype, whatever their values (NaN only, or strings), so that
    a frame's rows describe the same way alone or among others."""
    text = [c for c in context.columns if not pd.api.types.is_numeric_dtype(context[c])]
    return context.astype({c: object for c in text})


# ---------------------------------------------------------------- the register
def _register(licenses: pd.DataFrame | None) -> pd.DataFrame | None:
    """The license register with a fresh 0..n-1 index, one row per license id."""
    if licenses is None:
        return None
    lic = licenses.drop_duplicates("license_id").reset_index(drop=True)
    lic = lic.assign(
        hs_code=lic["hs_code"].astype("str").str.strip(),
        valid_from=pd.to_datetime(lic["valid_from"]).dt.normalize(),
        valid_to=pd.to_datetime(lic["valid_to"]).dt.normalize(),
        quantity_kg=pd.to_numeric(lic["quantity_kg"], errors="coerce").astype("float64"),
    )
    from features.names import party_ids

    # the holder as its id is compared (leading zeros, separators and case ignored)
    return lic.assign(holder_key=party_ids(lic["exporter_id"].astype(object)).to_numpy(dtype=object))


def _positions(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (compared as text), -1 where absent."""
    table = pd.Series(np.arange(len(universe)), index=universe.astype("str").to_numpy())
    table = table[~table.index.duplicated()]
    pos = table.reindex(values.astype("str").to_numpy()).to_numpy()
    return np.where(values.notna().to_numpy() & ~np.isnan(pos), pos, -1).astype(np.int64)


def _covers(
    hs_raw: np.ndarray, hs_values: np.ndarray, quote_raw: np.ndarray, prefix_of_quote: np.ndarray, q_lic
) -> np.ndarray:
    """Per row: the quoted license's prefix covers the declared code (once per distinct pair)."""
    out = np.zeros(len(hs_raw), dtype=bool)
    if not (q_lic >= 0).any():
        return out
    pair = pd.factorize(pair_codes(hs_raw, quote_raw))[0]
    first = np.unique(pair, return_index=True)[1]
    covered = code_startswith(
        pd.Series(hs_values[hs_raw[first]], dtype=object).astype("str"),
        pd.Series(prefix_of_quote[quote_raw[first]], dtype=object),
    ).to_numpy()
    return covered[pair] & (q_lic >= 0)


def _learned(
    rows: Rows, hs6_codes: np.ndarray, quoted_ok: np.ndarray, need: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Codes learned to need a license, as of each row (where ``need``; False elsewhere): at
    least ``LEARN_MIN_QUOTES`` earlier declarations under its HS6 quoted a registered license
    covering it, and they were at least ``LEARN_MIN_SHARE`` of its earlier declarations.
    Returns (learned, registered quotes before) for every row."""
    n = len(hs6_codes)
    learned = np.zeros(n, dtype=bool)
    quotes = np.zeros(n)
    ask = need & (hs6_codes >= 0)
    if rows.session is None:  # with a feature state, the history's quotes are not rows of decl
        # only codes with registered quotes can be learned
        ok_codes = np.unique(hs6_codes[quoted_ok & (hs6_codes >= 0)])
        if not len(ok_codes):
            return learned, quotes
        ask &= np.isin(hs6_codes, ok_codes)
        if not ask.any():
            return learned, quotes
    t = rows.times()
    q = np.flatnonzero(ask)
    n_ok, n_all = rows.sums_of(
        t[q], hs6_codes[q], t, hs6_codes, [quoted_ok.astype("float64"), None], tag="learned"
    )
    learned[q] = (n_ok >= LEARN_MIN_QUOTES) & (n_ok >= LEARN_MIN_SHARE * n_all)
    quotes[q] = n_ok
    return learned, quotes


@dataclass(frozen=True)
class _Consignees:
    """Consignee names of the rows (one entry per distinct declared name) and of the licenses,
    canonical (``normalise_names``), plain (``normalise_text``) and stemmed (the canonical
    words without the legal forms learned from the bundle's names, ``learn_legal_forms``)."""

    row_code: np.ndarray  # every row: which distinct declared name (its last entry: none)
    row_canonical: np.ndarray
    row_plain: np.ndarray
    license_canonical: np.ndarray
    license_plain: np.ndarray
    row_stem: np.ndarray
    license_stem: np.ndarray


def fit(decl: pd.DataFrame, ctx: FeatureContext, train_mask: np.ndarray) -> dict[str, Any]:
    """Learn the legal forms the consignee names of this bundle use (the training rows' and the
    license register's), so that 'Tokai Magnetics K.K.' on a license names the consignee
    declared as 'Tokai Magnetics Kabushiki Kaisha' or 'Tokai Magnetics Co., Ltd.'."""
    return {"legal_forms": _legal_forms(decl.loc[train_mask, "consignee_name"], ctx.licenses)}


def _legal_forms(names: pd.Series, licenses: pd.DataFrame | None) -> tuple[str, ...]:
    from features.names import learn_legal_forms

    parts = [pd.Series(pd.unique(names.dropna()), dtype=object)]
    if licenses is not None and "consignee_name" in licenses.columns:
        parts.append(licenses["consignee_name"].astype(object))
    return learn_legal_forms(pd.concat(parts, ignore_index=True))


def _consignees(rows: Rows, lic: pd.DataFrame, state: dict[str, Any]) -> _Consignees:
    """The consignee names compared by the check. The legal forms come from the fitted state;
    without one (features built without fitting) they are learned from the history rows."""
    from features.names import distinct_canonical, name_forms, normalise_text, strip_legal_forms

    raw, values = rows.distinct("consignee_name")
    values = pd.Series(values, dtype=object)
    forms = state.get("legal_forms")
    if forms is None:
        history = ~rows.target
        seen = np.unique(raw[history]) if history.any() else np.zeros(0, np.int64)
        forms = _legal_forms(values.iloc[seen], lic)
    row_forms = name_forms(values)
    lic_forms = name_forms(lic["consignee_name"].astype(object))
    return _Consignees(
        raw,
        pd.Series(distinct_canonical(rows, "consignee_name"), dtype=object).to_numpy(dtype=object),
        normalise_text(values).to_numpy(dtype=object),
        lic_forms["canonical"].to_numpy(dtype=object),
        normalise_text(lic["consignee_name"].astype(object)).to_numpy(dtype=object),
        strip_legal_forms(row_forms["words"], forms).to_numpy(dtype=object),
        strip_legal_forms(lic_forms["words"], forms).to_numpy(dtype=object),
    )


def same_consignee(license_pos: np.ndarray, name_code: np.ndarray, names: _Consignees) -> np.ndarray:
    """Element-wise: does the license at ``license_pos`` name the consignee declared as the
    distinct name ``name_code``?

    Yes when the canonical names are equal, or equal without the bundle's learned legal forms
    ('Tokai Magnetics K.K.' and 'Tokai Magnetics Kabushiki Kaisha'), or when the canonical or
    the plain forms are at least ``CONSIGNEE_MIN_SIMILARITY`` alike (typos such as 'Polarsi
    Group' or 'Polaris Grou pLimited' for 'Polaris Group Limited'); scored once per distinct
    pair. A missing name matches nothing.
    """
    from rapidfuzz import fuzz
    from rapidfuzz.process import cpdist

    license_pos, name_code = np.asarray(license_pos, np.int64), np.asarray(name_code, np.int64)
    out = np.zeros(len(license_pos), dtype=bool)
    if not len(out):
        return out
    pairs = pd.factorize(pair_codes(license_pos, name_code))[0]
    first = np.unique(pairs, return_index=True)[1]
    lp, nc = license_pos[first], name_code[first]
    lc, rc = names.license_canonical[lp], names.row_canonical[nc]
    known = pd.notna(lc) & pd.notna(rc)
    same = known & ((lc == rc) | (names.license_stem[lp] == names.row_stem[nc]))
    ask = np.flatnonzero(known & ~same)
    if len(ask):

        def alike(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            a, b = pd.Series(a, dtype=object).fillna(""), pd.Series(b, dtype=object).fillna("")
            return np.asarray(cpdist(a.tolist(), b.tolist(), scorer=fuzz.ratio)) >= CONSIGNEE_MIN_SIMILARITY

        same[ask] = alike(lc[ask], rc[ask]) | alike(names.license_plain[lp[ask]], names.row_plain[nc[ask]])
    return same[pairs]  # pair codes count 0, 1, ... in first-seen order


def _exporter_keys(rows: Rows) -> np.ndarray:
    """Every row's exporter id as ids are compared (``features.names.party_ids``)."""
    from features.names import party_ids

    raw, values = rows.distinct("exporter_id")
    keys = party_ids(pd.Series(values, dtype=object)).to_numpy(dtype=object)
    return keys[raw]


def _attribute(
    exporter_keys: np.ndarray,
    decl: pd.DataFrame,
    rows: Rows,
    lic: pd.DataFrame,
    candidates: np.ndarray,
    day: np.ndarray,
    consignees: _Consignees,
) -> np.ndarray:
    """For rows quoting no license: the exporter's license covering the code that fits best
    (valid on the day, then same destination, then same consignee, then the longest prefix,
    then the id). -1 where there is none."""
    out = np.full(len(decl), -1, dtype=np.int64)
    holds = isin(pd.Series(exporter_keys, dtype=object), lic["holder_key"])
    pos = np.flatnonzero(candidates & holds)
    if not len(pos):
        return out
    left = pd.DataFrame(
        {
            "_pos": pos,
            "exporter_id": exporter_keys[pos],
            "hs_code": decl["hs_code"].astype("str").to_numpy(dtype=object)[pos],
        }
    )
    right = pd.DataFrame(
        {
            "_lic": np.arange(len(lic)),
            "exporter_id": lic["holder_key"].to_numpy(dtype=object),
            "prefix": lic["hs_code"].to_numpy(dtype=object),
        }
    )
    pairs = left.merge(right, on="exporter_id", how="inner")
    pairs = pairs[code_startswith(pairs["hs_code"], pairs["prefix"]).to_numpy()]
    if pairs.empty:
        return out
    p, k = pairs["_pos"].to_numpy(), pairs["_lic"].to_numpy()
    d = day[p]
    valid = (d >= lic["valid_from"].to_numpy(dtype="datetime64[ns]")[k]) & (
        d <= lic["valid_to"].to_numpy(dtype="datetime64[ns]")[k]
    )
    same_dest = (
        lic["destination_country"].to_numpy(dtype=object)[k]
        == decl["destination_country"].to_numpy(dtype=object)[p]
    )
    same_cons = same_consignee(k, consignees.row_code[p], consignees)
    rank = pairs.assign(
        _fit=-(4 * valid + 2 * same_dest + 1 * same_cons),
        _len=-pairs["prefix"].str.len(),
        _id=lic["license_id"].astype("str").to_numpy(dtype=object)[k],
    ).sort_values(["_pos", "_fit", "_len", "_id"], kind="stable")
    best = rank.drop_duplicates("_pos")
    out[best["_pos"].to_numpy()] = best["_lic"].to_numpy()
    return out


def _exporter_holds_license(decl: pd.DataFrame, lic: pd.DataFrame, controlled: pd.Series) -> np.ndarray:
    """1 if the exporter holds a license covering the code valid on the date, for controlled
    rows."""
    out = np.full(len(decl), np.nan)
    rows = decl.loc[controlled, ["exporter_id", "hs_code", "declared_at"]]
    if rows.empty:
        return out
    rows = rows.assign(_pos=np.flatnonzero(controlled.to_numpy()))
    pairs = rows.merge(
        lic[["holder_key", "hs_code", "valid_from", "valid_to"]].rename(
            columns={"hs_code": "prefix", "holder_key": "exporter_id"}
        ),
        on="exporter_id",
        how="inner",
    )
    day = pairs["declared_at"].dt.normalize()
    ok = (day >= pairs["valid_from"]) & (day <= pairs["valid_to"])
    ok &= code_startswith(pairs["hs_code"], pairs["prefix"])
    held = pairs.loc[ok, "_pos"].unique()
    out[rows["_pos"].to_numpy()] = 0.0
    out[held] = 1.0
    return out


# ---------------------------------------------------------------- words
def _joined(masks: list[np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Per row, the names whose mask is true, joined with ', ' ('' when none)."""
    n = len(masks[0]) if masks else 0
    out = pd.Series("", index=range(n), dtype=object)
    for mask, name in zip(masks, names, strict=True):
        add = pd.Series(np.where(mask, name, ""), dtype=object)
        out = out.where(~(mask & (out != "")), out + ", ") + add
    return out.to_numpy(dtype=object)


def _required_why(
    prior: np.ndarray, learned: np.ndarray, quotes: np.ndarray, hs6_codes: np.ndarray, hs6: np.ndarray
) -> np.ndarray:
    why = np.full(len(prior), "", dtype=object)
    why[prior] = "export-controlled in the reference table"
    at = np.flatnonzero(learned & ~prior)
    if len(at):
        counts = pd.Series(quotes[at]).map("{:,.0f}".format).to_numpy(dtype=object)
        codes = np.asarray(hs6, dtype=object)[hs6_codes[at]]
        why[at] = counts + " earlier declarations under " + codes.astype(str) + " quoted a registered license"
    return why


def _unit_text(decl: pd.DataFrame, rows: Rows, positions: np.ndarray) -> np.ndarray:
    """The declared quantity unit of the target rows at ``positions``, as text ('' when absent)."""
    if "quantity_unit" not in decl.columns:
        return np.full(len(positions), "", dtype=object)
    return _txt(rows.column("quantity_unit").iloc[positions].astype(object)).to_numpy(dtype=object)


def _quantity_given(decl: pd.DataFrame, rows: Rows, positions: np.ndarray) -> np.ndarray:
    """Whether the target rows at ``positions`` declare a positive quantity."""
    if "quantity" not in decl.columns:
        return np.zeros(len(positions), dtype=bool)
    qty = pd.to_numeric(rows.column("quantity").iloc[positions], errors="coerce")
    return qty.to_numpy(dtype="float64", na_value=np.nan) > 0


def _kg(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="float64").map("{:,.0f} kg".format)


def _problem_text(fail: dict[str, np.ndarray], sub: pd.DataFrame) -> np.ndarray:
    """One sentence per failing row naming every failed check with the actual values."""
    numeric = {"quoted", "quota", "used", "n_before", "kg", "drawn_as", "qty_given"}
    s = {c: _txt(sub[c]) for c in sub.columns if c not in numeric}
    head = np.where(
        sub["quoted"], "license " + s["license"], "no license quoted; the exporter's license " + s["license"]
    )
    no_license = np.where(
        sub["quoted"],
        "license " + s["quote"] + " quoted for " + s["hs_code"] + " is not in the register",
        "no license quoted for " + s["hs_code"] + " and exporter " + s["exporter"] + " holds none for it",
    )
    consignee = s["cons"].where(s["cons"] != "", "(none named)")
    to_dest = " to " + s["lic_dest"] + " but this goes to " + s["dest"]
    to_cons = " for consignee '" + s["lic_cons"] + "' but this goes to '" + consignee + "'"
    validity = "valid " + s["valid_from"] + " to " + s["valid_to"] + ", not on " + s["day"]
    quota = _quota_clause(sub, s["unit"])
    # (as the first clause, after "license L", and as a later one)
    clauses = {
        "code": ("covers " + s["prefix"] + ", not " + s["hs_code"],) * 2,
        "exporter": ("belongs to exporter " + s["holder"] + ", not " + s["exporter"],) * 2,
        "destination": ("covers " + s["prefix"] + to_dest, "for" + to_dest.str[3:]),
        "consignee": ("covers " + s["prefix"] + to_cons, to_cons.str[1:]),
        "validity": ("is " + validity, validity),
        "quota": ("has " + quota, quota),
    }
    parts = pd.Series("", index=sub.index, dtype=object)
    for check in CHECKS[1:]:
        mask = pd.Series(fail[check], index=sub.index)
        first, later = clauses[check]
        parts = parts.where(~mask, (parts + "; " + later).where(parts != "", first))
    sentence = (pd.Series(head, index=sub.index) + " " + parts).to_numpy(dtype=object)
    return np.where(fail["exists"], no_license, sentence).astype(object)


def _txt(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype("str")


def _quota_clause(s: pd.DataFrame, unit: pd.Series) -> pd.Series:
    """'quota 12,000 kg used up by 3 earlier shipments', or how far this one goes over."""
    n = s["n_before"].astype("float64")
    shipments = n.map("{:,.0f}".format) + np.where(n == 1, " earlier shipment", " earlier shipments")
    quota = "quota " + _kg(s["quota"].to_numpy())
    used_up = quota + " used up by " + shipments
    over = (
        quota
        + ": "
        + _kg(s["used"].to_numpy())
        + " drawn by "
        + shipments
        + ", this one's "
        + _kg(s["kg"].to_numpy())
        + " goes over"
    )
    first = quota + ": this one's " + _kg(s["kg"].to_numpy()) + " alone exceeds it"
    text = pd.Series(np.where(s["used"] >= s["quota"], used_up, np.where(n > 0, over, first)), index=s.index)
    mass = pd.Series(np.where(s["drawn_as"] == 1, "net", "gross"), index=s.index)
    why = pd.Series(
        np.where(s["qty_given"], "quantity in '" + unit + "', not a mass unit", "no quantity declared"),
        index=s.index,
    )
    how = (" (drawn as " + mass + " mass: " + why + ")").where(s["drawn_as"] != 0, "")
    return text + how


def _quota_text(
    problem: np.ndarray, found: np.ndarray, license_id: np.ndarray, quota: np.ndarray, share: np.ndarray
) -> np.ndarray:
    """The quantity reason: the check's sentence when some check failed, else how much is used."""
    out = np.full(len(problem), np.nan, dtype=object)
    plain = np.flatnonzero(found & pd.isna(problem) & np.isfinite(share))
    if len(plain):
        out[plain] = (
            "license "
            + pd.Series(license_id[plain], dtype=object).astype(str)
            + " quantity "
            + _kg(quota[plain])
            + " is "
            + pd.Series(share[plain]).map("{:.0%}".format)
            + " used including this shipment"
        ).to_numpy(dtype=object)
    failing = np.flatnonzero(pd.notna(problem))
    out[failing] = problem[failing]
    return out
