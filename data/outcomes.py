"""Inspection outcomes, settled against the declarations: no outcome is lost without a count and a reason.

An outcome is the most expensive fact in a bundle. Validation already keeps a row whose
defects lie in fields the label does not need (the field is blanked, the problem reported as
a warning). Settling then joins the outcomes to the declarations:

- an outcome with no recording date is dated from its declaration plus the bundle's usual delay;
- a later outcome for the same declaration supersedes an earlier one (the earlier is set aside,
  counted);
- an outcome whose declaration is not in the bundle cannot be learned from: it is counted and
  reported, usually a scored day that was never appended to the history.

``OutcomeReport`` says how many outcomes (and violations) were read, kept, kept with a
warning and set aside, per reason; ``validate`` and ``train`` print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.arrays import isin
from data.validate import ROW

UNMATCHED = "matches no declaration in the bundle"
SUPERSEDED = "superseded by a later outcome for the same declaration"
UNMATCHED_HINT = (
    "usually a scored day that was never appended to the history: score with --append-to-history, "
    "or add that day's declarations file to BUNDLE/declarations/"
)


@dataclass
class OutcomeReport:
    """What became of every outcome row read."""

    read: int = 0
    violations_read: int = 0
    kept: int = 0
    violations_kept: int = 0
    kept_with_warning: dict[str, int] = field(default_factory=dict)  # reason -> rows
    set_aside: dict[str, int] = field(default_factory=dict)  # reason -> rows
    violations_set_aside: dict[str, int] = field(default_factory=dict)  # reason -> violations
    rows_with_warning: int = 0
    dated_from_declaration: int = 0
    typologies_per_violation: float = float("nan")

    @property
    def unusable_violation_share(self) -> float:
        """Share of the violations read that cannot be learned from (set aside or unmatched)."""
        lost = sum(self.violations_set_aside.values())
        return lost / self.violations_read if self.violations_read else 0.0

    def lines(self) -> list[str]:
        """The report in plain words, for the console."""
        out = [
            f"outcomes: {self.read:,} read ({self.violations_read:,} violations): "
            f"{self.kept:,} kept ({self.violations_kept:,} violations), "
            f"{self.rows_with_warning:,} of them with a warning, "
            f"{sum(self.set_aside.values()):,} set aside"
        ]
        for reason, n in sorted(self.kept_with_warning.items(), key=lambda kv: -kv[1]):
            out.append(f"  kept with a warning: {n:,} x {reason}")
        if self.dated_from_declaration:
            out.append(
                f"  kept with a warning: {self.dated_from_declaration:,} x no usable inspected_on: "
                "dated from the declaration plus the bundle's usual delay"
            )
        for reason, n in sorted(self.set_aside.items(), key=lambda kv: -kv[1]):
            v = self.violations_set_aside.get(reason, 0)
            hint = f" ({UNMATCHED_HINT})" if reason.endswith(UNMATCHED) else ""
            out.append(f"  set aside: {n:,} x {reason} ({v:,} violations){hint}")
        if self.violations_kept and np.isfinite(self.typologies_per_violation):
            out.append(f"  typologies per violation: {self.typologies_per_violation:.2f} on average")
        return out

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "violations_read": self.violations_read,
            "kept": self.kept,
            "violations_kept": self.violations_kept,
            "rows_with_warning": self.rows_with_warning,
            "kept_with_warning": dict(self.kept_with_warning),
            "set_aside": dict(self.set_aside),
            "violations_set_aside": dict(self.violations_set_aside),
            "dated_from_declaration": self.dated_from_declaration,
            "unusable_violation_share": self.unusable_violation_share,
        }


def _reason(problems: pd.DataFrame) -> pd.Series:
    """A problem's reason without its value: 'seized_value_usd is not a number'."""
    text = problems["problem"].str.replace("; the field was left blank and the row kept", "", regex=False)
    return np.where(problems["column"].eq(""), text, problems["column"] + " " + text)


