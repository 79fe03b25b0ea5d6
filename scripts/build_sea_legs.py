"""Write data/reference/sea_legs.csv: sea-lane km between every pair of the ports routes use.

    .venv/bin/python scripts/build_sea_legs.py

The ports are those the world generator loads, discharges and transships at (``synth.world``);
distances come from ``features.sea_lanes`` over searoute's network, between the coordinates of
``data/reference/ports.csv``. Re-run after changing either, or the ``searoute`` pin; a leg
missing from the table is computed at feature time instead, so the table only saves time.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pandas as pd

from data.reference import ports
from features.sea_lanes import sea_km
from synth import world

OUT = Path(__file__).resolve().parents[1] / "data" / "reference" / "sea_legs.csv"


def route_ports() -> list[str]:
    """Every port a generated route can load at, discharge at or pass through."""
    used = (
        {c for d in world._LOAD_PORTS.values() for c in d}
        | {c for t in world._DISCHARGE_PORTS.values() for c in t}
        | set(world._LAUNDER_HUBS_EARLY)
        | set(world._LAUNDER_HUBS_LATE)
        | {c for a, b, _ in world._LEGIT_HUBS.values() for c in a + b}
    )
    return sorted(used)


def main() -> None:
    start = time.perf_counter()
    table = ports().set_index("locode")
    pairs = pd.DataFrame(list(itertools.combinations(route_ports(), 2)), columns=["from_locode", "to_locode"])
    a, b = table.loc[pairs["from_locode"]], table.loc[pairs["to_locode"]]
    pairs["km"] = sea_km(a["lat"], a["lon"], b["lat"], b["lon"])
    off = pairs["km"].isna()
    pairs[~off].to_csv(OUT, index=False, float_format="%.6f")
    print(
        f"{(~off).sum():,} legs between {len(route_ports())} ports written to {OUT} "
        f"({off.sum()} off the sea lanes left out) in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
