"""The Dask path: the feature build, XGBoost training and scoring on a Dask cluster.

Chosen by configuration, never by default (the single-machine path stays as it is):

- ``DASK_SCHEDULER_ADDRESS=tcp://host:8786`` connects to a running cluster
  (``dask scheduler`` plus ``dask worker tcp://host:8786`` on each machine);
- ``CUSTOMS_RISK_DASK=local`` starts a ``LocalCluster`` on this machine for the run
  (``CUSTOMS_RISK_DASK_WORKERS`` worker processes, default 2, one thread each).

Workers need this project installed (``pip install -e '.[dask]'``) because tasks refer to
its functions by name; they do not need Prefect, MLflow or access to the files.

**Features: the same functions, a time slice at a time, with the feature state carrying the
past.** Every history feature of a declaration is computed as of its own time from the rows before
it. Splitting the history by key does not serve: the families sum the past by many keys at once
(exporter, consignee, declarant, lane, code, licence, transit hub), so no one entity partition
gives every family its whole past. Splitting it by time does, with the feature state
(``features.state``, the one scoring uses): the frame is cut into time slices, and each slice
is described against the state of every slice before it, as a day is scored against the
history's. The driver walks the slices in time order; the slice's work goes to the workers by
family (the families are independent), and the events of the slice come back and are folded
into the state for the next one (``build_features_in_slices``). A worker therefore holds one
slice (``CUSTOMS_RISK_DASK_SLICE_ROWS``, default 250,000 rows), the state (per-key totals: tens
of MB) and the reference tables, however long the history; the driver, which trains on the
matrix, holds the frame as on one machine. The answer equals the single-machine build to float
tolerance (tested). The price is time: the slices go one after the other, and each family's
sums read the state as well as the slice. Frames that are not in time order go to the earlier
path, where every task gets the whole frame and describes a chunk of its rows
(``build_features_distributed``: exact, but each worker holds everything). Measured at 1M and 4M
rows in the README's benchmarks.

**Training** uses ``xgboost.dask`` (distributed ``hist``: per-worker histograms, summed by
allreduce) with the parameters of ``models.train.fit_booster``, and returns its
``FitResult``. The text model of the HS-mismatch family is fitted on the driver (it needs the
whole training window at once; it is small next to the feature build).

**Prefect: plain Dask futures inside Prefect tasks, not prefect-dask's task runner.** With
``DaskTaskRunner`` each Prefect task runs on a worker and reports its state to the Prefect
API from there. This project runs on Prefect's embedded temporary server by default, which
lives with the flow's process: measured here, each worker process then started a temporary
server of its own (the first two trivial tasks took about two minutes on 2 cores), and a
worker on another machine would record its task runs in its own database, out of the flow's
sight. So the flows keep their tasks on the driver and hand the heavy steps to Dask through
an engine (``models.engine.Engine``, built here by ``dask_engine``): workers only ever run
pure functions on partitions. Prefect still owns retries, logging and the run record of each
step, and the flows are the same code on one machine and on a cluster (``engine_for``).

**Scoring** predicts and explains (exact TreeSHAP, the costliest step of a day's scoring)
row slices on the workers; selection, reasons and cases stay on the driver, where the whole
day is needed at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from data.errors import ConfigError

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client

    from features.base import FeatureContext
    from features.build import FeatureSet
    from features.state import FeatureState
    from models.engine import Engine
    from models.train import FitResult

ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
MODE_ENV = "CUSTOMS_RISK_DASK"
WORKERS_ENV = "CUSTOMS_RISK_DASK_WORKERS"
SLICE_ROWS_ENV = "CUSTOMS_RISK_DASK_SLICE_ROWS"
DEFAULT_SLICE_ROWS = 250_000  # rows of history a feature-build task holds (plus the feature state)


# ---------------------------------------------------------------- configuration and client
@dataclass(frozen=True)
class DaskSettings:
    """Where the Dask work runs: an existing scheduler, or a local cluster of this size."""

    address: str | None = None
    local_workers: int = 2
    threads_per_worker: int = 1
    connect_timeout: str = "20s"
    slice_rows: int = DEFAULT_SLICE_ROWS  # the training feature build's time slices


def dask_settings(env: Mapping[str, str] | None = None) -> DaskSettings | None:
    """The Dask configuration in the environment, or None when the single-machine path applies."""
    env = os.environ if env is None else env
    address = env.get(ADDRESS_ENV, "").strip()
    if address:
        return DaskSettings(address=address, slice_rows=slice_rows_of(env))
    mode = env.get(MODE_ENV, "").strip().lower()
    if mode in ("", "0", "off", "false", "no"):
        return None

    if mode != "local":
        raise ConfigError(f"{MODE_ENV}={mode!r}: use 'local', or set {ADDRESS_ENV} to a scheduler")
    return DaskSettings(
        local_workers=_whole_number(env, WORKERS_ENV, 2),
        slice_rows=slice_rows_of(env),
    )


def slice_rows_of(env: Mapping[str, str]) -> int:
    """Rows per time slice of the training feature build on Dask (``CUSTOMS_RISK_DASK_SLICE_ROWS``)."""
    return _whole_number(env, SLICE_ROWS_ENV, DEFAULT_SLICE_ROWS)


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip() or str(default)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {text!r}")
    return int(text)


@contextlib.contextmanager
def dask_client(settings: DaskSettings | None = None) -> Iterator[Client]:
    """A Dask client: connected to ``settings.address``, or to a ``LocalCluster`` started here.

    Without ``settings`` the environment decides (see ``dask_settings``). Closes what it
    opened: the client always, the local cluster if it started one.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("Dask is not installed here: pip install -e '.[dask]'") from None

    settings = settings or dask_settings()
    if settings is None:
        raise ConfigError(f"no Dask cluster configured: set {ADDRESS_ENV} or {MODE_ENV}=local")
    if settings.address:
        try:
            client = Client(settings.address, set_as_default=False, timeout=settings.connect_timeout)
        except (OSError, TimeoutError) as err:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {settings.address} ({err.__class__.__name__}): "
                f"start it (dask scheduler) and its workers, or unset {ADDRESS_ENV} to run here"
            ) from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=settings.local_workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def worker_threads(client: Client) -> int:
    """Threads across the cluster's workers (at least 1)."""
    return max(int(sum(client.nthreads().values())), 1)


