"""Daily scoring against a long history with the feature state: time and peak memory.

For each history size (a generated world of SIZE declarations at --day-rows a day, its manifest
the next day), each step in a fresh process:

- build:  the feature state from scratch (``customs-risk state build --rebuild``);
- score:  the day's features against the built state, end to end from the files: manifest
          read and validated, reference tables and outcomes read (not the history), the state
          opened, every feature of the day (what scoring spends on history; prediction, SHAP
          and outputs do not depend on it);
- update: the same, then the day appended to the history and folded into the state
          (--append-to-history), on a copy of the bundle;
- full:   (--full) the day's features against the whole history without a state, as before.

    .venv/bin/python bench/bench_daily.py --sizes 1000000,4000000,10000000 [--day-rows 10000] [--full]

Sizes above --generated-max (4M) are made by replicating the generated world of that size back in
time (``_common.replicated_world``: the ids suffixed, the dates shifted; generating 10M rows
takes far longer). The score step runs --repeat times (its median is reported). Prints one line
per step with the machine's load average, and a table (Markdown) with the ratio of the largest
to the smallest history.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, cached_world, machine, replicated_world


def peak_rss_gib() -> float:
    """This process's peak resident memory (GiB): VmHWM, which starts afresh at exec (getrusage's
    maximum would carry the forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 / 1024
    from _common import peak_rss_gib as fallback

    return fallback()


def _quiet(_: str) -> None:
    pass


def stage_build(world: Path) -> dict:
    from pipelines.feature_state import load_for_scoring

    t0 = time.perf_counter()
    _, run = load_for_scoring(world / "bundle", progress=_quiet, force_rebuild=True)
    return {"seconds": time.perf_counter() - t0, "rows": run.state.rows, "action": run.action}


def _day(world: Path):
    from data.io import load_manifest

    files = sorted((world / "manifest").glob("*"))
    return load_manifest(files[0]).clean.drop(columns=["_row_number"], errors="ignore")


def _features(bundle: Path, day, append: bool = False):
    from data.reference import hs_profiles, ports
    from features.build import combine, make_context
    from pipelines.feature_state import load_for_scoring

    b, run = load_for_scoring(bundle, append=append, progress=_quiet, day=day)
    decl = combine(None, day)
    fs = run.build(decl, make_context(b.tables, decl, hs_profiles(), ports()))
    return run, fs


def stage_score(world: Path) -> dict:
    t0 = time.perf_counter()
    day = _day(world)
    run, fs = _features(world / "bundle", day)
    return {
        "seconds": time.perf_counter() - t0,
        "rows": len(fs.matrix),
        "action": run.action,
        "state_s": run.seconds.get("state", 0.0),
        "features_s": run.seconds.get("features", 0.0),
    }


def stage_update(world: Path) -> dict:
    from pipelines.score_flow import append_day_to_history

    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / ".cache") as tmp:
        bundle = Path(tmp) / "bundle"
        shutil.copytree(world / "bundle", bundle)
        t0 = time.perf_counter()
        day = _day(world)
        run, fs = _features(bundle, day, append=True)
        path = append_day_to_history(day, bundle, "bench-day")
        t1 = time.perf_counter()
        run.after_append(path, _quiet)
        t2 = time.perf_counter()
        return {"seconds": t2 - t0, "update_s": t2 - t1, "rows": len(fs.matrix), "action": run.action}


def stage_full(world: Path) -> dict:
    from data.io import load_bundle
    from data.reference import hs_profiles, ports
    from features.build import build_features, combine, make_context

    t0 = time.perf_counter()
    day = _day(world)
    b = load_bundle(world / "bundle")
    decl = combine(b.tables["declarations"], day)
    fs = build_features(decl, make_context(b.tables, decl, hs_profiles(), ports()))
    return {"seconds": time.perf_counter() - t0, "rows": len(fs.matrix), "action": "whole history"}


STAGES = {"build": stage_build, "score": stage_score, "update": stage_update, "full": stage_full}


def run_stage(stage: str, world: Path, repeat: int = 1) -> dict:
    """The stage in a fresh process (``repeat`` times: the median run, with every time)."""
    import os
    import statistics

    runs = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        got = _run_once(stage, world)
        got["load"] = round((load + os.getloadavg()[0]) / 2, 1)
        runs.append(got)
    if repeat == 1 or any("error" in r for r in runs):
        return runs[0]
    times = [r["seconds"] for r in runs]
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**middle, "runs_s": [round(t, 2) for t in times], "median_s": statistics.median(times)}


def _run_once(stage: str, world: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", stage, "--world", str(world)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000,4000000")
    parser.add_argument("--day-rows", type=int, default=10_000)
    parser.add_argument("--full", action="store_true", help="also the day against the whole history")
    parser.add_argument("--stage", choices=sorted(STAGES))
    parser.add_argument("--world", type=Path)
    parser.add_argument("--generated-max", type=int, default=4_000_000, help="larger sizes: replicated")
    parser.add_argument("--repeat", type=int, default=3, help="score runs per size (median)")
    parser.add_argument("--steps", default="build,score,update", help="e.g. score,update: the state built")
    args = parser.parse_args()
    if args.stage:
        result = STAGES[args.stage](args.world)
        result["peak_gib"] = peak_rss_gib()
        print(json.dumps(result))
        return
    print(f"machine: {machine()}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        if size > args.generated_max:
            base = max(args.generated_max // args.day_rows, 1)
            world = replicated_world(base, args.day_rows, size)
        else:
            world = cached_world(max(size // args.day_rows, 1), args.day_rows)
        stages = [s for s in args.steps.split(",") if s in STAGES] + (["full"] if args.full else [])
        line = {"history": size}
        for stage in stages:
            got = run_stage(stage, world, args.repeat if stage == "score" else 1)
            line[stage] = got
            print(f"{size:>11,} rows  {stage:<7} {json.dumps(got)}", flush=True)
        rows.append(line)
    print(
        "\n| history rows | state build s | build peak GiB | day score s | score peak GiB | "
        "score+update s | update s | whole history s | whole history peak GiB | load |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    nan = float("nan")
    for r in rows:
        b, s, u, f = (r.get(k, {}) for k in ("build", "score", "update", "full"))
        loads = "/".join(str(x.get("load", "")) for x in (b, s, u) if x)
        print(
            f"| {r['history']:,} | {b.get('seconds', nan):.1f} | {b.get('peak_gib', nan):.2f} "
            f"| {s.get('seconds', nan):.1f} | {s.get('peak_gib', nan):.2f} "
            f"| {u.get('seconds', nan):.1f} | {u.get('update_s', nan):.1f} "
            f"| {f.get('seconds', nan):.1f} | {f.get('peak_gib', nan):.2f} | {loads} |"
        )
    if len(rows) > 1:
        small, large = rows[0]["score"].get("seconds"), rows[-1]["score"].get("seconds")
        if small and large:
            print(
                f"\nday score time, {rows[-1]['history']:,} vs {rows[0]['history']:,} rows of history: "
                f"{large / small:.2f}x"
            )


if __name__ == "__main__":
    main()
