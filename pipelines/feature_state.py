"""Where the feature state lives, and whether a run uses, updates or rebuilds it.

The state (``features.state``) sits in ``BUNDLE/feature_state/`` (or the folder given by
``CUSTOMS_RISK_FEATURE_STATE_DIR``): per accumulator its sorted key hashes and totals as ``.npy``
files, opened memory-mapped so that a day's lookups read only the pages they touch (a Parquet
file would have to be decoded whole, or per row group, for 10,000 keys spread over all of it);
its recent events and index as ``.npy``, the declarations with outcomes as Parquet, and
``meta.json`` with what it reflects: the history's files (name, size, modification time), the
outcomes folded (hashes), each reference table's fingerprint and the feature code version.

On every ``score``: a state of other feature code, a history file changed or removed, or an
outcome corrected or withdrawn means a rebuild (with a message saying why); new history files
with later declarations only, and new outcomes of declarations the state holds, are folded in
(an update); a changed reference table rebuilds the accumulators of the families that use it.
The history is read only for a rebuild (Parquet: the contract columns the features use), for
the new files, and for the declarations whose outcomes are new (their files only).
``CUSTOMS_RISK_FEATURE_STATE=off`` scores against the whole history as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.io import HistoryInSlices
from features import state as fstate
from models.naming import description_counts, most_declared

# the declaration columns the feature families read (the others are never decoded)
HISTORY_COLUMNS = [
    "declaration_id",
    "declared_at",
    "exporter_id",
    "consignee_name",
    "consignee_id",
    "consignee_country",
    "declarant_id",
    "hs_code",
    "goods_description",
    "gross_weight_kg",
    "net_weight_kg",
    "package_volume_m3",
    "declared_value_usd",
    "quantity",
    "quantity_unit",
    "packages",
    "container_type",
    "container_count",
    "origin_country",
    "port_of_loading",
    "port_of_discharge",
    "destination_country",
    "transshipment_ports",
    "license_id",
]
_KEPT = {*HISTORY_COLUMNS, "_source"}  # what a state build keeps of the declarations read
REFERENCE_TABLES = ("licenses", "hs_profiles")  # what some families' accumulators are computed from
SLICE_ROWS = 160_000  # rows folded at a time: a build's peak memory is about that of a slice's features


def code_version() -> str:
    """The state format and the feature code it was computed by: the catalogue and the source of
    every module of ``features/`` (any change there rebuilds the state, never a stale sum)."""
    import hashlib

    import features

    digest = hashlib.sha256(fstate.feature_code_version().encode())
    for path in sorted(Path(features.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def state_folder(bundle: Path | str) -> Path:
    where = os.environ.get("CUSTOMS_RISK_FEATURE_STATE_DIR")
    return Path(where) if where else Path(bundle) / "feature_state"


def enabled() -> bool:
    setting = os.environ.get("CUSTOMS_RISK_FEATURE_STATE", "on").strip().lower()
    return setting not in {"off", "0", "no", "false"}


# ---------------------------------------------------------------- storage
def save(state: fstate.FeatureState, folder: Path) -> Path:
    """Write the state to ``folder`` whole (a temporary folder moved into place)."""
    state.merge_index()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    accs = {}
    for i, (name, acc) in enumerate(sorted(state.accumulators.items())):
        stem = f"a{i:03d}"
        for part, values in acc.arrays().items():
            np.save(tmp / f"{stem}.{part}.npy", np.ascontiguousarray(values))
        accs[name] = {"file": stem, "kind": acc.kind, "values": acc.m, "window": acc.window}
    for part in ("ids", "id_time", "id_source", "outcomes"):
        np.save(tmp / f"{part}.npy", np.ascontiguousarray(getattr(state, part)))
    state.labelled.to_parquet(tmp / "labelled.parquet", index=False)
    for name, frame in state.extras.items():
        frame.to_parquet(tmp / f"{name}.parquet", index=False)
    for kept in folder.glob("*.parquet") if folder.exists() else []:  # extras not loaded: as they were
        if not (tmp / kept.name).exists():
            shutil.copy2(kept, tmp / kept.name)
    meta = {**_plain(state.meta), "end": int(state.end), "accumulators": accs}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load(folder: Path) -> fstate.FeatureState | None:
    """The stored state (key tables memory-mapped), or None when there is none."""
    folder = Path(folder)
    if not (folder / "meta.json").exists():
        return None
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    accs = {}
    for name, spec in meta.pop("accumulators").items():
        stem = folder / spec["file"]

        def arr(part, mmap=None, stem=stem):
            return np.load(f"{stem}.{part}.npy", mmap_mode=mmap)

        accs[name] = fstate.Accumulator(
            spec["kind"],
            spec["values"],
            spec["window"],
            keys=arr("keys", "r"),
            totals=arr("totals", "r"),
            tail_t=arr("tail_t"),
            tail_k=arr("tail_k"),
            tail_v=arr("tail_v"),
        )
    end = int(meta.pop("end"))
    return fstate.FeatureState(
        end,
        accs,
        pd.read_parquet(folder / "labelled.parquet"),
        meta,
        ids=np.load(folder / "ids.npy", mmap_mode="r"),
        id_time=np.load(folder / "id_time.npy", mmap_mode="r"),
        id_source=np.load(folder / "id_source.npy", mmap_mode="r"),
        outcomes=np.load(folder / "outcomes.npy"),
        extras={
            "usual_descriptions": _read(folder / "usual_descriptions.parquet"),
            "recent_by_exporter": _read(folder / "recent_by_exporter.parquet"),
        },
    )


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=["key", "text"])


# ---------------------------------------------------------------- the history's usual descriptions
def with_descriptions(state: fstate.FeatureState, folder: Path | None, rows: pd.DataFrame) -> None:
    """Add ``rows``' description counts to the state's (read from ``folder`` when not loaded;
    None: none yet), and the usual description per HS6 they give."""
    counts = state.extras.get("descriptions")
    if counts is None and folder is not None:
        counts = _read(Path(folder) / "descriptions.parquet")
    if counts is None or "n" not in counts.columns:
        counts = description_counts(None)
    both = pd.concat([counts, description_counts(rows)], ignore_index=True)
    counts = both.groupby(["key", "text"], sort=False, as_index=False)["n"].sum()
    state.extras["descriptions"] = counts
    state.extras["usual_descriptions"] = most_declared(counts)
    # each exporter's last declarations, as the case page lists them
    recent = state.extras.get("recent_by_exporter")
    if recent is None and folder is not None:
        recent = _read(Path(folder) / "recent_by_exporter.parquet")
    parts = [r for r in (recent, rows) if r is not None and len(r) and "exporter_id" in r.columns]
    if parts:
        both = pd.concat([p[[c for c in RECENT_COLUMNS if c in p.columns]] for p in parts], ignore_index=True)
        both = both.sort_values("declared_at", kind="stable").groupby("exporter_id").tail(RECENT_ROWS)
        state.extras["recent_by_exporter"] = both.reset_index(drop=True)


RECENT_ROWS = 5
RECENT_COLUMNS = [
    "declaration_id",
    "declared_at",
    "exporter_id",
    "hs_code",
    "declared_value_usd",
    "gross_weight_kg",
    "destination_country",
]


def usual_history(state: fstate.FeatureState) -> pd.DataFrame:
    """``code_history`` and each exporter's last declarations (no description: they never count
    toward the usual descriptions): what scoring reads from the history besides the features."""
    recent = state.extras.get("recent_by_exporter")
    codes = code_history(state)
    if recent is None or not len(recent):
        return codes
    return pd.concat([codes, recent], ignore_index=True)


def code_history(state: fstate.FeatureState) -> pd.DataFrame:
    """One declaration-like row per HS6 with its usual description: what scoring's reasons learn
    code names from (``models.naming.usual_descriptions`` gives the same text from it); no
    declaration time, so a feature build never counts it."""
    usual = state.extras.get("usual_descriptions")
    if usual is None or not len(usual):
        return pd.DataFrame(
            {
                "declaration_id": pd.Series(dtype=object),
                "declared_at": pd.Series(dtype="datetime64[ns]"),
                "hs_code": pd.Series(dtype=object),
                "goods_description": pd.Series(dtype=object),
            }
        )
    return pd.DataFrame(
        {
            "declaration_id": "~usual-description~" + pd.Series(range(len(usual))).astype("str"),
            "declared_at": pd.Series(pd.NaT, index=range(len(usual)), dtype="datetime64[ns]"),
            "hs_code": usual["key"].to_numpy(dtype=object),
            "goods_description": usual["text"].to_numpy(dtype=object),
        }
    )


def _day(state: fstate.FeatureState) -> str:
    return "nothing" if state.end == fstate._NAT else str(pd.Timestamp(state.end))


def _plain(meta: dict) -> dict:
    return json.loads(json.dumps(meta, default=str))


# ---------------------------------------------------------------- what the state reflects
def history_stamp(bundle: Path | str, was: dict | None = None) -> dict[str, list]:
    """Every history file's ``data.kept.file_stamp`` (size, modification time, content hash), by
    path relative to the bundle. A file whose stamp in ``was`` still holds (same size and time)
    is not read again; one touched with its content unchanged keeps its hash with the new time."""
    from data.io import history_files
    from data.kept import compare_file, file_stamp

    root, was = Path(bundle), was or {}
    out = {}
    for f in history_files(root):
        name = str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
        verdict, stamp = compare_file(f, was[name]) if name in was else ("changed", None)
        out[name] = stamp if verdict != "changed" else file_stamp(f)
    return out


def reference_stamps(tables: dict, hs_profiles: pd.DataFrame | None) -> dict[str, str]:
    frames = {"licenses": tables.get("licenses"), "hs_profiles": hs_profiles}
    return {
        name: fstate.fingerprint(None if f is None else f.drop(columns=["_source"], errors="ignore"))
        for name, f in frames.items()
    }


@dataclass
class StateRun:
    """The state a scoring run uses, and what it did with it (``action``: used, updated, rebuilt
    or off, ``why``)."""

    bundle: Path
    folder: Path
    state: fstate.FeatureState | None
    action: str
    why: str = ""
    inspections: pd.DataFrame | None = None
    append: bool = False
    session: Any = None
    fell_back: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    client: Any = None  # a Dask client: the day is described in chunks on its workers
    before_history: Callable[[], Any] | None = None  # see load_for_scoring

    def summary(self) -> dict:
        return {
            "action": self.action,
            "why": self.why,
            "folder": str(self.folder),
            "rows": 0 if self.state is None else self.state.rows,
            "end": None if self.state is None else str(pd.Timestamp(self.state.end)),
            "fell_back": self.fell_back,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }

    def line(self) -> str:
        if self.action == "off":
            return "feature state: off (CUSTOMS_RISK_FEATURE_STATE), the whole history read"
        if self.state is None:
            return f"feature state {self.action} ({self.why}): the whole history read"
        rows = self.state.rows if self.state is not None else 0
        why = f" ({self.why})" if self.why else ""
        return f"feature state {self.action}{why}: {rows:,} declarations up to {_day(self.state)}"

    def engine(self, engine):
        """``engine`` whose feature build describes the day against the state (the rest as is);
        on a Dask engine, the day's rows are described in chunks on the workers, each opening the
        state from its folder (memory-mapped: broadcast without copying it)."""
        if self.state is None:
            return engine
        from models.engine import LOCAL

        if engine.name != LOCAL.name:
            try:
                from distributed import get_client

                self.client = get_client()
            except (ImportError, ValueError):
                self.client = None
        return replace(engine, build=self.build)

    def build(self, decl: pd.DataFrame, ctx):
        """``build_features`` of the day's rows against the state (records the day's events when it
        is to be appended); falls back to the whole history when the state cannot describe them."""
        from features.build import build_features, labels_from_inspections

        day = decl[decl["_is_target"]].reset_index(drop=True) if "_is_target" in decl.columns else decl
        kept = self.state.extras.get("outcome_labels")
        if kept is None and (self.folder / "outcome_labels.parquet").exists():
            kept = pd.read_parquet(self.folder / "outcome_labels.parquet")
        if kept is not None:  # the history's outcomes, none of a row of the day: not matched to any
            none = pd.Series(None, index=range(len(kept)), dtype=object)
            labels = kept.assign(declaration_id=none)[["declaration_id", "label_time", "violation"]]
        else:
            labels = labels_from_inspections(self.inspections, fstate.outcome_declarations(self.state, day))
        session = fstate.Session(self.state, record=self.append)
        t0 = time.perf_counter()
        try:
            if getattr(self, "client", None) is not None and len(day) > 1:
                fs, session = _build_on_cluster(self.client, day, replace(ctx, labels=labels), self)
            else:
                fs = build_features(day, replace(ctx, labels=labels), session=session)
        except fstate.StateMismatch as err:
            self.fell_back = str(err)
            return self._full_build(day, ctx)
        self.seconds["features"] = time.perf_counter() - t0
        self.session = session
        return fs

    def _full_build(self, day: pd.DataFrame, ctx):
        from data.io import load_history
        from features.build import build_features, combine, labels_from_inspections

        history = load_history(self.bundle, columns=HISTORY_COLUMNS).clean
        decl = combine(history, day.drop(columns=["_is_target"], errors="ignore"))
        ins = self.inspections
        if (self.folder / SETTLED_OUTCOMES).exists() and self.state is not None:  # all, not the cases' only
            ins = pd.read_parquet(self.folder / SETTLED_OUTCOMES)
        labels = labels_from_inspections(ins, decl)
        return build_features(decl, replace(ctx, labels=labels))

    def after_append(self, path: Path, progress: Callable[[str], None] = print) -> None:
        """The day appended to the history as ``path``: fold its events into the state."""
        if self.state is None or self.session is None:
            if self.state is not None:
                progress(f"      feature state not updated ({self.fell_back or 'the day was not described'})")
            return
        day_rows = self.session.frame.drop(columns=["_is_target"], errors="ignore")
        source = str(path.relative_to(self.bundle)) if path.is_relative_to(self.bundle) else str(path)
        state = fstate.commit(self.state, self.session, day_rows, self.inspections, source=source)
        with_descriptions(state, self.folder, day_rows)
        state.meta["history_files"] = history_stamp(self.bundle, state.meta.get("history_files"))
        state.meta["updated_at"] = pd.Timestamp.now("UTC").isoformat()
        save(state, self.folder)
        self.state = state
        progress(f"      feature state updated with the day: {state.rows:,} declarations up to {_day(state)}")


def _build_on_cluster(client, day: pd.DataFrame, ctx, run: StateRun):
    """The day's features on the cluster: one task per chunk of rows, every task with the whole
    day (rows of the day count for each other) and the state opened from its folder."""
    from pipelines.distributed import assemble, map_on_cluster, target_chunks, worker_threads

    day = day.drop(columns=["_is_target"], errors="ignore")
    parts = target_chunks(np.ones(len(day), dtype=bool), worker_threads(client))
    ctx = replace(ctx, rows=None)
    answers = map_on_cluster(client, _state_chunk, parts, shared=(day, ctx, str(run.folder), run.append))
    fs = assemble([a[0] for a in answers], day, parts, ctx.state)
    session = fstate.Session(run.state, record=run.append)
    session.frame, session.events = day, answers[0][1] or {}  # every chunk records the whole day
    session.end = int(day["declared_at"].max().value)
    return fs, session


def _state_chunk(positions: np.ndarray, day: pd.DataFrame, ctx, folder: str, record: bool):
    """On a worker: the chunk's features against the state in ``folder`` (and the day's events,
    from the first chunk only, when they are to be folded in)."""
    from features.build import build_features
    from pipelines.distributed import travelling

    state = load(Path(folder))
    mask = np.zeros(len(day), dtype=bool)
    mask[positions] = True
    session = fstate.Session(state, record=bool(record and positions[0] == 0))
    fs = build_features(day.assign(_is_target=mask), ctx, session=session)
    return travelling(fs, day), (session.events if session.record else None)


# ---------------------------------------------------------------- the outcomes kept with the state
SETTLED_OUTCOMES = "settled_outcomes.parquet"  # the bundle's outcomes, validated and settled
OUTCOMES_ASIDE = "outcomes_aside.parquet"  # ids of outcomes that matched no declaration then
# with them: every outcome's time and violation (the day's features), and the outcomes of the
# exporters' recent declarations (the cases): all a score reads of the outcomes
KEPT_OUTCOMES = ("settled_outcomes", "outcomes_aside", "outcome_labels", "recent_outcomes")


def outcome_files(bundle: Path | str) -> dict[str, Path]:
    """The bundle's outcome files by name."""
    from data.io import BUNDLE_FILES

    root, stem = Path(bundle), BUNDLE_FILES["inspections"]
    files = (root / f"{stem}{suffix}" for suffix in (".csv", ".parquet", ".pq"))
    return {f.name: f for f in files if f.is_file()}


