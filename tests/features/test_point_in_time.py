"""Leakage test: a declaration's features depend only on what was known when it was declared.

A target declaration is described against a generated history (all six families, real
registry, licenses and inspections). An earlier twin shipment of the target (same exporter,
HS code, transit hub, consignee country, declarant, license) is then found violating:
recorded after the target was declared, the outcome must change nothing; recorded before,
it must raise the outcome-based rates. Declarations lodged after the target must not
change any of its features either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles, ports
from features.build import build_features, catalogue, combine, feature_names, fit_state, make_context
from synth import generate_world

RATES = [
    "exporter_violation_rate",
    "code_cover_violation_rate",
    "transit_hub_violation_rate",
    "consignee_country_violation_rate",
    "declarant_violation_rate",
]
TABLES = ("companies", "ownership", "officers", "watchlist", "licenses")


pytestmark = pytest.mark.slow  # a generated world's features: see make test-fast


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=7, days=30, rows_per_day=120)


@pytest.fixture(scope="module")
def target(world) -> pd.DataFrame:
    """One manifest declaration through a transit hub, under a license, with a consignee country."""
    m = world.manifest
    hub = m["transshipment_ports"].fillna("").str.len() > 0
    ok = hub & m["consignee_country"].notna() & m["license_id"].notna()
    assert ok.any(), "the generated manifest has no licensed transshipped declaration"
    return m[ok].iloc[[0]].reset_index(drop=True)


@pytest.fixture(scope="module")
def twin(target) -> pd.DataFrame:
    """The same shipment five days earlier (row 0), and twelve days earlier (TWIN-OLDER, found
    clear, so every key has a record: a key never inspected has no rate at all): they share every
    key the outcome rates group by."""
    t = target.copy()
    t["declaration_id"] = "TWIN-EARLIER"
    t["declared_at"] = t["declared_at"] - pd.Timedelta(days=5)
    older = target.copy()
    older["declaration_id"] = "TWIN-OLDER"
    older["declared_at"] = older["declared_at"] - pd.Timedelta(days=12)
    return pd.concat([t, older], ignore_index=True)


@pytest.fixture(scope="module")
def state(world, target, twin):
    """Text model fitted once on the history (as a trained model would carry it)."""
    history = pd.concat([world.declarations, twin], ignore_index=True)
    decl = combine(history, target)
    ctx = make_context(_tables(world, history), decl, hs_profiles(), ports())
    return fit_state(decl, ctx, (~decl["_is_target"]).to_numpy())


def _tables(world, history, inspections=None) -> dict[str, pd.DataFrame]:
    tables = {name: getattr(world, name) for name in TABLES}
    tables["declarations"] = history
    tables["inspections"] = world.inspections if inspections is None else inspections
    return tables


def _inspection(declaration_id: str, on: pd.Timestamp, outcome: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declaration_id": [declaration_id],
            "inspected_on": [on.normalize()],
            "outcome": [outcome],
            "typology": ["routing" if outcome == "violation" else None],
            "found_hs_code": [None],
            "seized_value_usd": [np.nan],
            "selected_by": ["rule"],
        }
    )


def features_of(world, target, state, extra_history=(), extra_inspections=()) -> pd.Series:
    """The target's full feature row against the history plus the extra rows."""
    history = pd.concat([world.declarations, *extra_history], ignore_index=True)
    older = history.loc[history["declaration_id"].eq("TWIN-OLDER"), "declared_at"]
    record = [_inspection("TWIN-OLDER", older.iloc[0] + pd.Timedelta(days=2), "clear")] if len(older) else []
    inspections = pd.concat([world.inspections, *record, *extra_inspections], ignore_index=True)
    decl = combine(history, target)
    ctx = make_context(_tables(world, history, inspections), decl, hs_profiles(), ports(), state=state)
    fs = build_features(decl, ctx)
    assert fs.declaration_ids.tolist() == target["declaration_id"].tolist()
    return fs.matrix.iloc[0]


def assert_same_row(a: pd.Series, b: pd.Series) -> None:
    """Exactly equal, NaN where NaN; the message names the features that moved."""
    moved = [n for n in a.index if not (a[n] == b[n] or (np.isnan(a[n]) and np.isnan(b[n])))]
    assert not moved, f"features changed: {a[moved].to_dict()} vs {b[moved].to_dict()}"
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # NaN equals NaN here
    pd.testing.assert_series_equal(a, b, check_exact=True)


