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