def _outcomes_unchanged(bundle: Path, state: fstate.FeatureState) -> tuple[bool, bool]:
    """(the outcome files are those the state's kept outcomes were read from, some was touched):
    the same names, each unchanged or only touched (``data.kept.compare_file``), whose new stamp
    is then remembered."""
    from data.kept import compare_file

    was = state.meta.get("outcome_files")
    now = outcome_files(bundle)
    if not isinstance(was, dict) or set(was) != set(now):
        return False, False
    touched = False
    for name, path in now.items():
        verdict, stamp = compare_file(path, was[name])
        if verdict == "changed":
            return False, False
        if verdict == "touched":
            was[name], touched = stamp, True
    return True, touched


def remember_outcomes(state: fstate.FeatureState, b, bundle: Path | str) -> None:
    """Keep ``b``'s settled outcomes with the state (saved with it), with what they were read
    from (sizes, times and content hashes of the outcome files) and the ids of the outcomes that
    matched no declaration (when the state comes to hold one of them, they are read again)."""
    from dataclasses import asdict

    from data.kept import file_stamp
    from data.outcomes import UNMATCHED
    from features.base import is_member

    state.meta["outcome_files"] = {name: file_stamp(f) for name, f in outcome_files(bundle).items()}
    state.meta["outcome_report"] = asdict(b.outcomes)
    problems = b.problems
    aside = problems[(problems["table"] == "inspections") & (problems["problem"] == UNMATCHED)]
    ins = b.tables["inspections"]
    state.extras["settled_outcomes"] = ins
    state.extras["outcomes_aside"] = pd.DataFrame({"declaration_id": aside["key"].astype("str").unique()})
    state.extras["outcome_labels"] = _history_labels(ins, state)
    recent = state.extras.get("recent_by_exporter")
    ids = recent["declaration_id"] if recent is not None and len(recent) else pd.Series(dtype=object)
    state.extras["recent_outcomes"] = ins[is_member(ins["declaration_id"], ids)].reset_index(drop=True)


