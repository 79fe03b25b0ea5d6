"""The saved filters' counts are kept per user between queue pages, but the user's own actions
always show at once: any change they make (a case, a saved filter) drops what was kept."""

from __future__ import annotations

from review.store import CaseStore
from tests.review.conftest import csrf_of, version_of


def test_counts_follow_the_users_own_actions_at_once(make_client, app, store: CaseStore) -> None:
    app.state.filter_counts.ttl = 3_600  # others' changes would show only after an hour
    alice = make_client("alice")
    assert "my open: <strong>0</strong>" in alice.get("/cases").text
    sam = store.get_account("sam")
    store.assign("D000003", store.get_case("D000003").version, sam, "alice")  # someone else's change
    assert "my open: <strong>0</strong>" in alice.get("/cases").text  # kept: not alice's own action

    page = alice.get("/cases/D000004")
    taken = alice.post(
        "/cases/D000004/assign",
        data={"csrf_token": csrf_of(page.text), "version": str(version_of(page.text)), "assignee": "alice"},
    )
    assert taken.status_code == 303
    assert "my open: <strong>2</strong>" in alice.get("/cases").text  # her own change: counted again

    token = csrf_of(alice.get("/cases").text)
    alice.post("/cases/filters", data={"csrf_token": token, "name": "reds", "query": "channel=red"})
    assert "reds: <strong>" in alice.get("/cases").text  # a filter she saved shows at once
