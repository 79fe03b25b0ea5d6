"""Codes in words for reasons: HS codes, ports and countries named as an investigator reads them.

``2846900010`` becomes ``2846.90.00.10 (rare-earth compounds (excluding cerium))``, ``CNSHA``
becomes ``CNSHA (Shanghai)``, ``VN`` becomes ``VN (Viet Nam)``. HS names come from the committed
reference (``hs_profiles.csv`` and ``hs_chapters.csv``: subheading, then heading short names),
then from the bundle's own history (the goods description most often declared under the
code: ``usual_descriptions``), then from the chapter title. Every function works on the
distinct values of a column, so a day's flagged items cost one lookup per distinct code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

LEARNED_MAX_CHARS = 48  # a learned description is cut to this many characters
_SEP = " -> "  # how routing writes a route


@cache
def _hs_table() -> pd.DataFrame:
    with (files("data") / "reference" / "hs_chapters.csv").open("r", encoding="utf-8", newline="") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def hs_reference_names() -> dict[str, dict[str, str]]:
    """Short names of HS chapters (2 digits), headings (4) and subheadings (6), by level."""
    t = _hs_table()
    return {level: dict(zip(g["code"], g["short_name"], strict=True)) for level, g in t.groupby("level")}


@cache
def _country_names() -> dict[str, str]:
    import pycountry

    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


def _digits(codes: pd.Series) -> pd.Series:
    return codes.astype("str").str.replace(r"\D", "", regex=True)


def usual_descriptions(history: pd.DataFrame | None, codes=None, digits: int = 6) -> pd.Series:
    """The goods description most often declared under each code in ``history``.

    Keyed by the first ``digits`` digits of ``hs_code``; descriptions are compared in lower
    case with blanks collapsed (ties: the alphabetically first). ``codes`` (keys of that
    length) limits the work to the codes asked about. Empty when the history has no codes or
    descriptions.
    """
    best = most_declared(description_counts(history, codes, digits))
    return best.set_index("key")["text"].rename("usual_description")


def description_counts(history: pd.DataFrame | None, codes=None, digits: int = 6) -> pd.DataFrame:
    """(key, text, n): how many declarations of ``history`` declare each description (lower case,
    blanks collapsed) under each code (the first ``digits`` digits of ``hs_code``); ``codes``: only
    those keys. Counts of two histories add up (``most_declared`` of their sum is the usual one)."""
    empty = pd.DataFrame({"key": pd.Series(dtype=object), "text": pd.Series(dtype=object), "n": []})
    if history is None or not {"hs_code", "goods_description"} <= set(history.columns) or not len(history):
        return empty
    raw, uniques = pd.factorize(history["hs_code"])  # the key of each distinct code, once
    keys = _digits(pd.Series(uniques, dtype=object)).str[:digits]
    if codes is not None:
        wanted = keys.isin(pd.Index(pd.Series(list(codes), dtype=object).dropna().astype(str)))
        rows = np.flatnonzero(raw >= 0)
        rows = rows[wanted.to_numpy()[raw[rows]]]
    else:
        rows = np.flatnonzero(raw >= 0)
    if not len(rows):
        return empty
    # descriptions compared once per distinct text, counted per (code, text) as integers
    desc, distinct = pd.factorize(history["goods_description"].iloc[rows])
    clean = (
        pd.Series(distinct, dtype=object)
        .astype("str")
        .str.strip()
        .str.replace(r"\s+", " ", regex=True)
        .str.lower()
    )
    clean_code, clean_text = pd.factorize(clean)
    key_code, key_text = pd.factorize(keys.to_numpy()[raw[rows]])
    ok = desc >= 0
    text_of_row = clean_code[desc[ok]]
    usable = ~pd.Series(clean_text, dtype=object).isin(["", "nan", "none"]).to_numpy()
    keep = usable[text_of_row] & (key_text[key_code[ok]] != "")
    if not keep.any():
        return empty
    pair = key_code[ok][keep].astype(np.int64) * len(clean_text) + text_of_row[keep]
    uniq, count = np.unique(pair, return_counts=True)
    return pd.DataFrame(
        {
            "key": np.asarray(key_text, dtype=object)[uniq // len(clean_text)],
            "text": np.asarray(clean_text, dtype=object)[uniq % len(clean_text)],
            "n": count,
        }
    )


def most_declared(counts: pd.DataFrame) -> pd.DataFrame:
    """(key, text): the description of ``description_counts`` declared most under each key (ties:
    the alphabetically first)."""
    best = counts.sort_values(["key", "n", "text"], ascending=[True, False, True], kind="stable")
    return best.drop_duplicates("key")[["key", "text"]].reset_index(drop=True)


def format_hs(code: str) -> str:
    """``2846900010`` -> ``2846.90.00.10``; ``284690`` -> ``2846.90``; other text unchanged."""
    d = re.sub(r"\D", "", code)
    if len(d) <= 4 or len(d) != len(code.replace(".", "").replace(" ", "")):
        return code
    pairs = [d[i : i + 2] for i in range(4, len(d), 2)]
    return ".".join([d[:4], *pairs])


@dataclass
class Names:
    """Lookup tables from codes to names; ``learned`` holds the history's usual descriptions."""

    subheadings: dict[str, str] = field(default_factory=dict)
    headings: dict[str, str] = field(default_factory=dict)
    chapters: dict[str, str] = field(default_factory=dict)
    learned: dict[str, str] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)

    # ---- one value
    def hs_name(self, code: str) -> str:
        """The best name of one code: subheading, heading, learned description, chapter."""
        d = re.sub(r"\D", "", code)
        for table, n in ((self.subheadings, 6), (self.headings, 4)):
            if len(d) >= n and d[:n] in table:
                return table[d[:n]]
        if len(d) >= 6 and d[:6] in self.learned:
            text = self.learned[d[:6]]
            if len(text) > LEARNED_MAX_CHARS:
                text = text[: LEARNED_MAX_CHARS - 3].rstrip() + "..."
            return f'usually "{text}"'
        if len(d) >= 2 and d[:2] in self.chapters:
            return self.chapters[d[:2]]
        return ""

    def hs_one(self, code: str) -> str:
        name = self.hs_name(code)
        return f"{format_hs(code)} ({name})" if name else format_hs(code)

    def chapter_one(self, code: str) -> str:
        d = re.sub(r"\D", "", code)
        name = self.chapters.get(d[:2].zfill(2), "") if d else ""
        return f"{code} ({name})" if name else code

    def port_one(self, code: str) -> str:
        name = self.ports.get(code.strip().upper(), "")
        return f"{code} ({name})" if name else code

    def country_one(self, code: str) -> str:
        name = self.countries.get(code.strip().upper(), "")
        return f"{code} ({name})" if name else code

    def route_one(self, path: str) -> str:
        return _SEP.join(self.port_one(p) for p in path.split(_SEP))

    # ---- a column, once per distinct value (missing values stay missing)
    def column(self, values, kind: str) -> pd.Series:
        """``values`` named by ``kind`` (``hs``, ``chapter``, ``port``, ``route``, ``country``)."""
        one = {
            "hs": self.hs_one,
            "chapter": self.chapter_one,
            "port": self.port_one,
            "route": self.route_one,
            "country": self.country_one,
        }[kind]
        s = pd.Series(values, dtype=object)
        codes, uniques = pd.factorize(s)
        if not len(uniques):
            return s
        named = np.array([one(str(u)) if _present(u) else None for u in uniques], dtype=object)
        out = np.where(codes >= 0, named[np.maximum(codes, 0)], None)
        return pd.Series(out, index=s.index, dtype=object)


