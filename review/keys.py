"""Keys a case is found by: search text and the parties that link related cases.

Read from the declaration's JSON once, when a case is stored (and by migration 0005 for the
cases stored before), so the queue's search and the related-case lookups read short columns.
The registered address that links cases comes from the company registry (scoring's
``exporter_address`` / ``consignee_address``), not from the declaration.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

KEY_LENGTH = 128
SEARCH_LENGTH = 400  # an index entry (with the id and assignee): within PostgreSQL's 2,704-byte B-tree limit
SEARCH_FIELDS = (
    "exporter_id",
    "exporter_name",
    "consignee_id",
    "consignee_name",
    "declarant_id",
    "license_id",
    "hs_code",
    "port_of_loading",
    "port_of_discharge",
    "transshipment_ports",
    "origin_country",
)


def _field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return "" if value is None else str(value).strip()


def normalised(text: str) -> str:
    """Lower case, runs of blanks as one space: how names are compared."""
    return " ".join(text.lower().split())


def case_keys(declaration_id: str, declaration: str | None, route: str | None) -> dict[str, str | None]:
    """``exporter_key``, ``consignee_key``, ``license_key`` (None when absent) and ``search_text``."""
    try:
        fields = json.loads(declaration or "{}")
    except (TypeError, ValueError):
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    exporter = _field(fields, "exporter_id") or normalised(_field(fields, "exporter_name"))
    consignee = _field(fields, "consignee_id") or normalised(_field(fields, "consignee_name"))
    licence = _field(fields, "license_id")
    words = [declaration_id, *(_field(fields, f) for f in SEARCH_FIELDS), route or ""]
    search = normalised(" | ".join(w for w in words if w))
    return {
        "exporter_key": exporter[:KEY_LENGTH] or None,
        "consignee_key": consignee[:KEY_LENGTH] or None,
        "license_key": licence[:KEY_LENGTH] or None,
        "search_text": search[:SEARCH_LENGTH],
    }


def address_keys(exporter: pd.Series, consignee: pd.Series) -> pd.Series:
    """Each case's registered address as compared (the exporter's, else the consignee's; None
    when neither is on file), normalised as the ownership features compare addresses: case,
    punctuation and spacing do not matter ("668 Market Street, Hai Phong, VN" is
    "668 MARKET STREET HAI PHONG VN")."""
    from features.names import normalise_text  # rigour: loaded only when cases are stored

    key = normalise_text(exporter).fillna(normalise_text(consignee))
    return key.str[:KEY_LENGTH].astype(object).where(key.notna(), None)
