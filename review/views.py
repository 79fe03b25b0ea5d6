"""Turn a stored case into what the case page shows (parsing never fails the page)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Row

from models.explain import group_reasons
from review.charts import (
    REST_LABEL,
    PathGraph,
    RouteMap,
    Waterfall,
    logit,
    ownership_graph,
    route_map,
    waterfall,
)
from review.names import hs_name, port_name, port_position

SELECTED_BY_TEXT = {
    "rule": "a hard rule selected it, whatever the score",
    "model": "the model's risk score put it above the channel's threshold",
    "exploration": "picked for exploration (random or uncertain), to keep the model learning, not for "
    "its score; its reasons show what raises and what lowers its risk",
}
HELD = "held"
NOT_SCORED = "held for correction, not scored"
OTHER_KIND = "other"  # reasons stored without a kind of evidence (cases scored before kinds existed)
MAX_HISTORY_ROWS = 50


@cache
def declaration_columns() -> tuple[str, ...]:
    """The declarations columns of the data contract, in contract order."""
    from data.contract import TABLES

    return tuple(TABLES["declarations"].column_names)


def parse_json(text: str | None, kind: type) -> tuple[Any, bool]:
    """Parse a JSON field of the expected kind; returns (value, ok)."""
    try:
        value = json.loads(text or "")
    except (TypeError, ValueError):
        return kind(), False
    return (value, True) if isinstance(value, kind) else (kind(), False)


@dataclass(frozen=True)
class Reason:
    """One plain-language reason with its signed contribution (None if unreadable) and its
    kind of evidence ('' when not stored)."""

    feature: str
    text: str
    contribution: float | None
    kind: str = ""

    @property
    def is_rule(self) -> bool:
        return self.feature.startswith("rule:")


@dataclass(frozen=True)
class ReasonGroup:
    """The reasons of one kind of evidence (goods vs code, value, licence, ...)."""

    kind: str
    label: str
    contribution: float
    reasons: list[Reason]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_reasons(text: str | None) -> tuple[list[Reason], float | None, bool]:
    """The reasons stored with a case, the model's start value (log-odds, None when not
    stored) and whether they were all readable."""
    items, ok = parse_json(text, list)
    reasons = []
    start = None
    for item in items:
        if not isinstance(item, dict):
            ok = False
            continue
        kind = item.get("kind")
        reasons.append(
            Reason(
                str(item.get("feature", "")),
                str(item.get("text", "")),
                _number(item.get("contribution")),
                kind if isinstance(kind, str) else "",
            )
        )
        if start is None:
            start = _number(item.get("start_log_odds"))
    return reasons, start, ok


def parse_reasons(text: str | None) -> tuple[list[Reason], bool]:
    """The reasons stored with a case, and whether they were all readable."""
    reasons, _, ok = read_reasons(text)
    return reasons, ok


def reason_groups(reasons: list[Reason]) -> list[ReasonGroup]:
    """Reasons grouped by kind of evidence (``models.explain.group_reasons``): the group with
    the largest single contribution first. Rules are one group; reasons stored without a kind
    are grouped as other reasons."""
    items = [
        {
            "feature": r.feature,
            "kind": r.kind or (None if r.is_rule else OTHER_KIND),
            "contribution": r.contribution,
            "reason": r,
        }
        for r in reasons
    ]
    return [
        ReasonGroup(
            g["kind"],
            "other reasons" if g["kind"] == OTHER_KIND else g["label"],
            g["contribution"],
            [r["reason"] for r in g["reasons"]],
        )
        for g in group_reasons(items)
    ]


def score_chart(reasons: list[Reason], start: float | None, risk_score: float) -> Waterfall | None:
    """The case's score from the model's start value through its reasons to the risk score,
    in probability terms: the model's reasons in the order given, then all other features
    together, then the rules' raise (the rule floor), if any.

    Without a stored start value (cases stored before it was), the chart starts from the
    start value and all other features together. None when no reason has a contribution.
    """
    model = [
        (r.text or r.feature, r.contribution) for r in reasons if r.contribution is not None and not r.is_rule
    ]
    rules = [(r.text or r.feature, r.contribution) for r in reasons if r.contribution and r.is_rule]
    if not model and not rules:
        return None
    steps = model + rules
    total = logit(risk_score)
    shown = sum(c for _, c in steps)
    if start is None:
        return waterfall(
            total - shown,
            steps,
            start_label="start value and all other features together (no start value stored)",
        )
    rest = total - start - shown
    if abs(rest) >= 5e-4:
        steps = [*model, (REST_LABEL, rest), *rules]
    return waterfall(start, steps)


def declared_fields(text: str | None) -> tuple[list[tuple[str, str]], bool]:
    """The declaration's fields as (name, value), contract columns first, then the rest."""
    fields, ok = parse_json(text, dict)
    known = [c for c in declaration_columns() if c in fields]
    extra = sorted(k for k in fields if k not in declaration_columns())
    return [(str(k), "" if fields[k] is None else str(fields[k])) for k in known + extra], ok


