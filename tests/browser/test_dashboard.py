"""The statistics dashboard in a real headless Chromium against a real federation.

The whole AI Incident Database is imported by the international body as its own (as the demo
does), plus a TLP:RED report
naming a red line (only its stub reaches the others), a disaster naming another, one escalation
acknowledged and one left to go overdue. The federation runs at ``--time-scale 0.0001``: a
24-hour deadline is 8.6 s, and the international body's snapshot timer fires every second.

The tests read the page Chromium rendered — the SVG marks, their values, the figures in the tiles
— and compare them with the JSON API; every request the page makes must go to the node itself.
Screenshots go to ``test-artifacts/screenshots/dashboard-*.png``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from node.cli.importer import add_parser, run
from tests.browser.console import api, bearer, no_script_errors, open_page, poll, shot
from tests.integration.conftest import Federation, report, running_federation

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AIID_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "aiid" / "incidents.csv"
MEMBERS = ["gb", "fr", "jp"]


@pytest.fixture(scope="module")
def dfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("dash"), MEMBERS, time_scale=0.0001) as f:
        _seed(f)
        yield f


def _seed(fed: Federation) -> None:
    p = argparse.ArgumentParser(prog="beacon")
    add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["import", "aiid", str(AIID_CSV), "--node", fed.url("int", ""),
                         "--token", fed.node("int")["tokens"]["operator"]])
    # Playwright's sync API runs an event loop in this thread; the importer runs its own.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(run, args).result(timeout=120) == 0
    api(fed, "gb", "/api/v1/incidents", "POST", "operator", report(
        title="Model copied its own weights to an outside server", tlp="RED",
        severity="serious-incident", red_lines=["autonomous-replication-or-improvement"],
        affected_jurisdictions=[], tripwire_ids=["weights-exfiltration"]), status=201)
    api(fed, "fr", "/api/v1/incidents", "POST", "operator", report(
        title="Agent probed a national power grid", severity="disaster",
        harm_types=["physical", "public-interest"], red_lines=["cyberattacks"],
        affected_jurisdictions=["gb"], tripwire_ids=["cyber-offence-uplift"],
        occurred_at="2026-11-02T10:00:00Z"), status=201)
    acked = api(fed, "gb", "/api/v1/incidents", "POST", "operator", report(
        title="Cross-border incident answered in time", affected_jurisdictions=["fr"]),
        status=201)
    api(fed, "gb", "/api/v1/incidents", "POST", "operator", report(
        title="Cross-border incident nobody answers", affected_jurisdictions=["jp"]), status=201)

    def inbox_item() -> Any:
        items = api(fed, "fr", "/api/v1/escalations?status=open")["items"]
        return next((e for e in items if e["incident_id"] == acked["id"]), None)
    escalation = poll(inbox_item, within_s=20)
    api(fed, "fr", f"/api/v1/escalations/{escalation['id']}/ack", "POST", "responder",
        status=201)

    def settled() -> Any:
        sm = api(fed, "int", "/api/v1/stats/summary")
        return (sm["total"] >= 1371 and sm["ack_times"] and sm["escalations"]["overdue"]
                and sm)
    summary = poll(settled, within_s=90, every_s=0.5)

    def snapshot_everywhere() -> bool:
        return all(bearer(fed, m, "viewer", "GET", "/api/v1/stats/snapshot")[1]
                   .get("snapshot", {}).get("total") == summary["total"] for m in MEMBERS)
    poll(snapshot_everywhere, within_s=30, every_s=0.5)


def dashboard(browser: Browser, fed: Federation, node: str, role: str = "viewer") -> Page:
    """Open /dashboard as a person does: redirected to sign in, then back to the dashboard."""
    page = open_page(browser)
    outside: list[str] = []
    base = urlparse(fed.url(node, "/"))
    page.on("request", lambda r: None if urlparse(r.url).netloc == base.netloc
            or r.url.startswith(("data:", "blob:")) else outside.append(r.url))
    page.outside_requests = outside  # type: ignore[attr-defined]
    page.goto(fed.url(node, "/dashboard"))
    assert urlparse(page.url).path == "/login" and "dashboard" in urlparse(page.url).query
    page.get_by_label("API token").fill(fed.node(node)["tokens"][role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(fed.url(node, "/dashboard"))
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    return page


def values(page: Page, selector: str) -> list[int]:
    return [int(float(v)) for v in page.eval_on_selector_all(
        selector, "els => els.map(e => e.getAttribute('data-value'))")]


def check_clean(page: Page) -> None:
    no_script_errors(page)
    assert page.outside_requests == []  # type: ignore[attr-defined]


def test_a_members_dashboard_draws_every_chart_from_its_data(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    page = dashboard(browser, dfed, "gb")
    by_year = api(dfed, "gb", "/api/v1/stats?by=year,severity")
    summary = api(dfed, "gb", "/api/v1/stats/summary")

    # Tiles say what the API says.
    expect(page.locator("#tile-total .value")).to_have_text(f"{by_year['total']:,}")
    assert page.locator("#tile-total").get_attribute("data-value") == str(by_year["total"])
    assert int(str(page.locator("#tile-overdue").get_attribute("data-value"))) >= 1
    assert page.locator("#tile-redlines").get_attribute("data-value") == \
        str(summary["red_line_reports"])

    # The time series: one stacked segment per (year, severity) group, undated ones in a "date
    # unknown" column of their own, adding up to the total.
    timeline = values(page, "#chart-timeline rect.bar")
    assert len(timeline) == len(by_year["groups"])
    assert sum(timeline) == by_year["total"]
    colours = set(page.eval_on_selector_all("#chart-timeline rect.bar",
                                            "els => els.map(e => e.getAttribute('fill'))"))
    assert len(colours) >= 3  # several severities, each its own colour
    box = page.locator("#chart-timeline svg").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200

    # Breakdowns.
    origins = api(dfed, "gb", "/api/v1/stats?by=origin")
    assert sorted(values(page, "#chart-origin rect.bar")) == \
        sorted(g["count"] for g in origins["groups"])
    assert len(values(page, "#chart-harm rect.bar")) >= 5
    assert len(values(page, "#chart-developer rect.bar")) == 10
    assert sum(values(page, "#chart-severity rect.bar")) == by_year["total"]
    red = values(page, "#chart-redlines rect.bar")
    assert sum(red) == sum(summary["red_lines"].values()) and len(red) >= 2
    assert values(page, "#chart-tripwires rect.bar") == list(summary["tripwires"].values())
    # Median and p90 per tier; an ack within the signing second is a 0 s row, drawn as a tick.
    assert len(values(page, "#chart-ack [data-value]")) == 2 * len(summary["ack_times"]) >= 2
    assert page.locator("#overdue-list tbody tr").count() >= 1
    expect(page.locator("#overdue-list")).to_contain_text("jp")

    # The global picture: int's signed snapshot, verified.
    snap = api(dfed, "gb", "/api/v1/stats/snapshot")
    expect(page.locator("#global-verified")).to_have_text("✓ Signature verified")
    assert page.locator("#global-verified").get_attribute("data-verified") == "true"
    expect(page.locator("#global-signer")).to_contain_text("int (international body)")
    assert page.locator("#global-total").get_attribute("data-value") == \
        str(snap["snapshot"]["total"])
    assert len(values(page, "#chart-global-years rect.bar")) > 10
    # "By reporting jurisdiction" is drawn once, not again in the global panel.
    expect(page.get_by_role("heading", name="By reporting jurisdiction")).to_have_count(1)
    assert page.locator("#chart-global-origin").count() == 0
    # Affected country, sector and model, each with its "unknown" bar last when there is one
    # (every imported report has a system name, if only the default one).
    for dim, has_unknown in (("country", True), ("sector", True), ("model", False)):
        got = api(dfed, "gb", f"/api/v1/stats?by={dim}")
        drawn = values(page, f"#chart-{dim} rect.bar")
        unknown = sum(g["count"] for g in got["groups"] if g["key"][dim] is None)
        assert (unknown > 0) == has_unknown, dim
        assert drawn[-1] == unknown if unknown else max(drawn) == max(
            g["count"] for g in got["groups"]), dim
    # Every chart can be exported.
    assert page.locator(".exports button[data-format=png]").count() >= 12

    check_clean(page)
    shot(page, shots, "dashboard-gb")


def test_months_and_a_date_range_redraw_from_the_api(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    page = dashboard(browser, dfed, "fr")
    unit = page.get_by_role("button", name="Months", exact=True)
    unit.click()
    expect(unit).to_have_attribute("aria-pressed", "true")
    # The page's policy forbids eval, so wait on the rendered DOM rather than a JS predicate.
    expect(page.locator("#chart-timeline rect.bar").first).to_have_attribute(
        "data-category", re.compile(r"^\d{4}-\d{2}$"))
    months = page.eval_on_selector_all("#chart-timeline rect.bar",
                                       "els => els.map(e => e.getAttribute('data-category'))")
    assert 0 < len(set(months)) <= 36
    expect(page.locator("#timeline-note")).to_contain_text("last 36 months")

    page.fill("#since", "2020-01-01")
    page.fill("#until", "2021-12-31")
    page.get_by_role("button", name="Apply").click()
    ranged = api(dfed, "fr", "/api/v1/stats?by=severity&since=2020-01-01&until=2021-12-31")
    expect(page.locator("#tile-total .value")).to_have_text(f"{ranged['total']:,}")
    expect(page.locator("#tile-total .sub")).to_contain_text("2020-01-01 to 2021-12-31")
    assert sum(values(page, "#chart-severity rect.bar")) == ranged["total"]
    check_clean(page)
    shot(page, shots, "dashboard-fr-months-2020-2021")


def test_the_international_bodys_dashboard_shows_its_own_signed_snapshot(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    page = dashboard(browser, dfed, "int", role="operator")
    total = api(dfed, "int", "/api/v1/stats")["total"]
    expect(page.locator("#tile-total .value")).to_have_text(f"{total:,}")
    assert page.locator("#global-verified").get_attribute("data-verified") == "true"
    assert int(str(page.locator("#tile-stubs").get_attribute("data-value"))) >= 1
    check_clean(page)
    shot(page, shots, "dashboard-int")


def test_the_dashboard_is_served_only_to_a_session_with_a_strict_policy(
        browser: Browser, dfed: Federation) -> None:
    page = open_page(browser)
    response = page.goto(dfed.url("jp", "/dashboard"))
    assert response is not None and "/login" in page.url
    page.get_by_label("API token").fill(dfed.node("jp")["tokens"]["auditor"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(dfed.url("jp", "/dashboard"))
    response = page.goto(dfed.url("jp", "/dashboard"))
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    page.wait_for_selector("body[data-ready=true]")
    no_script_errors(page)


def test_clicking_a_bar_opens_the_incident_list_it_counts(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    page = dashboard(browser, dfed, "int", role="operator")
    # A country bar small enough that every event fits on the list's first page.
    bar = page.locator("#chart-country a.drill rect.bar").nth(2)
    expected = int(str(bar.get_attribute("data-value")))
    label = str(bar.get_attribute("data-label"))
    assert 0 < expected <= 50
    bar.click()
    page.wait_for_url(re.compile(r"/\?where=country%3A"))
    count = page.locator("#result-count")
    expect(count).to_have_attribute("data-total", str(expected))
    expect(page.locator("#results tbody tr")).to_have_count(expected)
    expect(page.locator("#chart-filter")).to_contain_text(f"country {label}")
    by_country = api(dfed, "int", "/api/v1/stats?by=country")
    assert expected == next(g["count"] for g in by_country["groups"]
                            if g["key"]["country"] == label)
    shot(page, shots, "dashboard-drill-country")

    # The "date unknown" and severity segments drill down too, under a stricter basis.
    page = dashboard(browser, dfed, "int", role="operator")
    page.select_option("#basis", "observed")
    expect(page.locator("#basis-note")).to_contain_text("only what the sources state")
    segment = page.locator("#chart-timeline a.drill rect.bar").last
    expected = int(str(segment.get_attribute("data-value")))
    year, severity = segment.get_attribute("data-category"), segment.get_attribute("data-series")
    by = api(dfed, "int", "/api/v1/stats?by=year,severity&basis=observed")
    assert expected == next(g["count"] for g in by["groups"]
                            if str(g["key"]["year"] or "") == year
                            and g["key"]["severity"] == severity)
    segment.click()
    page.wait_for_url(re.compile(r"basis=observed"))
    expect(page.locator("#result-count")).to_have_attribute("data-total", str(expected))
    check_clean(page)


def test_presets_set_the_range_and_undated_reports_are_never_dropped_silently(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    page = dashboard(browser, dfed, "gb")
    page.get_by_role("button", name="Since 2020").click()
    expect(page.locator("#since")).to_have_value("2020-01-01")
    ranged = api(dfed, "gb", "/api/v1/stats?by=severity&since=2020-01-01")
    expect(page.locator("#tile-total .value")).to_have_text(f"{ranged['total']:,}")
    if ranged["undated"]:
        expect(page.locator("#tile-total .sub")).to_contain_text("date unknown")
        expect(page.locator("#timeline-note")).to_contain_text("not counted here")
    assert page.locator("#auto-refresh").is_checked()
    with page.expect_download() as download:
        page.locator('.exports[data-chart="chart-country"] button[data-format=csv]').click()
    assert download.value.suggested_filename == "beacon-stats-country.csv"
    with page.expect_download() as png:
        page.locator('.exports[data-chart="chart-country"] button[data-format=png]').click()
    assert png.value.suggested_filename == "beacon-country.png"
    check_clean(page)
    shot(page, shots, "dashboard-gb-since-2020")


def test_an_operator_links_a_suggested_duplicate_and_the_event_counts_once(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    event = {"title": "Autonomous tractor drove through a village fence",
             "affected_jurisdictions": [], "occurred_at": "2026-10-03T08:00:00Z",
             "ai_system": {"name": "FieldPilot", "role": "steering", "developer": "Agritech"}}
    mine = api(dfed, "gb", "/api/v1/incidents", "POST", "operator", report(**event), status=201)
    theirs = api(dfed, "fr", "/api/v1/incidents", "POST", "operator", report(**event),
                 status=201)
    poll(lambda: bearer(dfed, "gb", "viewer", "GET",
                        f"/api/v1/incidents/{theirs['id']}")[0] == 200, within_s=20)
    before = api(dfed, "gb", "/api/v1/stats")
    page = dashboard(browser, dfed, "gb", role="operator")
    page.goto(dfed.url("gb", f"/incidents/{mine['id']}"))
    candidate = page.locator(f'#candidates li[data-id="{theirs["id"]}"]')
    expect(candidate).to_contain_text("similar title")
    candidate.get_by_role("button", name="Same event").click()
    expect(page.locator("#links")).to_contain_text("Counted once in the statistics together with")
    after = poll(lambda: (lambda s: s["total"] == before["total"] - 1 and s)(
        api(dfed, "gb", "/api/v1/stats")), within_s=20)
    assert after["total"] == before["total"] - 1
    check_clean(page)
    shot(page, shots, "incident-linked")


def test_escalation_figures_still_being_counted_say_so(
        browser: Browser, dfed: Federation, shots: Path) -> None:
    """An upgraded store answers its escalation figures from what it has counted so far, with
    ``escalations.counting`` (tests/pipeline/test_escalation_figures.py makes a node do that);
    the dashboard must not pass such partial figures off as the whole. The marker is put into
    the node's own answer here, since a real store leaves that state within seconds."""
    page = dashboard(browser, dfed, "gb")
    expect(page.locator("#tile-open .sub")).not_to_contain_text("still counting")
    assert page.locator("#tile-open").get_attribute("data-counting") == "false"

    def partial(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["escalations"]["counting"] = {"folded": 1500, "stored": 40000}
        route.fulfill(response=answer, json=body)

    page.route(re.compile(r".*/api/v1/stats/summary(\?.*)?$"), partial)
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    expect(page.locator("#tile-open .sub")).to_contain_text(
        "still counting: 1,500 of 40,000 stored messages read")
    assert page.locator("#tile-open").get_attribute("data-counting") == "true"
    shot(page, shots, "dashboard-gb-still-counting")
    page.unroute(re.compile(r".*/api/v1/stats/summary(\?.*)?$"))
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    expect(page.locator("#tile-open .sub")).not_to_contain_text("still counting")
    check_clean(page)
