"""The ``customs-risk`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from pipelines.state_cli import state_app

app = typer.Typer(
    help="customs-risk: score customs declarations for strategic-mineral smuggling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


DaskChoice = Annotated[
    str | None,
    typer.Option(
        "--dask",
        help="Run features, fitting, scoring and SHAP on Dask: 'local' (a local cluster for this run), "
        "a scheduler address (tcp://host:8786) or 'off'. Default: DASK_SCHEDULER_ADDRESS or "
        "CUSTOMS_RISK_DASK=local if set, else this machine.",
    ),
]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _start_flows():
    """Settings for a command that runs flows, and where its flow runs are recorded (a Prefect
    server when one is configured or running; see ``pipelines.runtime.choose_flow_runs``)."""
    from pipelines.runtime import choose_flow_runs, configure, flow_runs_line, quiet_expected_flow_errors

    settings = configure()
    _guard(lambda: choose_flow_runs(settings))
    quiet_expected_flow_errors()
    typer.secho(flow_runs_line(), dim=True)
    return settings


def _guard(fn):
    """Turn every user error (pipelines.errors.user_errors) into one clear message, never a traceback."""
    from pipelines.errors import user_errors, user_message

    try:
        return fn()
    except user_errors() as err:
        _fail(user_message(err))


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the world into (replaced whole).")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.")] = 1,
    days: Annotated[int, typer.Option(min=2, help="Days of declaration history.")] = 180,
    rows_per_day: Annotated[int, typer.Option(min=10, help="Declarations per day.")] = 2000,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    profile: Annotated[
        str,
        typer.Option(
            help="default: the documented world; foreign: another administration's data, drawn "
            "independently of the features. Foreign seeds 1000 and up are HELD OUT for the final "
            "evaluation: develop on seeds below 1000 only."
        ),
    ] = "default",
) -> None:
    """Generate a synthetic customs world: a bundle, the next day's manifest, and its truth."""
    from synth import PROFILES, generate_world, write_world

    if fmt not in {"csv", "parquet"}:
        _fail("--format must be csv or parquet")
    if profile not in PROFILES:
        _fail(f"--profile must be one of {', '.join(PROFILES)}")
    t0 = time.perf_counter()
    held = (
        " (a HELD-OUT seed: for the final evaluation only)" if profile == "foreign" and seed >= 1000 else ""
    )
    typer.echo(
        f"Generating {days} days x {rows_per_day:,} declarations ({profile} profile, seed {seed}){held}..."
    )
    world = generate_world(seed=seed, days=days, rows_per_day=rows_per_day, profile=profile)
    paths = write_world(world, out, fmt=fmt)
    n = len(world.declarations)
    v = int(world.history_truth["is_violation"].sum())
    typer.echo(
        f"Done in {time.perf_counter() - t0:.1f}s: {n:,} history declarations "
        f"({v:,} violations planted, {len(world.inspections):,} inspected), "
        f"{len(world.manifest):,} in the next day's manifest.\n"
        f"  bundle:   {paths['bundle']}\n  manifest: {paths['manifest']}\n"
        f"  truth:    {paths['truth']} (for evaluation only; scoring never reads it)"
    )


@app.command()
def validate(
    bundle: Annotated[Path | None, typer.Option(help="Bundle folder to validate.")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Declarations file to validate.")] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Column-mapping YAML (your name: contract name).")
    ] = None,
    quarantine_out: Annotated[Path | None, typer.Option(help="Write quarantined rows to this CSV.")] = None,
) -> None:
    """Check a bundle or a manifest against the data contract; list every quarantined row."""
    from data.io import load_bundle, load_manifest, load_mapping, write_frame

    if (bundle is None) == (manifest is None):
        _fail("give exactly one of --bundle or --manifest")

    def run():
        cols = load_mapping(mapping)
        if bundle is not None:
            b = load_bundle(bundle, cols)
            typer.echo(b.summary())
            return b.quarantine, b.warnings
        v = load_manifest(manifest, cols)
        typer.echo(
            f"Manifest {manifest}: {v.rows_in:,} rows in = {len(v.clean):,} valid "
            f"+ {v.rows_quarantined:,} quarantined"
        )
        for note in v.notes:
            typer.echo(f"  note: {note}")
        return v.quarantine, v.warnings

    q, warned = _guard(run)
    if len(warned):
        for _, row in warned.head(10).iterrows():
            typer.echo(
                f"  kept with a warning: {Path(row['source']).name} row {row['row_number']} "
                f"({row['key'] or 'no id'}): {row['column']} {row['value']!r} {row['problem']}"
            )
        if len(warned) > 10:
            typer.echo(f"  ... and {len(warned) - 10:,} more kept with a warning")
    for _, row in q.head(20).iterrows():
        typer.echo(
            f"  quarantined: {Path(row['source']).name} row {row['row_number']} "
            f"({row['key'] or 'no id'}): {row['problems']}"
        )
    if len(q) > 20:
        typer.echo(f"  ... and {len(q) - 20:,} more")
    if quarantine_out is not None:
        _guard(lambda: write_frame(q, quarantine_out))
        typer.echo(f"Quarantine list written to {quarantine_out}")


