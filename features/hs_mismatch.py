"""HS-code mismatch: does the declared code fit the description, the exporter and the value?

What is usual is learned from the bundle's own history, point in time: value per kg is judged
against the earlier declarations of the same code (backing off from 10 to 2 digits with
shrinkage, ``features.base.usual_by_code``) and against the exporter's own earlier
declarations of the code; the reference profile is only a weak prior. Which codes serve as
cover is learned too (who declares them, how often inspections found violations), and the
description is compared with what was declared under the code and by the exporter before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from data.arrays import isin
from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    as_of_sums_of,
    compact,
    keyed,
    own_code_codes,
    pair_codes,
    ratio_text,
    recode,
    rows_of,
    sums_before_sorted,
    track_record,
    usual_by_code,
    usual_in_lane,
)

FAMILY = "hs_mismatch"
DEAR_USD_PER_KG = 20.0  # a declaration at or above this value per kg counts as dear goods
MIN_CODE_ROWS_FOR_WORDS = 10  # earlier declarations of the code needed before words can be rare
RARE_WORD_SHARE = 0.01  # a word seen in fewer than this share of the code's earlier declarations
MAX_WORDS = 12  # words of a description considered (the first ones)
STRATEGIC_SHRINK = 20.0  # declarations' worth of the overall share a code's share is shrunk toward

FEATURES = [
    Feature(
        "description_fits_declared_heading",
        FAMILY,
        "How well the goods description fits the declared HS heading (text model probability).",
        "description '{goods_description_short}' fits heading {declared_heading} with only "
        "{description_fits_declared_heading:.0%} confidence; it reads like {predicted_heading} "
        "({predicted_heading_description})",
        show_when="notna",
    ),
    Feature(
        "description_suggests_controlled",
        FAMILY,
        "Probability, from the description alone, that the goods are export-controlled.",
        "description '{goods_description_short}' reads like controlled goods "
        "({description_suggests_controlled:.0%}): {predicted_heading_description}",
        show_when="notna",
    ),
    Feature(
        "value_per_kg_log_ratio_to_code",
        FAMILY,
        "Value per kg against what earlier declarations of the code usually declared (natural log "
        "of the ratio; code history backed off to broader digits when thin).",
        "value {value_per_kg:,.2f} USD/kg is {value_per_kg_ratio_text} the "
        "{code_usual_value_per_kg:,.2f} USD/kg usual for code {hs_code} "
        "({code_value_history:,.0f} past declarations)",
        show_when="notna",
    ),
    Feature(
        "value_per_kg_robust_z",
        FAMILY,
        "How many standard deviations (of log value per kg, learned from the code's history) the "
        "value per kg lies from the code's usual.",
        "value {value_per_kg:,.2f} USD/kg lies {value_per_kg_robust_z:+.1f} standard deviations "
        "from the {code_usual_value_per_kg:,.2f} USD/kg usual for code {hs_code}",
        show_when="notna",
    ),
    Feature(
        "value_per_kg_z_exporter",
        FAMILY,
        "How far the value per kg lies from this exporter's own earlier declarations of the code "
        "(standard deviations of the log; empty when the exporter never declared the code).",
        "value {value_per_kg:,.2f} USD/kg against this exporter's usual "
        "{exporter_usual_value_per_kg:,.2f} USD/kg for {hs_code} (z = {value_per_kg_z_exporter:+.1f} "
        "over {exporter_code_history:,.0f} earlier declarations)",
        show_when="notna",
    ),
    Feature(
        "declared_value_log10",
        FAMILY,
        "Declared value of the item (log10 of US dollars): what is at stake if it is wrong.",
        "declared value {declared_value_usd:,.0f} USD for {gross_weight_kg:,.0f} kg of {hs_code}",
        show_when="notna",
    ),
    Feature(
        "exporter_share_of_this_heading",
        FAMILY,
        "Share of the exporter's earlier declarations under the same heading (empty for a first shipment).",
        "{exporter_share_of_this_heading:.0%} of the exporter's {exporter_declarations_before:,.0f} "
        "earlier shipments were under heading {declared_heading}",
        show_when="notna",
    ),
    Feature(
        "exporter_new_chapter",
        FAMILY,
        "An established exporter declares goods of a chapter it never shipped before.",
        "exporter has shipped {exporter_declarations_before:,.0f} times before, but never goods of "
        "chapter {declared_chapter}",
        show_when="positive",
    ),
    Feature(
        "code_cover_violation_rate",
        FAMILY,
        "How often past inspections of this declared HS6 code found violations (smoothed toward "
        "the overall rate; empty when the code was never inspected).",
        "inspections of code {hs6_code} found violations in {code_cover_violation_rate:.0%} "
        "(smoothed) of {code_inspections_before:,.0f} past inspections",
        show_when="notna",
    ),
    Feature(
        "code_share_by_strategic_exporters",
        FAMILY,
        "Share of the code's earlier declarations lodged by exporters who had declared controlled, "
        "licensed or dear goods before (smoothed): how much the code is used by such traders.",
        "{code_share_by_strategic_exporters:.0%} of earlier {hs6_code} declarations came from "
        "exporters of controlled or dear goods ({strategic_share_overall:.0%} across all codes)",
        show_when="notna",
    ),
    Feature(
        "exporter_strategic_share",
        FAMILY,
        "Share of the exporter's earlier declarations that were controlled, licensed or dear goods "
        "(empty for a first shipment).",
        "{exporter_strategic_share:.0%} of this exporter's {exporter_declarations_before:,.0f} earlier "
        "declarations were controlled, licensed or dear goods; this one is {hs_code} at "
        "{value_per_kg:,.2f} USD/kg",
        show_when="notna",
    ),
    Feature(
        "description_times_seen_under_code",
        FAMILY,
        "How many earlier declarations of the same HS6 code carried this description (normalised).",
        "description '{goods_description_short}' appeared {description_times_seen_under_code:,.0f} "
        "times in {code_described_history:,.0f} earlier declarations of {hs6_code}",
        show_when="notna",
    ),
    Feature(
        "description_share_under_code",
        FAMILY,
        "Share of the code's earlier declarations that carried this description (normalised; empty "
        "when the code has no history).",
        "description '{goods_description_short}' was used in {description_share_under_code:.1%} "
        "of {code_described_history:,.0f} earlier declarations of {hs6_code}",
        show_when="notna",
    ),
    Feature(
        "description_times_seen_from_exporter",
        FAMILY,
        "How many of the exporter's earlier declarations carried this description (empty for a "
        "first shipment).",
        "exporter used description '{goods_description_short}' "
        "{description_times_seen_from_exporter:,.0f} times in {exporter_declarations_before:,.0f} "
        "earlier declarations",
        show_when="notna",
    ),
    Feature(
        "description_rare_word_share",
        FAMILY,
        "Share of the description's words seen in under 1% of the code's earlier declarations "
        "(empty when the code has under 10 earlier declarations).",
        "{description_rare_word_share:.0%} of the words are rare under {hs6_code}: "
        "'{rarest_word}' appeared in {rarest_word_times_seen:,.0f} of {code_described_history:,.0f} "
        "earlier declarations",
        show_when="positive",
    ),
]


# learned without the declarations found violating before the row: they depend on outcomes
_OUTCOME_BASED = {
    "value_per_kg_log_ratio_to_code",
    "value_per_kg_robust_z",
    "value_per_kg_z_exporter",
    "code_cover_violation_rate",
}
FEATURES = [replace(f, uses_outcomes=True) if f.name in _OUTCOME_BASED else f for f in FEATURES]


# ---------------------------------------------------------------- fitted text model
def fit(decl: pd.DataFrame, ctx: FeatureContext, train_mask: np.ndarray) -> dict[str, Any]:
    """Fit the description -> heading text model on past declarations not found violating.

    Uses labelled-clean and unlabelled rows of the training window (violations carry a false
    heading). Rows of the training window get out-of-fold probabilities (``_oof``) so that
    their features are not flattered by having been seen in fitting.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    bad = set()
    if ctx.labels is not None:
        bad = set(ctx.labels.loc[ctx.labels["violation"] == 1, "declaration_id"])
    use = decl.loc[train_mask & ~isin(decl["declaration_id"], bad), ["goods_description", "hs_code"]]
    text = _clean_text(use["goods_description"])
    heading = use["hs_code"].astype("str").str[:4]
    pairs = pd.DataFrame({"text": text.to_numpy(), "heading": heading.to_numpy()})
    counts = pairs.value_counts().reset_index(name="w")
    if counts["heading"].nunique() < 2:
        return {"model": None}

    def make():
        return make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 4),
                min_df=1,
                sublinear_tf=True,
                max_features=200_000,
                dtype=np.float32,
            ),
            SGDClassifier(loss="log_loss", alpha=2e-5, max_iter=30, tol=1e-4, random_state=0),
        )

    model = _fit_quietly(make(), counts)
    # out-of-fold probabilities of the declared heading for the training rows (2 folds by text)
    fold = pd.util.hash_array(counts["text"].to_numpy().astype(object)) % 2
    parts = []
    for k in (0, 1):
        part = counts[fold != k]
        held = counts.loc[fold == k, "text"].drop_duplicates()
        if part["heading"].nunique() < 2 or held.empty:
            continue
        m = _fit_quietly(make(), part)
        parts.append(_probabilities(m, held, _controlled_headings(ctx)))
    oof = pd.concat(parts).fillna(0.0) if parts else None
    return {"model": model, "_oof": oof}


