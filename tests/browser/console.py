"""Helpers the browser tests share: sign in through /login, watch for script errors, screenshot."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from playwright.sync_api import Browser, Page, expect

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.keys import SigningKey
from federation.messages import incident_from_report
from node.core.identity import load_signing_key
from tests.browser.conftest import VIEWPORT
from tests.integration.conftest import Federation, report

OPEN_CONTEXTS: list[Any] = []  # closed after each test by the ``close_pages`` fixture


def open_page(browser: Browser) -> Page:
    """A fresh browser context (its own cookies) and page; uncaught script errors are kept."""
    context = browser.new_context(viewport=VIEWPORT)
    OPEN_CONTEXTS.append(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.script_errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(browser: Browser, fed: Federation, node: str, role: str) -> Page:
    page = open_page(browser)
    page.goto(fed.url(node, "/login"))
    page.get_by_label("API token").fill(fed.node(node)["tokens"][role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(fed.url(node, "/"))
    expect(page.get_by_role("heading", level=1, name="Incidents")).to_be_visible()
    return page


def no_script_errors(page: Page) -> None:
    errors = page.script_errors  # type: ignore[attr-defined]
    assert not errors, f"uncaught script errors on {page.url}: {errors}"


def csrf(page: Page) -> str:
    return str(page.locator('meta[name="csrf-token"]').get_attribute("content"))


def shot(page: Page, shots: Path, name: str) -> None:
    page.wait_for_timeout(200)  # let the last live redraw settle
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def bearer(fed: Federation, node: str, role: str, method: str, path: str,
           body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call a node's API with an API token, as a script would (no browser, no cookie)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fed.url(node, path), data=data, method=method,  # noqa: S310
                                 headers={**fed.auth(node, role),
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def api(fed: Federation, node: str, path: str, method: str = "GET", role: str = "viewer",
        body: dict[str, Any] | None = None, status: int = 200) -> Any:
    """``bearer``, asserting the answer's status; the answer's JSON."""
    got, answer = bearer(fed, node, role, method, path, body)
    assert got == status, (path, answer)
    return answer


def poll(check: Any, within_s: float = 15.0, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + within_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {within_s}s; last: {last!r}")


def publish_forgeries(fed: Federation) -> None:
    """Publish two forged ``gb`` incidents straight into NATS as the admin user: one signed by
    an unknown key, one signed by gb and then tampered with. Every member quarantines both."""
    doc = incident_from_report(report(title="Forged report", affected_jurisdictions=[]),
                               origin="gb", now=datetime.now(UTC))
    unknown = Envelope.sign(payload_type("incident"), encode(doc),
                            [SigningKey.from_seed(os.urandom(32))]).to_json()
    signed = json.loads(Envelope.sign(payload_type("incident"), encode(doc), [
        load_signing_key(Path(fed.node("gb")["signing_key_file"]))]).to_json())
    signed["payload"] = base64.b64encode(encode(dict(doc, severity="hazard"))).decode()
    tampered = json.dumps(signed).encode()

    async def publish() -> None:
        nc = await nats.connect(fed.doc["nats"]["url"],
                                nkeys_seed=fed.doc["nats"]["admin_credentials"])
        try:
            js = nc.jetstream()
            for data in (unknown, tampered):
                await js.publish("beacon.v1.incident.gb.serious-incident", data)
        finally:
            await nc.close()

    # Playwright's sync API owns this thread's event loop: publish from another thread.
    worker = threading.Thread(target=asyncio.run, args=(publish(),))
    worker.start()
    worker.join(timeout=30)