# ---------------------------------------------------------------- features
def target_chunks(target: np.ndarray, chunks: int) -> list[np.ndarray]:
    """Positions of the target rows, in order, cut into at most ``chunks`` contiguous parts."""
    pos = np.flatnonzero(np.asarray(target, dtype=bool))
    parts = np.array_split(pos, max(1, min(int(chunks), len(pos))))
    return [p for p in parts if len(p)]


@dataclass
class ChunkFeatures:
    """A chunk's feature set as it travels back: without what the driver already holds.

    ``build_features`` lays its context out as the declaration's own fields, the families'
    context columns, then the matrix; the fields come from ``decl`` and the matrix is sent
    once, so only the families' columns (``extra``) travel with it. ``columns`` is the
    context's column order (None: ``extra`` is the whole context, sent as is).
    """

    matrix: pd.DataFrame
    extra: pd.DataFrame
    columns: list[str] | None
    missing: list[str]
    seconds: dict[str, float]


def build_chunk(positions: np.ndarray, decl: pd.DataFrame, ctx: FeatureContext) -> ChunkFeatures:
    """``build_features`` for the rows at ``positions`` only, every row of ``decl`` as history.

    Runs on a worker; answers without the fitted state, the declaration fields or a second
    copy of the matrix (the driver has them).
    """
    from features.base import TARGET
    from features.build import build_features

    mask = np.zeros(len(decl), dtype=bool)
    mask[positions] = True
    return travelling(build_features(decl.assign(**{TARGET: mask}), ctx), decl)


def travelling(fs: FeatureSet, decl: pd.DataFrame) -> ChunkFeatures:
    """What of a chunk's feature set goes back to the driver, which holds ``decl`` (its rows'
    declaration fields) already."""
    cols = fs.context.columns
    if cols.has_duplicates:  # not the usual layout: send the context whole
        return ChunkFeatures(fs.matrix, fs.context, None, fs.missing, fs.seconds)
    shared = [c for c in cols if c in fs.matrix.columns or (c in decl.columns and not c.startswith("_"))]
    return ChunkFeatures(fs.matrix, fs.context.drop(columns=shared), list(cols), fs.missing, fs.seconds)