def _fit_quietly(model, counts: pd.DataFrame):
    """Fit on (text, heading, weight); a capped number of epochs is enough for ranking."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(
            counts["text"], counts["heading"], sgdclassifier__sample_weight=np.sqrt(counts["w"].to_numpy())
        )


def _clean_text(s: pd.Series) -> pd.Series:
    return s.fillna("").astype("str").str.lower().str.replace(r"\s+", " ", regex=True).str.strip()


def _controlled_headings(ctx: FeatureContext) -> set[str]:
    if ctx.hs_profiles is None:
        return {"2805", "2846", "8505"}
    p = ctx.hs_profiles
    return set(p.loc[p["role"].eq("controlled"), "hs_code"].astype("str").str[:4])


def _probabilities(model, texts: pd.Series, controlled: set[str]) -> pd.DataFrame:
    """Per unique text: probability of every heading, the best heading, controlled probability."""
    texts = pd.Series(texts).reset_index(drop=True)
    proba = model.predict_proba(texts).astype("float32")
    classes = model.classes_.astype("str")
    ctrl = np.isin(classes, sorted(controlled))
    frame = pd.DataFrame(proba, columns=classes, index=pd.Index(texts, name="text"))
    frame["_best"] = classes[proba.argmax(axis=1)]
    frame["_controlled"] = proba[:, ctrl].sum(axis=1) if ctrl.any() else 0.0
    return frame


def _text_features(rows: Rows, ctx: FeatureContext) -> pd.DataFrame:
    """Probability of the declared heading, controlled probability and predicted heading.

    For the target rows; the model runs once per distinct description not already scored
    out of fold.
    """
    state = ctx.state.get(FAMILY, {})
    model = state.get("model")
    out = pd.DataFrame({"p_declared": np.nan, "p_controlled": np.nan, "predicted": None}, index=rows.index)
    if model is None:
        return out
    text_codes, descriptions = rows.distinct("goods_description")
    texts = _clean_text(pd.Series(descriptions, dtype=object))  # one per distinct description
    wanted = np.zeros(len(descriptions), dtype=bool)
    wanted[rows.at(text_codes)] = True
    oof = state.get("_oof")
    uniq = pd.Index(texts[wanted].unique())
    known = oof if oof is not None else None
    todo = uniq if known is None else uniq[~isin(uniq.to_numpy(), known.index)]
    parts = [known] if known is not None else []
    if len(todo):
        parts.append(_probabilities(model, pd.Series(todo), _controlled_headings(ctx)))
    if not parts:  # no rows to describe and no out-of-fold table (a scoring state)
        return out
    table = pd.concat(parts) if len(parts) > 1 else parts[0]
    table = table[~table.index.duplicated()]
    classes = [c for c in table.columns if not c.startswith("_")]
    row = table.index.get_indexer(texts)[rows.at(text_codes)]
    col = rows.mapped(
        "hs:heading_class",
        "hs_code",
        lambda codes: pd.Series(pd.Index(classes).get_indexer(codes.astype("str").str[:4])),
    ).to_numpy()
    probs = table[classes].to_numpy()
    p = np.where(col >= 0, probs[row, np.maximum(col, 0)], 0.0)
    out["p_declared"] = p
    out["p_controlled"] = table["_controlled"].to_numpy()[row]
    out["predicted"] = pd.Series(table["_best"].to_numpy(), dtype="str").take(row).array
    return out


def code_profile(hs_code: pd.Series, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """A reference profile column by the declared code's 6-digit prefix (NaN when none)."""
    if profiles is None or column not in profiles.columns:
        return pd.Series(np.nan, index=hs_code.index, dtype=object)
    table = profiles.set_index(profiles["hs_code"].astype("str").str[:6])[column]
    table = table[~table.index.duplicated()]
    return hs_code.astype("str").str[:6].map(table)


