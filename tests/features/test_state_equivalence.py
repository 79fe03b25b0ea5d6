"""The feature state gives the same matrix as the full point-in-time recomputation.

A day is described two ways: against the whole history in one frame (training's way), and
alone against a feature state built from the history (scoring's way). Every feature of every
family must agree (to float tolerance), including features of rows of the same day that count
for each other (a license's quota drawn by an earlier declaration of the day, the exporter's
shipments of the day), outcomes recorded after the last declaration of the history, a state
folded one day at a time, and with a fitted text model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles, ports
from features import state as fstate
from features.build import FAMILIES, build_features, combine, fit_state, make_context, portable_state
from synth import generate_world

TABLES = ("companies", "ownership", "officers", "watchlist", "licenses")


pytestmark = pytest.mark.slow  # builds feature states of generated worlds: see make test-fast


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=11, days=45, rows_per_day=120)


def _tables(world, history, inspections) -> dict[str, pd.DataFrame]:
    tables = {name: getattr(world, name) for name in TABLES}
    tables["declarations"] = history
    tables["inspections"] = inspections
    return tables


@pytest.fixture(scope="module")
def day(world) -> pd.DataFrame:
    """The manifest, plus later twins of its licensed declarations on the same day (same license,
    exporter and code: each twin's quota used counts the original's kg)."""
    m = world.manifest
    licensed = m[m["license_id"].notna()]
    assert len(licensed), "the generated manifest has no licensed declaration"
    twins = licensed.head(5).copy()
    twins["declaration_id"] = twins["declaration_id"] + "-TWIN"
    twins["declared_at"] = twins["declared_at"] + pd.Timedelta(minutes=7)
    return pd.concat([m, twins], ignore_index=True)


@pytest.fixture(scope="module")
def inspections(world) -> pd.DataFrame:
    """The world's outcomes, plus violations found on the manifest day (after the last declaration
    of the history: kept as recent events by the state) of the history's last declarations."""
    late = world.declarations.sort_values("declared_at").tail(6)
    extra = pd.DataFrame(
        {
            "declaration_id": late["declaration_id"].to_numpy(),
            "inspected_on": world.manifest["declared_at"].min().normalize() + pd.Timedelta(hours=1),
            "outcome": "violation",
            "typology": "misdeclared_goods",
            "found_hs_code": None,
            "seized_value_usd": np.nan,
            "selected_by": "rule",
        }
    )
    done = world.inspections["declaration_id"].isin(extra["declaration_id"])
    return pd.concat([world.inspections[~done], extra], ignore_index=True)


@pytest.fixture(scope="module")
def model_state(world, inspections):
    """A text model fitted on the history, as a trained model carries it."""
    decl = combine(None, world.declarations)
    ctx = make_context(_tables(world, world.declarations, inspections), decl, hs_profiles(), ports())
    return portable_state(fit_state(decl, ctx, np.ones(len(decl), dtype=bool)))


def full_matrix(world, day, inspections, model_state) -> pd.DataFrame:
    decl = combine(world.declarations, day)
    ctx = make_context(
        _tables(world, world.declarations, inspections), decl, hs_profiles(), ports(), state=model_state
    )
    fs = build_features(decl, ctx)
    return fs.matrix.set_index(fs.declaration_ids)


def build_state(world, history, inspections, size) -> fstate.FeatureState:
    decl = combine(None, history)
    ctx = make_context(_tables(world, history, inspections), decl, hs_profiles(), ports())
    return fstate.build(decl, ctx, size=size)


def state_matrix(world, day, inspections, model_state, state, record=False):
    decl = combine(None, day)
    known = pd.concat([decl[["declaration_id", "declared_at"]], state.labelled], ignore_index=True)
    ctx = make_context(_tables(world, None, inspections), known, hs_profiles(), ports(), state=model_state)
    session = fstate.Session(state, record=record)
    fs = build_features(decl, ctx, session=session)
    return fs.matrix.set_index(fs.declaration_ids), session


@pytest.fixture(scope="module")
def full(world, day, inspections, model_state):
    return full_matrix(world, day, inspections, model_state)


@pytest.fixture(scope="module")
def built(world, inspections):
    """Built in several slices of the history (each folded into the state of those before)."""
    return build_state(world, world.declarations, inspections, size=1_500)


@pytest.fixture(scope="module")
def by_state(world, day, inspections, model_state, built):
    return state_matrix(world, day, inspections, model_state, built)[0]


def assert_same(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> None:
    assert a.index.tolist() == b.index.tolist()
    moved = []
    for c in columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        ok = np.isclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True)
        if not ok.all():
            moved.append(f"{c}: {x[~ok][:3]} vs {y[~ok][:3]}")
    assert not moved, "features differ: " + "; ".join(moved)


@pytest.mark.parametrize("family", [f.FAMILY for f in FAMILIES])
def test_state_mode_equals_recomputation(family, full, by_state):
    fam = next(m for m in FAMILIES if family == m.FAMILY)
    assert_same(full, by_state, [f.name for f in fam.FEATURES])


def test_the_state_carries_the_history(world, day, inspections, model_state, full):
    """Without the history's state the day alone gives other values: the equality above is the
    state's doing, not features that ignore the history."""
    alone = state_matrix(world, day, inspections, model_state, fstate.FeatureState())[0]
    history_based = [c for c in full.columns if not np.allclose(full[c], alone[c], equal_nan=True)]
    assert len(history_based) >= 30