@app.command()
def train(
    bundle: Annotated[Path, typer.Option(help="Bundle folder with history and inspection outcomes.")],
    config: Annotated[
        Path | None, typer.Option(help="Training YAML (default: pipelines/config/train.yaml).")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping YAML.")] = None,
    outcomes: Annotated[
        list[Path] | None,
        typer.Option(help="Extra outcomes (inspections layout), e.g. exported from the review app."),
    ] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Register as challenger only.")] = False,
    truth: Annotated[
        list[Path] | None,
        typer.Option(
            help="Generated worlds only: truth file(s) to also evaluate every row of the validation window "
            "(repeat for the truth of scored days appended to the history)."
        ),
    ] = None,
    dask: DaskChoice = None,
) -> None:
    """Train the XGBoost risk scorer on a bundle, track it in MLflow, promote it if it is better."""
    settings = _start_flows()

    def run():
        from pipelines.train_flow import train_flow

        return train_flow(
            bundle=bundle,
            config_path=config,
            mapping=mapping,
            outcomes=list(outcomes or []),
            promote=not no_promote,
            truth=truth,
            dask=dask,
        )

    outcome = _guard(run)
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    typer.echo(
        "\nLatest validation window, labelled items only: model vs baselines\n"
        "  (n% = n% of the LABELLED items, which the old regime chose: optimistic, not n% of traffic)"
    )
    typer.echo(outcome.comparison.to_string(**fmt))
    fair = outcome.fair_comparison
    if "random_quota" in fair and fair["random_quota"]["pr_auc"].notna().any():
        m = outcome.metrics
        typer.echo(
            f"\nFair (a): random-quota inspections only ({int(m.get('random_quota_items', 0)):,} items, "
            f"{int(m.get('random_quota_violations', 0)):,} violations; a random sample of traffic); "
            f"model PR-AUC 95% interval {m.get('random_quota_pr_auc_low', float('nan')):.3f}-"
            f"{m.get('random_quota_pr_auc_high', float('nan')):.3f}"
        )
        typer.echo(fair["random_quota"].to_string(**fmt))
    else:
        typer.echo(
            "\nFair (a): no random-quota inspections with both outcomes in the window (no selected_by?)"
        )
    if "ipw" in fair:
        m = outcome.metrics
        low, high = m.get("ipw_pr_auc_low", float("nan")), m.get("ipw_pr_auc_high", float("nan"))
        effective = m.get("ipw_effective_violations", float("nan"))
        typer.echo(
            "\nFair (b): propensity-weighted, n% = n% of ALL declarations of the window; "
            f"model PR-AUC 95% interval {low:.3f}-{high:.3f}; "
            f"it rests on {effective:.0f} effective violations"
            + (" (few: trust it loosely)" if effective < 30 else "")
        )
        typer.echo(fair["ipw"].to_string(**fmt))
    table = outcome.comparison.set_index("scorer")
    for rate in ("2%", "5%"):
        gain = table.loc["model", f"precision@{rate}"] - table.loc["generic", f"precision@{rate}"]
        rev = table.loc["model", f"revenue@{rate}"] - table.loc["generic", f"revenue@{rate}"]
        typer.echo(
            f"Full model vs generic baseline at {rate} inspected: precision {gain:+.3f}, revenue {rev:+.3f}"
        )
    if outcome.truth_comparison is not None:
        typer.echo(
            "\nEvery declaration of the validation window against the generated truth (the fair figures "
            "above estimate the last row: inspectors miss some violations, and labels cannot show those)"
        )
        typer.echo(outcome.truth_comparison.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(
        f"\nMLflow run {outcome.run_id} in {settings.mlflow_tracking_uri} (see it with: make mlflow-ui)"
    )
    typer.echo(
        f"Model version {outcome.version}: "
        f"{'champion' if outcome.promoted else 'challenger only'} - {outcome.reason}"
    )


@app.command()
def score(
    manifest: Annotated[Path, typer.Option(help="The day's declarations file (CSV or Parquet).")],
    bundle: Annotated[Path, typer.Option(help="Bundle folder: history and reference tables.")],
    out: Annotated[Path, typer.Option(help="Output folder; the day's results go in OUT/<day>/.")],
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping YAML.")] = None,
    config: Annotated[Path | None, typer.Option(help="Scoring YAML (capacities, exploration).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Risk rules YAML.")] = None,
    append_to_history: Annotated[
        bool,
        typer.Option(help="Add the day's valid declarations to BUNDLE/declarations/ for retraining."),
    ] = False,
    dask: DaskChoice = None,
) -> None:
    """Score a day's manifest with the champion model: channels, reasons, report, cases."""
    _start_flows()

    def run():
        from pipelines.score_flow import score_flow

        return score_flow(
            manifest=manifest,
            bundle=bundle,
            out=out,
            mapping=mapping,
            config_path=config,
            rules_path=rules,
            append_to_history=append_to_history,
            dask=dask,
        )

    result = _guard(run)
    _print_score_summary(result)
    _QUICK_EXIT["score"] = True


def _print_score_summary(result) -> None:
    typer.echo(
        f"\nDay {result.day}: {result.rows_in:,} rows in = {result.rows_scored:,} scored "
        f"+ {result.rows_quarantined:,} quarantined"
    )
    typer.echo("Channels: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.channels.items())))
    typer.echo(f"Cases: {result.cases}")
    typer.echo(f"Report:  {result.out_dir / 'report.html'}")
    typer.echo(f"Scored:  {result.out_dir / 'scored.csv'} (and .parquet)")
    for _, row in result.top.head(3).iterrows():
        typer.echo(
            f"\n  {row['declaration_id']}  risk {row['risk_score']:.3f}  "
            f"selected by {row['selected_by']}{' (' + row['rule_hits'] + ')' if row['rule_hits'] else ''}"
        )
        for k in (1, 2, 3):
            if row[f"reason_{k}"]:
                typer.echo(f"    - {row[f'reason_{k}']}")


@app.command()
def backtest(
    bundle: Annotated[Path, typer.Option(help="Bundle folder: the history to replay and its outcomes.")],
    out: Annotated[
        Path, typer.Option(help="Output folder (replaced): backtest.csv, summary.csv, report.html.")
    ],
    weeks: Annotated[int, typer.Option(min=1, help="Replay the last N weeks of the history.")] = 8,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated: exploit, random, uncertainty, hybrid, adaptive, rules.")
    ] = "exploit,random,uncertainty,hybrid,adaptive,rules",
    truth: Annotated[
        list[Path] | None,
        typer.Option(
            help="Generated worlds: truth file(s) revealing any inspected item's outcome. Without it "
            "only items actually inspected reveal one (figures biased toward the old regime's choices)."
        ),
    ] = None,
    capacity_config: Annotated[
        Path | None, typer.Option(help="Scoring YAML whose capacity section to use (default scoring.yaml).")
    ] = None,
    retrain: Annotated[str, typer.Option(help="weekly (retrain at each week's end) or never.")] = "weekly",
    config: Annotated[
        Path | None, typer.Option(help="Backtest YAML (default pipelines/config/backtest.yaml).")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping YAML.")] = None,
    dask: DaskChoice = None,
) -> None:
    """Replay the last weeks of a bundle under inspection strategies (capacity, exploration)."""
    _start_flows()

    def run():
        from pipelines.backtest_flow import backtest_flow, summary_text

        outcome = backtest_flow(
            bundle=bundle,
            out=out,
            weeks=weeks,
            strategies=[s.strip() for s in strategies.split(",") if s.strip()],
            truth=truth,
            capacity_config=capacity_config,
            retrain=retrain,
            config_path=config,
            mapping=mapping,
            dask=dask,
        )
        typer.echo(
            "\nOver the replay (recall, revenue: shares of the violations an inspection would find; "
            "without --truth, of those the old regime recorded)"
        )
        typer.echo(summary_text(outcome.summary))
        for note in outcome.notes:
            typer.echo(f"NOTE: {note}")
        typer.echo(f"\nReport: {out / 'report.html'}  MLflow run {outcome.run_id}")

    _guard(run)


@app.command()
def pipeline(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Where the default world lives (default: data/worlds/default)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 1,
    days: Annotated[int, typer.Option(help="Days of generated history.")] = 180,
    rows_per_day: Annotated[int, typer.Option(help="Declarations per day.")] = 2000,
    regenerate: Annotated[bool, typer.Option(help="Generate the world again even if it exists.")] = False,
    dask: DaskChoice = None,
) -> None:
    """The whole day on the embedded default: generate a world, train, score, report."""
    from pipelines.runtime import configure

    settings = configure()
    world = workdir or settings.default_world
    t0 = time.perf_counter()
    if regenerate or not (world / "world.json").exists():
        generate(out=world, seed=seed, days=days, rows_per_day=rows_per_day, fmt="csv")
    else:
        typer.echo(f"Using the generated world in {world} (--regenerate to make it again)")
    manifests = sorted((world / "manifest").glob("*.csv"))
    if not manifests:
        _fail(f"{world / 'manifest'} holds no manifest; run with --regenerate")
    typer.echo("\n== Training ==")
    train(
        bundle=world / "bundle",
        config=None,
        mapping=None,
        outcomes=None,
        no_promote=False,
        truth=sorted((world / "truth").glob("*_truth.*")),
        dask=dask,
    )
    typer.echo("\n== Scoring the next day ==")
    score(
        manifest=manifests[-1],
        bundle=world / "bundle",
        out=world / "out",
        mapping=None,
        config=None,
        rules=None,
        dask=dask,
    )
    typer.echo(f"\nWhole day done in {time.perf_counter() - t0:.0f}s. Open the report: {world / 'out'}")


@app.command()
def serve(
    config: Annotated[
        Path | None, typer.Option(help="Schedule YAML (default: pipelines/config/schedule.yaml).")
    ] = None,
) -> None:
    """Run daily scoring of the drop folder and weekly retraining on their schedules (Prefect)."""
    from pipelines.config import load_schedule_config
    from pipelines.runtime import configure

    configure()
    cfg = _guard(lambda: load_schedule_config(config))
    from pipelines.serve import serve_all

    def run() -> str:
        try:
            return serve_all(cfg)
        except KeyboardInterrupt:
            return "SIGINT"
        except RuntimeError as err:  # the Prefect server would not start
            _fail(str(err))

    typer.echo(f"stopped ({_guard(run)})")


@app.command()
def contract() -> None:
    """Print the data contract (tables, columns, types, meaning) as Markdown."""
    from data.contract import contract_markdown

    sys.stdout.write(contract_markdown())


models_app = typer.Typer(help="Model registry: list versions, promote, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "customs-risk",
) -> None:
    """List registered versions with their aliases (champion, challenger) and metrics."""
    from pipelines.registry import list_versions
    from pipelines.runtime import configure

    configure()
    try:
        table = list_versions(name)
    except Exception as err:
        _fail(
            f"cannot list model '{name}': {err.__class__.__name__}: {str(err).splitlines()[0]}; "
            "train one first with: customs-risk train --bundle DIR"
        )
    typer.echo(table.to_string(index=False) if len(table) else f"model '{name}' has no versions")


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (kept on the version).")] = "promoted by hand",
    name: Annotated[str, typer.Option(help="Registered model name.")] = "customs-risk",
) -> None:
    """Make a version the champion by hand; the replaced champion is remembered for rollback."""
    from pipelines.registry import promote
    from pipelines.runtime import configure

    configure()
    try:
        promote(name, version, reason)
    except Exception as err:
        _fail(f"cannot promote {name} version {version}: {str(err).splitlines()[0]}")
    typer.echo(f"{name} version {version} is now champion")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "customs-risk",
) -> None:
    """Point the champion alias back at the version the current champion replaced."""
    from pipelines.registry import rollback
    from pipelines.runtime import configure

    configure()
    try:
        old, new = rollback(name)
    except Exception as err:
        _fail(str(err).splitlines()[0])
    typer.echo(f"{name}: champion rolled back from version {old} to version {new}")


# ---------------------------------------------------------------- case review (review/)
users_app = typer.Typer(help="Manage the users of the case review app.", no_args_is_help=True)
outcomes_app = typer.Typer(help="Investigators' recorded outcomes.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(outcomes_app, name="outcomes")
app.add_typer(state_app, name="state")  # customs-risk state build|show


def _review_store():
    from pipelines.settings import load_settings
    from review.store import open_store

    return open_store(load_settings().database_url)


def _read_new_password() -> str:
    """A new password: typed twice at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@app.command()
def review(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option("--secure-cookies", help="Mark the session cookie Secure (behind HTTPS)."),
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (one per core).")] = 1,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            help="Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-"
            "separated; default CUSTOMS_RISK_TRUSTED_PROXIES, else none)."
        ),
    ] = None,
) -> None:
    """Serve the investigators' case review web app (DATABASE_URL is the case store)."""
    from sqlalchemy.engine import make_url

    from pipelines.settings import load_settings
    from review.serve import default_secret_file, serve
    from review.web import TRUSTED_PROXIES_ENV, parse_trusted_proxies

    settings = load_settings()
    try:  # a bad list stops here with one line, before anything starts
        parse_trusted_proxies(
            trusted_proxies if trusted_proxies is not None else os.environ.get(TRUSTED_PROXIES_ENV, "")
        )
    except ValueError as err:
        _fail(f"{err}; fix --trusted-proxies or {TRUSTED_PROXIES_ENV}")
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    typer.echo(f"Case review on http://{host}:{port} (case store: {shown})")
    serve(
        settings.database_url,
        host=host,
        port=port,
        secure_cookies=secure_cookies,
        workers=workers,
        secret_file=default_secret_file(settings.database_url, settings.workdir),
        trusted_proxies=trusted_proxies,
    )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Username (lower-case letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="investigator, supervisor or admin.")],
) -> None:
    """Add a user; the password is prompted for (or read from standard input)."""
    import getpass

    store = _review_store()
    try:
        store.add_user(name, role, _read_new_password(), actor=f"cli:{getpass.getuser()}")
    except ValueError as err:
        _fail(str(err))
    finally:
        store.close()
    typer.echo(f"Added {role} {name}.")


