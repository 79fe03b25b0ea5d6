"""Reasons on a scored generated world: no red or yellow item shows a missing-value fallback,
and the codes and ports its reasons mention are named in words."""

from __future__ import annotations

import re

import pandas as pd
import pytest

RAW_FALLBACK = re.compile(r"\(missing\)|\bnan\b|\bNone\b|\b0 inspections\b|[{}]")
DOTTED_CODE = re.compile(r"\b\d{4}\.\d{2}(?:\.\d{2})*\b")


@pytest.fixture(scope="module")
def flagged(champion, small_world, tmp_path_factory) -> pd.DataFrame:
    from pipelines.score_flow import score_flow

    manifest = sorted((small_world / "manifest").glob("*.csv"))[-1]
    out = tmp_path_factory.mktemp("reasons") / "out"
    result = score_flow(manifest=manifest, bundle=small_world / "bundle", out=out)
    scored = pd.read_parquet(result.out_dir / "scored.parquet")
    return scored[scored["channel"].isin(["red", "yellow"])]


def _texts(flagged: pd.DataFrame) -> pd.Series:
    cols = [c for c in flagged.columns if re.fullmatch(r"reason_\d+", c)]
    texts = pd.concat([flagged[c] for c in cols], ignore_index=True)
    return texts[texts != ""]


def test_no_reason_of_a_flagged_item_is_a_missing_value_fallback(flagged):
    texts = _texts(flagged)
    assert len(flagged) > 0 and len(texts) >= 3 * len(flagged)
    bad = texts[texts.str.contains(RAW_FALLBACK)]
    assert bad.empty, bad.head(10).tolist()


def test_codes_and_ports_in_flagged_reasons_are_named(flagged):
    from data.reference import ports

    texts = _texts(flagged)
    codes = texts.str.findall(DOTTED_CODE.pattern + r"(?: \()?").explode().dropna()
    assert len(codes) > 0  # value, density and goods reasons name the declared code
    assert codes.str.endswith(" (").all(), codes[~codes.str.endswith(" (")].head().tolist()
    locodes = set(ports()["locode"])
    for text in texts[texts.str.contains("routed |transits |port of loading ")]:
        for code in re.findall(r"\b[A-Z]{2}[A-Z2-9]{3}\b", text):
            if code in locodes:
                assert f"{code} (" in text, text
