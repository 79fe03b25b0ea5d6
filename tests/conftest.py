"""Shared test helpers: small valid frames built from the contract."""

from __future__ import annotations

import pandas as pd
import pytest

VALID_DECLARATION = {
    "declaration_id": "D0001",
    "declared_at": "2026-11-23T08:15:00",
    "exporter_id": "CN-E0001",
    "exporter_name": "Baotou Steel Trading Co., Ltd",
    "consignee_name": "Rotterdam Metals BV",
    "consignee_country": "NL",
    "hs_code": "0101210000",
    "goods_description": "live pure-bred breeding horses",
    "gross_weight_kg": "1200.5",
    "declared_value_usd": "45000",
    "origin_country": "CN",
    "port_of_loading": "CNSHA",
    "port_of_discharge": "NLRTM",
    "destination_country": "NL",
    "transshipment_ports": "VNHPH;MYPKG",
    "packages": "3",
    "container_type": "40HC",
}


@pytest.fixture
def declarations_frame():
    """Three valid declaration rows as text, as a CSV export would give them."""

    def make(n: int = 3) -> pd.DataFrame:
        rows = []
        for i in range(n):
            row = dict(VALID_DECLARATION)
            row["declaration_id"] = f"D{i:04d}"
            rows.append(row)
        return pd.DataFrame(rows, dtype="str")

    return make


def pytest_collection_modifyitems(config, items) -> None:
    """Tiers by where a test lives and what it needs, so `make test-fast` can leave them out:
    tests/integration -> integration, the browser test -> e2e, a PostgreSQL server -> postgres."""
    for item in items:
        path = str(item.path)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if item.path.name == "test_e2e_browser.py":
            item.add_marker(pytest.mark.e2e)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            item.path.name == "test_store_postgres.py"
            or any("postgres" in name for name in getattr(item, "fixturenames", ()))
            or "postgresql" in params.values()
        ):
            item.add_marker(pytest.mark.postgres)