@pytest.fixture(scope="module")
def baseline(world, target, twin, state) -> pd.Series:
    return features_of(world, target, state, [twin])


def test_target_shares_the_keys_with_its_twin(target, twin, baseline):
    for col in (
        "exporter_id",
        "hs_code",
        "transshipment_ports",
        "consignee_country",
        "declarant_id",
        "license_id",
    ):
        assert twin.loc[0, col] == target.loc[0, col]
    assert twin.loc[0, "declared_at"] < target.loc[0, "declared_at"]
    assert baseline[RATES].notna().all(), "every outcome rate must be defined for the target"


def test_violation_recorded_after_the_target_changes_nothing(world, target, twin, state, baseline):
    after = target.loc[0, "declared_at"] + pd.Timedelta(days=1)
    future = _inspection("TWIN-EARLIER", after, "violation")
    got = features_of(world, target, state, [twin], [future])
    assert list(got.index) == feature_names()
    assert_same_row(got, baseline)


def test_violation_recorded_earlier_on_the_declaration_day_counts(world, target, twin, state, baseline):
    # inspections are dated by day: recorded on the target's day means midnight, before it
    same_day = _inspection("TWIN-EARLIER", target.loc[0, "declared_at"], "violation")
    got = features_of(world, target, state, [twin], [same_day])
    assert target.loc[0, "declared_at"] > target.loc[0, "declared_at"].normalize()
    assert (got[RATES] > baseline[RATES]).all()


def test_the_targets_own_outcome_is_never_a_feature(world, target, twin, state, baseline):
    # found violating the same day (known from the declaration moment on) or days later
    for on in (target.loc[0, "declared_at"], target.loc[0, "declared_at"] + pd.Timedelta(days=3)):
        own = _inspection(target.loc[0, "declaration_id"], on, "violation")
        assert_same_row(features_of(world, target, state, [twin], [own]), baseline)


def test_violation_recorded_before_the_target_raises_the_rates(world, target, twin, state, baseline):
    before = twin.loc[0, "declared_at"] + pd.Timedelta(days=2)
    past = _inspection("TWIN-EARLIER", before, "violation")
    got = features_of(world, target, state, [twin], [past])
    for name in RATES:
        assert got[name] > baseline[name], (
            f"{name}: a violation found on the same exporter/code/hub/country before the "
            f"declaration should raise it ({baseline[name]:.4f} -> {got[name]:.4f})"
        )
    assert got["exporter_inspections_before"] == baseline["exporter_inspections_before"] + 1
    # nothing but the outcome-based features (rates, track-record counts, what is usual learned
    # without the declarations found violating) moves
    outcome_based = {f.name for f in catalogue() if getattr(f, "uses_outcomes", False)}
    others = [
        n
        for n in feature_names()
        if n not in RATES
        and n not in outcome_based
        and not n.endswith(("_violation_rate", "_inspections_before", "_violations_before"))
    ]
    assert_same_row(got[others], baseline[others])


def test_clear_outcome_recorded_before_lowers_the_rates(world, target, twin, state, baseline):
    before = twin.loc[0, "declared_at"] + pd.Timedelta(days=2)
    got = features_of(world, target, state, [twin], [_inspection("TWIN-EARLIER", before, "clear")])
    for name in RATES:
        assert got[name] < baseline[name], f"{name}: a clear inspection should lower it"


def test_declarations_after_the_target_change_nothing(world, target, twin, state, baseline):
    t0 = target.loc[0, "declared_at"]
    copies = []
    for i, delay in enumerate(
        [pd.Timedelta(seconds=1), pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=40)]
    ):
        c = target.copy()
        c["declaration_id"] = f"LATER-{i}"
        c["declared_at"] = t0 + delay
        copies.append(c)
    # and a slice of ordinary trade replayed a month later, with violations found in it
    replay = world.declarations.sample(300, random_state=0).copy()
    replay["declaration_id"] = "REPLAY-" + replay["declaration_id"]
    replay["declared_at"] = replay["declared_at"] + (t0 - replay["declared_at"].min() + pd.Timedelta(days=3))
    assert (replay["declared_at"] > t0).all()
    found = [
        _inspection(d, t0 + pd.Timedelta(days=60), "violation")
        for d in [*replay["declaration_id"].iloc[:50], "LATER-0", "LATER-2"]
    ]
    got = features_of(world, target, state, [twin, *copies, replay], found)
    assert_same_row(got, baseline)