def _present(v) -> bool:
    return isinstance(v, str) and v.strip() != "" and v.strip().lower() not in MISSING_TEXT


MISSING_TEXT = frozenset({"nan", "none", "null", "<na>", "nat", "n/a"})


def names_for(
    history: pd.DataFrame | None = None,
    codes=None,
    hs_profiles: pd.DataFrame | None = None,
    ports: pd.DataFrame | None = None,
) -> Names:
    """Names from the committed reference, plus the history's usual description of ``codes``
    (HS codes asked about; only those in no reference table are learned)."""
    from data import reference

    ref = hs_reference_names()
    subheadings = dict(ref.get("subheading", {}))
    profiles = reference.hs_profiles() if hs_profiles is None else hs_profiles
    if profiles is not None and {"hs_code", "description"} <= set(profiles.columns):
        for code, text in zip(
            profiles["hs_code"].astype(str), profiles["description"].astype(str), strict=True
        ):
            subheadings.setdefault(code[:6], _short(text))
    headings, chapters = ref.get("heading", {}), ref.get("chapter", {})
    learned: dict[str, str] = {}
    if history is not None and codes is not None:
        keys = _digits(pd.Series(pd.unique(pd.Series(codes, dtype=object).dropna()), dtype=object))
        unnamed = keys[
            (keys.str.len() >= 6) & ~keys.str[:6].isin(list(subheadings)) & ~keys.str[:4].isin(list(headings))
        ].str[:6]
        if len(unnamed):
            learned = usual_descriptions(history, unnamed.unique()).to_dict()
    port_table = reference.ports() if ports is None else ports
    port_names = (
        dict(zip(port_table["locode"].astype(str), port_table["name"].astype(str), strict=True))
        if port_table is not None and {"locode", "name"} <= set(port_table.columns)
        else {}
    )
    return Names(subheadings, headings, chapters, learned, port_names, _country_names())


def _short(description: str) -> str:
    """A profile description cut to its first clause (for codes without a short name)."""
    text = re.split(r" \(|; ", description, maxsplit=1)[0]
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
