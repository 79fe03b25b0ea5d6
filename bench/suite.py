"""Benchmark suite: every stage at several world sizes, one machine and Dask side by side.

    .venv/bin/python bench/suite.py [--sizes 100000,1000000,5000000] [--out bench/RESULTS.md]
    .venv/bin/python bench/suite.py --sizes 5000000 --only write    # re-run some stages

For each size a world of ``days x rows_per_day`` declarations is generated (and cached under
``bench/.cache``), then each stage runs in a fresh process so its peak memory is its own:
generate, validate (``load_bundle``), features (``models.training.prepare``: the
point-in-time matrix of every declaration, text model, labels, time split), train (XGBoost on
the labelled rows, the committed training parameters, early stopping), predict
(``RiskModel.predict_proba`` on every row, and bare ``Booster.inplace_predict`` on a NumPy
array as the floor), SHAP (the red+yellow share, 7% of rows: exact TreeSHAP for the first
``explanations.exact_limit`` items, red first, approximate contributions beyond, as the scoring
flow does; then the reason sentences) and write (the scored table as Parquet and CSV).
Features, train and predict also run on a Dask ``LocalCluster`` (``--workers``, one thread
each); their time excludes the cluster's start-up and the workers' first imports, their
memory adds the workers' peaks.

A stage that dies, runs past ``--stage-timeout`` or whose process tree grows past
``--max-gib`` is stopped and reported as skipped with the reason; the stages that need its
output are skipped too. The table (with the machine's description) goes to ``--out`` and
is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import CACHE, ROOT, cached_world, machine, peak_rss_gib

SHARE_EXPLAINED = 0.07  # red (2%) + yellow (5%)
RESULT_FILE = "result.json"


# ---------------------------------------------------------------- plan
def world_shape(rows: int) -> tuple[int, int]:
    """(days, rows per day) for a world of about ``rows`` declarations."""
    days = 100 if rows <= 200_000 else 200 if rows <= 2_000_000 else 400
    return days, max(1, round(rows / days))


@dataclass(frozen=True)
class Stage:
    name: str  # table label
    key: str  # child stage id
    needs: tuple[str, ...] = ()
    dask: bool = False


STAGES = (
    Stage("generate", "generate"),
    Stage("validate", "validate", ("generate",)),
    Stage("features", "features", ("generate",)),
    Stage("features", "features_dask", ("features",), dask=True),
    Stage("train", "train", ("features",)),
    Stage("train", "train_dask", ("features",), dask=True),
    Stage("predict", "predict", ("train",)),
    Stage("predict", "predict_dask", ("predict",), dask=True),
    Stage("bare XGBoost predict (floor)", "predict_bare", ("train",)),
    Stage("SHAP", "shap", ("predict",)),
    Stage("SHAP", "shap_dask", ("shap",), dask=True),
    Stage("write", "write", ("shap",)),
)


@dataclass
class Outcome:
    """What one stage measured, or why it did not run."""

    seconds: float | None = None
    rows: int | None = None
    peak_gib: float | None = None
    workers_gib: float | None = None
    note: str = ""
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- parent: run stages in children
def _tree_rss_gib(pid: int) -> float:
    """Resident memory of a process and all its descendants (GiB)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total / 1024**3


def run_child(key: str, size: int, work: Path, args: argparse.Namespace) -> Outcome:
    """Run one stage in a fresh process group; stop it on time-out or memory cap."""
    result = work / key / RESULT_FILE
    result.parent.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    log = work / key / "log.txt"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--stage",
        key,
        "--size",
        str(size),
        "--work",
        str(work),
        "--workers",
        str(args.workers),
        "--repeat",
        str(args.repeat),
    ]
    if args.cached:
        cmd.append("--cached")
    started = time.perf_counter()
    tree_peak = 0.0
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        reason = ""
        while proc.poll() is None:
            time.sleep(0.5)
            tree_peak = max(tree_peak, _tree_rss_gib(proc.pid))
            if time.perf_counter() - started > args.stage_timeout:
                reason = f"skipped: over the {args.stage_timeout:.0f} s limit"
            elif tree_peak > args.max_gib:
                reason = f"skipped: memory over {args.max_gib:g} GiB"
            if reason:
                os.killpg(proc.pid, signal.SIGKILL)  # this stage's own process group only
                proc.wait()
                break
    if not reason and proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        reason = (
            "skipped: killed (out of memory?)"
            if proc.returncode in (-9, 137)
            else f"skipped: failed ({tail[0][:120]})"
        )
    if reason or not result.exists():
        return Outcome(skipped=reason or "skipped: no result", peak_gib=tree_peak or None)
    return Outcome(**json.loads(result.read_text()))


