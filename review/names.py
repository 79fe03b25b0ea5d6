"""Names for codes on the case page: HS codes and ports (UN/LOCODE), from the committed
reference tables (data/reference), and where each port lies for the route map."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files


def _rows(name: str) -> list[dict[str, str]]:
    with (files("data") / "reference" / name).open("r", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def _hs() -> dict[str, str]:
    names = {r["code"]: r["title"] for r in _rows("hs_chapters.csv")}
    names |= {r["hs_code"]: r["description"] for r in _rows("hs_profiles.csv")}
    return names


@cache
def _ports() -> dict[str, tuple[str, str, float, float]]:
    return {
        r["locode"]: (r["name"], r["country"], float(r["lat"]), float(r["lon"])) for r in _rows("ports.csv")
    }


def hs_name(code: str) -> str:
    """What an HS code stands for: its own title, else its heading's, else its chapter's ('' if none)."""
    code = "".join(ch for ch in str(code) if ch.isdigit())
    names = _hs()
    for length in (len(code), 6, 4, 2):
        if length <= len(code) and (name := names.get(code[:length])):
            return name if length == len(code) else f"{name} (chapter {code[:2]})" if length == 2 else name
    return ""


def port_name(locode: str) -> str:
    """'Rotterdam (NL)' for NLRTM ('' when unknown)."""
    found = _ports().get(str(locode).strip().upper())
    return f"{found[0]} ({found[1]})" if found else ""


def port_position(locode: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a port, or None."""
    found = _ports().get(str(locode).strip().upper())
    return (found[2], found[3]) if found else None
