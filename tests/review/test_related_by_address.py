"""Related cases by registered address: two exporters registered at the same address (written
differently) link their cases, on both backends; a case elsewhere does not; a viewer never
gets a case they may not see; the case page says "same registered address" and shows the
address as plain text; scoring's cases carry the addresses the store links by."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from review.demo import demo_cases
from review.store import CaseStore, open_store

SAME_1 = "668 Market Street, Hai Phong, VN"
SAME_2 = "668  MARKET STREET HAI PHONG VN"
ELSEWHERE = "12 Harbour Road <b>Unit 4</b>, Singapore"


def address_cases(prefix: str = "A") -> pd.DataFrame:
    """Three cases of three different exporters, consignees and licences: the first two
    exporters are registered at the same address (written differently), the third elsewhere."""
    cases = demo_cases(3, seed=5, prefix=prefix)
    for i in range(3):
        declaration = json.loads(cases.loc[i, "declaration"])
        declaration |= {
            "exporter_id": f"VN-X{i}",
            "exporter_name": f"Exporter {i} Co",
            "consignee_name": f"Consignee {i} BV",
            "license_id": f"LIC-{prefix}-{i}",
        }
        cases.loc[i, "declaration"] = json.dumps(declaration)
    cases["exporter_address"] = [SAME_1, SAME_2, ELSEWHERE]
    cases["consignee_address"] = ["Keizersgracht 1, Amsterdam", "Damrak 2, Amsterdam", ""]
    return cases


def related_ids(store: CaseStore, case_id: str, viewer: str) -> dict[str, str]:
    pairs = store.related_cases(store.get_case(case_id), store.get_account(viewer))
    return {row.declaration_id: link for link, row in pairs}


def test_cases_of_exporters_at_the_same_registered_address_are_related(empty_database_url: str) -> None:
    store = open_store(empty_database_url)
    try:
        store.add_user("sam", "supervisor", "a long enough password", actor="test")
        store.add_user("alice", "investigator", "a long enough password", actor="test")
        store.add_user("bob", "investigator", "a long enough password", actor="test")
        store.upsert_cases(address_cases())

        assert store.get_case("A000000").address_key == store.get_case("A000001").address_key
        assert store.get_case("A000000").address_key != store.get_case("A000002").address_key
        assert store.get_case("A000000").exporter_address == SAME_1  # kept as written, for the page
        assert related_ids(store, "A000000", "sam") == {"A000001": "address"}
        assert related_ids(store, "A000001", "sam") == {"A000000": "address"}
        assert related_ids(store, "A000002", "sam") == {}

        sam = store.get_account("sam")
        case = store.get_case("A000001")
        assert store.assign("A000001", case.version, sam, "bob").status == "saved"
        assert related_ids(store, "A000000", "alice") == {}  # bob's case: not alice's to see
        assert related_ids(store, "A000000", "bob") == {"A000001": "address"}
        assert related_ids(store, "A000000", "sam") == {"A000001": "address"}
    finally:
        store.close()


def test_the_consignees_address_links_when_the_exporter_has_none_on_file(store: CaseStore) -> None:
    cases = address_cases(prefix="C")
    cases.loc[2, "exporter_address"] = ""  # not on the registry
    cases.loc[2, "consignee_address"] = "668 market street - hai phong - vn"
    store.upsert_cases(cases)
    assert related_ids(store, "C000002", "sam") == {"C000000": "address", "C000001": "address"}

    cases.loc[:, ["exporter_address", "consignee_address"]] = ""  # no address on file at all
    store.upsert_cases(cases)  # scoring refreshes the undecided cases
    assert store.get_case("C000000").address_key is None
    assert related_ids(store, "C000000", "sam") == {}


def test_the_case_page_names_the_link_and_shows_the_registered_address(make_client, store: CaseStore) -> None:
    store.upsert_cases(address_cases())
    sam = make_client("sam")
    page = sam.get("/cases/A000000").text
    related = page[page.index('id="related"') : page.index('id="notes"')]
    assert "same registered address" in related and "A000001" in related and "A000002" not in related
    start = page.index('id="declaration"')
    declaration = page[start : page.index("</section>", start)]
    assert "exporter's registered address" in declaration and SAME_1 in declaration
    elsewhere = sam.get("/cases/A000002").text
    assert "12 Harbour Road &lt;b&gt;Unit 4&lt;/b&gt;, Singapore" in elsewhere  # plain text, escaped
    assert "<b>Unit 4</b>" not in elsewhere
    assert "No other case you may see has the same exporter, consignee, licence or registered address" in (
        elsewhere
    )


def test_scorings_cases_carry_the_registered_addresses(store: CaseStore) -> None:
    from models.scoring import _cases

    n = 3
    scored = pd.DataFrame(
        {
            "declaration_id": ["S1", "S2", "S3"],
            "channel": ["red", "yellow", "red"],
            "risk_score": [0.9, 0.6, 0.8],
            "selected_by": ["model"] * n,
            "rule_hits": [""] * n,
            "model_version": ["7"] * n,
        }
    )
    context = pd.DataFrame(
        {
            "declaration_id": scored["declaration_id"],
            "declared_at": pd.to_datetime(["2026-11-23 08:00"] * n),
            "exporter_id": ["VN-1", "VN-2", "VN-3"],
            "exporter_address": pd.Categorical([SAME_1, SAME_2, np.nan]),  # VN-3: not on the registry
            "consignee_address": pd.Categorical([np.nan, np.nan, SAME_1]),
        }
    )
    cases = _cases(scored, pd.Series([[]] * n), context, None, "2026-11-23", None)
    assert cases["exporter_address"].tolist() == [SAME_1, SAME_2, ""]
    assert cases["consignee_address"].tolist() == ["", "", SAME_1]
    no_consignee = context.drop(columns=["consignee_address"])
    without = _cases(scored, pd.Series([[]] * n), no_consignee, None, "2026-11-23", None)
    assert without["consignee_address"].tolist() == ["", "", ""]  # no registry: empty, not missing

    store.upsert_cases(cases)
    assert related_ids(store, "S1", "sam") == {"S2": "address", "S3": "address"}
