"""Company-name and address normalisation, shared by every family that compares names.

``normalise_names`` gives a canonical form in which spelling variants of the same legal
name are equal ("Baotou Rare Earth Co., Ltd" and "BAOTOU RARE EARTH COMPANY LIMITED" both
become "baotou rare earth co ltd"); ``name_cores`` drops the legal-form words as well, for
fuzzy comparison of the distinctive part of a name. All functions work on the unique
values of a Series with pandas string methods and map the result back, so a million rows
with a few thousand distinct names cost a few thousand normalisations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.base import Rows

# Combining marks left after NFKD decomposition (accents, diacritics). Literal characters, not
# \u escapes, so that pandas can hand the pattern to pyarrow's regex engine.
_COMBINING_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"

# Applied in order on casefolded, punctuation-free, single-spaced text: long forms first.
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    (r"\bsociete a responsabilite limitee\b", "sarl"),
    (r"\bgesellschaft mit beschrankter haftung\b", "gmbh"),
    (r"\blimited liability (?:company|co)\b", "llc"),
    (r"\bpublic limited (?:company|co)\b", "plc"),
    (r"\b(?:open |closed |public )?joint stock (?:company|co)\b", "jsc"),
    (r"\b(?:ojsc|pjsc|cjsc|oao|zao|pao)\b", "jsc"),
    (r"\bsendirian berhad\b", "sdn bhd"),
    (r"\b(?:sociedad anonima|societe anonyme|sociedade anonima)\b", "sa"),
    (r"\b(?:private|pvt|prv)\b", "pte"),
    (r"\blimited\b", "ltd"),
    (r"\bcompany\b", "co"),
    (r"\bcorporation\b", "corp"),
    (r"\bincorporated\b", "inc"),
    (r"\b(?:trading|trade|trd)\b", "trading"),
    (r"\b(?:international|intl)\b", "intl"),
    (r"\bholdings\b", "holding"),
)

# Canonical legal-form and generic words dropped by ``name_cores``.
GENERIC_WORDS: tuple[str, ...] = (
    "co",
    "ltd",
    "llc",
    "llp",
    "lp",
    "plc",
    "inc",
    "corp",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "jsc",
    "sdn",
    "bhd",
    "pte",
    "pty",
    "kk",
    "oy",
    "trading",
    "intl",
    "holding",
    "group",
)
_GENERIC = r"\b(?:" + "|".join(GENERIC_WORDS) + r")\b"


def _unique_codes(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes into the distinct non-missing values (-1: missing) and those values as str."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str)


def _expand(codes: np.ndarray, done: pd.Series, index: pd.Index) -> pd.Series:
    """Per-distinct results back to one per row; NaN for missing values."""
    done = np.append(done.to_numpy(dtype=object), np.nan)
    return pd.Series(done[np.where(codes < 0, len(done) - 1, codes)], index=index, dtype=object)


def _blank_to_nan(s: pd.Series) -> pd.Series:
    return s.where(s.notna() & (s != ""))


def _plain(s: pd.Series) -> pd.Series:
    """Casefolded text without accents or punctuation, single-spaced (unique values in)."""
    # NFKD also folds full-width Latin (common in Asian registries) to plain letters; casefold
    # on both sides of it, as each can produce what the other changes
    s = s.str.casefold().str.normalize("NFKD").str.replace(_COMBINING_MARKS, "", regex=True)
    s = s.str.casefold().str.replace("&", " and ", regex=False)
    s = s.str.replace("['\u2019`]", "", regex=True).str.replace(r"[\W_]+", " ", regex=True)
    # "l l c" (from L.L.C.), "s a" (from S.A.): join runs of single letters (not digits)
    return s.str.strip().str.replace(r"(?<=\b[^\W\d_]) (?=[^\W\d_]\b)", "", regex=True)


def _canonical(s: pd.Series) -> pd.Series:
    s = _plain(s)
    for pattern, canonical in LEGAL_FORMS:  # one pass each: pyarrow's engine beats one big re
        s = s.str.replace(pattern, canonical, regex=True)
    return _blank_to_nan(s.str.replace(" +", " ", regex=True).str.strip())


def _core(canonical: pd.Series) -> pd.Series:
    core = canonical.str.replace(_GENERIC, " ", regex=True).str.replace(" +", " ", regex=True)
    return _blank_to_nan(core.str.strip()).fillna(canonical)  # all-generic names keep their words


def normalise_text(values: pd.Series) -> pd.Series:
    """Casefolded, accent- and punctuation-free, single-spaced text (addresses); NaN if blank."""
    codes, uniques = _unique_codes(values)
    return _expand(codes, _blank_to_nan(_plain(uniques)), values.index)


def normalise_names(values: pd.Series) -> pd.Series:
    """Canonical company names: ``normalise_text`` plus canonical legal forms ("co ltd", "llc")."""
    codes, uniques = _unique_codes(values)
    return _expand(codes, _canonical(uniques), values.index)


def distinct_canonical(rows: Rows, column: str) -> np.ndarray:
    """``normalise_names`` of each distinct value of a column of ``rows`` (as ``rows.distinct``
    lists them), computed once per prepared frame."""
    return rows.cached(
        f"canonical:{column}",
        lambda: normalise_names(pd.Series(rows.distinct(column)[1], dtype=object)).to_numpy(dtype=object),
    )


def name_cores(values: pd.Series) -> pd.Series:
    """Canonical names without legal-form and generic words ("ltd", "trading", "holding")."""
    return name_forms(values)["core"]


def name_forms(values: pd.Series) -> pd.DataFrame:
    """Both forms in one pass: ``canonical`` (as normalise_names) and ``core`` (as name_cores)."""
    codes, uniques = _unique_codes(values)
    canonical = _canonical(uniques)
    return pd.DataFrame(
        {
            "canonical": _expand(codes, canonical, values.index),
            "core": _expand(codes, _core(canonical), values.index),
        }
    )
