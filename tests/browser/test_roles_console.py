"""Providers and evaluators in the console, in a real headless Chromium against a real federation.

Every action the API offers a role, the console offers that role too: a provider (its token
files for "Example AI") signs in, files a report, a training-run declaration, an evaluation and
a monitoring signal, with the developer fixed; a bad filing shows the node's 400 next to its
field and a developer it may not file for the node's 403; with review before exchange its filing
is "held for review by the authority". An evaluator records a safety-case review on the Model
page and sees it verified. A viewer sees none of these forms. Screenshots:
``test-artifacts/screenshots/roles-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console import api, no_script_errors, open_page, shot
from tests.integration import test_provider_filings as prep
from tests.integration.conftest import Federation, running_federation

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MODEL = prep.MODEL | {"model": "RolesConsoleLM", "version": "1.0"}


@pytest.fixture(scope="module")
def roles_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, str]]:
    with running_federation(tmp_path_factory.mktemp("rolesui"), ["gb", "fr"]) as f:
        model = api(f, "gb", "/api/v1/models", "POST", "operator", MODEL, status=201)["id"]
        yield f, model


def _sign_in(browser: Browser, fed: Federation, role: str, lands: str, heading: str) -> Page:
    page = open_page(browser)
    page.goto(fed.url("gb", "/login"))
    page.get_by_label("API token").fill(fed.node("gb")["tokens"][role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(fed.url("gb", lands))
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    page.wait_for_selector("#page[aria-busy=false]", timeout=20000)
    return page


def _goto(page: Page, fed: Federation, path: str) -> None:
    page.goto(fed.url("gb", path))
    page.wait_for_selector("#page[aria-busy=false]", timeout=20000)


def _nav(page: Page) -> list[str]:
    return [t.strip() for t in page.locator('nav[aria-label="Main"] a').all_inner_texts()]


def _fill(page: Page, values: dict[str, str]) -> None:
    for path, value in values.items():
        control = page.locator(f'[data-path="{path}"]')
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


def _filed(page: Page, state: str = "filed") -> str:
    """The id the success notice names, once it says the filing was ``state``."""
    notice = page.locator("#filed")
    expect(notice).to_have_attribute("data-state", state, timeout=15000)
    return str(notice.locator(".mono").first.inner_text())


def test_a_provider_files_every_kind_with_its_developer_fixed(
        browser: Browser, roles_fed: tuple[Federation, str], shots: Path) -> None:
    fed, _ = roles_fed
    page = _sign_in(browser, fed, "provider", "/file", "File an incident report")
    assert _nav(page) == ["File report", "Training run", "Evaluation", "Monitoring"]
    developer = page.locator('[data-path="$.ai_system.developer"]')
    expect(developer).to_have_value("Example AI")
    expect(developer).not_to_be_editable()

    # An incident report (AI Act Art. 73: the provider's duty), signed and filed at once.
    _fill(page, {"$.title": "RolesConsoleLM gave dangerous advice",
                 "$.description": "Filed by the provider from the console.",
                 "$.severity": "hazard", "$.ai_system.name": "RolesConsoleLM",
                 "$.ai_system.role": "it answered", "$.submitter.organisation": "Example AI"})
    page.locator('[data-path="$.harm_types"] input').first.check()
    page.get_by_role("button", name="Sign and send report").click()
    incident = _filed(page)
    filed = api(fed, "gb", f"/api/v1/incidents/{incident}")
    assert filed["ai_system"]["developer"] == "Example AI"
    shot(page, shots, "roles-provider-report-filed")

    # A training-run declaration above 10^25 FLOP.
    _goto(page, fed, "/file/training-run")
    expect(page.locator('[data-path="$.developer"]')).to_have_value("Example AI")
    _fill(page, {"$.model": "RolesConsoleLM-2", "$.compute_flop": "3e25",
                 "$.started_at": "2026-11-01T00:00"})
    page.get_by_role("button", name="Declare the training run").click()
    run = _filed(page)
    runs = api(fed, "gb", "/api/v1/training-runs?developer=Example%20AI")["items"]
    assert run in [r["id"] for r in runs]
    shot(page, shots, "roles-provider-training-run-filed")

    # An evaluation: a score outside 0-1 is the node's 400, shown at the score field.
    _goto(page, fed, "/file/evaluation")
    _fill(page, {"$.model": "RolesConsoleLM", "$.version": "1.0", "$.suite": "uplift-v1",
                 "$.domain": "persuasion", "$.score": "7", "$.evaluator": "Example AI lab",
                 "$.evaluated_at": "2026-11-25T00:00"})
    page.get_by_role("button", name="Record the evaluation").click()
    score = page.locator('[data-field="$.score"]')
    expect(score).to_have_class("field has-error")
    expect(page.locator("#error-summary")).to_contain_text("problem")
    expect(page.locator("#filed")).to_have_count(0)
    shot(page, shots, "roles-provider-evaluation-400")
    _fill(page, {"$.score": "0.1"})
    page.get_by_role("button", name="Record the evaluation").click()
    evaluation = _filed(page)
    expect(score).not_to_have_class("field has-error")
    assert api(fed, "gb", f"/api/v1/evaluations/{evaluation}")["developer"] == "Example AI"
    shot(page, shots, "roles-provider-evaluation-filed")

    # A monitoring signal for another developer: the node refuses it (403), the page says so.
    _goto(page, fed, "/file/monitoring")
    _fill(page, {"$.model": "RolesConsoleLM", "$.version": "1.0", "$.check": "refusal-classifier",
                 "$.assumption": "harmful queries are refused", "$.environment": "production",
                 "$.action": "model shut down"})
    page.locator('[data-path="$.developer"]').evaluate(
        "e => { e.readOnly = false; e.value = 'Other AI'; }")
    page.get_by_role("button", name="Report the failed check").click()
    expect(page.locator("#error-summary")).to_contain_text("refused this filing (403)")
    expect(page.locator("#error-summary")).to_contain_text("Example AI")
    shot(page, shots, "roles-provider-monitoring-403")
    page.locator('[data-path="$.developer"]').evaluate("e => { e.value = 'Example AI'; }")
    page.get_by_role("button", name="Report the failed check").click()
    signal = _filed(page)
    expect(page.locator("#filed")).to_contain_text("It also filed the incident report")
    assert api(fed, "gb", f"/api/v1/monitoring/{signal}")["incident_id"]
    shot(page, shots, "roles-provider-monitoring-filed")

    # The provider reads nothing of the federation: the incidents page is refused.
    assert page.goto(fed.url("gb", "/")).status == 403  # type: ignore[union-attr]
    no_script_errors(page)

    # With review before exchange, the same form says the filing is held by the authority.
    prep.after_review(fed)
    _goto(page, fed, "/file/monitoring")
    _fill(page, {"$.model": "RolesConsoleLM", "$.version": "1.0", "$.check": "jailbreak-detector",
                 "$.assumption": "jailbreaks are caught", "$.environment": "production",
                 "$.action": "model rolled back"})
    page.get_by_role("button", name="Report the failed check").click()
    held = _filed(page, "pending")
    expect(page.locator("#filed")).to_contain_text("Held for review by the authority")
    assert api(fed, "gb", f"/api/v1/provider-filings/{held}")["state"] == "pending"
    shot(page, shots, "roles-provider-held")
    no_script_errors(page)


def test_an_evaluator_records_a_review_and_sees_it_verified(
        browser: Browser, roles_fed: tuple[Federation, str], shots: Path) -> None:
    fed, model = roles_fed
    page = _sign_in(browser, fed, "evaluator", "/models", "Models")
    expect(page.locator("#page-title")).to_have_text("Models")  # no deadlines promised
    assert _nav(page) == ["Models"]
    expect(page.locator("#d-h")).to_have_count(0)  # deadlines are not the evaluator's to read
    shot(page, shots, "roles-evaluator-models")
    page.locator(f'tr[data-model="{model}"]').get_by_role("link", name="RolesConsoleLM").click()
    page.wait_for_url(fed.url("gb", f"/models/{model}"))
    form = page.locator("#review-form")
    expect(form).to_be_visible()

    form.get_by_role("button", name="Sign and record the review").click()  # no verdict
    expect(page.locator("#review-errors")).to_contain_text("problem")
    expect(page.locator(".review")).to_have_count(0)
    shot(page, shots, "roles-evaluator-review-400")

    form.get_by_label("approved").check()
    form.get_by_label("Findings").fill("Uplift study reproduced; mitigations hold.")
    form.get_by_role("button", name="Sign and record the review").click()
    review = page.locator(".review")
    expect(review).to_have_count(1, timeout=15000)
    expect(review).to_have_attribute("data-verified", "true")
    expect(review).to_have_attribute("data-kind", "independent")
    expect(review.locator(".verified-mark")).to_have_text("✓ verified")
    expect(review).to_contain_text("approved")
    expect(page.locator("#review-errors")).to_be_empty()
    shot(page, shots, "roles-evaluator-review-verified")
    no_script_errors(page)


def test_a_viewer_sees_none_of_these_forms(
        browser: Browser, roles_fed: tuple[Federation, str], shots: Path) -> None:
    fed, model = roles_fed
    page = _sign_in(browser, fed, "viewer", "/", "Incidents")
    nav = _nav(page)
    assert "Models" in nav
    assert not {"File report", "Training run", "Evaluation", "Monitoring"} & set(nav)
    _goto(page, fed, "/models")
    expect(page.locator(f'tr[data-model="{model}"]')).to_be_visible()
    expect(page.locator("#declare")).to_have_count(0)
    _goto(page, fed, f"/models/{model}")
    expect(page.get_by_role("heading", name="Safety-case reviews")).to_be_visible()
    expect(page.locator("#review-form")).to_have_count(0)
    shot(page, shots, "roles-viewer-model")
    for path in ("/file", "/file/training-run", "/file/evaluation", "/file/monitoring"):
        assert page.goto(fed.url("gb", path)).status == 403, path  # type: ignore[union-attr]
    expect(page.locator(".notice-error")).to_contain_text("needs the operator or provider role")
    shot(page, shots, "roles-viewer-refused")
    no_script_errors(page)