SUMMARY_FIELDS = ("goods_description", "hs_code", "exporter_name", "consignee_name")


def declaration_summary(text: str | None) -> dict[str, str]:
    """Goods, code and exporter for the queue (empty strings when unreadable)."""
    return dict(zip(SUMMARY_FIELDS, _summary(text), strict=True))


@lru_cache(maxsize=20_000)
def _summary(text: str | None) -> tuple[str, ...]:
    # A queue page shows the same declarations again and again: each is parsed once per process
    # (keyed by the declaration's text itself, so a refreshed declaration is parsed anew).
    fields, _ = parse_json(text, dict)
    return tuple(str(fields.get(k, "") or "") for k in SUMMARY_FIELDS)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One line of the queue, every value ready to print."""

    url: str
    declaration_id: str
    risk: str
    channel: str
    day: str
    goods: str
    hs_code: str
    exporter: str
    selected_by: str
    typology: str
    typology_is_hint: bool
    status: str
    assignee: str
    outcome: str


def queue_rows(rows: list[Row], case_url, outcome_labels: dict[str, str]) -> list[QueueRow]:
    """The queue's lines from the stored cases of one page."""
    lines = []
    for row in rows:
        summary = declaration_summary(row.declaration)
        goods = summary["goods_description"]
        exporter = summary["exporter_name"]
        lines.append(
            QueueRow(
                url=case_url(row.declaration_id),
                declaration_id=row.declaration_id,
                risk="not scored" if row.channel == HELD else f"{row.risk_score:.3f}",
                channel=row.channel,
                day=row.manifest_day.isoformat(),
                goods=goods if len(goods) <= 80 else goods[:77] + "...",
                hs_code=summary["hs_code"],
                exporter=exporter if len(exporter) <= 40 else exporter[:37] + "...",
                selected_by=row.selected_by,
                typology=row.typology or row.typology_hint or "",
                typology_is_hint=not row.typology and bool(row.typology_hint),
                status=row.status.replace("_", " "),
                assignee=row.assignee or "",
                outcome=outcome_labels.get(row.outcome or "", ""),
            )
        )
    return lines


def history_table(text: str | None) -> tuple[list[str], list[list[str]], bool]:
    """The exporter's recent shipments as (columns, rows), at most MAX_HISTORY_ROWS rows."""
    items, ok = parse_json(text, list)
    rows = [i for i in items if isinstance(i, dict)][:MAX_HISTORY_ROWS]
    ok = ok and all(isinstance(i, dict) for i in items)
    columns: list[str] = []
    for row in rows:
        columns += [str(k) for k in row if str(k) not in columns]
    cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    return columns, cells, ok


