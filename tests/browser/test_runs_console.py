"""Working a run in the console (real Chromium, real federation gb + fr): a responder records
the Art. 73 report as filed, with a note and evidence, and an operator co-signs an emergency
from the inbox, seeing how many have co-signed and how many it takes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.console import bearer, no_script_errors, poll, shot, sign_in
from tests.integration.conftest import Federation, report

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_responder_completes_a_report_step_from_the_run_page(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=f"Death {uuid.uuid4().hex[:8]}",
                                  affected_jurisdictions=["fr"],
                                  harm_quantification={"deaths": 1}))
    assert status == 201, filed
    runs = poll(lambda: bearer(ui_fed, "gb", "viewer", "GET",
                               f"/api/v1/runs?incident={filed['id']}")[1]["items"])
    [run] = [r for r in runs if r["playbook"]["id"] == "serious-incident-cross-border"]
    page = sign_in(browser, ui_fed, "gb", "responder")
    page.goto(ui_fed.url("gb", f"/runs/{run['id']}"))
    step = page.locator("li").filter(has=page.get_by_text("report · art73-report"))
    step.get_by_role("button", name=re.compile("Record the report as filed")).click()
    step.get_by_label("What was filed").fill("Provider's Art. 73 report received")
    step.get_by_label("Evidence URL").fill("https://example.org/art73.pdf")
    step.get_by_label("Evidence SHA-256").fill("not a digest")
    step.get_by_role("button", name="Complete step").click()
    expect(step.locator(".field-error")).to_contain_text("64 lowercase hex")
    step.get_by_label("Evidence SHA-256").fill("ab" * 32)
    shot(page, shots, "run-complete-step")
    step.get_by_role("button", name="Complete step").click()
    expect(page.locator(".toast")).to_contain_text("completed")
    done = page.locator("li").filter(has=page.get_by_text("report · art73-report"))
    expect(done.get_by_text("Done by")).to_be_visible()
    expect(done).to_contain_text("Provider's Art. 73 report received")
    expect(done.get_by_role("button", name=re.compile("Record the report"))).to_have_count(0)
    shot(page, shots, "run-step-completed")
    _, after = bearer(ui_fed, "gb", "viewer", "GET", f"/api/v1/runs/{run['id']}")
    [art73] = [s for s in after["steps"] if s["id"] == "art73-report"]
    assert art73["status"] == "succeeded" and art73["filed"]["evidence"][0]["sha256"] == "ab" * 32
    no_script_errors(page)

    peer = sign_in(browser, ui_fed, "fr", "responder")  # fr was asked: it reads gb's run
    peer.goto(ui_fed.url("fr", f"/runs/{run['id']}"))
    expect(peer.get_by_text("read-only copy")).to_be_visible(timeout=15_000)
    filed = peer.locator("li").filter(has=peer.get_by_text("report · art73-report"))
    expect(filed).to_contain_text("Done by", timeout=15_000)
    expect(peer.get_by_role("button", name=re.compile("Complete|Record"))).to_have_count(0)
    shot(peer, shots, "run-read-only-at-peer")
    no_script_errors(peer)


def test_an_operator_co_signs_an_emergency_from_the_inbox(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=f"Red line {uuid.uuid4().hex[:8]}",
                                  affected_jurisdictions=["fr"],
                                  red_lines=["assisting-weapon-development"]))
    assert status == 201, filed
    poll(lambda: bearer(ui_fed, "fr", "viewer", "GET", "/api/v1/emergency")[1].get(
        "incident_id") == filed["id"], within_s=30)
    page = sign_in(browser, ui_fed, "fr", "operator")
    page.goto(ui_fed.url("fr", "/inbox"))
    card = page.locator("[data-emergency]")
    expect(card.get_by_role("heading")).to_contain_text(re.compile(r"0 of \d+ co-signatures"))
    shot(page, shots, "inbox-emergency-pending")
    card.get_by_role("button", name="Co-sign the emergency").click()
    expect(page.locator(".toast")).to_contain_text("co-signed")
    expect(page.locator("[data-emergency]")).to_contain_text("fr has co-signed", timeout=15_000)
    shot(page, shots, "inbox-emergency-cosigned")
    _, em = bearer(ui_fed, "fr", "viewer", "GET", "/api/v1/emergency")
    assert "fr" in [d["by"] for d in em["declarations"]]
    no_script_errors(page)


def test_a_responder_starts_a_playbook_by_hand_on_a_peers_incident(
        browser: Browser, ui_fed: Federation, shots: Path) -> None:
    title = f"By hand {uuid.uuid4().hex[:8]}"
    status, filed = bearer(ui_fed, "gb", "operator", "POST", "/api/v1/incidents",
                           report(title=title))
    assert status == 201, filed
    poll(lambda: bearer(ui_fed, "fr", "viewer", "GET", f"/api/v1/incidents/{filed['id']}")[0]
         == 200)
    page = sign_in(browser, ui_fed, "fr", "responder")
    page.goto(ui_fed.url("fr", f"/incidents/{filed['id']}"))
    page.get_by_label("Start a playbook by hand").select_option("tripwire-crossing")
    shot(page, shots, "incident-start-by-hand")
    page.get_by_role("button", name="Start playbook").click()
    page.wait_for_url(re.compile(r"/runs/fr-"))
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Run not found")
    _, runs = bearer(ui_fed, "fr", "viewer", "GET", f"/api/v1/runs?incident={filed['id']}")
    assert "tripwire-crossing" in [r["playbook"]["id"] for r in runs["items"]]
    no_script_errors(page)
