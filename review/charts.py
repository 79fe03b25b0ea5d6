"""Geometry of the case page's pictures; the templates draw it as inline SVG (autoescaped).

No markup is built here, so no text from a declaration ever reaches the page unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass

WATERFALL_WIDTH = 680
LABEL_WIDTH = 230
VALUE_WIDTH = 70
ROW_HEIGHT = 26
TOP = 8
MAX_LABEL = 34


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class WaterfallBar:
    """One reason's step: from the running total before it to the one after."""

    label: str
    full_label: str
    value_label: str
    x: float
    y: float
    width: float
    positive: bool
    total: bool = False


@dataclass(frozen=True)
class Waterfall:
    """A horizontal waterfall of signed contributions, plus the zero line."""

    width: int
    height: int
    bars: list[WaterfallBar]
    zero_x: float
    bar_height: float
    label_x: float
    value_x: float


def waterfall(reasons: list[tuple[str, float]]) -> Waterfall | None:
    """Lay out ``(feature, contribution)`` steps and their sum; None when there are none."""
    if not reasons:
        return None
    totals = [0.0]
    for _, contribution in reasons:
        totals.append(totals[-1] + contribution)
    low, high = min(totals), max(totals)
    span = (high - low) or 1.0
    left, plot = LABEL_WIDTH, WATERFALL_WIDTH - LABEL_WIDTH - VALUE_WIDTH

    def x_of(value: float) -> float:
        return left + (value - low) / span * plot

    bars = []
    steps = [(name, totals[i], totals[i + 1], False) for i, (name, _) in enumerate(reasons)]
    steps.append(("total of these reasons", 0.0, totals[-1], True))
    for row, (name, start, end, is_total) in enumerate(steps):
        a, b = sorted((x_of(start), x_of(end)))
        bars.append(
            WaterfallBar(
                label=shorten(name, MAX_LABEL),
                full_label=name,
                value_label=f"{end - start:+.3f}",
                x=round(a, 1),
                y=TOP + row * ROW_HEIGHT,
                width=round(max(b - a, 1.5), 1),
                positive=end >= start,
                total=is_total,
            )
        )
    return Waterfall(
        width=WATERFALL_WIDTH,
        height=TOP * 2 + len(steps) * ROW_HEIGHT,
        bars=bars,
        zero_x=round(x_of(0.0), 1),
        bar_height=ROW_HEIGHT - 8,
        label_x=LABEL_WIDTH - 8,
        value_x=WATERFALL_WIDTH - VALUE_WIDTH + 6,
    )


@dataclass(frozen=True)
class GraphNode:
    """A company or person on the ownership path."""

    label: str
    full_label: str
    x: float
    y: float
    kind: str  # "party", "listed" or "link"


@dataclass(frozen=True)
class GraphEdge:
    """A link between two consecutive nodes of the path."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class PathGraph:
    """The ownership path from the declared party to the listed entity, top to bottom."""

    width: int
    height: int
    node_width: int
    node_height: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def ownership_graph(path: list[str], width: int = 460) -> PathGraph | None:
    """Lay out the ownership path as a vertical chain; None when the path is empty."""
    if not path:
        return None
    node_w, node_h, gap = width - 40, 34, 26
    nodes, edges = [], []
    for i, name in enumerate(path):
        kind = "party" if i == 0 else ("listed" if i == len(path) - 1 else "link")
        y = 10 + i * (node_h + gap)
        nodes.append(GraphNode(shorten(name, 52), name, 20, y, kind))
        if i:
            edges.append(GraphEdge(width / 2, y - gap, width / 2, y - 2))
    height = 20 + len(path) * node_h + (len(path) - 1) * gap
    return PathGraph(width, height, node_w, node_h, nodes, edges)
