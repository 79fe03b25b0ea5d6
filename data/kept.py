"""Validated tables kept between runs: a table whose file has not changed is not read and checked
again.

Every scoring run needs the bundle's reference tables (registry, ownership, watchlist, licences,
officers) validated against the contract; checking them costs more than reading the day. Kept in
a folder of the caller's (the feature state's), each table's clean rows, problems and notes are
stored as Parquet and JSON with a stamp of what they came from: the file (path, size, time of
last change), the column mapping for that table, and the contract and validation code. Any
difference, or anything unreadable in the folder, means the table is read and validated again,
and kept anew (written whole or not at all).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from data.validate import Validated

_CODE = ("contract.py", "validate.py", "io.py", "outcomes.py", "kept.py")


def _code_version() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update(name.encode() + (here / name).read_bytes())
    return digest.hexdigest()[:16]


def table_stamp(path: Path, table: str, mapping: dict[str, dict[str, str]] | None) -> dict:
    """What a kept table must have come from to be used: the file as it is now, the mapping, the code."""
    info = Path(path).stat()
    return {
        "file": str(Path(path).resolve()),
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "mapping": sorted(((mapping or {}).get(table) or {}).items()),
        "code": _code_version(),
    }


def _read_kept(folder: Path, table: str, stamp: dict) -> Validated | None:
    meta_path = folder / f"{table}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("stamp") != json.loads(json.dumps(stamp)):
            return None
        return Validated(
            table=table,
            source=meta["source"],
            clean=pd.read_parquet(folder / f"{table}.clean.parquet"),
            problems=pd.read_parquet(folder / f"{table}.problems.parquet"),
            rows_in=int(meta["rows_in"]),
            notes=list(meta["notes"]),
            warnings=pd.read_parquet(folder / f"{table}.warnings.parquet"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, partly written by a run that died, or of another format: read again


def _keep(folder: Path, part: Validated, stamp: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / f"{part.table}.json"
    meta_path.unlink(missing_ok=True)  # the stamp goes first: frames without it are never used
    for name, frame in (("clean", part.clean), ("problems", part.problems), ("warnings", part.warnings)):
        tmp = folder / f".{part.table}.{name}.parquet.partial"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / f"{part.table}.{name}.parquet")
    meta = {"stamp": stamp, "source": part.source, "rows_in": part.rows_in, "notes": list(part.notes)}
    tmp = folder / f".{part.table}.json.partial"
    tmp.write_text(json.dumps(meta, default=str), encoding="utf-8")
    os.replace(tmp, meta_path)


def load_table_kept(
    path: Path | str, table: str, mapping: dict[str, dict[str, str]] | None, folder: Path | str
) -> tuple[Validated, bool]:
    """(``data.io.load_table(path, table, mapping)``, whether it came from ``folder``): the kept
    result when the file, the mapping and the code are as they were, else the table read and
    validated now (and kept). A bad file raises as ``load_table`` does, and nothing is kept."""
    from data.io import load_table

    folder = Path(folder)
    stamp = table_stamp(Path(path), table, mapping)
    kept = _read_kept(folder, table, stamp)
    if kept is not None:
        return kept, True
    part = load_table(path, table, mapping)
    if part.quarantined_outcomes is None:  # outcome tables are settled elsewhere, never kept here
        with contextlib.suppress(OSError):  # a read-only folder: validated again next time
            _keep(folder, part, stamp)
    return part, False
