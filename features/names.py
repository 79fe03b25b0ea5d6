"""Company-name and address normalisation, shared by every family that compares names.

Names are read the way sanctions screening reads them, with OpenSanctions' ``rigour`` and
``normality``: legal forms in any language and script are recognised and replaced by their
generic class ("Sp. z o.o.", "Sp z oo", "GmbH", "Co., Ltd", "OOO", "ООО" and "有限公司" are all
``llc``; "A.Ş.", "S.A.", "PJSC", "Anonim Şirketi" are ``jsc``), other scripts are transliterated
to ASCII (Cyrillic, Greek, Turkish letters; Chinese and Japanese to pinyin-like Latin, one
word per run of characters), and the generic words rigour knows ("Corporation"/"Corp",
"International"/"Intl", "Trading"/"Trade") are written as one symbol each.

``normalise_names`` gives the canonical form: the name's words, then its legal classes, so that
spelling, script, word order of the legal form and the legal form's language do not matter
("ООО Ромашка" and "Romashka LLC" are both ``romashka llc``). ``name_cores`` drops the legal
classes and the most generic trade words, for fuzzy comparison of the distinctive part of a
name. Every function normalises each distinct value once and maps the results back, so a
million rows with a few thousand distinct names cost a few thousand normalisations.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rigour.names import NameTypeTag, SymbolCategory, analyze_names, extract_org_types
from rigour.names import replace_org_types_compare as _replace_org_types
from rigour.text.normalize import Normalize, normalize
from rigour.text.translit import ascii_text

if TYPE_CHECKING:
    from features.base import Rows

# Combining marks left after NFKD decomposition (accents, diacritics). Literal characters, not
# \u escapes, so that pandas can hand the pattern to pyarrow's regex engine.
_COMBINING_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"

# rigour's name key: casefolded, split into name parts, single-spaced. Legal forms are matched
# against rigour's alias list normalised the same way, so "Sp. z o.o." and "Sp z oo" both hit.
_NAME_KEY = Normalize.CASEFOLD | Normalize.NAME
# Han, kana and CJK compatibility ideographs: written without spaces between words.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# Generic words rigour tags as symbols that clerks write as part of the legal form beside it:
# "Company Limited" is "Co., Ltd", "Private Limited" is "Pte. Ltd.".
LEGAL_FORM_WORDS = frozenset({"co", "private"})
# distinct names whose forms are kept per process: exporter, consignee, registry and listed
# names recur across families and builds, and each reading costs ~40 us
NAMES_KEPT = 250_000
# rigour symbols dropped from a name's core: words of trade that say nothing about who it is.
CORE_GENERIC_SYMBOLS = frozenset({"co", "corp", "trade", "intl", "holding", "grp"})


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


def _ascii(s: pd.Series) -> pd.Series:
    """Non-ASCII values transliterated to ASCII (rigour, then normality for other scripts)."""
    other = ~s.map(str.isascii, na_action="ignore").astype(bool)
    if not other.any():
        return s
    return s.where(~other, s[other].map(ascii_text))


def _plain(s: pd.Series) -> pd.Series:
    """Casefolded ASCII text without punctuation, single-spaced (unique values in)."""
    # NFKD also folds full-width Latin (common in Asian registries) to plain letters; casefold
    # on both sides of it, as each can produce what the other changes
    s = s.str.casefold().str.normalize("NFKD").str.replace(_COMBINING_MARKS, "", regex=True)
    s = _ascii(s.str.casefold()).str.casefold().str.replace("&", " and ", regex=False)
    s = s.str.replace("['\u2019`]", "", regex=True).str.replace(r"[\W_]+", " ", regex=True)
    return s.str.strip()


# ---------------------------------------------------------------- one distinct name
@lru_cache(maxsize=65_536)
def _legal_class(text: str) -> str | None:
    """The generic legal class if ``text`` (a name key) is one legal form as a whole."""
    found = extract_org_types(text, _NAME_KEY, generic=True)
    return found[0][1] if len(found) == 1 and found[0][0] == text else None


def _cjk_words(match: re.Match) -> str:
    """A run of CJK characters as one transliterated word, a legal form at either end apart
    ("包头稀土有限公司" -> "baotouxitu llc"): legal forms in these scripts follow no space."""
    run = match.group(0)
    for cut in range(1, len(run)):  # longest legal suffix first, then longest prefix
        if legal := _legal_class(run[cut:]):
            return f" {_one_word(run[:cut])} {legal} "
    for cut in range(len(run) - 1, 0, -1):
        if legal := _legal_class(run[:cut]):
            return f" {legal} {_one_word(run[cut:])} "
    return f" {_one_word(run)} "


def _one_word(text: str) -> str:
    return ascii_text(text).replace(" ", "").casefold()


@lru_cache(maxsize=NAMES_KEPT)
def _name_forms(raw: str) -> tuple[str | None, str | None, str | None]:
    """(canonical, core, words) of one name (words: the canonical form without its legal
    classes); (None, None, None) when nothing of it is left.

    A legal form before or inside the name ("ООО Ромашка") moves to the end, which can put
    words side by side that rigour reads together: read again until nothing changes.
    """
    forms = _read_name(raw)
    for _ in range(3):
        if forms[0] is None or not forms[2]:
            break
        again = _read_name(forms[0])
        if again[0] == forms[0]:
            break
        forms = again
    return forms[0], forms[1], forms[3]


def _read_name(raw: str) -> tuple[str | None, str | None, bool, str | None]:
    """(canonical, core, whether a legal form was moved to the end, words) of one reading."""
    key = normalize(raw.replace("&", " and "), Normalize.NFKC | _NAME_KEY)
    if not key:
        return None, None, False, None
    if _CJK.search(key):
        key = _CJK.sub(_cjk_words, key)
    key = _replace_org_types(key, _NAME_KEY, generic=True)  # native-script forms ("ооо")
    if not key.isascii():  # forms only seen after transliteration ("a.ş." -> "as")
        key = _replace_org_types(normalize(ascii_text(key), _NAME_KEY) or "", _NAME_KEY, generic=True)
    analysed = analyze_names(NameTypeTag.ORG, [key], phonetics=False, numerics=False, consolidate=False)
    if not analysed:
        return None, None, False, None
    (name,) = analysed
    legal: dict[int, str] = {}
    symbol: dict[int, tuple[int, str]] = {}  # first word of a symbol -> (rank, symbol)
    inside: set[int] = set()  # later words of a multi-word symbol ("hong kong")
    for span in name.spans:
        category, index = span.symbol.category, [p.index for p in span.parts]
        if category == SymbolCategory.ORG_CLASS:
            for i in index:
                legal.setdefault(i, span.symbol.id.casefold())
        elif category in (SymbolCategory.SYMBOL, SymbolCategory.LOCATION):
            rank = 0 if category == SymbolCategory.SYMBOL else 1  # a word's symbol before its place
            word = span.symbol.id.casefold().replace("-", "")  # one word: "cn-sh" -> "cnsh"
            symbol[index[0]] = min(symbol.get(index[0], (2, "")), (rank, word))
            inside.update(index[1:])
    parts = name.parts
    is_legal = [p.index in legal or p.tag.value == "LEGAL" for p in parts]
    words: list[str] = []
    classes: list[str] = []
    for k, part in enumerate(parts):
        if is_legal[k]:
            classes.append(legal.get(part.index, part.form))
            continue
        if part.index in inside and part.index not in symbol:
            continue
        word = symbol[part.index][1] if part.index in symbol else part.form
        beside_legal = (k > 0 and is_legal[k - 1]) or (k + 1 < len(parts) and is_legal[k + 1])
        if word in LEGAL_FORM_WORDS and beside_legal:
            continue
        words.append(word)
    classes = list(dict.fromkeys(classes))
    while classes and words and words[-1] in LEGAL_FORM_WORDS:  # beside the classes once moved
        words.pop()
    canonical = " ".join(words + classes) or None
    core = " ".join(w for w in words if w not in CORE_GENERIC_SYMBOLS)
    moved = any(is_legal[k] and not is_legal[k + 1] for k in range(len(parts) - 1))
    return canonical, core or canonical, moved, " ".join(words) or canonical


def _forms(uniques: pd.Series) -> pd.DataFrame:
    """Canonical form and core of each distinct name (one rigour analysis each)."""
    done = [_name_forms(v) for v in uniques.tolist()]
    forms = pd.DataFrame(done, columns=["canonical", "core", "words"], index=uniques.index, dtype=object)
    return forms.where(forms.notna(), np.nan)  # NaN, not None, for names with nothing left


# ---------------------------------------------------------------- public
def normalise_text(values: pd.Series) -> pd.Series:
    """Casefolded, transliterated, punctuation-free, single-spaced text (addresses); NaN if blank."""
    codes, uniques = _unique_codes(values)
    return _expand(codes, _blank_to_nan(_plain(uniques)), values.index)


def normalise_names(values: pd.Series) -> pd.Series:
    """Canonical company names: the name's words (transliterated, generic words as rigour's
    symbols) followed by its generic legal classes ("baotou rare earth llc")."""
    codes, uniques = _unique_codes(values)
    return _expand(codes, _forms(uniques)["canonical"], values.index)


def learn_legal_forms(names: pd.Series, min_stems: int = 3, max_inner_share: float = 0.1) -> tuple[str, ...]:
    """Legal forms this bundle's names use, learned from the names themselves.

    rigour knows the legal forms of many languages; a bundle brings others ("K.K.", "Kabushiki
    Kaisha", "Chusik Hoesa" on Japanese and Korean consignees). What gives them away is that
    they alternate: the same name is written with one ending, another, or none ("Tokai
    Magnetics K.K.", "Tokai Magnetics Kabushiki Kaisha", "Tokai Magnetics Co., Ltd."). An
    ending of one or two words (without digits) that alternates with other endings after at
    least ``min_stems`` distinct name stems, and that ends the names it is part of (it stands
    before another word in at most ``max_inner_share`` of them: "Materials" alternates with
    "Resources" in a group's company names, but stands before "K.K."), is taken as a legal form.
    """
    distinct = pd.Series(pd.unique(pd.Series(names, dtype=object).dropna()), dtype=object)
    cores = name_forms(distinct)["words"].dropna().unique().tolist()
    endings: dict[str, set[str]] = {}
    for core in cores:
        w = core.split()
        endings.setdefault(core, set()).add("")
        for n in (1, 2):
            if len(w) > n:
                endings.setdefault(" ".join(w[:-n]), set()).add(" ".join(w[-n:]))
    inside: dict[str, int] = {}  # names where the sequence stands before another word
    total: dict[str, int] = {}
    for core in cores:
        w = core.split()
        for n in (1, 2):
            grams = [" ".join(w[i : i + n]) for i in range(len(w) - n + 1)]
            for g in set(grams):
                total[g] = total.get(g, 0) + 1
            for g in set(grams[:-1]) - {grams[-1]} if grams else ():
                inside[g] = inside.get(g, 0) + 1
    count: dict[str, int] = {}
    for found in endings.values():
        if len(found) >= 2:
            for e in found:
                count[e] = count.get(e, 0) + 1
    forms = [
        e
        for e, n in count.items()
        if e
        and n >= min_stems
        and not any(ch.isdigit() for ch in e)
        and inside.get(e, 0) <= max_inner_share * total.get(e, 1)
        # two words are one form when the first stands (almost) only before the second
        and (" " not in e or total.get(e, 0) >= (1 - max_inner_share) * total.get(e.split()[0], 1))
    ]
    return tuple(sorted(forms, key=lambda e: (-len(e.split()), e)))


def strip_legal_forms(cores: pd.Series, forms: tuple[str, ...]) -> pd.Series:
    """Names (their ``words`` form, see ``name_forms``) without the learned legal ``forms`` at
    their end (one word at least is kept)."""
    if not forms:
        return cores
    two = {f for f in forms if " " in f}
    one = {f for f in forms if " " not in f}

    def strip(core: str) -> str:
        w = core.split()
        while len(w) > 1:
            if len(w) > 2 and " ".join(w[-2:]) in two:
                w = w[:-2]
            elif w[-1] in one:
                w = w[:-1]
            else:
                break
        return " ".join(w)

    codes, uniques = _unique_codes(cores)
    return _expand(codes, uniques.map(strip), cores.index)


def party_ids(values: pd.Series) -> pd.Series:
    """Identifiers of parties (tax numbers, registry ids) in the form they are compared in, as
    screening compares them: case, spaces and separators ignored, and leading zeros of a number
    dropped (a broker's software that drops them, or writes "0116-766265", still names
    "0116766265"). NaN for blank. Computed once per distinct value."""
    codes, uniques = _unique_codes(values)
    key = uniques.str.upper().str.replace(r"[\s\-./_]+", "", regex=True)
    number = key.str.fullmatch(r"\d+")
    key = key.where(~number, key.str.lstrip("0").replace("", "0"))
    return _expand(codes, _blank_to_nan(key), values.index)


def distinct_canonical(rows: Rows, column: str) -> np.ndarray:
    """``normalise_names`` of each distinct value of a column of ``rows`` (as ``rows.distinct``
    lists them), computed once per prepared frame."""
    return rows.cached(
        f"canonical:{column}",
        lambda: normalise_names(pd.Series(rows.distinct(column)[1], dtype=object)).to_numpy(dtype=object),
    )


def name_cores(values: pd.Series) -> pd.Series:
    """Canonical names without legal classes and generic trade words ("ltd", "trading")."""
    return name_forms(values)["core"]


def name_forms(values: pd.Series) -> pd.DataFrame:
    """The forms in one pass: ``canonical`` (as normalise_names), ``core`` (as name_cores) and
    ``words`` (the canonical name without its legal classes)."""
    codes, uniques = _unique_codes(values)
    forms = _forms(uniques)
    return pd.DataFrame({c: _expand(codes, forms[c], values.index) for c in ("canonical", "core", "words")})
