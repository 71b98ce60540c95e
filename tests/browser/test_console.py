"""The web console in a real headless Chromium against a real federation (gb, fr, int).

What a person does during an emergency: sign in with a token, file a report (a wrong field is
shown next to the field), watch it arrive at a peer's console live, acknowledge an escalation
before its deadline; and what a viewer must not be able to do.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console import (
    bearer,
    csrf,
    no_script_errors,
    open_page,
    poll,
    publish_forgeries,
    shot,
    sign_in,
)
from tests.integration.conftest import Federation, report

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_login_gives_an_httponly_strict_session_and_the_incident_list(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    page = open_page(browser)
    page.goto(ui_fed.url("gb", "/login"))
    token_field = page.locator("form input[name=token]")
    expect(token_field).to_have_attribute("type", "password")
    shot(page, shots, "login")

    token_field.fill("bkn_000000000000_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("not accepted")
    expect(page.get_by_label("API token")).to_have_attribute("aria-invalid", "true")
    shot(page, shots, "login-refused")

    page.get_by_label("API token").fill(ui_fed.node("gb")["tokens"]["operator"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ui_fed.url("gb", "/"))
    expect(page.get_by_role("heading", level=1, name="Incidents")).to_be_visible()
    expect(page.locator("#result-count")).to_contain_text("incident")
    cookie = next(c for c in page.context.cookies() if c["name"] == "beacon_session_gb")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP on loopback; Secure is set under TLS
    assert "beacon_session" not in page.evaluate("document.cookie")  # no script can read it
    expect(page.locator("#st-nats")).to_contain_text("connected")
    expect(page.locator("#st-live")).to_contain_text("live")
    no_script_errors(page)


def test_file_with_a_wrong_field_fix_it_and_see_it_live_at_a_peer(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    peer = sign_in(browser, ui_fed, "fr", "viewer")
    peer.evaluate("window.__sameDocument = true")  # lost if the page reloads
    expect(peer.locator("#st-live")).to_contain_text("live")

    gb = sign_in(browser, ui_fed, "gb", "operator")
    gb.get_by_role("link", name="File report").click()
    expect(gb.get_by_role("heading", level=1)).to_have_text("File an incident report")
    title = f"Console test: chatbot advised a fatal dose {uuid.uuid4().hex[:8]}"
    label = gb.get_by_label
    label("Title (required)", exact=True).fill("AI")  # the one wrong field: 3 characters at least
    label("Description (required)", exact=True).fill("A patient followed the model's advice.")
    gb.get_by_label("Severity (required)", exact=True).select_option("hazard")
    gb.get_by_role("group", name="Harm types").get_by_label("physical").check()
    gb.get_by_label("System name (required)", exact=True).fill("ExampleLM")
    label("Role of the AI system in the incident (required)").fill("It gave the advice.")
    gb.get_by_label("Organisation (required)", exact=True).fill("UK AI Security Institute")
    gb.get_by_label("Material 1: description").fill("press report")
    gb.get_by_label("Material 1: link (https://…)").fill("https://example.org/report")
    gb.get_by_label("First occurred (UTC)").fill("2026-11-20T09:00:00")
    gb.get_by_role("button", name="Sign and send report").click()

    title_field = gb.locator('[data-field="$.title"]')
    expect(title_field.locator(".field-error")).to_contain_text("too short")
    expect(label("Title (required)", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(gb.locator(".error-summary")).to_contain_text("problem")
    assert gb.locator(".field-error").count() == 1  # only the wrong field is flagged
    shot(gb, shots, "file-error")

    gb.get_by_label("Title (required)", exact=True).fill(title)
    gb.get_by_role("button", name="Sign and send report").click()
    gb.wait_for_url(re.compile(r"/incidents/gb-[0-9a-f]+$"))
    expect(gb.get_by_role("heading", level=1)).to_have_text(title)
    expect(gb.get_by_text("Signature verified: signed by gb")).to_be_visible()
    expect(gb.get_by_text("Inclusion proof verified in this browser")).to_be_visible(
        timeout=15_000)
    shot(gb, shots, "incident")

    # fr's console shows it without a reload: the row arrives through Server-Sent Events.
    expect(peer.get_by_role("link", name=title)).to_be_visible(timeout=15_000)
    assert peer.evaluate("window.__sameDocument") is True
    expect(peer.locator("#announcer")).to_contain_text("New incident from gb")
    shot(peer, shots, "incidents-live-at-peer")
    peer.get_by_role("link", name=title).click()
    expect(peer.get_by_text("Logged by gb")).to_be_visible()
    shot(peer, shots, "incident-at-peer")
    no_script_errors(gb)
    no_script_errors(peer)


def test_acknowledge_an_escalation_before_its_deadline(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    fr = sign_in(browser, ui_fed, "fr", "responder")
    fr.get_by_role("link", name=re.compile("^Inbox")).click()
    expect(fr.get_by_role("heading", level=1)).to_have_text("Escalation inbox")
    fr.evaluate("window.__sameDocument = true")

    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=f"Escalation test {uuid.uuid4().hex[:8]}"))
    assert status == 201, filed
    card = fr.locator("article.esc").filter(has=fr.get_by_role("link", name=filed["id"]))
    expect(card).to_be_visible(timeout=15_000)  # live, within a second or two
    assert fr.evaluate("window.__sameDocument") is True
    expect(card.locator(".countdown")).to_contain_text(re.compile(r"due in \d+ (min|s)"))
    shot(fr, shots, "inbox")

    card.get_by_role("button", name="Acknowledge").click()
    expect(fr.locator(".toast")).to_contain_text("Acknowledged")
    answered = fr.locator("tbody tr").filter(has=fr.get_by_role("link", name=filed["id"]))
    expect(answered).to_contain_text("acked")
    shot(fr, shots, "inbox-acknowledged")

    status, inbox = bearer(ui_fed, "fr", "viewer", "GET", "/api/v1/escalations")
    esc = next(e for e in inbox["items"] if e["incident_id"] == filed["id"])
    assert esc["status"] == "acked" and esc["answered_at"] < esc["deadline"]

    def acked_at_origin() -> object:
        _, runs = bearer(ui_fed, "gb", "viewer", "GET", f"/api/v1/runs?incident={filed['id']}")
        steps = [s for r in runs["items"] for s in r["steps"] if "fr" in s.get("acked_by", [])]
        return runs["items"][0] if steps else None
    run = poll(acked_at_origin)

    gb = sign_in(browser, ui_fed, "gb", "operator")
    gb.goto(ui_fed.url("gb", f"/runs/{run['id']}"))
    expect(gb.get_by_role("heading", level=1)).to_have_text(run["playbook"]["title"])
    expect(gb.locator("ol.timeline")).to_contain_text("acknowledged")
    shot(gb, shots, "run")
    no_script_errors(fr)
    no_script_errors(gb)


def test_decline_an_escalation_with_a_reason(browser: Browser, ui_fed: Federation) -> None:
    fr = sign_in(browser, ui_fed, "fr", "responder")
    fr.goto(ui_fed.url("fr", "/inbox"))
    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=f"Decline test {uuid.uuid4().hex[:8]}"))
    assert status == 201
    card = fr.locator("article.esc").filter(has=fr.get_by_role("link", name=filed["id"]))
    expect(card).to_be_visible(timeout=15_000)
    card.get_by_role("button", name="Decline…").click()
    reason = card.get_by_label("Why do you decline? (required)")
    expect(reason).to_be_focused()
    card.get_by_role("button", name="Send decline").click()
    expect(card.locator(".field-error")).to_have_text("Say why you decline.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    reason.fill("Not in our jurisdiction: the deployer operates only in gb.")
    card.get_by_role("button", name="Send decline").click()
    answered = fr.locator("tbody tr").filter(has=fr.get_by_role("link", name=filed["id"]))
    expect(answered).to_contain_text("declined")
    no_script_errors(fr)


def test_a_viewer_cannot_file_acknowledge_or_open_the_quarantine(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=f"Viewer test {uuid.uuid4().hex[:8]}"))
    assert status == 201
    viewer = sign_in(browser, ui_fed, "fr", "viewer")
    nav = viewer.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="File report")).to_have_count(0)
    expect(nav.get_by_role("link", name="Quarantine")).to_have_count(0)

    response = viewer.goto(ui_fed.url("fr", "/file"))
    assert response is not None and response.status == 403
    expect(viewer.get_by_text("may not open this page")).to_be_visible()
    expect(viewer.locator("form#report-form")).to_have_count(0)
    expect(viewer.locator("input:not([type=hidden]), textarea, select")).to_have_count(0)

    response = viewer.goto(ui_fed.url("fr", "/quarantine"))
    assert response is not None and response.status == 403
    shot(viewer, shots, "viewer-quarantine-refused")

    viewer.goto(ui_fed.url("fr", "/inbox"))
    card = viewer.locator("article.esc").filter(has=viewer.get_by_role("link", name=filed["id"]))
    expect(card).to_be_visible(timeout=15_000)
    expect(viewer.get_by_text("Only a responder can acknowledge")).to_be_visible()
    expect(viewer.get_by_role("button", name="Acknowledge")).to_have_count(0)
    shot(viewer, shots, "viewer-inbox")

    escalation = card.get_attribute("data-escalation")
    token = csrf(viewer)
    # Even with a valid session and CSRF token, the server refuses the role.
    answer = viewer.evaluate("""async ([id, token]) => {
        const r = await fetch(`/api/v1/escalations/${encodeURIComponent(id)}/ack`, {
            method: 'POST', headers: {'X-CSRF-Token': token, 'Content-Type': 'application/json'},
            body: '{}'});
        return [r.status, await r.json()];
    }""", [escalation, token])
    assert answer[0] == 403 and "responder" in answer[1]["errors"][0]["message"]
    quarantine = viewer.evaluate("fetch('/api/v1/quarantine').then(r => r.status)")
    assert quarantine == 403
    filing = viewer.evaluate("""async (token) => (await fetch('/api/v1/incidents', {
        method: 'POST', headers: {'X-CSRF-Token': token, 'Content-Type': 'application/json'},
        body: '{}'})).status""", token)
    assert filing == 403
    no_script_errors(viewer)


def test_cookie_requests_without_the_csrf_token_are_refused(
        browser: Browser, ui_fed: Federation) -> None:
    page = sign_in(browser, ui_fed, "gb", "operator")
    url = ui_fed.url("gb", "/api/v1/incidents")
    body = report(title=f"CSRF test {uuid.uuid4().hex[:8]}", affected_jurisdictions=[])
    # page.request shares the browser context's cookies: a forged cross-site request would
    # carry the session cookie too (were it not SameSite) but could not know the token.
    refused = page.request.post(url, data=body)
    assert refused.status == 403 and "CSRF" in refused.json()["errors"][0]["message"]
    wrong = page.request.post(url, data=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status == 403
    logout = page.request.post(ui_fed.url("gb", "/logout"), max_redirects=0)
    assert logout.status == 403  # sign-out is state-changing too
    accepted = page.request.post(url, data=body, headers={"X-CSRF-Token": csrf(page)})
    assert accepted.status == 201, accepted.text()
    # Bearer-token calls carry no cookie and need no CSRF token.
    status, _ = bearer(ui_fed, "gb", "viewer", "GET", "/api/v1/incidents")
    assert status == 200
    # A sign-in posted from another site is refused (login CSRF).
    other = open_page(browser)
    cross = other.request.post(ui_fed.url("gb", "/login"), max_redirects=0, form={
        "token": ui_fed.node("gb")["tokens"]["viewer"]},
        headers={"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403 and not other.context.cookies()


def test_sign_out_ends_the_session(browser: Browser, ui_fed: Federation) -> None:
    page = sign_in(browser, ui_fed, "gb", "auditor")
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "beacon_session_gb")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(ui_fed.url("gb", "/"))
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_label("API token")).to_be_visible()
    # The old cookie value is dead on the server, not only forgotten by the browser.
    other = open_page(browser)
    replay = other.request.get(ui_fed.url("gb", "/api/v1/incidents"),
                               headers={"Cookie": f"beacon_session_gb={secret}"})
    assert replay.status == 401


def test_main_pages_render_for_an_auditor_and_an_operator(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    auditor = sign_in(browser, ui_fed, "fr", "auditor")
    auditor.goto(ui_fed.url("fr", "/quarantine"))
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Quarantine")
    expect(auditor.get_by_label("Reason", exact=True)).to_be_visible()
    publish_forgeries(ui_fed)  # refused by fr, shown live in its quarantine
    expect(auditor.locator("tbody tr")).to_have_count(2, timeout=15_000)
    expect(auditor.locator("#q-counts")).to_contain_text("signature")
    shot(auditor, shots, "quarantine")
    auditor.goto(ui_fed.url("fr", "/peers"))
    expect(auditor.locator("tr[data-peer=gb]")).to_contain_text("live", timeout=10_000)
    expect(auditor.locator("tr[data-peer=gb]")).to_contain_text("cosigned by this node",
                                                                timeout=10_000)
    shot(auditor, shots, "peers")
    operator = sign_in(browser, ui_fed, "gb", "operator")
    expect(operator.locator("tbody tr").first).to_be_visible()
    operator.get_by_label("Search").fill("Console test")
    expect(operator.locator("#result-count")).to_contain_text("match", timeout=5_000)
    expect(operator.locator("tbody tr").first).to_contain_text("Console test")
    operator.goto(ui_fed.url("gb", "/"))
    shot(operator, shots, "incidents")
    operator.goto(ui_fed.url("gb", "/file"))
    shot(operator, shots, "file")
    operator.goto(ui_fed.url("gb", "/inbox"))
    shot(operator, shots, "inbox-empty-at-gb")
    no_script_errors(auditor)
    no_script_errors(operator)


def _page_is_usable(page: Page) -> None:
    assert page.locator("h1").count() == 1, f"{page.url}: exactly one h1"
    assert page.evaluate("document.documentElement.lang") == "en"
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.type !== 'hidden')
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.getAttribute('aria-labelledby'))
        .map((el) => el.outerHTML.slice(0, 120))""")
    assert not unlabelled, f"{page.url}: inputs without a label: {unlabelled}"


CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const sel = '.badge, .btn, nav a, .muted, .hint, .stat, td, .countdown, .field-error, label';
  for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)); const b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = `${el.className || el.tagName} "${el.textContent.trim().slice(0, 30)}"`;
    if (ratio < 4.5) out.push(`${what}: ${ratio.toFixed(2)}`);
  }
  return out;
}"""


def test_accessibility_basics_on_every_page(browser: Browser, ui_fed: Federation,
                                            shots: Path) -> None:
    """One h1 per page, a label for every field, visible keyboard focus, AA text contrast."""
    page = open_page(browser)
    page.goto(ui_fed.url("gb", "/login"))
    _page_is_usable(page)
    page = sign_in(browser, ui_fed, "gb", "operator")
    _, listing = bearer(ui_fed, "gb", "viewer", "GET", "/api/v1/incidents?limit=1")
    _, runs = bearer(ui_fed, "gb", "viewer", "GET", "/api/v1/runs?limit=1")
    paths = ["/", "/file", "/inbox", "/peers", "/quarantine", "/notifications",
             f"/incidents/{listing['items'][0]['id']}", f"/runs/{runs['items'][0]['id']}"]
    for path in paths:
        page.goto(ui_fed.url("gb", path))
        expect(page.locator("#page")).to_have_attribute("aria-busy", "false")
        _page_is_usable(page)
        low = page.evaluate(CONTRAST)
        assert not low, f"{path}: text below 4.5:1 contrast: {low}"
    # Keyboard: the first Tab reaches the skip link, and every focused element shows a ring.
    page.goto(ui_fed.url("gb", "/file"))
    expect(page.locator("#page")).to_have_attribute("aria-busy", "false")
    for i in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement;
            const s = getComputedStyle(el);
            return {tag: el.tagName, text: (el.textContent || el.name || '').trim().slice(0, 30),
                    outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")
        if i == 0:
            assert focused["text"] == "Skip to main content"
        assert focused["outline"] != "none" and focused["width"] >= 2, focused
    page.screenshot(path=str(shots / "keyboard-focus.png"))
    no_script_errors(page)
