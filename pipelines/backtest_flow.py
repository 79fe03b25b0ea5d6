"""Backtest flow: bundle (+ truth) -> weekly replay per strategy -> backtest.csv, HTML report, MLflow run.

The replay itself is ``models.backtest``; this module reads the inputs, prints progress, draws the
curves, writes the outputs and logs the run.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import Field

from models.backtest import STRATEGIES, Bandit, ReplayConfig
from pipelines.config import CONFIG_DIR, _Strict, load_yaml_config
from pipelines.runtime import progress
from pipelines.tasks import frame_task, pipeline_flow

EXPERIMENT = "customs-risk-backtest"


class AdaptiveConfig(_Strict):
    arms: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.10, 0.20, 0.30], min_length=1)
    discount: float = Field(0.8, gt=0, le=1)
    pseudo_count: float = Field(20.0, gt=0)
    novelty_weight: float = Field(1.0, ge=0)
    drift_gain: float = Field(0.5, ge=0)
    max_share: float = Field(0.5, ge=0, le=1)


class StrategyConfig(_Strict):
    exploration_share: float = Field(0.10, ge=0, le=1)
    hybrid_candidates: int = Field(5, ge=1)
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)


class RetrainConfig(_Strict):
    gate: str = Field("none", pattern="^(none|shadow)$")
    max_trees: int = Field(150, ge=10)
    validation_days: int = Field(30, ge=7)
    early_stopping_rounds: int = Field(30, ge=1)


class DriftConfig(_Strict):
    psi_warn: float = Field(0.25, gt=0)


class BacktestConfig(_Strict):
    strategies: StrategyConfig = Field(default_factory=StrategyConfig)
    reveal_channels: list[str] = Field(default_factory=lambda: ["red", "yellow"], min_length=1)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    seed: int = 0

    def replay_config(self, retrain: str) -> ReplayConfig:
        s, r = self.strategies, self.retrain
        return ReplayConfig(
            exploration_share=s.exploration_share,
            hybrid_candidates=s.hybrid_candidates,
            bandit=Bandit(**{**s.adaptive.model_dump(), "arms": tuple(s.adaptive.arms)}),
            reveal_channels=tuple(self.reveal_channels),
            retrain=retrain,
            gate=r.gate,
            max_trees=r.max_trees,
            validation_days=r.validation_days,
            early_stopping_rounds=r.early_stopping_rounds,
            psi_warn=self.drift.psi_warn,
            seed=self.seed,
        )


def load_backtest_config(path: Path | None = None) -> BacktestConfig:
    return load_yaml_config(BacktestConfig, path or CONFIG_DIR / "backtest.yaml")


@dataclass
class BacktestOutcome:
    rows: pd.DataFrame  # backtest.csv
    summary: pd.DataFrame
    run_id: str
    out: Path
    notes: list[str]
    result: object  # models.backtest.BacktestResult (per-strategy states, for inspection and tests)


# ---------------------------------------------------------------- tasks: one-line wraps
@frame_task(retries=2, retry_delay_seconds=[2, 5])
def load_inputs_task(bundle: Path, mapping: Path | None, truth: list[Path]):
    from data.io import load_bundle, load_mapping
    from pipelines.train_flow import _read_truth

    b = load_bundle(bundle, load_mapping(mapping))
    t = pd.concat([_read_truth(p) for p in truth], ignore_index=True) if truth else None
    return b, t


@frame_task()
def prepare_task(tables, weeks: int, cfg: ReplayConfig, truth, engine):
    from data.reference import hs_profiles, ports
    from models.backtest import prepare_replay
    from pipelines.config import load_train_config

    train = load_train_config()
    return prepare_replay(
        tables,
        hs_profiles(),
        ports(),
        weeks,
        train.model.params,
        train.model.num_boost_round,
        cfg,
        truth,
        engine,
    )


@frame_task()
def replay_task(data, strategies: list[str], capacity, rules, cfg: ReplayConfig, engine):
    from models.backtest import replay

    return replay(data, strategies, capacity, rules, cfg, engine, on_week=_print_week)


def _print_week(row: dict) -> None:
    progress(
        f"  week {row['week']} ({row['week_start']}) {row['strategy']:<11} selected {row['selected']:>5,}, "
        f"found {row['violations_found']:>4,} of {row['week_violations']:,} "
        f"(recall {row['recall']:.3f}, revenue {row['revenue_share']:.3f}), "
        f"exploration {row['exploration_share']:.2f}, new patterns {row['new_patterns']}, "
        f"model {row['model_version']}, drift {row['drift']:.2f}, {row['seconds']:.1f} s"
    )


# ---------------------------------------------------------------- the flow
@pipeline_flow(name="backtest")
def backtest_flow(
    bundle: Path,
    out: Path,
    weeks: int = 8,
    strategies: list[str] | None = None,
    truth: list[Path] | None = None,
    capacity_config: Path | None = None,
    retrain: str = "weekly",
    config_path: Path | None = None,
    mapping: Path | None = None,
    dask: str | None = None,
) -> BacktestOutcome:
    """Replay the last ``weeks`` weeks of the bundle under each strategy; write backtest.csv,
    summary.csv, curves.png and report.html to ``out`` and log an MLflow run."""
    from pipelines.distributed import engine_for, settings_for

    strategies = list(strategies or STRATEGIES)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        from data.errors import ConfigError

        raise ConfigError(f"unknown strategies {', '.join(unknown)}: choose from {', '.join(STRATEGIES)}")
    if retrain not in ("weekly", "never"):
        from data.errors import ConfigError

        raise ConfigError(f"--retrain must be weekly or never, not {retrain}")
    with engine_for(settings_for(dask)) as engine:
        progress(f"Backtest on {engine.name}")
        return _backtest(
            engine,
            Path(bundle),
            Path(out),
            weeks,
            strategies,
            truth,
            capacity_config,
            retrain,
            config_path,
            mapping,
        )


def _backtest(engine, bundle, out, weeks, strategies, truth, capacity_config, retrain, config_path, mapping):
    import mlflow

    from data.io import atomic_dir
    from models.backtest import summary
    from models.select import Capacity, rules_from_config
    from pipelines.config import load_rules_config, load_scoring_config
    from pipelines.train_flow import _code_version, ensure_experiment

    t0 = time.perf_counter()
    cfg = load_backtest_config(config_path)
    replay_cfg = cfg.replay_config(retrain)
    cap = load_scoring_config(capacity_config).capacity
    capacity = Capacity(
        cap.red_rate, cap.yellow_rate, cap.exploration_share, cap.exploration_method, cap.seed
    )
    rules = rules_from_config([r.model_dump() for r in load_rules_config().rules])
    truth = [Path(t) for t in truth or []]
    b, truth_frame = load_inputs_task(bundle, mapping, truth)
    progress(
        f"[1/4] bundle loaded: {len(b.tables['declarations']):,} declarations; "
        + (f"truth: {len(truth_frame):,} rows" if truth_frame is not None else "no truth")
    )
    data = prepare_task(b.tables, weeks, replay_cfg, truth_frame, engine)
    for note in data.notes:
        progress(f"      NOTE: {note}")
    progress(
        f"[2/4] replaying {weeks} weeks from {data.week_starts[0].date()}: starting model on "
        f"{len(data.train_y):,} outcomes known before ({int(data.train_y.sum()):,} violations), "
        f"{data.trees} trees; capacity red {capacity.red_rate:.1%} + yellow {capacity.yellow_rate:.1%} "
        "a day; "
        f"retrain {retrain}" + (f" (gate: {replay_cfg.gate})" if retrain == "weekly" else "")
    )
    result = replay_task(data, strategies, capacity, rules, replay_cfg, engine)
    rows = result.rows
    table = summary(rows)
    progress("[3/4] replay done")

    with atomic_dir(out) as tmp:
        rows.to_csv(tmp / "backtest.csv", index=False)
        table.to_csv(tmp / "summary.csv", index=False)
        png = curves_png(rows)
        (tmp / "curves.png").write_bytes(png)
        (tmp / "report.html").write_text(
            report_html(rows, table, png, result.notes, weeks, capacity, retrain), encoding="utf-8"
        )
    ensure_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"backtest {weeks} weeks from {data.week_starts[0].date()}") as run:
        mlflow.set_tags(
            {
                "bundle": str(bundle.resolve()),
                "code_version": _code_version(),
                "engine": engine.name,
                "truth": "yes" if truth_frame is not None else "no (biased toward the old regime's choices)",
            }
        )
        mlflow.log_params(
            {
                "weeks": weeks,
                "strategies": ",".join(strategies),
                "retrain": retrain,
                "gate": replay_cfg.gate,
                "trees": data.trees,
                "red_rate": capacity.red_rate,
                "yellow_rate": capacity.yellow_rate,
                "exploration_share": replay_cfg.exploration_share,
                "reveal_channels": ",".join(replay_cfg.reveal_channels),
            }
        )
        mlflow.log_dict(cfg.model_dump(), "config/backtest.json")
        for name, part in rows.groupby("strategy", sort=False):
            cumulative = part["violations_found"].cumsum()
            for step, (_, r) in enumerate(part.iterrows()):
                metrics = {
                    f"{name}_{k}": float(r[k])
                    for k in (
                        "recall",
                        "precision",
                        "revenue_share",
                        "exploration_share",
                        "new_patterns",
                        "drift",
                    )
                    if pd.notna(r[k])
                }
                metrics[f"{name}_cumulative_found"] = float(cumulative.iloc[step])
                mlflow.log_metrics(metrics, step=step)
        for _, r in table.iterrows():
            mlflow.log_metrics(
                {
                    f"total_{r['strategy']}_{k}": float(r[k])
                    for k in ("recall", "precision", "found")
                    if pd.notna(r[k])
                }
            )
        for name in ("backtest.csv", "summary.csv", "curves.png", "report.html"):
            mlflow.log_artifact(str(out / name), "backtest")
        run_id = run.info.run_id
    progress(
        f"[4/4] written to {out} (backtest.csv, summary.csv, report.html) in {time.perf_counter() - t0:.0f} s"
    )
    return BacktestOutcome(rows, table, run_id, out, result.notes, result)


# ---------------------------------------------------------------- the curves and the report
COLOURS = {
    "exploit": "#c0392b",
    "random": "#2980b9",
    "uncertainty": "#8e44ad",
    "hybrid": "#16a085",
    "adaptive": "#d35400",
    "rules": "#7f8c8d",
}


def curves_png(rows: pd.DataFrame) -> bytes:
    """Recall and revenue over the weeks per strategy, cumulative violations found, and the
    adaptive strategy's exploration share (with the measured drift)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = (
        (axes[0, 0], "recall", "recall of the week's violations"),
        (axes[0, 1], "revenue_share", "revenue share of the week's violations"),
        (axes[1, 0], "cumulative", "violations found, cumulative"),
    )
    for name, part in rows.groupby("strategy", sort=False):
        part = part.assign(cumulative=part["violations_found"].cumsum())
        for ax, col, _ in panels:
            ax.plot(part["week"], part[col], marker="o", ms=3, label=name, color=COLOURS.get(name))
    from matplotlib.ticker import MaxNLocator

    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax, _, title in panels:
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("week of the replay", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    ax = axes[1, 1]
    for name in ("adaptive", "random", "hybrid", "uncertainty"):
        part = rows[rows["strategy"] == name]
        if len(part):
            ax.plot(
                part["week"],
                part["exploration_share"],
                marker="o",
                ms=3,
                label=f"{name}: explored",
                color=COLOURS[name],
            )
    adaptive = rows[rows["strategy"] == "adaptive"]
    if len(adaptive):
        ax.plot(adaptive["week"], adaptive["drift"], ls="--", color="#555", label="adaptive: drift measured")
    ax.set_title("exploration share of red capacity (adaptive: bandit + drift)", fontsize=10)
    ax.set_xlabel("week of the replay", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def report_html(rows, table, png: bytes, notes, weeks, capacity, retrain) -> str:
    """A self-contained page: what was replayed, the notes, the curves, the summary and weekly tables."""
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False, "border": 0}
    img = "data:image/png;base64," + base64.b64encode(png).decode()
    note_items = (
        "".join(f"<li>{html.escape(n)}</li>" for n in notes) or "<li>outcomes revealed from the truth</li>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>customs-risk backtest</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}
table{{border-collapse:collapse;font-size:13px}}
td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
th{{background:#f4f4f4}}.note{{color:#8a4b00}}</style></head><body>
<h1>Backtest: {weeks} weeks, {html.escape(", ".join(rows["strategy"].unique()))}</h1>
<p>Each week every strategy's own model (trained only on the outcomes it revealed) scored the week's
declarations; it selected under the daily capacity (red {capacity.red_rate:.1%}, yellow
{capacity.yellow_rate:.1%}, risk rules first); only the selected items' outcomes were revealed;
retraining: {html.escape(retrain)}. Recall and revenue are shares of the week's violations that an
inspection would find.</p>
<ul class="note">{note_items}</ul>
<h2>Curves</h2>
<img src="{img}" alt="recall, revenue, cumulative finds and exploration share per week" width="100%">
<h2>Summary over the replay</h2>{table.to_html(**fmt)}
<h2>Week by week</h2>{rows.to_html(**fmt)}
</body></html>
"""


def summary_text(table: pd.DataFrame) -> str:
    """The summary table for the console."""
    cols = ["strategy", "selected", "found", "recall", "precision", "mean_revenue_share", "exploration_share"]
    cols += ["new_patterns", "last_week_recall", "seconds_per_week"]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")
