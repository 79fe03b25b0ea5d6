"""Pictures and parsing behind the case page."""

from __future__ import annotations

from review.charts import ownership_graph, waterfall
from review.forms import OutcomeForm, parse_outcome_form, parse_seized_value
from review.views import history_table, parse_reasons, route_ports


def test_waterfall_steps_add_up() -> None:
    chart = waterfall([("a", 1.0), ("b", -0.5), ("c", 0.25)])
    assert [b.value_label for b in chart.bars] == ["+1.000", "-0.500", "+0.250", "+0.750"]
    assert [b.positive for b in chart.bars] == [True, False, True, True]
    assert chart.bars[-1].total
    ys = [b.y for b in chart.bars]
    assert ys == sorted(ys) and chart.height > ys[-1]
    assert all(b.x >= 0 and b.x + b.width <= chart.width for b in chart.bars)
    assert waterfall([]) is None


def test_waterfall_with_only_zero_contributions() -> None:
    chart = waterfall([("a", 0.0)])
    assert all(b.width > 0 for b in chart.bars)


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