def _saved(work: Path, key: str) -> Outcome | None:
    """The outcome a previous run recorded for this stage, if any."""
    path = work / key / "outcome.json"
    return Outcome(**json.loads(path.read_text())) if path.exists() else None


# ---------------------------------------------------------------- child: the stages themselves
REPEAT = [1]  # the cheap stages' core step runs this many times; the best time counts


def best_of(step: Callable[[], Any]) -> tuple[Any, float]:
    """(the step's last result, its best time over ``REPEAT`` runs): less noise from other load."""
    best, out = float("inf"), None
    for _ in range(max(1, REPEAT[0])):
        t0 = time.perf_counter()
        out = step()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _world(size: int, cached: bool) -> Path:
    days, per_day = world_shape(size)
    return cached_world(days, per_day) if cached else CACHE / f"world-11-{days}x{per_day}"


def _load_tables(size: int):
    from data.io import load_bundle

    return load_bundle(_world(size, True) / "bundle").tables


def _train_config():
    from pipelines.config import load_train_config

    return load_train_config()


def _own_peak_gib() -> float:
    """Peak resident memory of the process it runs in (GiB); run on each Dask worker."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _dask_peaks(client) -> float:
    """Sum of the workers' peak resident memory (GiB)."""
    return float(sum(client.run(_own_peak_gib).values()))


def _warm() -> None:
    """Import what the tasks use, once per worker (a long-running cluster has done this)."""
    import xgboost  # noqa: F401

    import features.build  # noqa: F401
    import pipelines.distributed  # noqa: F401


@contextlib.contextmanager
def _client(workers: int):
    """A started, warmed-up LocalCluster client."""
    from pipelines.distributed import DaskSettings, dask_client

    with dask_client(DaskSettings(local_workers=workers)) as client:
        client.wait_for_workers(workers, timeout=120)
        client.run(_warm)
        yield client