def _history_labels(ins: pd.DataFrame | None, state: fstate.FeatureState) -> pd.DataFrame:
    """(label_time, violation) of every outcome of the history, as ``labels_from_inspections``
    dates them against the state's declarations: what a day's features need of the outcomes
    besides the state's sums (the overall violation rate known before each row); none of them is
    an outcome of a row of the day (a day the state holds is not described against it)."""
    from features.build import labels_from_inspections

    labels = labels_from_inspections(ins, state.labelled)
    if labels is None:
        return pd.DataFrame({"label_time": pd.Series(dtype="datetime64[ns]"), "violation": []})
    return pd.DataFrame(
        {"label_time": labels["label_time"].astype("datetime64[ns]"), "violation": labels["violation"]}
    )


def save_outcomes(state: fstate.FeatureState, folder: Path) -> None:
    """Write the outcomes kept with a saved state (and what they were read from) in place."""
    folder = Path(folder)
    for name in KEPT_OUTCOMES:
        file = f"{name}.parquet"
        tmp = folder / f".{file}.partial"
        state.extras[name].to_parquet(tmp, index=False)
        os.replace(tmp, folder / file)
    _write_meta(folder, state, ("outcome_files", "outcome_report"))


def _write_meta(folder: Path, state: fstate.FeatureState, keys: tuple[str, ...]) -> None:
    """Rewrite ``keys`` of a saved state's meta.json from ``state.meta`` (the rest as it is)."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    for key in keys:
        meta[key] = _plain({key: state.meta[key]})[key]
    tmp = folder / ".meta.json.partial"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / "meta.json")


def bundle_with_outcomes(bundle: Path, mapping: dict | None, state: fstate.FeatureState, folder: Path):
    """(the bundle without its history, whether its outcomes were read): the outcomes kept with
    the state when the outcome files did not change since (and none of the outcomes set aside
    then matches a declaration the state now holds), else read and settled against the state's
    index of the history. Either way nothing is read in proportion to the history."""
    from data.io import load_bundle
    from data.outcomes import OutcomeReport

    folder = Path(folder)
    kept = all((folder / f"{name}.parquet").exists() for name in KEPT_OUTCOMES)
    same, touched = _outcomes_unchanged(bundle, state) if kept else (False, False)
    if same and not len(state.known(pd.read_parquet(folder / OUTCOMES_ASIDE)["declaration_id"])):
        if touched:
            _write_meta(folder, state, ("outcome_files",))
        # the cases' outcomes only: the features take every outcome's time and violation
        recent = pd.read_parquet(folder / "recent_outcomes.parquet")
        report = OutcomeReport(**state.meta.get("outcome_report", {}))
        return load_bundle(
            bundle, mapping, settled_outcomes=(recent, report), kept=folder / "reference"
        ), False
    return load_bundle(bundle, mapping, known_declarations=state.known), True


# ---------------------------------------------------------------- use, update or rebuild
def build_state(
    bundle: Path,
    tables: dict,
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    mapping: dict | None = None,
    families=None,
    base: fstate.FeatureState | None = None,
    progress: Callable[[str], None] | None = None,
    history: pd.DataFrame | HistoryInSlices | None = None,
) -> fstate.FeatureState:
    """The state of the bundle's whole history: ``history`` a frame (held whole), or the history
    read in time-ordered slices (``HistoryInSlices``; one opened here when None), folded a slice
    at a time, so that memory is bounded by a slice, not by the history. ``tables["inspections"]``:
    the outcomes settled against that history. ``families`` with ``base``: only those families'
    accumulators are rebuilt."""
    from features.build import combine, make_context

    version = code_version()  # of the code this build runs (read before, not after, a long build)
    if history is None:
        with history_in_slices(bundle, mapping) as h:
            return build_state(bundle, tables, hs_profiles, ports, mapping, families, base, progress, h)
    if isinstance(history, pd.DataFrame):
        frame = combine(None, history[[c for c in history.columns if c in _KEPT]])
        parts, known = [frame], frame[["declaration_id", "declared_at"]]
    else:
        ins = tables.get("inspections")
        ids = ins["declaration_id"] if ins is not None else pd.Series(dtype=object)
        parts = (
            combine(None, p[[c for c in p.columns if c in HISTORY_COLUMNS or c == "_source"]])
            for p in history
        )
        known = history.known(ids)
        history.forget_index()  # the outcomes are settled and dated: the index is not needed any more
    ctx = make_context(tables, known, hs_profiles, ports)

    def each(state: fstate.FeatureState, part: pd.DataFrame) -> None:
        with_descriptions(state, None, part)
        _give_back_memory()

    state = fstate.build_from(parts, ctx, families, SLICE_ROWS, progress, base, each)
    if base is not None:  # the descriptions come with the fresh part (all of the history)
        state.extras = {**base.extras, **{k: v for k, v in state.extras.items() if k in DESCRIBED}}
    return _stamped(state, bundle, tables, hs_profiles, version)


def _give_back_memory() -> None:
    """Return the memory freed by a slice to the system (glibc keeps freed blocks of the process's
    heap otherwise, so that a long build's resident size creeps up slice after slice)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


DESCRIBED = ("descriptions", "usual_descriptions", "recent_by_exporter")


@contextlib.contextmanager
def history_in_slices(bundle: Path, mapping: dict | None = None, spill: Path | None = None):
    """The bundle's history read once, validated, into a spill folder (removed after), to be
    given in time-ordered slices (``data.io.HistoryInSlices``)."""
    from data.io import HistoryInSlices

    parent = Path(spill) if spill is not None else state_folder(bundle).parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".feature_state-spill-") as tmp:
        yield HistoryInSlices(bundle, Path(tmp), mapping, HISTORY_COLUMNS, SLICE_ROWS)


