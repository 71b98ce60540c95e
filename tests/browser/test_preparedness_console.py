"""The preparedness pages in a real headless Chromium against a real federation (issue 12).

gb holds its provider's filings for review (``exchange_provider_filings = "after-review"``). The
tests read what Chromium rendered: the Models list and the Model page show the assurance flag
(above the 10^25 FLOP threshold, safety case rejected by fr), the reviews with their verified
mark, the incidents and evaluations that name the model; an incident naming the model shows the
flag; the dashboard counts it; and an operator releases and rejects held provider filings with
the buttons of the Provider filings page. Screenshots: ``test-artifacts/screenshots/prep-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console import api, bearer, no_script_errors, poll, shot, sign_in
from tests.integration import test_provider_filings as prep
from tests.integration.conftest import Federation, report, running_federation

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MODEL = prep.MODEL | {"model": "ConsoleLM", "version": "2.0", "training_compute_flop": 3e25}
SIGNAL = prep.SIGNAL | {"model": "ConsoleLM", "version": "2.0"}


@pytest.fixture(scope="module")
def prep_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, str, str]]:
    with running_federation(tmp_path_factory.mktemp("prepui"), ["gb", "fr"]) as f:
        prep.after_review(f)
        model = api(f, "gb", "/api/v1/models", "POST", "operator", MODEL, status=201)["id"]
        poll(lambda: bearer(f, "fr", "viewer", "GET", f"/api/v1/models/{model}")[0] == 200)
        api(f, "fr", f"/api/v1/safety-cases/{model}/reviews", "POST", "operator",
            {"verdict": "rejected", "findings": "no CBRN uplift study"}, status=201)
        api(f, "gb", "/api/v1/evaluations", "POST", "operator",
            {"developer": "Example AI", "model": "ConsoleLM", "version": "2.0",
             "suite": "uplift-v2", "domain": "persuasion", "score": 0.05,
             "evaluator": "UK AI Security Institute",
             "evaluated_at": "2026-11-25T00:00:00Z"}, status=201)
        filed = api(f, "gb", "/api/v1/incidents", "POST", "operator", report(
            title="ConsoleLM gave synthesis routes", affected_jurisdictions=[],
            ai_system={"name": "ConsoleLM", "version": "2.0", "developer": "Example AI",
                       "role": "it answered"}), status=201)

        def settled() -> bool:
            _, m = bearer(f, "fr", "viewer", "GET", f"/api/v1/models/{model}")
            return bool(m.get("incidents") and m.get("evaluations")
                        and m["safety_case"]["reviews"])
        poll(settled, within_s=30)
        yield f, model, filed["id"]


def _signed_in(browser: Browser, fed: Federation, node: str, role: str, path: str) -> Page:
    page = sign_in(browser, fed, node, role)
    page.goto(fed.url(node, path))
    page.wait_for_selector("#page[aria-busy=false]", timeout=20000)
    return page


def test_models_list_and_model_page_show_the_flag_reviews_incidents_and_evaluations(
        browser: Browser, prep_fed: tuple[Federation, str, str], shots: Path) -> None:
    fed, model, incident = prep_fed
    page = _signed_in(browser, fed, "fr", "viewer", "/models")
    row = page.locator(f'tr[data-model="{model}"]')
    expect(row).to_have_attribute("data-flagged", "true")
    expect(row.locator(".flag-unassured")).to_have_text("Above threshold · safety case rejected")
    expect(page.locator("#flagged-count")).to_contain_text(
        "Above a threshold without an approved safety case: 1")
    shot(page, shots, "prep-models-list")

    row.get_by_role("link", name="ConsoleLM").click()
    page.wait_for_url(fed.url("fr", f"/models/{model}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Example AI ConsoleLM 2.0")
    notice = page.locator(".model-flag")
    expect(notice).to_contain_text("Above a threshold without an approved safety case")
    expect(notice).to_contain_text("Art. 51(2)")
    expect(notice).to_contain_text("rejected")
    review = page.locator(".review")
    expect(review).to_have_count(1)
    expect(review).to_have_attribute("data-verified", "true")
    expect(review.locator(".verified-mark")).to_have_text("✓ verified")
    expect(review).to_contain_text("rejected")
    expect(review).to_contain_text("signed by fr")
    expect(page.get_by_role("link", name="ConsoleLM gave synthesis routes")).to_be_visible()
    expect(page.get_by_text("persuasion: 0.05")).to_be_visible()
    shot(page, shots, "prep-model-page")

    page.get_by_role("link", name="ConsoleLM gave synthesis routes").click()
    page.wait_for_url(fed.url("fr", f"/incidents/{incident}"))
    expect(page.locator("#model-flag-slot .model-flag")).to_contain_text(
        "Above a threshold without an approved safety case")
    shot(page, shots, "prep-incident-flag")
    no_script_errors(page)

    dash = sign_in(browser, fed, "int", "viewer")
    dash.goto(fed.url("int", "/dashboard"))
    dash.wait_for_selector("body[data-ready=true]", timeout=20000)
    expect(dash.locator("#tile-unassured")).to_have_attribute("data-value", "1")
    shot(dash, shots, "prep-dashboard-tile")
    no_script_errors(dash)


def test_an_operator_releases_and_rejects_held_provider_filings(
        browser: Browser, prep_fed: tuple[Federation, str, str], shots: Path) -> None:
    fed, _, _ = prep_fed
    kept = api(fed, "gb", "/api/v1/monitoring", "POST", "provider", SIGNAL, status=202)
    dropped = api(fed, "gb", "/api/v1/monitoring", "POST", "provider",
                  SIGNAL | {"check": "jailbreak-detector"}, status=202)
    page = _signed_in(browser, fed, "gb", "operator", "/provider-filings")
    expect(page.locator("#filing-policy")).to_contain_text("nothing pending leaves the node")
    card = page.locator(f'li[data-filing="{kept["filing_id"]}"]')
    other = page.locator(f'li[data-filing="{dropped["filing_id"]}"]')
    expect(card).to_contain_text("refusal-classifier failed")
    expect(other).to_contain_text("jailbreak-detector failed")
    shot(page, shots, "prep-provider-filings-pending")

    card.get_by_role("button", name="Release").click()
    expect(page.locator(f'#decided li[data-filing="{kept["filing_id"]}"]')).to_have_attribute(
        "data-state", "released")
    other.get_by_role("button", name="Reject").click()  # no reason: refused in the page
    expect(page.locator(".toast-error")).to_contain_text("Say why")
    other.get_by_label(f"Reason for {dropped['filing_id']}").fill("duplicate signal")
    other.get_by_role("button", name="Reject").click()
    done = page.locator(f'#decided li[data-filing="{dropped["filing_id"]}"]')
    expect(done).to_have_attribute("data-state", "rejected")
    expect(done).to_contain_text("duplicate signal")
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()
    shot(page, shots, "prep-provider-filings-decided")
    no_script_errors(page)

    released = api(fed, "gb", f"/api/v1/provider-filings/{kept['filing_id']}")
    incident = api(fed, "gb", f"/api/v1/monitoring/{released['message_id']}")["incident_id"]
    poll(lambda: bearer(fed, "fr", "viewer", "GET", f"/api/v1/incidents/{incident}")[0] == 200,
         within_s=20)
