"""``customs-risk state build|show``: the feature state of a bundle, for operators.

Kept apart from ``pipelines.cli`` (which only registers it) so that the command line starts
without loading the feature code; everything heavy is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

state_app = typer.Typer(
    help="Feature state: the history as per-key accumulators, so a day scores at the cost of the day.",
    no_args_is_help=True,
)

BundleOption = Annotated[Path, typer.Option(help="Bundle folder: history and reference tables.")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@state_app.command("build")
def state_build(
    bundle: BundleOption,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping YAML.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Build from scratch, even when up to date.")] = False,
) -> None:
    """Bring the bundle's feature state up to date (build, update or rebuild, as scoring would)."""
    import time

    from data.errors import ConfigError, DataFileError
    from pipelines.feature_state import load_for_scoring

    t0 = time.perf_counter()
    try:
        _, run = load_for_scoring(Path(bundle), mapping, progress=typer.echo, force_rebuild=rebuild)
    except DataFileError as err:
        _fail(err.message)
    except ConfigError as err:
        _fail(str(err))
    if run.state is None:
        _fail("the feature state is off (CUSTOMS_RISK_FEATURE_STATE=off)")
    typer.echo(f"{run.line()} ({time.perf_counter() - t0:.1f}s) in {run.folder}")


@state_app.command("show")
def state_show(bundle: BundleOption) -> None:
    """What the stored feature state reflects: rows, end, files, outcomes, reference tables, parts."""
    import pandas as pd

    from pipelines.feature_state import code_version, history_change, load, state_folder

    folder = state_folder(bundle)
    state = load(folder)
    if state is None:
        _fail(f"no feature state in {folder}; build one: customs-risk state build --bundle {bundle}")
    meta = state.meta
    was = meta.get("history_files", {})
    moved = history_change(Path(bundle), state)
    stale = moved["changed"] + moved["added"]
    current = meta.get("version") == code_version()
    typer.echo(f"folder:        {folder}")
    typer.echo(f"declarations:  {state.rows:,} up to {pd.Timestamp(state.end)}")
    typer.echo(f"outcomes:      {len(state.outcomes):,} ({len(state.labelled):,} declarations with one)")
    since = f"{len(stale)} changed or new since" if stale else "unchanged"
    typer.echo(f"history files: {len(was):,}; {since}")
    typer.echo(f"feature code:  {'current' if current else 'other (the next score rebuilds)'}")
    typer.echo(f"built:         {meta.get('built_at', '?')}; updated: {meta.get('updated_at', 'never')}")
    for table, fp in sorted(meta.get("references", {}).items()):
        typer.echo(f"reference:     {table} {fp or 'absent'}")
    size = sum(f.stat().st_size for f in Path(folder).iterdir())
    typer.echo(f"size:          {size / 2**20:,.1f} MiB")
    typer.echo(state.describe().to_string(index=False))
