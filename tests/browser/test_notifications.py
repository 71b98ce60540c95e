"""The notifications page: an operator adds webhooks in the console, sees a dead one marked
failed and a good one delivered, reads the delivery log and deletes a webhook; a viewer sees
the notifications but no webhooks."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.console import bearer, no_script_errors, shot, sign_in
from tests.integration.conftest import Federation, report


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def good_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _add(page: object, url: str, secret: str) -> None:
    page.get_by_label("URL").fill(url)  # type: ignore[attr-defined]
    page.get_by_label("operator", exact=False).first.check()  # type: ignore[attr-defined]
    page.get_by_label("Shared secret", exact=False).fill(secret)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add webhook").click()  # type: ignore[attr-defined]


def test_webhooks_are_added_shown_failed_or_delivered_and_deleted(
        browser: Browser, ui_fed: Federation, shots: Path, good_url: str) -> None:
    page = sign_in(browser, ui_fed, "gb", "operator")
    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications and webhooks")
    _add(page, "ftp://nowhere.example", "short")
    expect(page.locator(".field.has-error")).to_have_count(2)
    expect(page.get_by_text("give a shared secret of 16")).to_be_visible()

    dead = f"http://127.0.0.1:{_closed_port()}/hook"
    _add(page, dead, "a shared secret of some length")
    expect(page.locator("#wh-list tbody tr", has_text=dead)).to_be_visible()
    _add(page, good_url, "another shared secret, long enough")
    expect(page.locator("#wh-list tbody tr", has_text=good_url)).to_be_visible()

    status, body = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                          report(title="Webhook page test"))
    assert status == 201, body
    expect(page.locator("#n-list tbody tr", has_text="duty officer").first).to_be_visible(
        timeout=10_000)
    dead_row = page.locator("#wh-list tbody tr", has_text=dead)
    # no reload: the outcome arrives as a live update (retries end within a second here)
    expect(dead_row.locator(".st-failed").first).to_contain_text(re.compile(r"\d+ failed"),
                                                                 timeout=10_000)
    expect(dead_row).to_contain_text("ClientConnectorError")
    expect(page.locator("#wh-list tbody tr", has_text=good_url)).to_contain_text("delivered")
    dead_row.get_by_role("button", name="Delivery log").click()
    expect(page.locator("#wh-list table table")).to_contain_text("6")
    shot(page, shots, "notifications-webhooks")

    page.once("dialog", lambda d: d.accept())
    dead_row.get_by_role("button", name="Delete").click()
    expect(page.locator("#wh-list tbody tr", has_text=dead)).to_have_count(0)
    no_script_errors(page)

    viewer = sign_in(browser, ui_fed, "gb", "viewer")
    viewer.goto(ui_fed.url("gb", "/notifications"))
    expect(viewer.locator("#n-list tbody tr").first).to_be_visible()
    expect(viewer.get_by_role("heading", name="Webhooks", exact=True)).to_have_count(0)
    no_script_errors(viewer)
