"""Validate on time: train on the past, test on the latest window. Never a random split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import NotEnoughDataError


@dataclass(frozen=True)
class TimeSplit:
    """Boolean masks over the labelled rows, and the cut-off between them."""

    train: np.ndarray
    valid: np.ndarray
    cutoff: pd.Timestamp
    end: pd.Timestamp | None = None  # the validation window ends here (exclusive); None: open

    def describe(self, declared_at: pd.Series) -> dict[str, str | int]:
        return {
            "train_rows": int(self.train.sum()),
            "valid_rows": int(self.valid.sum()),
            "train_from": str(declared_at[self.train].min().date()),
            "train_to": str(declared_at[self.train].max().date()),
            "valid_from": str(declared_at[self.valid].min().date()),
            "valid_to": str(declared_at[self.valid].max().date()),
            "cutoff": str(self.cutoff.date()),
        }


def time_split(
    declared_at: pd.Series, label_time: pd.Series, validation_days: int, gap_days: int = 0
) -> TimeSplit:
    """Rows declared in the last ``validation_days`` validate; earlier ones train.

    A training row is used only if its outcome was recorded before the cut-off (as it would
    have been known when the model was trained); ``gap_days`` leaves a gap between the two.
    """
    return rolling_splits(declared_at, label_time, validation_days, 1, gap_days)[-1]


def _enough(train: np.ndarray, valid: np.ndarray, cutoff: pd.Timestamp, validation_days: int) -> None:
    if not train.any() or not valid.any():
        raise NotEnoughDataError(
            f"the time split at {cutoff.date()} leaves {int(train.sum())} labelled rows to train "
            f"and {int(valid.sum())} to validate: give more history, or a shorter validation "
            f"window (split.validation_days, now {validation_days}, in the training config)"
        )


def rolling_splits(
    declared_at: pd.Series,
    label_time: pd.Series,
    validation_days: int,
    folds: int,
    gap_days: int = 0,
    min_labels: int = 200,
) -> list[TimeSplit]:
    """Rolling time folds, oldest first: each trains on the past, validates on the next window.

    The last fold's window is the latest ``validation_days``; each earlier fold's window ends
    where the next one starts. A fold whose training part has fewer than ``min_labels``
    labelled rows is left out (the latest fold is always kept).
    """
    declared_at = pd.to_datetime(declared_at)
    label_time = pd.to_datetime(label_time)
    end = declared_at.max().normalize() + pd.Timedelta(days=1)
    out: list[TimeSplit] = []
    for k in range(folds - 1, -1, -1):
        stop = end - pd.Timedelta(days=validation_days * k)
        cutoff = stop - pd.Timedelta(days=validation_days)
        train = ((declared_at < cutoff - pd.Timedelta(days=gap_days)) & (label_time < cutoff)).to_numpy()
        valid = ((declared_at >= cutoff) & (declared_at < stop)).to_numpy()
        if k == 0:
            _enough(train, valid, cutoff, validation_days)
        elif train.sum() < min_labels or not valid.any():
            continue
        out.append(TimeSplit(train, valid, cutoff, None if k == 0 else stop))
    return out
