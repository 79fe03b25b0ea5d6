"""Typed configuration, loaded from the committed YAML files in pipelines/config/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Promotion(_Strict):
    floor: float = 0.05
    min_improvement: float = 0.0
    noise_z: float = Field(1.0, ge=0)  # the gain must exceed this many bootstrap standard deviations
    resamples: int = Field(200, ge=20)


class Problem(_Strict):
    target: str = "violation"
    unlabelled: str = "excluded"
    primary_metric: str = Field("ipw_pr_auc", pattern="^(ipw_pr_auc|random_quota_pr_auc|pr_auc)$")
    inspection_rates_pct: list[float] = Field(default_factory=lambda: [1, 2, 5, 10])
    promotion: Promotion = Field(default_factory=Promotion)


class Split(_Strict):
    validation_days: int = Field(30, ge=1)
    gap_days: int = Field(0, ge=0)
    folds: int = Field(3, ge=1, le=12)


class Labels(_Strict):
    max_unusable_violation_share: float = Field(0.10, ge=0, le=1)


class ModelParams(_Strict):
    registered_name: str = "customs-risk"
    num_boost_round: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    params: dict[str, float | int | str] = Field(default_factory=dict)


class SelectionBias(_Strict):
    compare: bool = True
    max_weight: float = Field(200.0, ge=1)
    min_propensity: float = Field(0.002, gt=0, le=1)


class Drift(_Strict):
    recent_days: int = Field(14, ge=1)
    psi_warn: float = 0.25
    # the training window a scored day is compared with: the newest declarations of the bundle
    reference_days: int = Field(90, ge=1)


class Search(_Strict):
    enabled: bool = False
    trials: int = Field(15, ge=1)


class TrainConfig(_Strict):
    problem: Problem = Field(default_factory=Problem)
    labels: Labels = Field(default_factory=Labels)
    split: Split = Field(default_factory=Split)
    model: ModelParams = Field(default_factory=ModelParams)
    selection_bias: SelectionBias = Field(default_factory=SelectionBias)
    drift: Drift = Field(default_factory=Drift)
    search: Search = Field(default_factory=Search)


def load_yaml_config(model: type[BaseModel], path: Path):
    """Read a YAML file into a typed config; errors name the file and the field."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read ({str(err).splitlines()[0]})") from None
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from None


def load_train_config(path: Path | None = None) -> TrainConfig:
    return load_yaml_config(TrainConfig, path or CONFIG_DIR / "train.yaml")


class CapacityConfig(_Strict):
    red_rate: float = Field(0.02, ge=0, le=1)
    yellow_rate: float = Field(0.05, ge=0, le=1)
    exploration_share: float = Field(0.10, ge=0, le=1)
    exploration_method: str = Field("random", pattern="^(random|uncertainty)$")
    seed: int = 0


class ExplanationConfig(_Strict):
    top_reasons: int = Field(5, ge=3)
    exact_limit: int = Field(20_000, ge=0)


class ReportConfig(_Strict):
    top_cases: int = Field(15, ge=1)


class ScoringModel(_Strict):
    registered_name: str = "customs-risk"
    alias: str = "champion"


class ScoringDrift(_Strict):
    psi_warn: float = Field(0.25, gt=0)  # a PSI above this warns in summary.json and the report
    # features that grow with time by construction (counts, ages), left out of the comparison
    grow_with_time: list[str] = Field(default_factory=lambda: list(_grow_with_time()))
    log_to_mlflow: bool = True  # one run per scored day in the customs-risk-scoring experiment


def _grow_with_time() -> tuple[str, ...]:
    from models.drift import GROW_WITH_TIME

    return GROW_WITH_TIME


class ScoringConfig(_Strict):
    drift: ScoringDrift = Field(default_factory=ScoringDrift)
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    explanations: ExplanationConfig = Field(default_factory=ExplanationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    model: ScoringModel = Field(default_factory=ScoringModel)


class RuleCondition(_Strict):
    column: str
    op: str = Field(pattern="^(>|>=|<|<=|==|!=)$")
    value: float


class RuleConfig(_Strict):
    name: str
    description: str
    channel: str = Field(pattern="^(red|yellow)$")
    any_of: list[list[RuleCondition]]
    needs: list[str] = Field(default_factory=list)  # tables the rule cannot fire without
    reason: str = ""  # what this item did, from its context: "{license_problem}"


class RulesConfig(_Strict):
    # a rule-selected item's published score is at least this: its channel's threshold of the
    # day (the lowest score the model selected for it), a fixed number, or no floor
    score_floor: Literal["channel_threshold", "none"] | Annotated[float, Field(ge=0, le=1)] = (
        "channel_threshold"
    )
    rules: list[RuleConfig] = Field(default_factory=list)


def load_scoring_config(path: Path | None = None) -> ScoringConfig:
    return load_yaml_config(ScoringConfig, path or CONFIG_DIR / "scoring.yaml")


def load_rules_config(path: Path | None = None) -> RulesConfig:
    return load_yaml_config(RulesConfig, path or CONFIG_DIR / "rules.yaml")


class DailyScoring(_Strict):
    cron: str = "30 6 * * *"
    drop_folder: str = "data/drop"
    bundle: str = "data/worlds/default/bundle"
    out: str = "data/results"


class WeeklyRetraining(_Strict):
    cron: str = "0 3 * * 1"
    bundle: str = "data/worlds/default/bundle"


class PrefectServer(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(4200, ge=1, le=65535)


class ScheduleConfig(_Strict):
    timezone: str = "UTC"
    daily_scoring: DailyScoring = Field(default_factory=DailyScoring)
    weekly_retraining: WeeklyRetraining = Field(default_factory=WeeklyRetraining)
    prefect_server: PrefectServer = Field(default_factory=PrefectServer)


def load_schedule_config(path: Path | None = None) -> ScheduleConfig:
    return load_yaml_config(ScheduleConfig, path or CONFIG_DIR / "schedule.yaml")