def stage_generate(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    from synth import generate_world, write_world

    days, per_day = world_shape(size)
    target = CACHE / f"world-11-{days}x{per_day}"
    if cached and (target / "world.json").exists():
        return {"note": "cached world, not timed", "rows": days * per_day}
    t0 = time.perf_counter()
    world = generate_world(seed=11, days=days, rows_per_day=per_day)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        write_world(world, Path(tmp) / "w", fmt="parquet")
        seconds = time.perf_counter() - t0
        if not (target / "world.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(tmp) / "w"), target)
    return {
        "seconds": seconds,
        "rows": len(world.declarations),
        "note": f"{days} days x {per_day:,}/day, Parquet",
    }


def stage_validate(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    from data.io import load_bundle

    t0 = time.perf_counter()
    b = load_bundle(_world(size, True) / "bundle")
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "rows": len(b.tables["declarations"]),
        "note": f"{len(b.quarantine):,} quarantined",
    }


def _prepare(tables, engine) -> tuple[Any, float, float]:
    """``models.training.prepare`` on ``engine``; its feature build timed apart."""
    import dataclasses

    from data.reference import hs_profiles, ports
    from models.training import prepare

    spent = [0.0]

    def timed_build(decl, ctx):
        t = time.perf_counter()
        try:
            return engine.build(decl, ctx)
        finally:
            spent[0] += time.perf_counter() - t

    t0 = time.perf_counter()
    timed = dataclasses.replace(engine, build=timed_build)
    data = prepare(tables, hs_profiles(), ports(), _train_config().split.validation_days, engine=timed)
    return data, time.perf_counter() - t0, spent[0]


def _fingerprint(data) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(data.features.matrix.to_numpy().tobytes())
    h.update("|".join(map(str, data.features.declaration_ids)).encode())
    return h.hexdigest()


def stage_features(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    from features.build import portable_state
    from models.engine import LOCAL

    tables = _load_tables(size)
    data, seconds, build = _prepare(tables, LOCAL)
    out = work / "data"
    out.mkdir(parents=True, exist_ok=True)
    fs = data.features
    fs.matrix.to_parquet(out / "matrix.parquet")
    lab = data.labelled.assign(train=data.split.train, valid=data.split.valid)
    lab[["row", "y", "train", "valid"]].to_parquet(out / "labelled.parquet")
    fs.declaration_ids.to_frame().to_parquet(out / "ids.parquet")
    _save_context(fs.context, out)
    with open(out / "state.pkl", "wb") as fh:
        pickle.dump(portable_state(fs.state), fh, protocol=pickle.HIGHEST_PROTOCOL)
    (out / "fingerprint.txt").write_text(_fingerprint(data))
    share = float(np.isfinite(fs.matrix.to_numpy()).mean())
    return {
        "seconds": seconds,
        "rows": len(fs.matrix),
        "note": f"build {build:.1f} s (families {_families(fs.seconds)}); "
        f"{fs.matrix.shape[1]} features, {share:.0%} non-missing",
    }


def _families(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(seconds.items(), key=lambda kv: -kv[1]))


def _save_context(context, out: Path) -> None:
    """The reasons' context, as Parquet (rows can be picked without loading it all) or pickle."""
    import pyarrow as pa

    (out / "context.pkl").unlink(missing_ok=True)
    try:
        context.to_parquet(out / "context.parquet")
    except (pa.ArrowException, TypeError, ValueError):
        (out / "context.parquet").unlink(missing_ok=True)
        with open(out / "context.pkl", "wb") as fh:
            pickle.dump(context, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _reason_fields() -> set[str]:
    """The context fields the reason sentences can read."""
    import string

    from features.build import catalogue

    parse = string.Formatter().parse
    return {f.split(".")[0].split("[")[0] for feat in catalogue() for _, f, _, _ in parse(feat.reason) if f}


def _context_rows(out: Path, rows):
    """The reason fields of some rows (positions), as saved by ``_save_context``."""
    if (out / "context.parquet").exists():
        import pyarrow.parquet as pq

        path = out / "context.parquet"
        columns = [c for c in pq.read_schema(path).names if c in _reason_fields()]
        return pq.read_table(path, columns=columns).take(rows).to_pandas()
    with open(out / "context.pkl", "rb") as fh:
        return pickle.load(fh).iloc[rows]  # noqa: S301 - written by the features stage


def stage_features_dask(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:

    from pipelines.distributed import dask_engine, slice_rows_of

    tables = _load_tables(size)
    slice_rows = slice_rows_of(os.environ)  # CUSTOMS_RISK_DASK_SLICE_ROWS, as the commands read it
    t0 = time.perf_counter()
    with _client(workers) as client:
        startup = time.perf_counter() - t0
        data, seconds, build = _prepare(tables, dask_engine(client, slice_rows=slice_rows))
        each = client.run(_own_peak_gib)
    same = _same_matrix(data.features.matrix, work / "data" / "matrix.parquet")
    slices = -(-len(tables["declarations"]) // slice_rows)
    return {
        "seconds": seconds,
        "rows": len(data.features.matrix),
        "workers_gib": float(sum(each.values())),
        "note": f"build {build:.1f} s in about {slices} time slices of {slice_rows:,} rows; matrix "
        f"{'equal to one machine (within 1e-9)' if same else 'DIFFERENT'}; largest worker peak "
        f"{max(each.values()):.2f} GiB; family CPU summed over tasks "
        f"{sum(data.features.seconds.values()):.1f} s; cluster start {startup:.0f} s",
    }


def _same_matrix(matrix, path: Path) -> bool:
    """``matrix`` equals the one-machine matrix saved at ``path`` within 1e-9, compared a column
    at a time (the comparison adds a column's worth to the stage's peak, not a matrix's)."""
    import numpy as np
    import pyarrow.parquet as pq

    if pq.read_schema(path).names[: matrix.shape[1]] != list(matrix.columns):
        return False
    for col in matrix.columns:
        one = pq.read_table(path, columns=[col]).column(0).to_numpy()
        got = matrix[col].to_numpy()
        if len(one) != len(got) or not np.allclose(got, one, rtol=1e-9, atol=1e-12, equal_nan=True):
            return False
    return True


def _training_inputs(work: Path):
    import pandas as pd

    X = pd.read_parquet(work / "data" / "matrix.parquet")
    lab = pd.read_parquet(work / "data" / "labelled.parquet")
    Xl = X.iloc[lab["row"].to_numpy()].reset_index(drop=True)
    tr, va = lab["train"].to_numpy(), lab["valid"].to_numpy()
    return Xl, lab["y"].to_numpy(), tr, va


def _fit(work: Path, fit: Callable) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score

    X, y, tr, va = _training_inputs(work)
    m = _train_config().model
    result, seconds = best_of(
        lambda: fit(X[tr], y[tr], X[va], y[va], m.params, m.num_boost_round, m.early_stopping_rounds)
    )
    ap = average_precision_score(y[va], result.booster.inplace_predict(X[va]))
    return {
        "seconds": seconds,
        "rows": int(tr.sum()),
        "result": result,
        "note": f"{result.best_iteration + 1} trees, validation PR-AUC {ap:.3f} ({int(va.sum()):,} rows)",
    }


def stage_train(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    from features.build import feature_names
    from models.artifact import RiskModel
    from models.train import fit_booster

    out = _fit(work, fit_booster)
    with open(work / "data" / "state.pkl", "rb") as fh:
        state = pickle.load(fh)  # noqa: S301 - written by the features stage above
    RiskModel(out.pop("result").booster, feature_names(), state).save(work / "model")
    return out


def stage_train_dask(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    from pipelines.distributed import distributed_fitter

    t0 = time.perf_counter()
    with _client(workers) as client:
        startup = time.perf_counter() - t0
        out = _fit(work, distributed_fitter(client))
        out["workers_gib"] = _dask_peaks(client)
    out.pop("result")
    out["note"] += f"; cluster start {startup:.0f} s"
    return out


def _model_and_matrix(work: Path):
    import pandas as pd

    from models.artifact import RiskModel

    return RiskModel.load(work / "model"), pd.read_parquet(work / "data" / "matrix.parquet")


def stage_predict(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    model, matrix = _model_and_matrix(work)
    scores, seconds = best_of(lambda: model.predict_proba(matrix))
    np.save(work / "data" / "scores.npy", scores)
    trees = model.booster.num_boosted_rounds()
    return {
        "seconds": seconds,
        "rows": len(matrix),
        "extra": {"trees": trees},
        "note": f"RiskModel.predict_proba, {trees} trees",
    }


def stage_predict_bare(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    model, matrix = _model_and_matrix(work)
    array = np.ascontiguousarray(matrix.to_numpy(dtype="float32"))
    del matrix
    _, seconds = best_of(lambda: model.booster.inplace_predict(array, missing=np.nan))
    return {
        "seconds": seconds,
        "rows": len(array),
        "extra": {"trees": model.booster.num_boosted_rounds()},
        "note": "Booster.inplace_predict on a float32 NumPy array",
    }


def _best_on_dask(workers: int, step: Callable[[Any], Any]) -> tuple[Any, float, float, float]:
    """``step(engine)`` on a fresh local cluster, best of the repeats: its answer, seconds,
    the workers' peak GiB and the cluster's start-up seconds."""
    from pipelines.distributed import dask_engine

    t0 = time.perf_counter()
    with _client(workers) as client:
        startup = time.perf_counter() - t0
        engine = dask_engine(client)
        answer, seconds = best_of(lambda: step(engine))
        return answer, seconds, _dask_peaks(client), startup


def stage_predict_dask(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    model, matrix = _model_and_matrix(work)
    scores, seconds, wk, startup = _best_on_dask(workers, lambda e: e.predict(model.booster, matrix))
    diff = float(np.abs(scores - np.load(work / "data" / "scores.npy")).max())
    return {
        "seconds": seconds,
        "rows": len(matrix),
        "workers_gib": wk,
        "extra": {"trees": model.booster.num_boosted_rounds()},
        "note": f"max difference to one machine {diff:.1g}; cluster start {startup:.0f} s",
    }


def _flagged(work: Path):
    import numpy as np

    scores = np.load(work / "data" / "scores.npy")
    n = int(np.ceil(SHARE_EXPLAINED * len(scores)))
    return np.sort(np.argsort(-scores, kind="stable")[:n]), scores


def _channels(flagged, scores, n: int):
    """Red (the top 2%) and yellow (the rest of the flagged rows), per flagged row."""
    import numpy as np

    channel = np.full(len(flagged), "yellow", dtype=object)
    channel[np.argsort(-scores[flagged], kind="stable")[: int(np.ceil(0.02 * n))]] = "red"
    return channel


def _explained(work: Path):
    """The flagged rows to explain, their reason fields, and which of them get exact TreeSHAP."""
    from models.scoring import explain_exactly
    from pipelines.config import load_scoring_config

    model, matrix = _model_and_matrix(work)
    flagged, scores = _flagged(work)
    sub = matrix.iloc[flagged]
    limit = load_scoring_config().explanations.exact_limit
    exact = explain_exactly(_channels(flagged, scores, len(scores)), scores[flagged], limit)
    return model, flagged, sub, exact


def _shap_note(flagged, exact) -> str:
    n_exact = int(exact.sum())
    return f"exact TreeSHAP on {n_exact:,} rows, approximate on {len(flagged) - n_exact:,}"


def stage_shap(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    from features.build import catalogue
    from models.explain import reasons
    from models.scoring import explain

    model, flagged, sub, exact = _explained(work)
    phi, seconds = best_of(lambda: explain(model.booster, sub, exact))
    np.save(work / "data" / "phi.npy", phi)
    t1 = time.perf_counter()
    why = reasons(phi, sub, _context_rows(work / "data", flagged), catalogue(), top_k=5)
    text = time.perf_counter() - t1
    with open(work / "data" / "reasons.pkl", "wb") as fh:
        pickle.dump((why["reasons"].tolist(), exact), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "seconds": seconds,
        "rows": len(flagged),
        "note": f"{_shap_note(flagged, exact)}; reason sentences +{text:.0f} s",
    }


def stage_shap_dask(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np

    from models.scoring import explain

    model, flagged, sub, exact = _explained(work)
    phi, seconds, wk, startup = _best_on_dask(workers, lambda e: explain(model.booster, sub, exact, e))
    diff = float(np.abs(phi - np.load(work / "data" / "phi.npy")).max())
    return {
        "seconds": seconds,
        "rows": len(flagged),
        "workers_gib": wk,
        "note": f"{_shap_note(flagged, exact)}; max difference to one machine {diff:.1g}; "
        f"cluster start {startup:.0f} s",
    }


def stage_write(size: int, work: Path, workers: int, cached: bool) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from data.io import write_frame

    flagged, scores = _flagged(work)
    ids = pd.read_parquet(work / "data" / "ids.parquet")["declaration_id"]
    with open(work / "data" / "reasons.pkl", "rb") as fh:
        why, exact = pickle.load(fh)  # noqa: S301 - written by the SHAP stage above
    n = len(scores)
    channel = np.full(n, "green", dtype=object)
    channel[flagged] = _channels(flagged, scores, n)
    scored = pd.DataFrame(
        {
            "declaration_id": ids.to_numpy(),
            "risk_score": np.round(scores, 6),
            "channel": channel,
            "selected_by": "model",
            "rule_hits": "",
        }
    )
    for k in range(5):
        text = np.full(n, "", dtype=object)
        contrib = np.full(n, np.nan)
        text[flagged] = [r[k]["text"] if len(r) > k else "" for r in why]
        contrib[flagged] = [r[k]["contribution"] if len(r) > k else np.nan for r in why]
        scored[f"reason_{k + 1}"] = text.astype(str)
        scored[f"contribution_{k + 1}"] = contrib
    method = np.full(n, "", dtype=object)
    method[flagged] = np.where(exact, "exact TreeSHAP", "approximate (Saabas)")
    scored["explanation"] = method.astype(str)
    scored["model_version"] = "bench"
    scored["row_number"] = np.arange(1, n + 1)
    out = work / "out"

    def write() -> None:
        write_frame(scored, out / "scored.parquet")
        write_frame(scored, out / "scored.csv", safe_for_spreadsheets=True)

    _, seconds = best_of(write)
    mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    shutil.rmtree(out)
    return {"seconds": seconds, "rows": n, "note": f"Parquet + spreadsheet-safe CSV, {mb:,.0f} MB"}


CHILD = {
    "generate": stage_generate,
    "validate": stage_validate,
    "features": stage_features,
    "features_dask": stage_features_dask,
    "train": stage_train,
    "train_dask": stage_train_dask,
    "predict": stage_predict,
    "predict_dask": stage_predict_dask,
    "predict_bare": stage_predict_bare,
    "shap": stage_shap,
    "shap_dask": stage_shap_dask,
    "write": stage_write,
}


def child_main(args: argparse.Namespace) -> None:
    """Run one stage in this process and leave its measurements in the stage's result file."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    REPEAT[0] = args.repeat
    work = Path(args.work)
    out = CHILD[args.stage](args.size, work, args.workers, args.cached)
    out.setdefault("peak_gib", peak_rss_gib())
    (work / args.stage / RESULT_FILE).write_text(json.dumps(out))


# ---------------------------------------------------------------- the table
def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _rate(o: Outcome) -> str:
    if o.seconds is None or not o.rows or o.seconds <= 0:
        return ""
    return f"{o.rows / o.seconds:,.0f}"


def _peak(o: Outcome) -> str:
    if o.peak_gib is None:
        return ""
    if o.workers_gib:
        return f"{o.peak_gib:.2f} + {o.workers_gib:.2f}"
    return f"{o.peak_gib:.2f}"


def _cell(o: Outcome | None) -> list[str]:
    if o is None:
        return ["", "", "", ""]
    if o.skipped:
        return [o.skipped, "", _peak(o), ""]
    return [_fmt(o.seconds, ".1f") or "-", _rate(o), _peak(o), f"{o.rows:,}" if o.rows else ""]


def render(results: dict[int, dict[str, Outcome]], args: argparse.Namespace, wall: float) -> str:
    """The Markdown report: one table per size, then cost per million rows across sizes."""
    lines = [
        "# Benchmark: every stage, one machine and Dask",
        "",
        f"Machine: {machine()}. Run finished {time.strftime('%Y-%m-%d %H:%M')}, "
        f"`.venv/bin/python bench/suite.py --sizes {args.sizes} --max-gib {args.max_gib:g}"
        f"{' --only ' + args.only if args.only else ''}` ({wall / 60:.0f} min); "
        f"load average at the start {args.load:.1f} (other work on the machine adds noise). "
        f"A stage is stopped past {args.stage_timeout:.0f} s or {args.max_gib:g} GiB; train, "
        f"predict, SHAP and write report the best of {args.repeat} runs.",
        "",
        "Each stage ran in a fresh process. *s* is the stage's own work (inputs loaded from the "
        "previous stage's files are not counted; a Dask stage's cluster start and the workers' "
        "first imports are not counted but given in the notes). *peak GiB* is the process's "
        "maximum resident memory, inputs and libraries included; for Dask it is "
        "*driver + the sum of the workers' peaks* "
        f"({args.workers} worker processes, one thread each, `LocalCluster` on 127.0.0.1). "
        "*rows* is what the stage processed: declarations, except train (labelled training rows) "
        "and SHAP (rows explained).",
        "",
    ]
    stage_names = list(dict.fromkeys(s.name for s in STAGES))
    for size, res in results.items():
        days, per_day = world_shape(size)
        lines += [
            f"## {size:,} declarations ({days} days x {per_day:,})",
            "",
            "| stage | one machine s | rows/s | peak GiB | Dask s | rows/s | peak GiB | rows | notes |",
            "|---|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for name in stage_names:
            single = next((res.get(s.key) for s in STAGES if s.name == name and not s.dask), None)
            dask = next((res.get(s.key) for s in STAGES if s.name == name and s.dask), None)
            a, b = _cell(single), _cell(dask)
            rows = a[3] or b[3]
            notes = "; ".join(
                x
                for x in (single.note if single else "", f"Dask: {dask.note}" if dask and dask.note else "")
                if x
            )
            lines.append(
                f"| {name} | {a[0]} | {a[1]} | {a[2]} | {b[0]} | {b[1]} | {b[2]} | {rows} | {notes} |"
            )
        lines.append("")
    sizes = list(results)
    if len(sizes) > 1:
        lines += [
            "## Growth: seconds per million declarations",
            "",
            "Flat across a row means cost grows linearly with rows.",
            "",
            "| stage | " + " | ".join(f"{s:,}" for s in sizes) + " |",
            "|---|" + "--:|" * len(sizes),
        ]
        for s in STAGES:
            cells = []
            for size in sizes:
                o = results[size].get(s.key)
                ok = o is not None and not o.skipped and o.seconds is not None
                cells.append(f"{o.seconds / size * 1e6:.1f}" if ok else "-")
            label = f"{s.name} (Dask)" if s.dask else s.name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        for key, label in (
            ("predict", "predict, per 100 trees"),
            ("predict_bare", "bare XGBoost predict, per 100 trees"),
        ):
            cells = []
            for size in sizes:
                o = results[size].get(key)
                trees = (o.extra or {}).get("trees") if o and not o.skipped and o.seconds else None
                cells.append(f"{o.seconds / size * 1e6 / trees * 100:.1f}" if trees else "-")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Early stopping picks a different number of trees for each world (see the notes), so "
            "train, predict and SHAP also grow with the model; the *per 100 trees* rows take that "
            "out. SHAP explains the first `explanations.exact_limit` flagged rows exactly (red "
            "first) and the rest with approximate contributions, as the scoring flow does, so its "
            "cost per row falls once the flagged rows pass that limit.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    ap.add_argument("--workers", type=int, default=2, help="Dask LocalCluster worker processes")
    ap.add_argument("--stage-timeout", type=float, default=1800.0, help="seconds per stage")
    ap.add_argument(
        "--max-gib",
        type=float,
        default=16.0,
        help="stop a stage whose processes together hold more memory than this",
    )
    ap.add_argument(
        "--cached", action="store_true", help="reuse a cached world instead of timing its generation"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the cheap stages' core step (train, predict, SHAP, write); best counts",
    )
    ap.add_argument(
        "--only",
        default="",
        help="re-run only these stages (e.g. write,predict_dask); the others' last "
        "recorded results are reported",
    )
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        child_main(args)
        return

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.load = os.getloadavg()[0]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(CHILD)
    if unknown:
        ap.error(f"unknown stages {sorted(unknown)}; choose from {', '.join(CHILD)}")
    print(f"machine: {machine()}", flush=True)
    t0 = time.perf_counter()
    results: dict[int, dict[str, Outcome]] = {}
    for size in sizes:
        days, per_day = world_shape(size)
        work = CACHE / f"suite-{days}x{per_day}"
        work.mkdir(parents=True, exist_ok=True)
        res: dict[str, Outcome] = {}
        results[size] = res
        print(f"\n{size:,} declarations ({days} days x {per_day:,}):", flush=True)
        for stage in STAGES:
            missing = [n for n in stage.needs if n not in res or res[n].skipped]
            if only and stage.key not in only:
                res[stage.key] = _saved(work, stage.key) or Outcome(skipped="not run")
            elif missing:
                res[stage.key] = Outcome(skipped=f"skipped: needs {missing[0]}")
            else:
                res[stage.key] = run_child(stage.key, size, work, args)
                (work / stage.key / "outcome.json").write_text(json.dumps(res[stage.key].__dict__))
            o = res[stage.key]
            label = f"{stage.name}{' (Dask)' if stage.dask else ''}"
            shown = o.skipped or f"{o.seconds or 0:8.1f} s  {_rate(o):>12} rows/s  peak {_peak(o)} GiB"
            print(f"  {label:<32} {shown}  {o.note}", flush=True)
        args.out.write_text(render(results, args, time.perf_counter() - t0))  # keep partial results
    report = render(results, args, time.perf_counter() - t0)
    args.out.write_text(report)
    print("\n" + report)


if __name__ == "__main__":
    main()
