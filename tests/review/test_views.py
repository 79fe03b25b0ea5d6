"""Pictures and parsing behind the case page."""

from __future__ import annotations

import json
import math

import pytest

from review.charts import REST_LABEL, ownership_graph, waterfall
from review.forms import OutcomeForm, parse_outcome_form, parse_seized_value
from review.views import (
    Reason,
    history_table,
    parse_reasons,
    read_reasons,
    reason_groups,
    route_ports,
    score_chart,
)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_waterfall_goes_from_the_start_value_through_the_steps_to_the_score_in_probability() -> None:
    chart = waterfall(-2.0, [("declared value far below the code's", 1.5), ("shipped direct", -0.5)])
    kinds = [b.kind for b in chart.bars]
    assert kinds == ["start", "up", "down", "total"]
    assert chart.start == pytest.approx(_sigmoid(-2.0)) and chart.score == pytest.approx(_sigmoid(-1.0))
    assert chart.bars[0].value_label == f"{_sigmoid(-2.0):.3f}"
    assert chart.bars[1].value_label == f"{_sigmoid(-0.5) - _sigmoid(-2.0):+.3f}"
    assert chart.bars[-1].value_label == f"{_sigmoid(-1.0):.3f}"
    # each step starts where the previous ended
    assert chart.bars[1].before == pytest.approx(chart.bars[0].after, abs=1e-4)
    assert chart.bars[2].before == pytest.approx(chart.bars[1].after, abs=1e-4)
    assert chart.bars[1].lines == ("declared value far below the code's",)
    ys = [b.y for b in chart.bars]
    assert ys == sorted(ys) and chart.height > ys[-1]
    assert all(b.x >= 0 and b.x + b.width <= chart.width for b in chart.bars)
    assert [t.label for t in chart.ticks] == ["0", "0.25", "0.5", "0.75", "1"]


def test_waterfall_labels_wrap_to_two_lines_and_keep_the_full_text() -> None:
    text = "value per kg 12.5 USD is 40 times below what 2846.90 (rare earth compounds) usually declares " * 3
    chart = waterfall(0.0, [(text, 0.0)])
    bar = chart.bars[1]
    assert len(bar.lines) == 2 and all(len(line) <= 66 for line in bar.lines)
    assert bar.lines[-1].endswith("\u2026") and bar.full_label == text
    assert all(b.width > 0 for b in chart.bars)


def test_score_chart_of_a_case_adds_the_other_features_and_puts_the_rule_floor_last() -> None:
    reasons = [
        Reason("rule:r", "hard rule r: listed owner", 1.0),
        Reason("a", "reason a", 0.8, "value"),
        Reason("b", "lowers the risk: reason b", -0.3, "route"),
    ]
    chart = score_chart(reasons, start=-3.0, risk_score=_sigmoid(-3.0 + 0.8 - 0.3 + 0.4 + 1.0))
    labels = [b.full_label for b in chart.bars]
    assert labels[1:5] == ["reason a", "lowers the risk: reason b", REST_LABEL, "hard rule r: listed owner"]
    assert chart.bars[3].value_label.startswith("+")  # the other features' 0.4
    assert chart.bars[0].after == pytest.approx(_sigmoid(-3.0), abs=1e-4)
    assert chart.score == pytest.approx(_sigmoid(-1.1), abs=1e-5)
    # without a stored start value the chart starts from what the reasons leave unexplained
    old = score_chart(reasons[1:], start=None, risk_score=0.5)
    assert old.bars[0].full_label.startswith("start value and all other features")
    assert old.score == pytest.approx(0.5, abs=1e-6) and len(old.bars) == 4
    assert score_chart([Reason("held_for_correction", "bad row", None)], None, 0.0) is None


def test_reasons_are_grouped_by_kind_of_evidence() -> None:
    stored = json.dumps(
        [
            {"feature": "rule:r", "text": "hard rule r", "contribution": 0.2},
            {"feature": "v", "kind": "value", "text": "v", "contribution": 1.2, "start_log_odds": -2.5},
            {"feature": "w", "kind": "weight", "text": "w", "contribution": 0.4, "start_log_odds": -2.5},
            {"feature": "v2", "kind": "value", "text": "v2", "contribution": -0.1, "start_log_odds": -2.5},
            {"feature": "old", "text": "no kind stored", "contribution": 0.1},
        ]
    )
    reasons, start, ok = read_reasons(stored)
    assert ok and start == -2.5
    groups = reason_groups(reasons)
    assert [g.label for g in groups] == ["value", "weight and density", "risk rules", "other reasons"]
    assert [r.text for r in groups[0].reasons] == ["v", "v2"] and groups[0].contribution == pytest.approx(1.1)


def test_ownership_graph_is_a_chain() -> None:
    graph = ownership_graph(["Party", "Holding", "Listed"])
    assert [n.kind for n in graph.nodes] == ["party", "link", "listed"]
    assert len(graph.edges) == 2 and graph.edges[0].y2 < graph.nodes[1].y + 1
    assert ownership_graph([]) is None
    long = ownership_graph(["x" * 200])
    assert len(long.nodes[0].label) <= 52 and long.nodes[0].full_label == "x" * 200


def test_parsing_tolerates_bad_data() -> None:
    reasons, ok = parse_reasons('[{"feature": "f", "text": "t", "contribution": "n/a"}, 3]')
    assert not ok and reasons[0].contribution is None
    assert parse_reasons("not json") == ([], False)
    columns, rows, ok = history_table('[{"a": 1}, {"b": null}]')
    assert columns == ["a", "b"] and rows == [["1", ""], ["", ""]] and ok
    assert route_ports("CNSHA -> VNHPH ->  NLRTM") == ["CNSHA", "VNHPH", "NLRTM"]


def test_seized_values() -> None:
    assert parse_seized_value(" 12 500.50 ") == (12500.5, None)
    assert parse_seized_value("12500,50")[1].startswith("Write the seized value without commas")
    assert parse_seized_value("1,250.5")[0] is None
    assert parse_seized_value("") == (None, None)
    assert parse_seized_value("inf")[1] is not None
    values, errors = parse_outcome_form(OutcomeForm("violation", "blending", "0", " note "))
    assert errors == [] and values.seized_value_usd == 0 and values.note == "note"