def route_ports(route: str | None) -> list[str]:
    """The ports of a route written 'CNSHA -> VNHPH -> NLRTM'."""
    return [p.strip() for p in (route or "").split("->") if p.strip()]


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows about a case, parsed."""

    fields: list[tuple[str, str]]
    reasons: list[Reason]
    groups: list[ReasonGroup]
    chart: Waterfall | None
    held: bool  # held for correction: not scored, its reasons are the problems found
    risk_text: str  # the score as shown, or "held for correction, not scored"
    typology_hint: str  # the hint's typologies in words ('' when none)
    rule_hits: list[str]
    selected_by_text: str
    route: list[str]
    ownership: list[str]
    graph: PathGraph | None
    steps: list[OwnershipStep]
    route_names: list[tuple[str, str]]  # (LOCODE, "Name (CC)" or '')
    map: RouteMap | None
    hs_code: str
    hs_name: str
    history_columns: list[str]
    history_rows: list[list[str]]
    unreadable: list[str]


def case_view(case: Row) -> CaseView:
    """Parse the stored JSON of a case for display; unreadable parts are named, not fatal."""
    unreadable = []
    fields, ok = declared_fields(case.declaration)
    if not ok:
        unreadable.append("declaration")
    structured = getattr(case, "reasons_json", None)  # from scoring as data, when it stores it
    reasons, start, ok = read_reasons(structured if structured else case.reasons)
    if not ok:
        unreadable.append("reasons")
    held = case.channel == HELD
    _, ok = parse_json(case.ownership_path, list)
    if not ok:
        unreadable.append("ownership path")
    steps = ownership_steps(case)
    path = [s.name for s in steps]
    route = route_ports(case.route)
    placed = [(p, port_name(p), *pos) for p in route if (pos := port_position(p)) is not None]
    hs_code = dict(fields).get("hs_code", "")
    columns, rows, ok = history_table(case.exporter_history)
    if not ok:
        unreadable.append("exporter history")
    hint = [t.strip() for t in (case.typology_hint or "").split(";") if t.strip()]
    return CaseView(
        fields=fields,
        reasons=reasons,
        groups=[] if held else reason_groups(reasons),
        chart=None if held else score_chart(reasons, start, case.risk_score),
        held=held,
        risk_text=NOT_SCORED if held else f"{case.risk_score:.3f}",
        typology_hint=" and ".join(t.replace("_", " ") for t in hint),
        rule_hits=[h for h in (case.rule_hits or "").split(";") if h.strip()],
        selected_by_text=SELECTED_BY_TEXT.get(case.selected_by, case.selected_by),
        route=route,
        ownership=path,
        graph=ownership_graph(path, relations=[s.relation for s in steps]),
        steps=steps,
        route_names=[(p, port_name(p)) for p in route],
        map=route_map(placed),
        hs_code=hs_code,
        hs_name=hs_name(hs_code) if hs_code else "",
        history_columns=columns,
        history_rows=rows,
        unreadable=unreadable,
    )


ENTITY_KINDS = {"exporter": "exporter_key", "consignee": "consignee_key", "licence": "license_key"}
ENTITY_NAME_FIELDS = {"exporter": "exporter_name", "consignee": "consignee_name", "licence": "license_id"}


@dataclass(frozen=True, slots=True)
class RelatedRow:
    """A case linked to another by a party, licence or registered address, ready to print."""

    link: str
    url: str
    declaration_id: str
    day: str
    risk: str
    status: str
    outcome: str
    typology: str


RELATED_LINKS = {"address": "same registered address"}  # a link's words, when not "same <link>"


def related_rows(pairs: list[tuple[str, Row]], case_url, outcome_labels: dict[str, str]) -> list[RelatedRow]:
    """Related cases as lines: what links them, the case, its outcome."""
    lines = []
    for link, row in pairs:
        lines.append(
            RelatedRow(
                link=RELATED_LINKS.get(link, f"same {link}"),
                url=case_url(row.declaration_id),
                declaration_id=row.declaration_id,
                day=row.manifest_day.isoformat(),
                risk="not scored" if row.channel == HELD else f"{row.risk_score:.3f}",
                status=row.status.replace("_", " "),
                outcome=outcome_labels.get(row.outcome or "", "not decided"),
                typology=(row.typology or "").replace(";", ", ")
                or (f"hint: {row.typology_hint.replace(';', ', ')}" if row.typology_hint else ""),
            )
        )
    return lines


def entity_view(kind: str, key: str, rows: list[Row], case_url) -> dict[str, Any]:
    """A company's page: its name, shipments, outcomes, ownership paths, goods and ports."""
    from review.forms import OUTCOME_LABELS

    names: dict[str, int] = {}
    paths: list[list[str]] = []
    codes: dict[str, int] = {}
    ports: dict[str, int] = {}
    outcomes = {"violation": 0, "clear": 0, "not_inspected": 0, "": 0}
    seized = 0.0
    for row in rows:
        fields, _ = parse_json(row.declaration, dict)
        name = str(fields.get(ENTITY_NAME_FIELDS[kind], "") or "")
        if name:
            names[name] = names.get(name, 0) + 1
        if code := str(fields.get("hs_code", "") or ""):
            codes[code] = codes.get(code, 0) + 1
        for port in route_ports(row.route):
            ports[port] = ports.get(port, 0) + 1
        path = ownership_steps(row)
        if path and [s.name for s in path] not in [[s.name for s in p] for p in paths]:
            paths.append(path)
        outcomes[row.outcome or ""] = outcomes.get(row.outcome or "", 0) + 1
        seized += row.seized_value_usd or 0.0
    shipments = queue_rows(rows, case_url, OUTCOME_LABELS)
    return {
        "kind": kind,
        "key": key,
        "names": sorted(names, key=lambda n: -names[n]),
        "shipments": shipments,
        "outcomes": outcomes,
        "seized": seized,
        "paths": paths[:10],
        "codes": sorted(codes.items(), key=lambda kv: -kv[1])[:10],
        "ports": sorted(ports.items(), key=lambda kv: -kv[1])[:10],
    }


@dataclass(frozen=True)
class OwnershipStep:
    """One entity on the path to a listed entity, with how it is tied to the next one."""

    name: str
    relation: str = ""  # to the next step: "owned by", "director of" ... ('' when not stored)
    entity_id: str = ""
    listed_as: str = ""  # the last step: the list and entry it is on ('' when not stored)


def ownership_steps(case: Row) -> list[OwnershipStep]:
    """The ownership path as steps: structured (``ownership_json``) when scoring stored it, else
    the names of ``ownership_path`` without relations."""
    structured, ok = parse_json(getattr(case, "ownership_json", None), list)
    if ok and structured:
        steps = []
        for item in structured:
            if isinstance(item, dict) and item.get("name"):
                steps.append(
                    OwnershipStep(
                        str(item.get("name", "")),
                        str(item.get("relation", "") or ""),
                        str(item.get("id", "") or ""),
                        str(item.get("listed_as", "") or ""),
                    )
                )
        if steps:
            return steps
    path, _ = parse_json(case.ownership_path, list)
    return [OwnershipStep(str(p)) for p in path]
