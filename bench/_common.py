"""Shared benchmark helpers: a cached generated world, peak memory, a timer that prints."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache"


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (GiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


@contextlib.contextmanager
def timed(label: str, results: dict[str, float]):
    t0 = time.perf_counter()
    yield
    results[label] = time.perf_counter() - t0
    print(f"  {label:<34} {results[label]:8.1f} s   peak RSS {peak_rss_gib():5.2f} GiB", flush=True)


def cached_world(days: int, rows_per_day: int, seed: int = 11) -> Path:
    """Generate (once) and cache a Parquet world of ``days x rows_per_day`` declarations."""
    out = CACHE / f"world-{seed}-{days}x{rows_per_day}"
    if not (out / "world.json").exists():
        from synth import generate_world, write_world

        print(
            f"generating {days * rows_per_day:,} declarations into {out} (cached for next time)...",
            flush=True,
        )
        write_world(generate_world(seed=seed, days=days, rows_per_day=rows_per_day), out, fmt="parquet")
    return out


def machine() -> str:
    import os
    import platform

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def replicated_world(days: int, rows_per_day: int, total_rows: int, seed: int = 11) -> Path:
    """A world of ``total_rows`` declarations made (once, cached) from the generated world of
    ``days x rows_per_day``: its history as it is (the most recent part, so its manifest and
    reference tables still fit), preceded by copies shifted back ``days`` days at a time, their
    declaration and outcome ids suffixed ``-R<copy>`` (the oldest copy keeps only its latest
    rows). Generating a world of 10M rows takes far longer; the copies cost the features the same
    work per row (same companies, lanes and codes, only more of their history)."""
    import json
    import os
    import shutil

    import pandas as pd

    base = cached_world(days, rows_per_day, seed)
    out = CACHE / f"world-{seed}-{days}x{rows_per_day}-replicated-{total_rows}"
    if (out / "world.json").exists():
        return out
    print(f"replicating {base.name} to {total_rows:,} declarations into {out} (cached)...", flush=True)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("declarations", "feature_state"))
    (tmp / "bundle" / "declarations").mkdir()
    files = sorted((base / "bundle" / "declarations").glob("*.parquet"))
    for f in files:  # the generated history itself, linked
        os.link(f, tmp / "bundle" / "declarations" / f.name)
    need = total_rows - days * rows_per_day
    outcomes = [pd.read_parquet(base / "bundle" / "inspections.parquet")]
    copy = 0
    while need > 0:
        copy += 1
        shift = pd.Timedelta(days=days * copy)
        ids = []
        for f in reversed(files):  # latest first: the oldest copy keeps its latest rows
            if need <= 0:
                break
            frame = pd.read_parquet(f)
            if len(frame) > need:
                frame = frame.sort_values("declared_at", kind="stable").iloc[len(frame) - need :]
            need -= len(frame)
            frame["declaration_id"] = frame["declaration_id"].astype("str") + f"-R{copy}"
            frame["declared_at"] = frame["declared_at"] - shift
            frame.to_parquet(tmp / "bundle" / "declarations" / f"r{copy}_{f.name}", index=False)
            ids.append(frame["declaration_id"])
        ins = outcomes[0].copy()
        ins["declaration_id"] = ins["declaration_id"].astype("str") + f"-R{copy}"
        ins["inspected_on"] = ins["inspected_on"] - shift
        outcomes.append(ins[ins["declaration_id"].isin(pd.concat(ids))])
    pd.concat(outcomes, ignore_index=True).to_parquet(tmp / "bundle" / "inspections.parquet", index=False)
    meta = json.loads((base / "world.json").read_text())
    meta["replicated"] = {"from": base.name, "rows": total_rows, "copies": copy}
    (tmp / "world.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(out)
    return out