def rebuild(bundle: Path, mapping: dict | None, folder: Path, progress: Callable[[str], None] | None = None):
    """(the bundle without its history, the state built from scratch and saved in ``folder``): the
    history read once into slices, the outcomes settled against its index, then folded."""
    from data.io import load_bundle
    from data.reference import hs_profiles, ports

    with history_in_slices(bundle, mapping, Path(folder).parent) as h:
        b = load_bundle(bundle, mapping, known_declarations=h.known)
        state = build_state(bundle, b.tables, hs_profiles(), ports(), mapping, progress=progress, history=h)
        b.problems = pd.concat([*[p for p in h.problems if len(p)], b.problems], ignore_index=True)
    remember_outcomes(state, b, bundle)
    save(state, folder)
    return b, state


def _stamped(state, bundle, tables, hs_profiles, version: str) -> fstate.FeatureState:
    state.meta.update(
        version=version,
        history_files=history_stamp(bundle),
        references=reference_stamps(tables, hs_profiles),
        built_at=state.meta.get("built_at") or pd.Timestamp.now("UTC").isoformat(),
    )
    return state


def load_for_scoring(
    bundle: Path,
    mapping_path: Path | None = None,
    append: bool = False,
    progress: Callable[[str], None] = print,
    day: pd.DataFrame | None = None,
    force_rebuild: bool = False,
    before_history: Callable[[], Any] | None = None,
):
    """(the bundle's tables, the ``StateRun``): the reference tables and outcomes, and the feature
    state used, updated or rebuilt as needed (the history itself only when it must be read).

    ``day``: the declarations to score; when the state already holds some of them (a day
    re-scored after it was appended) or they are not all after it, the whole history is read and
    the day scored against it as without a state.
    ``before_history``: called before anything is read in proportion to the history (a rebuild,
    the whole history): the caller's last chance to stop in seconds (scoring checks that its
    champion loads), not after minutes of work."""
    ready = before_history or (lambda: None)
    from data.io import load_bundle, load_mapping

    bundle = Path(bundle)
    mapping = load_mapping(mapping_path)
    folder = state_folder(bundle)
    if not enabled():
        ready()
        return load_bundle(bundle, mapping), StateRun(bundle, folder, None, "off")
    t0 = time.perf_counter()
    state = None if force_rebuild else load(folder)
    why = "asked to rebuild" if force_rebuild else ("no feature state yet" if state is None else "")
    if state is not None and state.meta.get("version") != code_version():
        state, why = None, "the feature code changed"
    if state is not None:
        changed = history_change(bundle, state, folder)
        if changed["changed"]:
            state, why = None, f"history file {changed['changed'][0]} changed or was removed"
    if state is None:
        ready()
        progress(f"      rebuilding the feature state: {why}")
        b, state = rebuild(bundle, mapping, folder)
        run = StateRun(bundle, folder, state, "rebuilt", why, b.tables["inspections"], append)
    else:
        b, reread = bundle_with_outcomes(bundle, mapping, state, folder)
        run = StateRun(bundle, folder, state, "used", "", b.tables["inspections"], append)
        run.before_history = ready
        _reconcile(run, changed["added"], b.tables, mapping, progress, outcomes=reread)
        if reread and run.action != "rebuilt":  # the outcomes read again: kept for the next runs
            remember_outcomes(run.state, b, bundle)
            save_outcomes(run.state, folder)
    run.seconds["state"] = time.perf_counter() - t0
    if day is not None and len(day) and _overlaps(run.state, day):
        ready()
        b = load_bundle(bundle, mapping)
        why = "the day is already in the history or before its end"
        run = StateRun(bundle, folder, None, "not used", why)
    if run.state is not None:  # the reasons still learn code names from the history's descriptions
        b.tables["declarations"] = usual_history(run.state)
    progress("      " + run.line())
    return b, run