@users_app.command("passwd")
def users_passwd(name: Annotated[str, typer.Argument(help="Username.")]) -> None:
    """Set a user's password (prompted for, or read from standard input); ends their sessions."""
    import getpass

    store = _review_store()
    try:
        store.update_user(name, actor=f"cli:{getpass.getuser()}", password=_read_new_password())
    except ValueError as err:
        _fail(str(err))
    finally:
        store.close()
    typer.echo(f"Password of {name} changed.")


@users_app.command("list")
def users_list() -> None:
    """List the users, their roles and whether they may log in."""
    store = _review_store()
    try:
        for account in store.list_accounts():
            state = "active" if account.active else "disabled"
            typer.echo(f"{account.username:<24} {account.role:<13} {state}")
    finally:
        store.close()


@outcomes_app.command("export")
def outcomes_export(
    out: Annotated[Path, typer.Option(help="CSV to write (inspections layout; replaced whole).")],
    include_unconfirmed: Annotated[
        bool,
        typer.Option(help="Also violations still waiting for a supervisor's confirmation (four eyes)."),
    ] = False,
) -> None:
    """Export recorded outcomes as inspection labels for training ('not inspected' left out, and
    violations a supervisor has not confirmed yet unless --include-unconfirmed)."""
    store = _review_store()
    try:
        count = store.export_outcomes(out, confirmed_only=not include_unconfirmed)
    finally:
        store.close()
    typer.echo(f"Wrote {count:,} outcomes to {out} (train on them with: customs-risk train --outcomes {out})")


_QUICK_EXIT: dict[str, bool] = {}


def main() -> None:
    """The console entry point. After a finished ``score`` the process leaves without tearing
    down every imported library one by one (about 1.5 s of C-level clean-up, longer than writing
    the day's outputs): exit handlers run and the streams are flushed first, and by then every
    output is written, the cases stored and the MLflow helper stopped."""
    try:
        app()
    except SystemExit as done:
        if _QUICK_EXIT.get("score") and done.code in (None, 0):
            import atexit
            import logging

            atexit._run_exitfuncs()  # e.g. a temporary Prefect server is stopped
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


if __name__ == "__main__":
    main()
