"""End to end in a real headless Chromium: log in, open the top case, record it, see it queued.

Needs Debian's chromium at /usr/bin/chromium (``scripts/ensure-browser.sh``, which ``make test``
runs, installs it); where it is missing the tests fail saying so, they are never skipped.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from review.demo import demo_cases
from review.store import open_store
from tests.review.conftest import PASSWORD, SECRET, XSS_ID, xss_case

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    assert CHROMIUM.exists(), f"no browser: {CHROMIUM} is missing; as root run scripts/ensure-browser.sh"


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 and a free port, on a seeded temporary DB."""
    import uvicorn

    from review.app import create_app

    store = open_store(f"sqlite:///{tmp_path / 'cases.db'}")
    store.add_user("ivy", "investigator", PASSWORD, actor="test")
    store.upsert_cases(pd.concat([demo_cases(5, seed=11), xss_case()], ignore_index=True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store=store, secret=SECRET), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


def test_investigator_records_the_top_case_in_a_browser(live_app: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    dialogs: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))

            page.goto(f"{live_app}/cases")
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.get_by_label("Username").fill("ivy")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()

            expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
            page.locator("table.queue tbody tr").first.get_by_role("link").click()
            expect(page.get_by_role("heading", name=f"Case {XSS_ID}")).to_be_visible()
            expect(page.locator("svg.waterfall")).to_be_visible()
            expect(page.locator("svg.ownership")).to_be_visible()
            expect(page.get_by_text("<script>alert(1)</script>").first).to_be_visible()

            page.get_by_label("Violation found").check()
            page.get_by_label("concealment", exact=True).check()  # typologies are checkboxes
            page.get_by_label("Seized value (USD)").fill("48000")
            page.get_by_label("Note").fill("oxide drums behind tiles")
            page.get_by_role("button", name="Save outcome").click()
            expect(page.get_by_text("Outcome saved.")).to_be_visible()

            page.get_by_role("link", name="Queue", exact=True).click()
            row = page.locator("table.queue tbody tr").first
            expect(row).to_contain_text("Violation found")
            expect(row).to_contain_text("unconfirmed")  # a violation waits for a supervisor
            expect(row).to_contain_text("ivy")
        finally:
            browser.close()
    assert dialogs == [], "a script from a declaration ran in the browser"
    assert console_errors == [], console_errors