def test_same_day_rows_count_for_each_other(day, full, by_state):
    """A twin declared later the same day sees its original's kg drawn from the license."""
    twins = day.loc[day["declaration_id"].str.endswith("-TWIN"), "declaration_id"]
    originals = twins.str.removesuffix("-TWIN")
    used_twin = by_state.loc[twins, "license_quantity_used_share"].to_numpy()
    used_orig = by_state.loc[originals, "license_quantity_used_share"].to_numpy()
    found = ~np.isnan(used_twin)
    assert found.any(), "no twin was checked against a license"
    # (a license quoted by another exporter than its holder is not drawn on: no change there)
    assert (used_twin[found] >= used_orig[found]).all() and (used_twin[found] > used_orig[found]).any()
    assert_same(full, by_state, ["license_quantity_used_share", "exporter_shipments_30d"])


def test_folding_day_by_day_equals_building_at_once(world, day, inspections, model_state, full):
    """A state built up to five days before the end, then updated with each later day as scoring
    with --append-to-history does (the day described against the state and its events folded
    in), describes the next day as the full recomputation does."""
    history = world.declarations
    days = history["declared_at"].dt.normalize()
    last = sorted(days.unique())[-5:]
    state = build_state(world, history[days < last[0]], inspections, size=100_000)
    for d in last:
        part = history[days == d]
        _, session = state_matrix(world, part, inspections, model_state, state, record=True)
        state = fstate.commit(state, session, part, inspections)
    got = state_matrix(world, day, inspections, model_state, state)[0]
    assert_same(full, got, list(full.columns))


def _last_days(world) -> pd.DataFrame:
    history = world.declarations
    return combine(
        None, history[history["declared_at"] >= history["declared_at"].max() - pd.Timedelta(days=6)]
    )


def _recorded(world, inspections, model_state, target: np.ndarray) -> dict[str, list[np.ndarray]]:
    """The events the history's last days record as one frame, with ``target`` rows described."""
    frame = _last_days(world)
    tables = _tables(world, world.declarations, inspections)
    ctx = make_context(tables, frame, hs_profiles(), ports(), state=model_state)
    session = fstate.Session(fstate.FeatureState(), record=True)
    build_features(frame.assign(_is_target=target), ctx, session=session)
    return {
        name: [np.concatenate([part[i] for part in parts]) for i in range(3)]
        for name, (_, parts) in session.events.items()
    }


def test_a_frame_records_the_same_events_whichever_rows_it_describes(world, inspections, model_state):
    """Every row of a frame is an event, described or not: a cluster task describing some of a
    day's (or a training slice's) rows records the events of all of them. A row without a transit
    port described alone still records the frame's outcomes through transit hubs."""
    direct = (_last_days(world)["transshipment_ports"].fillna("").str.strip() == "").to_numpy()
    assert direct.any() and not direct.all()
    every = _recorded(world, inspections, model_state, np.ones(len(direct), dtype=bool))
    assert any(name.startswith("routing:events:hub") for name in every)
    one_direct = np.arange(len(direct)) == np.flatnonzero(direct)[0]
    alternate = np.arange(len(direct)) % 2 == 0
    for target in (one_direct, alternate):
        got = _recorded(world, inspections, model_state, target)
        assert sorted(got) == sorted(every)
        for name, arrays in every.items():
            for mine, want in zip(got[name], arrays, strict=True):
                np.testing.assert_array_equal(mine, want, err_msg=name)


def test_rows_not_after_the_state_are_refused(world, inspections, model_state, built):
    old = world.declarations.tail(3)
    with pytest.raises(fstate.StateMismatch):
        state_matrix(world, old, inspections, model_state, built)


def test_a_partial_rebuild_keeps_the_other_families(world, inspections, built):
    """Rebuilding one family's accumulators (its reference table changed) leaves the others'
    as they were."""
    from features import license

    decl = combine(None, world.declarations)
    ctx = make_context(_tables(world, world.declarations, inspections), decl, hs_profiles(), ports())
    again = fstate.build(decl, ctx, families=[license], base=built)
    assert set(again.accumulators) == set(built.accumulators)
    for name, acc in built.accumulators.items():
        np.testing.assert_array_equal(again.accumulators[name].keys, acc.keys)
        np.testing.assert_allclose(np.asarray(again.accumulators[name].totals), np.asarray(acc.totals))


def test_late_outcomes_are_folded_in_without_a_rebuild(world, day, inspections, model_state, full):
    """Outcomes recorded after the state was built, for declarations it holds, are taken in by
    describing those declarations again and recording only their outcome events."""
    late = inspections.sample(40, random_state=0)
    late = late[late["declaration_id"].isin(world.declarations["declaration_id"])]
    earlier = inspections.drop(late.index)
    state = build_state(world, world.declarations, earlier, size=100_000)
    assert not np.isin(fstate.outcome_hashes(late), state.outcomes).any()
    history = world.declarations
    rows = combine(None, history[history["declaration_id"].isin(late["declaration_id"])])
    ctx = make_context(_tables(world, None, late), rows, hs_profiles(), ports())
    state = fstate.fold_outcomes(state, rows, ctx)
    assert np.isin(fstate.outcome_hashes(inspections), state.outcomes).all()
    got = state_matrix(world, day, inspections, model_state, state)[0]
    assert_same(full, got, list(full.columns))


def test_the_state_knows_which_declarations_it_holds(world, built):
    ids = pd.concat([world.declarations["declaration_id"].head(3), pd.Series(["NOT-A-DECLARATION"])])
    known = built.known(ids)
    assert known["declaration_id"].tolist() == ids.head(3).tolist()
    expected = world.declarations.set_index("declaration_id").loc[known["declaration_id"], "declared_at"]
    assert (known["declared_at"].to_numpy() == expected.to_numpy()).all()