def settle_outcomes(
    inspections: pd.DataFrame,
    declarations: pd.DataFrame,
    warnings: pd.DataFrame,
    problems: pd.DataFrame,
    quarantined_outcomes: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, OutcomeReport]:
    """Join validated outcomes to the declarations: (usable outcomes, set-aside problems, report).

    ``inspections`` are the clean rows of every outcome file in order (a later file's outcome
    for the same declaration wins a tie on the date), with ``_source`` and ``_row_number``;
    ``warnings``/``problems`` the validation's long-form lists for them; ``quarantined_outcomes``
    (source, row_number, outcome) the outcome of each quarantined row where readable, to count
    the violations among them.
    """
    report = OutcomeReport()
    quarantined_rows = problems[["source", ROW]].drop_duplicates() if len(problems) else problems
    report.read = len(inspections) + len(quarantined_rows)
    viol = inspections["outcome"].eq("violation").to_numpy()
    q_viol = 0
    if len(problems):
        first = problems.drop_duplicates(["source", ROW]).copy()
        first["reason"] = _reason(first)
        is_v = pd.Series(False, index=first.index)
        if quarantined_outcomes is not None and len(quarantined_outcomes):
            said = first[["source", ROW]].merge(quarantined_outcomes, on=["source", ROW], how="left")
            is_v = pd.Series(said["outcome"].eq("violation").to_numpy(), index=first.index)
        for reason, grp in first.groupby("reason"):
            report.set_aside[str(reason)] = len(grp)
            report.violations_set_aside[str(reason)] = int(is_v[grp.index].sum())
        q_viol = int(is_v.sum())
    report.violations_read = int(viol.sum()) + q_viol

    ins = inspections.reset_index(drop=True)
    # dated from the declaration where the recording date is missing
    decl_time = pd.Series(declarations["declared_at"].to_numpy(), index=declarations["declaration_id"])
    decl_time = decl_time[~decl_time.index.duplicated()]
    declared = pd.Series(decl_time.reindex(ins["declaration_id"]).to_numpy(), index=ins.index)
    undated = ins["inspected_on"].isna()
    if undated.any():
        lag = (ins["inspected_on"] - declared).dropna()
        usual = lag.median() if len(lag) else pd.Timedelta(days=0)
        fill = (declared + usual).where(declared.notna())
        ins = ins.assign(inspected_on=ins["inspected_on"].fillna(fill))
        report.dated_from_declaration = int((undated & fill.notna()).sum())

    set_aside: list[pd.DataFrame] = []
    matched = isin(ins["declaration_id"], declarations["declaration_id"])
    if (~matched).any():
        set_aside.append(_aside(ins[~matched], UNMATCHED))
    ins = ins[matched]
    # a later outcome for the same declaration supersedes an earlier one
    order = np.lexsort((np.arange(len(ins)), ins["inspected_on"].to_numpy()))
    ins = ins.iloc[order]
    later = ins["declaration_id"].duplicated(keep="last")
    if later.any():
        set_aside.append(_aside(ins[later], SUPERSEDED))
    ins = ins[~later].sort_index().reset_index(drop=True)
    for part in set_aside:
        reason = "declaration_id " + part["problem"].iloc[0]
        report.set_aside[reason] = report.set_aside.get(reason, 0) + len(part)
        report.violations_set_aside[reason] = report.violations_set_aside.get(reason, 0) + int(
            part["_violation"].sum()
        )

    report.kept = len(ins)
    report.violations_kept = int(ins["outcome"].eq("violation").sum())
    if len(warnings):
        kept_keys = set(zip(ins["_source"].astype("str"), ins["_row_number"].astype("int64"), strict=True))
        w = warnings.assign(reason=_reason(warnings))
        keep = [(s, r) in kept_keys for s, r in zip(w["source"], w[ROW], strict=True)]
        w = w[np.asarray(keep, dtype=bool)]
        report.kept_with_warning = {str(k): int(v) for k, v in w.groupby("reason")[ROW].size().items()}
        report.rows_with_warning = int(w[["source", ROW]].drop_duplicates().shape[0])
    if "typology" in ins.columns and report.violations_kept:
        v = ins.loc[ins["outcome"].eq("violation"), "typology"].fillna("")
        report.typologies_per_violation = float((v.str.count(";") + v.ne("")).mean())
    aside = (
        pd.concat([p.drop(columns="_violation") for p in set_aside], ignore_index=True)
        if set_aside
        else problems.iloc[0:0]
    )
    return ins, aside, report


def _aside(rows: pd.DataFrame, problem: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": rows["_source"].astype("str").to_numpy(),
            "table": "inspections",
            ROW: rows["_row_number"].astype("int64").to_numpy(),
            "key": rows["declaration_id"].astype("str").to_numpy(),
            "column": "declaration_id",
            "value": rows["declaration_id"].astype("str").to_numpy(),
            "problem": problem,
            "_violation": rows["outcome"].eq("violation").to_numpy(),
        }
    )
