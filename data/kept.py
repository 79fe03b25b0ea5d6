"""Things derived from an input file, kept between runs, and whether that file changed since.

One rule says whether a file is the one something was kept from (``file_stamp``,
``compare_file``): its size and time of last change, and a SHA-256 of its content. The same size
and time: unchanged (not read). Another time but the same size and content (a file touched or
copied again): unchanged, and the stamp to keep from then on carries the new time (hashed once,
not again). Anything else: changed. The feature state's kept outcomes use it for the outcome
files (``pipelines.feature_state``), and so do the validated tables kept here.

Every scoring run needs the bundle's reference tables (registry, ownership, watchlist, licences,
officers) validated against the contract; checking them costs more than reading the day. Kept in
a folder of the caller's (the feature state's), each table's clean rows, problems and notes are
stored as Parquet and JSON with a stamp of what they came from: the file (its path and
``file_stamp``), the column mapping for that table, and the contract and validation code. Any
difference, or anything unreadable in the folder, means the table is read and validated again,
and kept anew (written whole or not at all); a touched file of the same content is not validated
again, its stamp is rewritten with the new time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import pandas as pd

from data.validate import Validated

_CODE = ("contract.py", "validate.py", "io.py", "outcomes.py", "kept.py")

Verdict = Literal["unchanged", "touched", "changed"]


def _code_version() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update(name.encode() + (here / name).read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- whether a file changed
def content_hash(path: Path | str) -> str:
    """SHA-256 of the file's bytes (read a MiB at a time), as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: Path | str) -> list:
    """What a file is now: [size, modification time in ns, SHA-256 of its content] (plain JSON)."""
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns, content_hash(path)]


def compare_file(path: Path | str, was: object) -> tuple[Verdict, list | None]:
    """(whether ``path`` is still the file stamped ``was`` by ``file_stamp``, the stamp to keep):
    ("unchanged", ``was``) for the same size and time; ("touched", the stamp with the new time)
    for another time but the same size and content; ("changed", None) otherwise, and for a stamp
    that is not a ``file_stamp`` (of an older layout, damaged) or a file that cannot be read."""
    if not (
        isinstance(was, list | tuple)
        and len(was) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in was[:2])
        and isinstance(was[2], str)
    ):
        return "changed", None
    try:
        st = Path(path).stat()
        if [st.st_size, st.st_mtime_ns] == list(was[:2]):
            return "unchanged", list(was)
        if st.st_size != was[0] or content_hash(path) != was[2]:
            return "changed", None
    except OSError:
        return "changed", None
    return "touched", [st.st_size, st.st_mtime_ns, was[2]]


# ---------------------------------------------------------------- validated tables kept
def _table_source(path: Path, table: str, mapping: dict[str, dict[str, str]] | None) -> dict:
    return {
        "file": str(Path(path).resolve()),
        "mapping": sorted(((mapping or {}).get(table) or {}).items()),
        "code": _code_version(),
    }


def table_stamp(path: Path, table: str, mapping: dict[str, dict[str, str]] | None) -> dict:
    """What a kept table must have come from to be used: the file (path and ``file_stamp``), the
    mapping, the code."""
    return {**_table_source(path, table, mapping), "content": file_stamp(path)}


def _read_kept(folder: Path, table: str, path: Path, source: dict) -> Validated | None:
    meta_path = folder / f"{table}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        stamp = meta.get("stamp")
        if {k: v for k, v in stamp.items() if k != "content"} != json.loads(json.dumps(source)):
            return None
        verdict, content = compare_file(path, stamp.get("content"))
        if verdict == "changed":
            return None
        part = Validated(
            table=table,
            source=meta["source"],
            clean=pd.read_parquet(folder / f"{table}.clean.parquet"),
            problems=pd.read_parquet(folder / f"{table}.problems.parquet"),
            rows_in=int(meta["rows_in"]),
            notes=list(meta["notes"]),
            warnings=pd.read_parquet(folder / f"{table}.warnings.parquet"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent, partly written by a run that died, or of another format: read again
    if verdict == "touched":  # the same content: only the stamp's time is new
        with contextlib.suppress(OSError):  # a read-only folder: hashed again next time
            _write_json(meta_path, {**meta, "stamp": {**stamp, "content": content}})
    return part


def _write_json(path: Path, meta: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(meta, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _keep(folder: Path, part: Validated, stamp: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / f"{part.table}.json"
    meta_path.unlink(missing_ok=True)  # the stamp goes first: frames without it are never used
    for name, frame in (("clean", part.clean), ("problems", part.problems), ("warnings", part.warnings)):
        tmp = folder / f".{part.table}.{name}.parquet.partial"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / f"{part.table}.{name}.parquet")
    meta = {"stamp": stamp, "source": part.source, "rows_in": part.rows_in, "notes": list(part.notes)}
    _write_json(meta_path, meta)


def load_table_kept(
    path: Path | str, table: str, mapping: dict[str, dict[str, str]] | None, folder: Path | str
) -> tuple[Validated, bool]:
    """(``data.io.load_table(path, table, mapping)``, whether it came from ``folder``): the kept
    result when the file (``compare_file``: unchanged or only touched), the mapping and the code
    are as they were, else the table read and validated now (and kept). A bad file raises as
    ``load_table`` does, and nothing is kept."""
    from data.io import load_table

    folder, path = Path(folder), Path(path)
    kept = _read_kept(folder, table, path, _table_source(path, table, mapping))
    if kept is not None:
        return kept, True
    stamp = table_stamp(path, table, mapping)  # before reading: a change meanwhile shows next time
    part = load_table(path, table, mapping)
    if part.quarantined_outcomes is None:  # outcome tables are settled elsewhere, never kept here
        with contextlib.suppress(OSError):  # a read-only folder: validated again next time
            _keep(folder, part, stamp)
    return part, False
