"""Geometry of the case page's pictures; the templates draw it as inline SVG (autoescaped).

No markup is built here, so no text from a declaration ever reaches the page unescaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WATERFALL_WIDTH = 820
LABEL_WIDTH = 440  # the reason's text, on up to two lines
VALUE_WIDTH = 80
ROW_HEIGHT = 36
TOP = 26  # room for the probability axis
LABEL_CHARS = 66  # characters per line of a label
LABEL_LINES = 2
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
START_LABEL = "start: the model's average risk, before this declaration's evidence"
REST_LABEL = "all other features together"
SCORE_LABEL = "risk score"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def label_lines(text: str, width: int = LABEL_CHARS, lines: int = LABEL_LINES) -> tuple[str, ...]:
    """``text`` wrapped to at most ``lines`` lines of ``width`` characters, the last one cut
    with an ellipsis when the text is longer."""
    import textwrap

    wrapped = textwrap.wrap(text, width, break_long_words=True) or [""]
    if len(wrapped) <= lines:
        return tuple(wrapped)
    rest = " ".join(wrapped[lines - 1 :])
    return (*wrapped[: lines - 1], shorten(rest, width))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def logit(p: float) -> float:
    """Log-odds of a probability (clipped away from 0 and 1)."""
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class WaterfallBar:
    """One row: the start value, a reason's step from the probability before it to the one
    after, or the final score."""

    lines: tuple[str, ...]
    full_label: str
    value_label: str
    x: float
    y: float
    width: float
    kind: str  # "start", "up", "down" or "total"
    before: float  # probability
    after: float
    text_y: float  # baseline of the label's first line (one line: level with the bar)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Waterfall:
    """A horizontal waterfall in probability terms: the start value, each step, the score."""

    width: int
    height: int
    bars: list[WaterfallBar]
    ticks: list[Tick]
    bar_height: float
    label_x: float
    value_x: float
    plot_top: float
    start: float  # probability
    score: float  # probability


def waterfall(
    start_log_odds: float,
    steps: list[tuple[str, float]],
    *,
    start_label: str = START_LABEL,
    score_label: str = SCORE_LABEL,
) -> Waterfall:
    """Lay out a score from its start value (log-odds) through ``(label, log-odds)`` steps, in
    the order given, to the final score; bars and values are probabilities (0 to 1).

    Log-odds add up; each step is drawn from the probability before it to the one after.
    """
    totals = [float(start_log_odds)]
    for _, value in steps:
        totals.append(totals[-1] + float(value))
    prob = [_sigmoid(t) for t in totals]
    left, plot = LABEL_WIDTH, WATERFALL_WIDTH - LABEL_WIDTH - VALUE_WIDTH

    def x_of(p: float) -> float:
        return left + p * plot

    rows = [(start_label, 0.0, prob[0], "start", f"{prob[0]:.3f}")]
    for i, (label, _) in enumerate(steps):
        before, after = prob[i], prob[i + 1]
        rows.append((label, before, after, "up" if after >= before else "down", f"{after - before:+.3f}"))
    rows.append((score_label, 0.0, prob[-1], "total", f"{prob[-1]:.3f}"))
    bars = []
    for row, (label, before, after, kind, value) in enumerate(rows):
        a, b = sorted((x_of(before), x_of(after)))
        lines = label_lines(label)
        bars.append(
            WaterfallBar(
                lines=lines,
                full_label=label,
                value_label=value,
                x=round(a, 1),
                y=TOP + row * ROW_HEIGHT,
                width=round(max(b - a, 1.5), 1),
                kind=kind,
                before=round(before, 4),
                after=round(after, 4),
                text_y=TOP + row * ROW_HEIGHT + (19 if len(lines) == 1 else 13),
            )
        )
    return Waterfall(
        width=WATERFALL_WIDTH,
        height=TOP + len(rows) * ROW_HEIGHT + 6,
        bars=bars,
        ticks=[Tick(round(x_of(t), 1), f"{t:g}") for t in TICKS],
        bar_height=ROW_HEIGHT - 18,
        label_x=6,
        value_x=WATERFALL_WIDTH - VALUE_WIDTH + 8,
        plot_top=TOP - 4,
        start=prob[0],
        score=prob[-1],
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
    label: str = ""  # how the upper entity relates to the lower: "owned by", "director of" ...


@dataclass(frozen=True)
class PathGraph:
    """The ownership path from the declared party to the listed entity, top to bottom."""

    width: int
    height: int
    node_width: int
    node_height: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def ownership_graph(
    path: list[str], width: int = 460, relations: list[str] | None = None
) -> PathGraph | None:
    """Lay out the ownership path as a vertical chain (``relations[i]`` labels the link from
    step i to step i + 1); None when the path is empty."""
    if not path:
        return None
    relations = relations or []
    node_w, node_h, gap = width - 40, 34, 30
    nodes, edges = [], []
    for i, name in enumerate(path):
        kind = "party" if i == 0 else ("listed" if i == len(path) - 1 else "link")
        y = 10 + i * (node_h + gap)
        nodes.append(GraphNode(shorten(name, 52), name, 20, y, kind))
        if i:
            label = relations[i - 1] if i - 1 < len(relations) else ""
            edges.append(GraphEdge(width / 2, y - gap, width / 2, y - 2, label))
    height = 20 + len(path) * node_h + (len(path) - 1) * gap
    return PathGraph(width, height, node_w, node_h, nodes, edges)


@dataclass(frozen=True)
class MapPort:
    """A port of the route on the map."""

    code: str
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class RouteMap:
    """The route drawn on a plain latitude/longitude grid (no coastlines, no tile server)."""

    width: int
    height: int
    ports: list[MapPort]
    legs: list[tuple[float, float, float, float]]
    meridians: list[tuple[float, str]]  # (x, label)
    parallels: list[tuple[float, str]]  # (y, label)


def route_map(
    stops: list[tuple[str, str, float, float]], width: int = 460, height: int = 230
) -> RouteMap | None:
    """Lay out ports given as (code, name, latitude, longitude) on an equirectangular grid
    fitted to the route; None with fewer than two placed ports."""
    if len(stops) < 2:
        return None
    lats = [s[2] for s in stops]
    lons = [s[3] for s in stops]
    pad = 8.0
    south, north = max(-85.0, min(lats) - pad), min(85.0, max(lats) + pad)
    west, east = max(-180.0, min(lons) - pad), min(180.0, max(lons) + pad)
    margin = 24
    scale = min(
        (width - 2 * margin) / max(east - west, 1e-6), (height - 2 * margin) / max(north - south, 1e-6)
    )
    x0 = (width - scale * (east - west)) / 2
    y0 = (height - scale * (north - south)) / 2

    def at(lat: float, lon: float) -> tuple[float, float]:
        return round(x0 + (lon - west) * scale, 1), round(y0 + (north - lat) * scale, 1)

    placed = [MapPort(code, name, *at(lat, lon)) for code, name, lat, lon in stops]
    legs = [(a.x, a.y, b.x, b.y) for a, b in zip(placed, placed[1:], strict=False)]
    step = 10 if max(east - west, north - south) <= 60 else 30
    meridians = [
        (at(0, lon)[0], f"{abs(lon)}\u00b0{'E' if lon >= 0 else 'W'}")
        for lon in range(int(math.ceil(west / step) * step), int(east) + 1, step)
    ]
    parallels = [
        (at(lat, 0)[1], f"{abs(lat)}\u00b0{'N' if lat >= 0 else 'S'}")
        for lat in range(int(math.ceil(south / step) * step), int(north) + 1, step)
    ]
    return RouteMap(width, height, placed, legs, meridians, parallels)