def assemble(
    chunks: list[ChunkFeatures], decl: pd.DataFrame, positions: list[np.ndarray], state: dict[str, Any]
) -> FeatureSet:
    """The chunks' answers as one ``FeatureSet``, rows in chunk order (``positions``: each chunk's
    rows in ``decl``, whose declaration fields fill the context); seconds summed over chunks.

    Each chunk's matrix and context are dropped from it once copied in, so the answers are held
    once, not twice, while the whole set is put together."""
    from features.build import FeatureSet

    pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    every = len(pos) == len(decl) and bool((pos == np.arange(len(decl))).all())  # training: no copy
    own = (decl if every else decl.iloc[pos]).reset_index(drop=True)
    missing = list(dict.fromkeys(note for c in chunks for note in c.missing))
    seconds: dict[str, float] = {}
    for c in chunks:
        for fam, sec in c.seconds.items():
            seconds[fam] = seconds.get(fam, 0.0) + sec
    columns, names = chunks[0].columns, list(chunks[0].matrix.columns)
    values = np.empty((len(pos), len(names)), order="F")
    at = 0
    for c in chunks:
        values[at : at + len(c.matrix)] = c.matrix.to_numpy(dtype="float64")
        at += len(c.matrix)
        c.matrix = None  # type: ignore[assignment]  # copied: let it go
    matrix = pd.DataFrame(values, columns=names, copy=False)
    extra = _stack_releasing([c.extra for c in chunks])
    for c in chunks:
        c.extra = None  # type: ignore[assignment]
    if columns is None:  # the contexts were sent whole
        context = extra
    else:
        fields = [n for n in columns if n not in extra.columns and n not in matrix.columns]
        context = pd.concat([own[fields], extra, matrix], axis=1)
        del extra
        if list(context.columns) != list(columns):
            context = context[columns]
    return FeatureSet(
        declaration_ids=own["declaration_id"].rename("declaration_id"),
        matrix=matrix,
        context=context,
        missing=missing,
        state=state,
        seconds=seconds,
    )