def _overlaps(state: fstate.FeatureState, day: pd.DataFrame) -> bool:
    """Some of the day's declarations are in the state, or declared at or before its end."""
    from features.base import times_ns

    t = times_ns(day["declared_at"])
    return bool(len(state.known(day["declaration_id"]))) or bool((t <= state.end).any())


def history_change(
    bundle: Path, state: fstate.FeatureState, folder: Path | None = None
) -> dict[str, list[str]]:
    """The history files changed or removed, and added, since the state's stamps of them (only
    files whose size or time moved are read, to compare their content). With ``folder``, files
    only touched (same content) get their new time in the state saved there."""
    from data.io import history_files
    from data.kept import compare_file

    was = state.meta.get("history_files", {})
    root = Path(bundle)
    names = {str(f.relative_to(root)) if f.is_relative_to(root) else str(f): f for f in history_files(root)}
    verdicts = {name: compare_file(names[name], stamp) for name, stamp in was.items() if name in names}
    changed = [name for name in was if name not in names or verdicts[name][0] == "changed"]
    touched = {name: v[1] for name, v in verdicts.items() if v[0] == "touched"}
    if touched and not changed and folder is not None:
        state.meta["history_files"] = {**was, **touched}
        _write_meta(folder, state, ("history_files",))
    return {"changed": changed, "added": [name for name in names if name not in was]}


