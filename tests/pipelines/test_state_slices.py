"""Building the feature state from the history read in slices (never the whole history in memory)
gives the same state as building it from the whole history in one frame: with history files
whose times overlap and are not in name order, a declaration id repeated in a later file (the
first kept, as ``load_history`` does), and slices much smaller than a file."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from data.io import HistoryInSlices, load_bundle, load_history
from data.reference import hs_profiles, ports
from pipelines import feature_state as store
from synth import generate_world, write_world

pytestmark = pytest.mark.slow  # builds feature states of generated worlds: see make test-fast


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    paths = write_world(generate_world(seed=3, days=20, rows_per_day=80), root / "w", fmt="parquet")
    target = root / "bundle"
    shutil.copytree(paths["bundle"], target)
    folder = target / "declarations"
    decl = pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))], ignore_index=True)
    for f in folder.glob("*.parquet"):
        f.unlink()
    decl = decl.sort_values("declared_at", kind="stable").reset_index(drop=True)
    # interleaved in time, in files whose names are not in time order
    decl.iloc[1::2].to_parquet(folder / "a_odd.parquet", index=False)
    decl.iloc[0::2].iloc[::-1].to_parquet(folder / "b_even_reversed.parquet", index=False)
    twice = decl.iloc[[3, 10]].assign(declared_value_usd=1.0)  # the same ids again, later: dropped
    twice.to_parquet(folder / "c_repeated.parquet", index=False)
    return target


def test_slices_come_in_time_order_without_the_repeated_ids(bundle, tmp_path):
    whole = load_history(bundle, columns=store.HISTORY_COLUMNS).clean
    h = HistoryInSlices(bundle, tmp_path, columns=store.HISTORY_COLUMNS, rows=97)
    parts = list(h)
    assert len(parts) > 5 and max(len(p) for p in parts) < 97 * 3
    for before, after in zip(parts, parts[1:], strict=False):
        assert before["declared_at"].max() < after["declared_at"].min()
    got = pd.concat(parts, ignore_index=True)
    assert sorted(got["declaration_id"]) == sorted(whole["declaration_id"])
    assert (got["declared_value_usd"] != 1.0).all()  # the first file's copy of a repeated id
    repeated = pd.concat([p for p in h.problems if len(p)], ignore_index=True)
    assert repeated["problem"].str.contains("more than one declarations file").sum() == 2
    known = h.known(pd.Series([whole["declaration_id"].iloc[5], "no-such-id"]))
    assert list(known["declaration_id"]) == [whole["declaration_id"].iloc[5]]
    assert known["declared_at"].iloc[0] == whole["declared_at"].iloc[5]


def test_the_state_built_in_slices_equals_the_state_of_the_whole_history(bundle, tmp_path, monkeypatch):
    b = load_bundle(bundle)
    whole = store.build_state(bundle, b.tables, hs_profiles(), ports(), history=b.tables["declarations"])
    monkeypatch.setattr(store, "SLICE_ROWS", 150)
    _, sliced = store.rebuild(bundle, None, tmp_path / "feature_state")
    assert sliced.rows == whole.rows == len(b.tables["declarations"])
    assert sliced.end == whole.end
    assert set(sliced.accumulators) == set(whole.accumulators)
    for name, acc in whole.accumulators.items():
        other = sliced.accumulators[name]
        np.testing.assert_array_equal(np.asarray(other.keys), np.asarray(acc.keys), err_msg=name)
        np.testing.assert_allclose(np.asarray(other.totals), np.asarray(acc.totals), rtol=1e-9, err_msg=name)
        order_a, order_b = np.lexsort((acc.tail_k, acc.tail_t)), np.lexsort((other.tail_k, other.tail_t))
        np.testing.assert_array_equal(other.tail_t[order_b], acc.tail_t[order_a], err_msg=name)
        np.testing.assert_allclose(other.tail_v[order_b], acc.tail_v[order_a], rtol=1e-9, err_msg=name)
    np.testing.assert_array_equal(np.asarray(sliced.ids), np.asarray(whole.ids))
    np.testing.assert_array_equal(np.asarray(sliced.outcomes), np.asarray(whole.outcomes))
    assert set(sliced.labelled["declaration_id"]) == set(whole.labelled["declaration_id"])
    pd.testing.assert_frame_equal(
        sliced.extras["usual_descriptions"].reset_index(drop=True),
        whole.extras["usual_descriptions"].reset_index(drop=True),
    )
    assert not list(tmp_path.glob(".feature_state-spill-*"))  # the spill folder is removed