def _stack_releasing(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames (same columns) stacked, column by column, each column dropped from the frames once
    stacked (they are the caller's to give up), so the whole is never held twice; a categorical
    column stays categorical (its chunks' categories united)."""
    if not frames:
        return pd.DataFrame()
    out = {}
    for col in list(frames[0].columns):
        pieces = [f.pop(col).reset_index(drop=True) for f in frames]
        whole = pd.concat(pieces, ignore_index=True)
        if isinstance(pieces[0].dtype, pd.CategoricalDtype) and not isinstance(
            whole.dtype, pd.CategoricalDtype
        ):
            united = union_categoricals(pieces, ignore_order=True).categories
            united = united.astype(pieces[0].cat.categories.dtype)  # object stays object
            whole = pd.Series(pd.Categorical(whole, categories=united), name=col)
        out[col] = whole
        del pieces
    return pd.DataFrame(out, index=pd.RangeIndex(sum(len(f) for f in frames)) if not out else None)


def build_features_distributed(
    decl: pd.DataFrame, ctx: FeatureContext, client: Client, chunks: int | None = None
) -> FeatureSet:
    """``features.build.build_features`` on the cluster, one task per chunk of target rows.

    ``decl`` is the combined frame (``features.build.combine``) with ``_is_target``; every
    task gets all of it, scattered once to every worker, and describes only its chunk, so
    each row is computed against exactly the past it has on one machine (see the module
    docstring). ``chunks`` defaults to the cluster's worker threads. Same answer as
    ``build_features(decl, ctx)``, rows in the same order.
    """
    from features.base import target_mask
    from features.build import build_features

    parts = target_chunks(target_mask(decl), chunks or worker_threads(client))
    if len(parts) == 0:  # nothing to describe: no reason to ship the frame anywhere
        return build_features(decl, ctx)
    ctx = replace(ctx, rows=None)  # the builder's per-frame memo is not worth shipping
    results = map_on_cluster(client, build_chunk, parts, shared=(decl, ctx))
    return assemble(results, decl, parts, ctx.state)


def slice_task(
    item: tuple[np.ndarray, tuple[str, ...], bool],
    part: pd.DataFrame,
    ctx: FeatureContext,
    state: FeatureState,
) -> tuple[ChunkFeatures, dict | None, int]:
    """On a worker: the families ``item[1]`` for the slice's rows at ``item[0]``, described
    against ``state`` (the history before the slice) and the slice's own rows; with those
    families' events of the slice when ``item[2]`` (the same whichever rows are described:
    every row of the slice is an event)."""
    from features.base import TARGET
    from features.build import build_features
    from features.state import Session

    positions, families, record = item
    mask = np.zeros(len(part), dtype=bool)
    mask[positions] = True
    session = Session(state, record=record)
    fs = build_features(part.assign(**{TARGET: mask}), ctx, session=session, families=families)
    return travelling(fs, part), (session.events if record else None), session.end


def family_groups(weights: list[float], groups: int) -> list[tuple[int, int]]:
    """(start, stop) of ``groups`` contiguous runs of the families (``weights``: their cost, in
    catalogue order), the heaviest run as light as it can be. Contiguous runs keep the matrix and
    context columns in the single-machine order when their answers are put side by side."""
    import itertools

    n = len(weights)
    groups = max(1, min(int(groups), n))
    cum = np.r_[0.0, np.cumsum(weights)]
    best, best_cost = [0, n], np.inf
    for cuts in itertools.combinations(range(1, n), groups - 1):
        bounds = [0, *cuts, n]
        cost = max(cum[b] - cum[a] for a, b in itertools.pairwise(bounds))
        if cost < best_cost:
            best, best_cost = bounds, cost
    return list(itertools.pairwise(best))


def side_by_side(parts: list[ChunkFeatures]) -> ChunkFeatures:
    """One chunk from the answers of contiguous runs of families for the same rows (in catalogue
    order), laid out as ``build_features`` lays out all of them: the fields, each family's context
    columns not seen before, the matrix."""
    if len(parts) == 1:
        return parts[0]
    if any(p.columns is None for p in parts):
        raise ValueError("a family's context has repeated columns; it cannot be joined")
    first = parts[0]
    fields = [c for c in first.columns if c not in first.extra.columns and c not in first.matrix.columns]
    seen, extras = set(fields), []
    for p in parts:
        keep = [c for c in p.extra.columns if c not in seen]
        seen.update(keep)
        extras.append(p.extra[keep])
    matrix = pd.concat([p.matrix for p in parts], axis=1)
    extra = pd.concat(extras, axis=1)
    seconds = {fam: sec for p in parts for fam, sec in p.seconds.items()}
    missing = list(dict.fromkeys(note for p in parts for note in p.missing))
    return ChunkFeatures(matrix, extra, [*fields, *extra.columns, *matrix.columns], missing, seconds)


def build_features_in_slices(
    decl: pd.DataFrame,
    ctx: FeatureContext,
    client: Client,
    slice_rows: int = DEFAULT_SLICE_ROWS,
    tasks: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FeatureSet:
    """``features.build.build_features`` on the cluster without any worker holding the history.

    The combined frame is cut by time into slices of about ``slice_rows`` rows (rows declared at
    one moment stay together). Slice by slice, in time order, each task gets the slice and the
    feature state of every slice before it (``features.state``: per-key totals, tens of MB where
    the history is GB) and describes rows in state mode, exactly as a day is scored. The slice's
    work is divided first by family (the families are independent of each other): into as many
    contiguous runs of families as the cluster has threads (``tasks``), balanced on the time each
    family took so far (a run shares what its families derive from the slice); past one task a
    family, the target rows are split too. The first task of each run also returns its families'
    events of the slice, which the driver folds into the state for the next slice.

    So a worker holds one slice, the state and the reference tables, whatever the length of the
    history, and no family's work on the slice is repeated unless the tasks outnumber the
    families. The answer equals the single-machine build to float tolerance (the history's sums
    are added in another order). Frames not in time order, or with rows without a declaration
    time, go to ``build_features_distributed`` (every task the whole frame).
    """
    from features import state as fstate
    from features.base import target_mask, times_ns
    from features.build import FAMILIES, build_features

    t = times_ns(decl["declared_at"])
    if not len(t) or (t == fstate._NAT).any() or not (t[1:] >= t[:-1]).all():
        return build_features_distributed(decl, ctx, client, tasks)
    targets = target_mask(decl)
    names = [f.FAMILY for f in FAMILIES]
    threads = tasks or worker_threads(client)
    n_runs = min(threads, len(names))
    n_chunks = max(1, threads // n_runs)  # rows split only past one task a family
    spent = dict.fromkeys(names, 1.0)
    ctx = replace(ctx, rows=None)  # the builder's per-frame memo is not worth shipping
    [ctx_f] = client.scatter([ctx], broadcast=True, hash=False)
    state, kept, where = fstate.FeatureState(), [], []
    bounds = fstate.slices(t, max(int(slice_rows), 1))
    try:
        for i, (start, stop) in enumerate(bounds, 1):
            part = decl.iloc[start:stop].reset_index(drop=True)
            mine = target_chunks(targets[start:stop], n_chunks) or [np.zeros(1, np.int64)]  # events only
            runs = [tuple(names[a:b]) for a, b in family_groups([spent[n] for n in names], n_runs)]
            keys = [(r, j) for r in range(len(runs)) for j in range(len(mine))]
            items = [(mine[j], runs[r], j == 0) for r, j in keys]
            done = map_on_cluster(client, slice_task, items, shared=(part, ctx_f, state))
            answers = dict(zip(keys, done, strict=True))
            session = fstate.Session(state, record=True)
            session.events = {k: v for a in answers.values() if a[1] for k, v in a[1].items()}
            session.end = max(a[2] for a in answers.values())
            state = fstate.commit(state, session)
            if targets[start:stop].any():
                for j, pos in enumerate(mine):
                    joined = side_by_side([answers[r, j][0] for r in range(len(runs))])
                    kept.append(joined)
                    where.append(start + pos)
            for a in answers.values():
                for fam, sec in a[0].seconds.items():
                    spent[fam] += sec
            if progress:
                progress(f"features: slice {i}/{len(bounds)} (rows {start:,}..{stop:,}) described")
    finally:
        client.cancel([ctx_f])
    if not kept:  # no target row at all
        return build_features(decl, ctx)
    return assemble(kept, decl, where, ctx.state)


def distributed_builder(
    client: Client, tasks: int | None = None, slice_rows: int = DEFAULT_SLICE_ROWS
) -> Callable[[pd.DataFrame, FeatureContext], FeatureSet]:
    """A drop-in for ``build_features(decl, ctx)`` that runs on ``client``'s cluster, a time
    slice at a time (``build_features_in_slices``)."""

    def build(decl: pd.DataFrame, ctx: FeatureContext) -> FeatureSet:
        return build_features_in_slices(decl, ctx, client, slice_rows, tasks)

    return build


# ---------------------------------------------------------------- training
def _partitions(client: Client, rows: int, partitions: int | None) -> int:
    """Partitions for a frame: one per worker by default, never more than rows."""
    n = partitions or len(client.scheduler_info(n_workers=-1)["workers"]) or 1
    return max(1, min(int(n), max(rows, 1)))


def _dask_frame(X: pd.DataFrame, npartitions: int):
    import dask.dataframe as dd

    return dd.from_pandas(X.reset_index(drop=True), npartitions=npartitions, sort=True)


def _dask_series(values: np.ndarray, npartitions: int):
    import dask.dataframe as dd

    return dd.from_pandas(pd.Series(np.asarray(values, dtype="float64")), npartitions=npartitions, sort=True)


def _dask_weights(weights: np.ndarray | None):
    """Feature weights as xgboost.dask wants them: a Dask collection (or None)."""
    if weights is None:
        return None
    import dask.array as da

    return da.from_array(weights, chunks=len(weights))


def fit_booster_distributed(
    client: Client,
    /,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame | None,
    y_valid: np.ndarray | None,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int | None,
    weight_train: np.ndarray | None = None,
    seed: int = 0,
    partitions: int | None = None,
) -> FitResult:
    """``models.train.fit_booster`` with ``xgboost.dask``: the same parameters and early stopping.

    Rows are split into ``partitions`` (default: one per worker); each worker builds
    histograms on its rows and XGBoost sums them across workers. Threads per worker come
    from the worker, not from ``nthread``. The booster is cut to the best iteration.
    """
    import xgboost.dask as dxgb

    from models.train import FitResult, booster_params, feature_weights

    p = booster_params(y_train, params, seed)
    p.pop("nthread", None)  # each worker trains with its own threads
    n_tr = _partitions(client, len(X_train), partitions)
    n_va = _partitions(client, len(X_valid), partitions) if X_valid is not None else 1
    with (
        client.as_current(),  # xgboost.dask looks the client's type up through get_client()
        cluster_failures("the XGBoost fit"),
    ):
        dtrain = dxgb.DaskDMatrix(
            client,
            _dask_frame(X_train, n_tr),
            label=_dask_series(y_train, n_tr),
            weight=None if weight_train is None else _dask_series(weight_train, n_tr),
            missing=np.nan,
            feature_weights=_dask_weights(feature_weights(X_train.columns, params)),
        )
        evals = []
        if early_stopping_rounds is not None:  # None: a refit with a number of trees chosen before
            dvalid = dxgb.DaskDMatrix(
                client, _dask_frame(X_valid, n_va), label=_dask_series(y_valid, n_va), missing=np.nan
            )
            evals = [(dvalid, "valid")]
        out = dxgb.train(
            client,
            p,
            dtrain,
            num_boost_round=num_boost_round,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
        )
    booster = out["booster"]
    best = int(getattr(booster, "best_iteration", num_boost_round - 1)) if evals else num_boost_round - 1
    booster = booster[: best + 1]  # as on one machine: only the trees validation asked for
    booster.set_param({"nthread": 2})
    return FitResult(booster=booster, best_iteration=best, params=p)


def distributed_fitter(client: Client) -> Callable[..., FitResult]:
    """A drop-in for ``models.train.fit_booster`` that trains on ``client``'s cluster."""
    return functools.partial(fit_booster_distributed, client)


# ---------------------------------------------------------------- scoring
def row_slices(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    """Contiguous row slices of ``frame``, in order, at most ``parts`` of them (none if empty)."""
    bounds = np.linspace(0, len(frame), max(1, min(parts, len(frame))) + 1).astype(int)
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def map_on_cluster(
    client: Client,
    fn: Callable[..., Any],
    items: list[Any],
    shared: tuple[Any, ...] = (),
    scatter_items: bool = False,
) -> list[Any]:
    """``[fn(item, *shared) for item in items]`` on the cluster, answers in order.

    ``shared`` goes to every worker once (a ``Future`` among them is there already and stays);
    ``items`` travel with their task (or are spread over the workers first with
    ``scatter_items``, for frames). Everything sent is released when the answers are back, or
    when the work fails.
    """
    from distributed import Future

    sent = [s for s in shared if not isinstance(s, Future)]  # a future: on the workers already
    sent_f = iter(client.scatter(sent, broadcast=True, hash=False) if sent else [])
    shared_f = [s if isinstance(s, Future) else next(sent_f) for s in shared]
    items_f = client.scatter(list(items), hash=False) if scatter_items else list(items)
    futures = [client.submit(fn, item, *shared_f, pure=False) for item in items_f]
    try:
        with cluster_failures(fn.__name__):
            return client.gather(futures)
    finally:
        mine = [f for f, s in zip(shared_f, shared, strict=True) if f is not s]
        client.cancel([*futures, *mine, *(items_f if scatter_items else [])])


class ClusterError(ConfigError):
    """The cluster lost the work (a worker died, a connection dropped): not a bug in the data.

    A ``ConfigError``, so the command prints one line and Prefect does not retry it (a worker
    that ran out of memory would run out again).
    """


@contextlib.contextmanager
def cluster_failures(step: str) -> Iterator[None]:
    """Turn the cluster losing work during ``step`` into a ``ClusterError`` saying what to do."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        yield
    except (KilledWorker, CommClosedError, CancelledError) as err:
        raise ClusterError(
            f"the Dask cluster lost the work of {step} ({err.__class__.__name__}: {err}); "
            "a worker out of memory is the usual cause: give the workers more memory, lower "
            f"{SLICE_ROWS_ENV} (rows of history a feature-build task holds), or run on this machine "
            "with --dask off"
        ) from None


def predict_partition(part: pd.DataFrame, booster: xgb.Booster, predict_type: str) -> np.ndarray:
    """``Booster.inplace_predict`` on one partition (runs on a worker)."""
    return booster.inplace_predict(part, predict_type=predict_type, missing=np.nan)


def score_matrix_distributed(
    client: Client,
    booster: xgb.Booster,
    matrix: pd.DataFrame,
    partitions: int | None = None,
    margin: bool = False,
) -> np.ndarray:
    """Scores for ``matrix`` (rows in order), predicted partition by partition on the cluster.

    The booster goes to every worker once; contiguous row slices are scattered across the
    workers and predicted with the same ``inplace_predict`` as ``RiskModel.predict_proba``.
    (Measured at 1M rows, this moved less memory and took a third of the time of
    ``xgboost.dask.inplace_predict`` over a ``dask.dataframe``.)
    """
    if len(matrix) == 0:
        return np.empty(0, dtype="float32")
    pieces = row_slices(matrix, _partitions(client, len(matrix), partitions))
    kind = "margin" if margin else "value"
    answers = map_on_cluster(client, predict_partition, pieces, (booster, kind), scatter_items=True)
    return np.concatenate(answers).reshape(-1)


def contributions_partition(part: pd.DataFrame, booster: xgb.Booster, approximate: bool) -> np.ndarray:
    """``models.explain.contributions`` on one partition (runs on a worker)."""
    from models.explain import contributions

    return contributions(booster, part, approximate=approximate)


def contributions_distributed(
    client: Client,
    booster: xgb.Booster,
    matrix: pd.DataFrame,
    approximate: bool = False,
    partitions: int | None = None,
) -> np.ndarray:
    """SHAP contributions (and bias) for ``matrix``, rows in order, computed on the cluster.

    Exact TreeSHAP is the costliest step of scoring (about 0.7 ms an item here); it is
    independent per row, so row slices spread over the workers' threads divide it.
    """
    if len(matrix) == 0:
        return np.zeros((0, matrix.shape[1] + 1))
    parts = partitions or worker_threads(client)
    pieces = row_slices(matrix, _partitions(client, len(matrix), parts))
    answers = map_on_cluster(
        client, contributions_partition, pieces, (booster, approximate), scatter_items=True
    )
    return np.concatenate(answers, axis=0)


# ---------------------------------------------------------------- the engine
def dask_engine(client: Client, label: str = "Dask cluster", slice_rows: int = DEFAULT_SLICE_ROWS) -> Engine:
    """The four heavy steps of ``models.engine.Engine`` on ``client``'s cluster (the feature
    build a time slice of ``slice_rows`` rows at a time)."""
    from models.engine import Engine

    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    return Engine(
        name=f"{label} ({workers} worker{'s' * (workers != 1)}, {worker_threads(client)} threads)",
        build=distributed_builder(client, slice_rows=slice_rows),
        fit=distributed_fitter(client),
        predict=lambda booster, X, margin=False: score_matrix_distributed(client, booster, X, margin=margin),
        contributions=lambda booster, X, approximate=False: contributions_distributed(
            client, booster, X, approximate
        ),
    )


def settings_for(choice: str | None, env: Mapping[str, str] | None = None) -> DaskSettings | None:
    """Settings from a command's ``--dask`` choice: ``local``, ``off``, a scheduler address,
    or None to let the environment decide (``dask_settings``)."""
    if choice is None:
        return dask_settings(env)
    choice = choice.strip()
    if "://" in choice or ":" in choice:
        return DaskSettings(address=choice, slice_rows=slice_rows_of(os.environ if env is None else env))
    env = dict(os.environ if env is None else env)
    env.pop(ADDRESS_ENV, None)
    return dask_settings({**env, MODE_ENV: choice})


@contextlib.contextmanager
def engine_for(settings: DaskSettings | None) -> Iterator[Engine]:
    """The engine a run uses: this machine without settings, else the configured Dask cluster
    (a local one is started for the run and stopped after it)."""
    from models.engine import LOCAL

    if settings is None:
        yield LOCAL
        return
    with dask_client(settings) as client:
        if not settings.address:
            client.wait_for_workers(settings.local_workers, timeout=120)
        label = f"Dask cluster at {settings.address}" if settings.address else "Dask local cluster"
        yield dask_engine(client, label, settings.slice_rows)
