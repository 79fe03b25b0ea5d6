"""End to end in a real headless Chromium: log in, open the top case, record it, see it queued.

Needs Debian's chromium at /usr/bin/chromium (``scripts/ensure-browser.sh``, which ``make test``
runs, installs it); where it is missing the tests fail saying so, they are never skipped.
"""

from __future__ import annotations

import os
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
SCREENSHOTS = Path(
    os.environ.get("REVIEW_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots")
)
LIVE_STORES: dict = {}
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
    for name, role in (("ivy", "investigator"), ("ned", "investigator"), ("sue", "supervisor")):
        store.add_user(name, role, PASSWORD, actor="test")
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
    LIVE_STORES[f"http://127.0.0.1:{port}"] = store
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
            page.get_by_role("textbox", name="Note", exact=True).fill("oxide drums behind tiles")
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


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _login(page, base: str, username: str, start: str = "/cases") -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    page.goto(f"{base}{start}")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _top_case(page) -> str:
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
    link = page.locator("table.queue tbody tr").first.get_by_role("link")
    href = link.get_attribute("href")
    link.click()
    return href


def test_four_eyes_and_a_confirmed_violation_stays(live_app: str, browser) -> None:
    from playwright.sync_api import expect

    ivy = browser.new_context().new_page()
    _login(ivy, live_app, "ivy")
    href = _top_case(ivy)
    ivy.get_by_label("Violation found").check()
    ivy.get_by_label("concealment", exact=True).check()
    ivy.get_by_label("Seized value (USD)").fill("48000")
    ivy.get_by_role("button", name="Save outcome").click()
    expect(ivy.get_by_text("awaiting a supervisor's confirmation")).to_be_visible()
    expect(ivy.get_by_role("button", name="Confirm the violation")).to_have_count(0)
    ivy.get_by_role("button", name="Release it to the pool").click()

    sue = browser.new_context().new_page()
    _login(sue, live_app, "sue", href)
    sue.get_by_role("button", name="Confirm the violation").click()
    expect(sue.get_by_text("Violation confirmed: the decision is final.")).to_be_visible()
    expect(sue.get_by_text("confirmed by sue")).to_be_visible()

    ned = browser.new_context().new_page()
    _login(ned, live_app, "ned", href)
    expect(ned.get_by_text("confirmed by sue")).to_be_visible()
    expect(ned.get_by_role("button", name="Save outcome")).to_have_count(0)  # no form to overwrite it
    expect(ned.get_by_text("only a supervisor can reopen it")).to_be_visible()
    token = ned.locator('input[name="csrf_token"]').first.get_attribute("value")
    version = ned.locator('input[name="version"]').first.get_attribute("value")
    forced = ned.request.post(  # even sent by hand, the decision does not move
        f"{live_app}{href}/outcome",
        form={"csrf_token": token, "version": version, "outcome": "clear", "note": "fine"},
        max_redirects=0,
    )
    assert forced.status == 409 and "already decided by ivy" in forced.text()
    case = LIVE_STORES[live_app].get_case(XSS_ID)
    assert (case.outcome, case.seized_value_usd, case.confirmed_by) == ("violation", 48000.0, "sue")


def test_a_save_after_the_session_ended_is_resumed_after_login(live_app: str, browser) -> None:
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    _login(page, live_app, "ivy")
    _top_case(page)
    page.get_by_label("Clear: nothing found").check()
    page.get_by_role("textbox", name="Note", exact=True).fill("seals intact, typed before lunch")
    with LIVE_STORES[live_app].engine.begin() as conn:  # the session runs out meanwhile
        conn.exec_driver_sql("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00'")
    page.get_by_role("button", name="Save outcome").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("ivy")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Your session had ended")).to_be_visible()
    note = page.get_by_role("textbox", name="Note", exact=True)
    expect(note).to_have_value("seals intact, typed before lunch")
    expect(page.get_by_label("Clear: nothing found")).to_be_checked()
    page.get_by_role("button", name="Save outcome").click()
    expect(page.get_by_text("Outcome saved.")).to_be_visible()
    assert LIVE_STORES[live_app].get_case(XSS_ID).note == "seals intact, typed before lunch"


def test_search_a_note_thread_and_an_attachment(live_app: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    store = LIVE_STORES[live_app]
    target = store.get_case("D000003")
    exporter = __import__("json").loads(target.declaration)["exporter_name"]
    page = browser.new_context().new_page()
    _login(page, live_app, "ivy")
    page.get_by_label("Search").fill(exporter)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.queue tbody tr").first).to_contain_text(exporter[:37])
    expect(page.get_by_text(f"matching \u201c{exporter}\u201d")).to_be_visible()
    page.get_by_role("link", name="D000003").click()

    for body in ("photos taken at the quay", "lab sample sent"):
        page.get_by_label("Add a note").fill(body)
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_text("Note added.")).to_be_visible()
    notes = page.locator("ol.notes li")
    expect(notes).to_have_count(2)
    expect(notes.nth(0)).to_contain_text("photos taken at the quay")
    expect(notes.nth(1)).to_contain_text("ivy")

    report = tmp_path / "lab report.pdf"
    report.write_bytes(b"%PDF-1.4\n% a lab report\n%%EOF\n")
    page.get_by_label("Attach a photo or a report").set_input_files(str(report))
    page.get_by_role("button", name="Attach file").click()
    expect(page.get_by_text("File attached.")).to_be_visible()
    link = page.get_by_role("link", name="lab report.pdf")
    download = page.request.get(f"{live_app}{link.get_attribute('href')}")
    assert download.status == 200 and download.body() == report.read_bytes()
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("width, height", [(390, 844), (1440, 900)])
def test_the_case_page_and_queue_fit_the_screen(live_app: str, browser, width: int, height: int) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _login(page, live_app, "sue")
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"queue-{width}.png"), full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    page.locator("table.queue tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Case {XSS_ID}")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"case-{width}.png"), full_page=False)
    page.screenshot(path=str(SCREENSHOTS / f"case-{width}-full.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    decision = page.locator("#decision")
    main = page.locator(".case-main").bounding_box()
    side = page.locator(".case-side").bounding_box()
    if width >= 1000:  # two columns: the decision panel beside the evidence, in the first screen
        assert side["x"] > main["x"] + main["width"] - 1
        box = decision.bounding_box()
        assert box["y"] < height and box["y"] + 40 < height
        page.mouse.wheel(0, 2500)  # and it stays in view while reading down the page
        page.wait_for_timeout(200)
        assert page.locator("#decision h2").bounding_box()["y"] >= 0
        assert page.locator("#decision h2").bounding_box()["y"] < height
    else:  # one column on a phone, with a link straight to the decision
        assert side["y"] >= main["y"] + main["height"] - 1
        expect(page.get_by_role("link", name="decision", exact=True)).to_be_visible()
    for name in ("queue", "case"):
        assert (SCREENSHOTS / f"{name}-{width}.png").stat().st_size > 5_000