def _reconcile(
    run: StateRun, added: list[str], tables: dict, mapping, progress, outcomes: bool = True
) -> None:
    """Fold new history files, new outcomes and changed reference tables into ``run.state``, or
    rebuild it when they cannot be folded in; ``outcomes`` False: the outcomes are those the state
    was last reconciled with (kept with it), nothing of them to fold."""
    from data.io import load_history
    from data.reference import hs_profiles, ports
    from features.build import FAMILIES, combine, make_context

    state, reasons = run.state, []
    bundle = run.bundle
    # reference tables: rebuild the accumulators of the families that use a changed one
    now = reference_stamps(tables, hs_profiles())
    was = state.meta.get("references", {})
    moved = [t for t in REFERENCE_TABLES if was.get(t) != now.get(t)]
    if moved:
        fams = [f for f in FAMILIES if set(fstate.REFERENCE_OF_FAMILY.get(f.FAMILY, ())) & set(moved)]
        progress(
            f"      {', '.join(moved)} changed: rebuilding the {', '.join(f.FAMILY for f in fams)} state"
        )
        state = build_state(bundle, tables, hs_profiles(), ports(), mapping, fams, state)
        reasons.append(f"{', '.join(moved)} changed")
    # new history files: fold their declarations when they all come after the state
    if added:
        files = [bundle / f if not Path(f).is_absolute() else Path(f) for f in added]
        new = load_history(bundle, mapping, columns=HISTORY_COLUMNS, files=files).clean
        new = new[~new["declaration_id"].isin(state.known(new["declaration_id"])["declaration_id"])]
        decl = combine(None, new)
        if len(decl) and decl["declared_at"].min() <= pd.Timestamp(state.end):
            _rebuild(
                run, tables, mapping, progress, f"history file {added[0]} holds declarations before its end"
            )
            return
        if len(decl):
            ctx = make_context(tables, fstate.outcome_declarations(state, decl), hs_profiles(), ports())
            state = fstate.fold(state, decl, replace(ctx), FAMILIES, SLICE_ROWS)
            with_descriptions(state, run.folder, decl)
        reasons.append(f"{len(decl):,} declarations of {len(added)} new history file(s)")
    # outcomes: corrected or withdrawn ones mean a rebuild, new ones are folded in
    ins = run.inspections
    current = fstate.outcome_hashes(ins) if outcomes else np.asarray(state.outcomes)
    if len(fstate.sorted_difference(np.asarray(state.outcomes), current)):
        _rebuild(run, tables, mapping, progress, "outcomes were corrected or withdrawn")
        return
    new_hashes = fstate.sorted_difference(current, np.asarray(state.outcomes))
    if len(new_hashes):
        row_hash = pd.util.hash_pandas_object(_outcome_frame(ins), index=False).to_numpy()
        pos = np.minimum(np.searchsorted(new_hashes, row_hash), len(new_hashes) - 1)
        fresh = ins[new_hashes[pos] == row_hash]
        known = state.known(fresh["declaration_id"].drop_duplicates())
        if known["declaration_id"].isin(state.labelled["declaration_id"]).any():
            _rebuild(run, tables, mapping, progress, "new outcomes for declarations that already had one")
            return
        if len(known):
            # as read when built (or relative to the bundle: the days appended since)
            files = [Path(s) if Path(s).exists() else bundle / s for s in known["source"].dropna().unique()]
            rows = load_history(bundle, mapping, columns=HISTORY_COLUMNS, files=files).clean
            rows = combine(None, rows[rows["declaration_id"].isin(known["declaration_id"])])
            fresh = fresh[fresh["declaration_id"].isin(known["declaration_id"])]
            ctx = make_context({**tables, "inspections": fresh}, rows, hs_profiles(), ports())
            state = fstate.fold_outcomes(state, rows, ctx)
            reasons.append(f"{len(fresh):,} new outcomes")
    if reasons:
        state.meta["history_files"] = history_stamp(bundle, state.meta.get("history_files"))
        state.meta["references"] = now
        state.meta["updated_at"] = pd.Timestamp.now("UTC").isoformat()
        save(state, run.folder)
        run.state, run.action, run.why = state, "updated", "; ".join(reasons)


def _outcome_frame(ins: pd.DataFrame) -> pd.DataFrame:
    from features.base import times_ns

    return pd.DataFrame(
        {
            "declaration_id": ins["declaration_id"].astype("str").to_numpy(dtype=object),
            "inspected_on": times_ns(ins["inspected_on"]),
            "outcome": ins["outcome"].astype("str").to_numpy(dtype=object),
        }
    )


def _rebuild(run: StateRun, tables: dict, mapping, progress, why: str) -> None:
    if run.before_history is not None:
        run.before_history()
    progress(f"      rebuilding the feature state: {why}")
    b, state = rebuild(run.bundle, mapping, run.folder)
    tables.update(b.tables)
    run.state, run.action, run.why, run.inspections = state, "rebuilt", why, b.tables["inspections"]
