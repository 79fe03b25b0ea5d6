"""HS-code mismatch: does the declared code fit the description, the exporter and the value?"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data.arrays import isin
from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    monthly_stats_codes,
    months,
    pair_codes,
    rows_of,
)
from features.license import target_code_profile

FAMILY = "hs_mismatch"
MIN_CODE_HISTORY = 30  # below this many earlier declarations, the code's reference value is used

FEATURES = [
    Feature(
        "description_fits_declared_heading",
        FAMILY,
        "How well the goods description fits the declared HS heading (text model probability).",
        "description '{goods_description_short}' fits heading {declared_heading} with only "
        "{description_fits_declared_heading:.0%} confidence; it reads like {predicted_heading} "
        "({predicted_heading_description})",
    ),
    Feature(
        "description_suggests_controlled",
        FAMILY,
        "Probability, from the description alone, that the goods are export-controlled.",
        "description '{goods_description_short}' reads like controlled goods "
        "({description_suggests_controlled:.0%}): {predicted_heading_description}",
    ),
    Feature(
        "value_per_kg_log_ratio_to_code",
        FAMILY,
        "Value per kg against the code's historical median (natural log of the ratio).",
        "declared as {hs_code} ({code_description}) at {value_per_kg:,.2f} USD/kg, "
        "{value_per_kg_ratio_text} the usual {code_median_value_per_kg:,.2f} USD/kg for that "
        "code",
    ),
    Feature(
        "value_per_kg_robust_z",
        FAMILY,
        "How many robust standard deviations the value per kg lies from the code's history.",
        "value per kg {value_per_kg:,.2f} USD lies {value_per_kg_robust_z:+.1f} robust "
        "standard deviations from what {hs_code} usually declares",
    ),
    Feature(
        "value_per_kg_log_ratio_to_reference",
        FAMILY,
        "Value per kg against the published reference for the code (natural log of the ratio).",
        "{value_per_kg:,.2f} USD/kg against a reference of "
        "{code_reference_value_per_kg:,.2f} USD/kg for {hs_code}",
    ),
    Feature(
        "declared_value_log10",
        FAMILY,
        "Declared value of the item (log10 of US dollars): what is at stake if it is wrong.",
        "declared value {declared_value_usd:,.0f} USD for {gross_weight_kg:,.0f} kg of {hs_code}",
    ),
    Feature(
        "exporter_share_of_this_heading",
        FAMILY,
        "Share of the exporter's earlier declarations under the same heading.",
        "only {exporter_share_of_this_heading:.0%} of exporter's earlier shipments were under "
        "heading {declared_heading}",
    ),
    Feature(
        "exporter_new_chapter",
        FAMILY,
        "An established exporter declares goods of a chapter it never shipped before.",
        "exporter has shipped before, but never goods of chapter {declared_chapter}",
        show_when="positive",
    ),
    Feature(
        "code_cover_violation_rate",
        FAMILY,
        "How often past inspections of this declared code found violations (smoothed).",
        "code {hs_code} hid violations in {code_cover_violation_rate:.0%} of past inspections",
    ),
    Feature(
        "cover_code",
        FAMILY,
        "Declared code is one that smugglers typically use as cover (ores, ceramics, solder).",
        "{hs_code} ({code_description}) is a code commonly used to disguise rare earths",
        show_when="positive",
    ),
]


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


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Text fit, exporter profile, value per kg against the code, and the code's cover history.

    Described: the target rows of ``decl``; history: all its rows.
    """
    rows = rows_of(decl, ctx)
    idx = rows.index
    hs6 = rows.codes("hs_code", lambda codes: codes.str[:6], name="hs6")
    heading = rows.codes("hs_code", lambda codes: codes.str[:4], name="heading")
    chapter = rows.codes("hs_code", lambda codes: codes.str[:2], name="chapter")
    out = pd.DataFrame(index=idx)
    missing: list[str] = []

    text = _text_features(rows, ctx)
    if ctx.state.get(FAMILY, {}).get("model") is None:
        missing.append("hs_mismatch: no fitted text model, description features left empty")
    out["description_fits_declared_heading"] = text["p_declared"].astype("float64")
    out["description_suggests_controlled"] = text["p_controlled"].astype("float64")

    value_per_kg_all = (decl["declared_value_usd"] / decl["gross_weight_kg"]).to_numpy(
        dtype="float64", na_value=np.nan
    )
    log_vpk_all = np.log(np.maximum(value_per_kg_all, 1e-6))  # NaN stays NaN
    month = rows.cached("months", lambda: months(decl["declared_at"]))
    stats = pd.DataFrame(
        monthly_stats_codes(log_vpk_all, hs6, month, ("median", "q25", "q75"), rows.pos),
        index=idx,
        columns=["median", "q25", "q75", "n"],
    )
    value_per_kg = pd.Series(rows.at(value_per_kg_all), index=idx)
    log_vpk = pd.Series(rows.at(log_vpk_all), index=idx)
    enough = stats["n"].fillna(0) >= MIN_CODE_HISTORY
    reference = target_code_profile(rows, ctx.hs_profiles, "value_per_kg_typical").astype("float64")
    log_ref = np.log(reference.clip(lower=1e-6))
    median = stats["median"].where(enough, log_ref)
    spread = ((stats["q75"] - stats["q25"]) / 1.349).where(enough).clip(lower=0.05)
    out["value_per_kg_log_ratio_to_code"] = (log_vpk - median).to_numpy()
    out["value_per_kg_robust_z"] = ((log_vpk - median) / spread.fillna(0.5)).to_numpy()
    out["value_per_kg_log_ratio_to_reference"] = (log_vpk - log_ref).to_numpy()
    declared_value = rows.at(decl["declared_value_usd"].to_numpy(dtype="float64", na_value=np.nan))
    out["declared_value_log10"] = np.log10(np.maximum(declared_value, 1.0))

    exporter = rows.codes("exporter_id")
    before, same_heading, same_chapter = (
        rows.earlier(key)[0]
        for key in (exporter, pair_codes(exporter, heading), pair_codes(exporter, chapter))
    )
    out["exporter_share_of_this_heading"] = np.where(before > 0, same_heading / np.maximum(before, 1), np.nan)
    out["exporter_new_chapter"] = ((before >= 3) & (same_chapter == 0)).astype("float64")
    out["code_cover_violation_rate"] = rows.label_rate(ctx.labels, hs6)[0]
    role = target_code_profile(rows, ctx.hs_profiles, "role")
    out["cover_code"] = role.eq("cover").astype("float64") if ctx.hs_profiles is not None else np.nan

    ratio = np.exp(out["value_per_kg_log_ratio_to_code"])
    context = pd.DataFrame(
        {
            "goods_description_short": rows.mapped(
                "hs:description_short", "goods_description", lambda d: d.astype("str").str.slice(0, 60)
            ),
            "declared_heading": rows.mapped(
                "hs:heading", "hs_code", lambda codes: codes.astype("str").str[:4]
            ),
            "declared_chapter": rows.mapped(
                "hs:chapter", "hs_code", lambda codes: codes.astype("str").str[:2]
            ),
            "predicted_heading": text["predicted"],
            "predicted_heading_description": _heading_description(text["predicted"], ctx.hs_profiles),
            "code_description": target_code_profile(rows, ctx.hs_profiles, "description"),
            "value_per_kg": value_per_kg,
            "code_median_value_per_kg": np.exp(median),
            "code_reference_value_per_kg": reference,
            "value_per_kg_ratio_text": _ratio_text(ratio.to_numpy()).set_axis(idx),
        },
        index=idx,
    )
    return FamilyResult(out.astype("float64"), context, missing)


def _ratio_text(ratio: np.ndarray) -> pd.Series:
    """'12x' for ratios of 1 or more, '1/12 of' below; formatted once per distinct rounding."""
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.where(ratio >= 1, np.rint(ratio), np.rint(1 / ratio))
    uniq, inverse = np.unique(shown, return_inverse=True)
    texts = pd.Series([f"{x:,.0f}x" for x in uniq] + [f"1/{x:,.0f} of" for x in uniq], dtype="str")
    return texts.take(np.where(ratio >= 1, inverse, len(uniq) + inverse)).reset_index(drop=True)


def _heading_description(headings: pd.Series, profiles: pd.DataFrame | None) -> pd.Series:
    if profiles is None:
        return pd.Series("", index=headings.index)
    first = profiles.assign(h=profiles["hs_code"].astype("str").str[:4]).drop_duplicates("h")
    codes, uniques = pd.factorize(headings, use_na_sentinel=False)
    described = pd.Series(uniques).map(first.set_index("h")["description"]).fillna("")
    return described.take(codes).set_axis(headings.index)
