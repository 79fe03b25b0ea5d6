"""The case page over HTTP shows what scoring explains: reasons grouped by kind of evidence, the
typology hint, a waterfall from the model's start value through the reasons' text to the score
in probability terms, both sides of an exploration pick, and a held case as not scored."""

from __future__ import annotations

import html as html_lib
import json
import math
import re

import pandas as pd

from models.scoring import held_for_correction
from review.demo import demo_cases
from review.store import CaseStore

START = -3.2  # the model's start value in log-odds (probability 0.039)
REASONS = [
    {
        "feature": "rule:controlled_without_valid_license",
        "text": "hard rule controlled_without_valid_license: goods that need an export license fail "
        "the license check; no license quoted on the declaration is in the license register",
        "contribution": 0.9,
    },
    {
        "feature": "value_per_kg_log_ratio_to_code",
        "kind": "value",
        "text": "value per kg 2.10 USD is 38 times below what 2846.90 (rare-earth compounds) "
        "usually declares",
        "contribution": 1.4,
        "evidence": True,
    },
    {
        "feature": "description_fits_declared_heading",
        "kind": "goods",
        "text": "the description reads like heading 2846 (rare-earth compounds), not the declared 2601 "
        "(iron ores and concentrates)",
        "contribution": 1.1,
        "evidence": True,
    },
    {
        "feature": "declared_density_vs_code",
        "kind": "weight",
        "text": "packed density 4.9 t/m3 against 2.1 usual for 2601.11 (iron ore, non-agglomerated)",
        "contribution": 0.6,
        "evidence": True,
    },
    {
        "feature": "value_per_kg_robust_z",
        "kind": "value",
        "text": "lowers the risk: declared value within the exporter's usual range",
        "contribution": -0.2,
        "evidence": True,
    },
]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _case(declaration_id: str, reasons: list[dict], **fields) -> pd.DataFrame:
    case = demo_cases(1, seed=21, prefix="E").iloc[0].to_dict()
    stored = [dict(r, start_log_odds=START) for r in reasons]
    case.update(declaration_id=declaration_id, reasons=json.dumps(stored), **fields)
    return pd.DataFrame([case])


def _text(page: str) -> str:
    """The page's visible text, tags dropped and entities decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def test_reasons_are_grouped_by_kind_of_evidence_with_the_typology_hint(make_client, store: CaseStore):
    score = _sigmoid(START + 1.4 + 1.1 + 0.6 - 0.2 + 0.3 + 0.9)  # 0.3: the other features
    store.upsert_cases(
        _case(
            "E-1",
            REASONS,
            risk_score=round(score, 6),
            channel="red",
            selected_by="rule",
            typology_hint="mislabel;undervaluation",
        )
    )
    page = make_client("alice").get("/cases/E-1")
    assert page.status_code == 200
    text = _text(page.text)
    headings = re.findall(r'<div class="reason-group">\s*<h3>([^<(]+)', page.text)
    assert [h.strip() for h in headings] == ["value", "goods vs code", "risk rules", "weight and density"]
    value_group = page.text[page.text.index(">value <") : page.text.index(">goods vs code <")]
    assert "38 times below" in value_group and "within the exporter&#39;s usual range" in value_group
    assert "Typology hint" in text and "mislabel and undervaluation" in text
    # the waterfall names its steps by the reasons' text, starts at the start value, ends at the score
    svg = page.text[page.text.index('<svg class="waterfall"') : page.text.index("</svg>")]
    svg_text = _text(svg)
    assert "start: the model's average risk" in svg_text and f"{_sigmoid(START):.3f}" in svg_text
    assert "value per kg 2.10 USD is 38 times below" in svg_text
    assert "value_per_kg_log_ratio_to_code" not in svg_text  # no raw feature names
    assert "all other features together" in svg_text
    assert "risk score" in svg_text and f"{score:.3f}" in svg_text
    labels = re.findall(r'<tspan x="[0-9.]+" dy="0">([^<]*)</tspan>', svg)
    assert labels[-2].startswith("hard rule controlled_without_valid_license")  # the raise comes last
    assert f"from the model's start value ({_sigmoid(START):.3f})" in text


def test_an_exploration_pick_says_so_and_shows_what_lowers_its_risk(make_client, store: CaseStore):
    reasons = [r for r in REASONS if not r["feature"].startswith("rule:")]
    store.upsert_cases(
        _case("E-2", reasons, risk_score=0.08, channel="red", selected_by="exploration", rule_hits="")
    )
    text = _text(make_client("alice").get("/cases/E-2").text)
    assert "picked for exploration" in text and "not for its score" in text
    assert "lowers the risk: declared value within the exporter's usual range" in text


def test_a_held_case_is_not_scored_and_has_no_waterfall(make_client, store: CaseStore):
    quarantine = pd.DataFrame(
        {
            "row_number": [4],
            "declaration_id": ["H-9"],
            "problems": ["gross_weight_kg '-3' must be greater than 0"],
        }
    )
    store.upsert_cases(held_for_correction(quarantine, pd.Series([], dtype=str), "2026-11-23").cases)
    client = make_client("alice")
    page = client.get("/cases/H-9").text
    text = _text(page)
    assert "held for correction, not scored" in text
    assert "0.000" not in text
    assert 'class="waterfall"' not in page and "reason-group" not in page
    assert "gross_weight_kg '-3' must be greater than 0" in text
    queue = _text(client.get("/cases", params={"channel": "held"}).text)
    assert "H-9" in queue and "not scored" in queue and "0.000" not in queue