def _profile(rows: Rows, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """``code_profile`` at the target rows, looked up once per distinct code."""
    if profiles is None or column not in profiles.columns:
        return pd.Series(np.nan, index=rows.index)
    return rows.mapped(f"hs:profile:{column}", "hs_code", lambda c: code_profile(c, profiles, column))


def value_prior(rows: Rows, profiles: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Log value per kg of the reference profile (typical) and its spread (low-high as four
    standard deviations) at the target rows; NaN for codes without a profile."""
    typical, low, high = (
        pd.to_numeric(_profile(rows, profiles, c), errors="coerce").to_numpy(dtype="float64")
        for c in ("value_per_kg_typical", "value_per_kg_low", "value_per_kg_high")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.log(np.where(typical > 0, typical, np.nan))
        sd = (np.log(np.where(high > 0, high, np.nan)) - np.log(np.where(low > 0, low, np.nan))) / 4
    return mean, np.where(sd > 0, sd, np.nan)


def _numbers(decl: pd.DataFrame, column: str) -> np.ndarray:
    if column not in decl.columns:
        return np.full(len(decl), np.nan)
    return pd.to_numeric(decl[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _controlled_hs6(profiles: pd.DataFrame | None) -> set[str]:
    if profiles is None or "role" not in profiles.columns:
        return set()
    return set(profiles.loc[profiles["role"].eq("controlled"), "hs_code"].astype("str").str[:6])


def normalise_descriptions(texts: pd.Series) -> pd.Series:
    """Lower case, digits and punctuation dropped, spaces collapsed; NaN when nothing is left."""
    s = pd.Series(texts, dtype=object)
    clean = (
        s.where(s.notna(), "")
        .astype("str")
        .str.lower()
        .str.replace(r"[\d_]+", " ", regex=True)
        .str.replace(r"[^\w]+", " ", regex=True)
        .str.strip()
    )
    return clean.where(clean != "")


def _description_codes(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """(codes of the normalised description for every row (-1: none), the normalised texts)."""

    def make():
        raw, uniques = rows.distinct("goods_description")
        codes, texts = recode(raw, normalise_descriptions(pd.Series(uniques, dtype=object)))
        return keyed(codes, texts), texts

    return rows.cached("hs:description_codes", make)


def _words(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct words (3+ letters, the first ``MAX_WORDS``) of each text: (text of each pair, word
    code of each pair, the words), pairs sorted by text."""
    split = pd.Series(texts, dtype=object).str.split().explode()
    split = split[split.notna() & (split.str.len() >= 3)]
    pairs = pd.DataFrame({"text": split.index.to_numpy(), "word": split.to_numpy()}).drop_duplicates()
    pairs = pairs[pairs.groupby("text").cumcount() < MAX_WORDS]
    code, words = pd.factorize(pairs["word"])
    words = np.asarray(words, dtype=object)
    return pairs["text"].to_numpy(np.int64), keyed(code, words), words


def _rare_words(
    rows: Rows, desc: np.ndarray, texts: np.ndarray, hs6: np.ndarray, described: np.ndarray
) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Per target row: share of its description's words seen in under ``RARE_WORD_SHARE`` of the
    code's earlier described declarations, the rarest word and how often it was seen.

    Every row's words are the events; the target rows' (code, word) pairs ask how many rows of
    the same code with the word came strictly before them.
    """
    n_t = rows.n_targets
    share, rarest_seen = np.full(n_t, np.nan), np.full(n_t, np.nan)
    rarest = pd.Series(None, index=range(n_t), dtype=object)
    text_of, word_of, words = _words(texts)
    if not len(word_of):
        return share, rarest, rarest_seen
    count = np.bincount(text_of, minlength=len(texts))
    start = np.cumsum(count) - count
    has = np.flatnonzero((desc >= 0) & (hs6 >= 0))
    k = count[desc[has]]
    row_e = np.repeat(has, k)
    offset = np.arange(len(row_e)) - np.repeat(np.cumsum(k) - k, k)
    word_e = word_of[start[desc[row_e]] + offset]
    del offset
    key_e = pair_codes(hs6[row_e], word_e)
    t = rows.times()
    t_e = t[row_e]
    target_of = np.full(len(rows), -1, np.int64)
    target_of[rows.pos] = np.arange(n_t)
    q = np.flatnonzero(rows.target[row_e])
    seen = _earlier_counts(t_e, key_e, q)
    seen = rows.sums_of(t_e[q], key_e[q], t_e, key_e, [None], tag="rare_words", done=[seen])[0]
    del key_e, t_e
    who = target_of[row_e[q]]
    n_code = described[who]
    rare = seen < RARE_WORD_SHARE * n_code
    asked = n_code >= MIN_CODE_ROWS_FOR_WORDS
    n_words = np.bincount(who, minlength=n_t)
    n_rare = np.bincount(who, weights=rare.astype("float64"), minlength=n_t)
    ok = (n_words > 0) & (np.bincount(who, weights=asked, minlength=n_t) > 0)
    share = np.where(ok, n_rare / np.maximum(n_words, 1), np.nan)
    order = np.lexsort((seen, who))
    first = order[np.r_[True, who[order][1:] != who[order][:-1]]]
    rarest_seen[who[first]] = seen[first]
    rarest_seen = np.where(ok, rarest_seen, np.nan)
    picked = pd.Series(words[word_e[q][first]], dtype=object)
    rarest.iloc[who[first]] = picked.to_numpy()
    rarest = rarest.where(ok)
    return share, rarest, rarest_seen


def _earlier_counts(times: np.ndarray, keys: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """For the events at positions ``asked``, how many events of the same key came strictly
    before; one stable sort by key when the events are in time order."""
    if len(times) > 1 and not (times[1:] >= times[:-1]).all():
        return as_of_sums_of(times[asked], keys[asked], times, keys, [None])[0]
    merged = sums_before_sorted(times[asked], keys[asked], times, keys, [None])
    if merged is not None:
        return merged[0]
    n = len(keys)
    order = np.argsort(keys, kind="stable")
    k, ts = keys[order], times[order]
    new_key = np.r_[True, k[1:] != k[:-1]]
    first_of_key = np.maximum.accumulate(np.where(new_key, np.arange(n), 0))
    new_time = new_key | np.r_[True, ts[1:] != ts[:-1]]
    first_at_time = np.maximum.accumulate(np.where(new_time, np.arange(n), 0))
    counts = np.empty(n)
    counts[order] = first_at_time - first_of_key
    return counts[asked]


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Text fit, value per kg against the code's and the exporter's history, the exporter's
    profile, the code's use as cover and what the description says.

    Described: the target rows of ``decl``; history: all its rows.
    """
    rows = rows_of(decl, ctx)
    idx = rows.index
    hs6 = rows.codes("hs_code", lambda codes: codes.str[:6], name="hs6")
    heading = rows.codes("hs_code", lambda codes: codes.str[:4], name="heading")
    chapter = rows.codes("hs_code", lambda codes: codes.str[:2], name="chapter")
    exporter = rows.codes("exporter_id")
    out = pd.DataFrame(index=idx)
    missing: list[str] = []

    text = _text_features(rows, ctx)
    if ctx.state.get(FAMILY, {}).get("model") is None:
        missing.append("hs_mismatch: no fitted text model, description features left empty")
    out["description_fits_declared_heading"] = text["p_declared"].astype("float64")
    out["description_suggests_controlled"] = text["p_controlled"].astype("float64")

    # value per kg against the code's history (reference as a weak prior) and the exporter's lane
    value_all, gross_all = _numbers(decl, "declared_value_usd"), _numbers(decl, "gross_weight_kg")
    with np.errstate(divide="ignore", invalid="ignore"):
        vpk_all = np.where((value_all > 0) & (gross_all > 0), value_all / gross_all, np.nan)
    log_vpk_all = np.log(vpk_all)
    measure = {"vpk": log_vpk_all}
    usual = usual_by_code(rows, measure, {"vpk": value_prior(rows, ctx.hs_profiles)}, ctx.labels)["vpk"]
    lane = rows.cached("exporter_code_lane", lambda: pair_codes(exporter, own_code_codes(rows)))
    lane_mean, lane_sd, lane_n = usual_in_lane(rows, lane, measure, {"vpk": usual}, ctx.labels)["vpk"]
    x = rows.at(log_vpk_all)
    out["value_per_kg_log_ratio_to_code"] = x - usual.mean
    out["value_per_kg_robust_z"] = usual.z(x)
    with np.errstate(invalid="ignore"):
        out["value_per_kg_z_exporter"] = (x - lane_mean) / lane_sd
    declared_value = rows.at(value_all)
    out["declared_value_log10"] = np.log10(np.maximum(declared_value, 1.0))

    # the exporter's product profile
    strategic_all = _strategic_rows(rows, ctx, vpk_all)
    before, strategic_before = rows.earlier(exporter, [None, strategic_all], tag="exporter")
    same_heading = rows.earlier(pair_codes(exporter, heading), tag="exporter_heading")[0]
    same_chapter = rows.earlier(pair_codes(exporter, chapter), tag="exporter_chapter")[0]
    first = before == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["exporter_share_of_this_heading"] = np.where(first, np.nan, same_heading / before)
        out["exporter_new_chapter"] = ((before >= 3) & (same_chapter == 0)).astype("float64")
        out["exporter_strategic_share"] = np.where(first, np.nan, strategic_before / before)

    # the code as cover: inspections' findings, and who declares it
    inspected, _, code_rate = track_record(rows, ctx.labels, hs6, tag="hs6")
    out["code_cover_violation_rate"] = code_rate
    code_share, overall_share = _share_by_strategic_exporters(rows, exporter, hs6, strategic_all)
    out["code_share_by_strategic_exporters"] = code_share

    # what the description says: seen before under the code, from the exporter, rare words
    desc, texts = _description_codes(rows)
    described_all = (desc >= 0).astype("float64")
    described = rows.earlier(hs6, [described_all], tag="described")[0]
    under_code = rows.earlier(pair_codes(desc, hs6), tag="description_code")[0]
    from_exporter = rows.earlier(pair_codes(desc, exporter), tag="description_exporter")[0]
    no_desc = rows.at(desc) < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["description_times_seen_under_code"] = np.where(no_desc, np.nan, under_code)
        out["description_share_under_code"] = np.where(
            no_desc | (described == 0), np.nan, under_code / described
        )
    out["description_times_seen_from_exporter"] = np.where(no_desc | first, np.nan, from_exporter)
    rare_share, rarest, rarest_seen = _rare_words(rows, desc, texts, hs6, described)
    out["description_rare_word_share"] = rare_share

    with np.errstate(over="ignore"):
        context = pd.DataFrame(
            {
                "goods_description_short": rows.mapped(
                    "hs:description_short", "goods_description", lambda d: d.astype("str").str.slice(0, 60)
                ),
                "hs6_code": rows.mapped("hs:hs6", "hs_code", lambda codes: codes.astype("str").str[:6]),
                "declared_heading": rows.mapped(
                    "hs:heading", "hs_code", lambda codes: codes.astype("str").str[:4]
                ),
                "declared_chapter": rows.mapped(
                    "hs:chapter", "hs_code", lambda codes: codes.astype("str").str[:2]
                ),
                "predicted_heading": text["predicted"],
                "predicted_heading_description": _heading_description(text["predicted"], ctx.hs_profiles),
                "value_per_kg": rows.at(vpk_all),
                "code_usual_value_per_kg": np.exp(usual.mean),
                "code_value_history": usual.n_code,
                "value_per_kg_ratio_text": ratio_text(np.exp(x - usual.mean)).set_axis(idx),
                "exporter_usual_value_per_kg": np.exp(lane_mean),
                "exporter_code_history": lane_n,
                "exporter_declarations_before": before,
                "code_inspections_before": inspected,
                "strategic_share_overall": overall_share,
                "code_described_history": described,
                "rarest_word": rarest.set_axis(idx),
                "rarest_word_times_seen": rarest_seen,
            },
            index=idx,
        )
    return FamilyResult(out[[f.name for f in FEATURES]].astype("float64"), compact(context), missing)


def _strategic_rows(rows: Rows, ctx: FeatureContext, vpk_all: np.ndarray) -> np.ndarray:
    """Every row that declares controlled goods (reference control list), quotes a license or
    declares dear goods (``DEAR_USD_PER_KG`` or more), as 0/1."""
    controlled = _controlled_hs6(ctx.hs_profiles)
    raw, uniques = rows.distinct("hs_code")
    is_controlled = pd.Series(uniques, dtype=object).astype("str").str[:6].isin(controlled).to_numpy()
    flag = is_controlled[raw] | (np.nan_to_num(vpk_all) >= DEAR_USD_PER_KG)
    if "license_id" in rows.decl.columns:
        lic = rows.decl["license_id"]
        flag |= (lic.notna() & lic.astype("str").str.strip().ne("")).to_numpy()
    return flag.astype("float64")


def _share_by_strategic_exporters(
    rows: Rows, exporter: np.ndarray, hs6: np.ndarray, strategic_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(share of the code's earlier declarations whose exporter had declared strategic goods
    before them, shrunk toward the overall share; the overall share), for the target rows.

    Whether a row's exporter had strategic goods before is itself point in time (rows strictly
    before that row), so each target sees only rows that came before it, each judged as of its
    own time.
    """
    prior_strategic = rows.earlier_all(exporter, [strategic_all], tag="strategic_before")[0] > 0
    flag = prior_strategic.astype("float64")
    hits, n = rows.earlier(hs6, [flag, None], tag="strategic_share")
    all_hits, all_n = rows.earlier(np.zeros(len(rows), np.int64), [flag, None], tag="strategic_share_all")
    with np.errstate(divide="ignore", invalid="ignore"):
        overall = np.where(all_n > 0, all_hits / all_n, np.nan)
        share = (hits + STRATEGIC_SHRINK * overall) / (n + STRATEGIC_SHRINK)
    return np.where((n > 0) & (rows.at(hs6) >= 0), share, np.nan), overall


def _heading_description(headings: pd.Series, profiles: pd.DataFrame | None) -> pd.Series:
    if profiles is None:
        return pd.Series("", index=headings.index)
    first = profiles.assign(h=profiles["hs_code"].astype("str").str[:4]).drop_duplicates("h")
    codes, uniques = pd.factorize(headings, use_na_sentinel=False)
    described = pd.Series(uniques).map(first.set_index("h")["description"]).fillna("")
    return described.take(codes).set_axis(headings.index)
