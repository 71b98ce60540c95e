"""Over real node processes and JetStream (issue 12): review-before-exchange of provider filings,
independent evaluators' reviews, the assurance flag at every node, and a regulatory clock that
turns overdue exactly once across restarts of its node.

gb runs with ``[providers] exchange_provider_filings = "after-review"``: the module starts the
demo federation, stops gb, adds the setting to its config and starts it again with
``beacon run``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from federation.timeutil import format_time
from tests.integration.conftest import (
    Federation,
    barrier,
    report,
    running_federation,
    wait_for,
)

MODEL = {"developer": "Example AI", "model": "ReviewedLM", "version": "1.0",
         "deployment_jurisdictions": ["fr"], "training_compute_flop": 2e25,
         "safety_case": {"reference": "https://example.org/sc", "status": "submitted"}}
SIGNAL = {"developer": "Example AI", "model": "ReviewedLM", "version": "1.0",
          "check": "refusal-classifier", "assumption": "harmful CBRN queries are refused",
          "environment": "production EU", "action": "model shut down",
          "observed_at": "2026-11-26T00:00:00Z"}


def _up(fed: Federation, node: str) -> bool:
    try:
        return requests.get(fed.url(node, "/healthz"), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _down(fed: Federation, node: str) -> bool:
    try:
        requests.get(fed.url(node, "/healthz"), timeout=2)
    except requests.RequestException:
        return True
    return False


def _poll(check: Any, what: str, within_s: float = 60.0) -> None:
    import time
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {within_s}s")


class Gb:
    """gb, restarted by the test (the demo started the first process)."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is None:
            os.kill(self.fed.node("gb")["pid"], signal.SIGKILL)  # the demo's process
        else:
            self.proc.terminate()  # a graceful stop of ours
            self.proc.wait(timeout=30)
        _poll(lambda: _down(self.fed, "gb"), "gb stopped")

    def start(self) -> None:
        self.proc = self.fed.spawn_node("gb")
        _poll(lambda: _up(self.fed, "gb"), "gb up")

    @property
    def log(self) -> str:
        return (Path(self.fed.node("gb")["config"]).parent / "node.log").read_text(
            errors="replace")


def after_review(fed: Federation) -> Gb:
    """Restart gb with ``exchange_provider_filings = "after-review"`` in its config."""
    gb = Gb(fed)
    gb.stop()
    config = Path(fed.node("gb")["config"])
    config.write_text(config.read_text() + '\n[providers]\n'
                      'exchange_provider_filings = "after-review"\n')
    gb.start()
    return gb


@pytest.fixture(scope="module")
def pfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, Gb]]:
    with running_federation(tmp_path_factory.mktemp("pfed"), ["gb", "fr", "jp"]) as f:
        yield f, after_review(f)


async def _call(http: aiohttp.ClientSession, fed: Federation, node: str, method: str,
                path: str, body: Any = None, role: str = "viewer") -> tuple[int, Any]:
    async with http.request(method, fed.url(node, path), json=body,
                            headers=fed.auth(node, role)) as r:
        return r.status, await r.json()


async def _model(http: aiohttp.ClientSession, fed: Federation, body: dict[str, Any]) -> str:
    status, made = await _call(http, fed, "gb", "POST", "/api/v1/models", body, "operator")
    assert status == 201, made
    return str(made["id"])


async def test_a_held_provider_filing_leaves_the_node_only_when_released(
        pfed: tuple[Federation, Gb], http: aiohttp.ClientSession) -> None:
    fed, _ = pfed
    await _model(http, fed, MODEL)
    status, answer = await _call(http, fed, "gb", "POST", "/api/v1/monitoring",
                                 SIGNAL | {"developer": "Other AI"}, "provider")
    assert status == 403, answer  # still refused before anything is held
    status, held = await _call(http, fed, "gb", "POST", "/api/v1/monitoring", SIGNAL,
                               "provider")
    assert status == 202 and held["state"] == "pending", held
    status, rejected_one = await _call(http, fed, "gb", "POST", "/api/v1/monitoring",
                                       SIGNAL | {"check": "jailbreak-detector"}, "provider")
    assert status == 202, rejected_one

    status, pending = await _call(http, fed, "gb", "GET", "/api/v1/provider-filings?state=pending")
    assert status == 200 and pending["policy"] == "after-review"
    assert {f["id"] for f in pending["items"]} == {held["filing_id"], rejected_one["filing_id"]}
    status, bad = await _call(http, fed, "gb", "GET", "/api/v1/provider-filings?state=held")
    assert status == 400 and [p["path"] for p in bad["errors"]] == ["$.query.state"], bad
    status, _ = await _call(http, fed, "gb", "GET", "/api/v1/provider-filings", role="provider")
    assert status == 403  # a provider reads nothing, its own pending filings included

    # Nothing pending left gb: a sentinel sent after the filings is at fr, no signal is.
    await barrier(http, fed, "gb", ("fr", "jp"))
    for node in ("gb", "fr", "jp"):
        _, listed = await _call(http, fed, node, "GET", "/api/v1/incidents?q=refusal-classifier")
        assert listed["items"] == [], node

    status, answer = await _call(http, fed, "gb", "POST",
                                 f"/api/v1/provider-filings/{rejected_one['filing_id']}/reject",
                                 {}, "operator")
    assert status == 400 and "reason" in answer["errors"][0]["message"]
    status, answer = await _call(http, fed, "gb", "POST",
                                 f"/api/v1/provider-filings/{held['filing_id']}/release",
                                 {}, "viewer")
    assert status == 403
    status, released = await _call(http, fed, "gb", "POST",
                                   f"/api/v1/provider-filings/{held['filing_id']}/release",
                                   {"reason": "confirmed with the provider"}, "operator")
    assert status == 200 and released["state"] == "released", released
    incident = released["filed"]["incident_id"]
    assert incident and released["message_id"] == released["filed"]["id"]
    status, again = await _call(http, fed, "gb", "POST",
                                f"/api/v1/provider-filings/{held['filing_id']}/reject",
                                {"reason": "too late"}, "operator")
    assert status == 409, again  # decided once
    status, rejected = await _call(
        http, fed, "gb", "POST", f"/api/v1/provider-filings/{rejected_one['filing_id']}/reject",
        {"reason": "duplicate of an earlier signal"}, "operator")
    assert status == 200 and rejected["state"] == "rejected", rejected

    for node in ("fr", "jp", "int"):
        async def there(node: str = node) -> Any:
            status, doc = await _call(http, fed, node, "GET", f"/api/v1/incidents/{incident}")
            return doc if status == 200 else None
        doc = await wait_for(there)
        assert doc["monitoring"]["id"] == released["message_id"] and doc["verified"], node
    # the search that found nothing before the release finds it now (the negative was honest)
    _, listed = await _call(http, fed, "fr", "GET", "/api/v1/incidents?q=refusal-classifier")
    assert [i["id"] for i in listed["items"]] == [incident]
    await barrier(http, fed, "gb", ("fr",))
    _, listed = await _call(http, fed, "fr", "GET", "/api/v1/incidents?q=jailbreak-detector")
    assert listed["items"] == []  # the rejected one never left
    _, left = await _call(http, fed, "gb", "GET", "/api/v1/provider-filings?state=pending")
    assert left["items"] == []


async def test_every_kind_of_provider_filing_is_held_and_released_to_every_member(
        pfed: tuple[Federation, Gb], http: aiohttp.ClientSession) -> None:
    fed, _ = pfed
    await _model(http, fed, MODEL | {"model": "KindsLM"})
    filings = {
        "/api/v1/incidents": report(title="Provider report held", affected_jurisdictions=[],
                                    ai_system={"name": "KindsLM", "version": "1.0",
                                               "developer": "Example AI", "role": "it did"}),
        "/api/v1/evaluations": {"developer": "Example AI", "model": "KindsLM", "version": "1.0",
                                "suite": "s", "domain": "persuasion", "score": 0.1,
                                "evaluator": "provider lab",
                                "evaluated_at": "2026-11-25T00:00:00Z"},
        "/api/v1/training-runs": {"developer": "Example AI", "model": "KindsLM-2",
                                  "compute_flop": 2e26, "started_at": "2026-11-01T00:00:00Z"},
    }
    where = {"/api/v1/incidents": "/api/v1/incidents/{}",
             "/api/v1/evaluations": "/api/v1/evaluations/{}"}
    for path, body in filings.items():
        status, bad = await _call(http, fed, "gb", "POST", path, {**body, "nonsense": 1},
                                  "provider")
        assert status == 400, (path, bad)  # checked before it is held
        status, held = await _call(http, fed, "gb", "POST", path, body, "provider")
        assert status == 202 and held["state"] == "pending", (path, held)
        status, released = await _call(
            http, fed, "gb", "POST", f"/api/v1/provider-filings/{held['filing_id']}/release",
            {}, "operator")
        assert status == 200 and released["kind"] == held["kind"], released
        signed = released["message_id"]
        for node in ("fr", "jp"):
            async def there(node: str = node, path: str = path, signed: str = signed) -> Any:
                if path in where:
                    got, _ = await _call(http, fed, node, "GET", where[path].format(signed))
                    return got == 200
                _, runs = await _call(http, fed, node, "GET", "/api/v1/training-runs")
                return signed in [r["id"] for r in runs["items"]]
            await wait_for(there)


async def test_an_operators_own_filing_is_not_held(
        pfed: tuple[Federation, Gb], http: aiohttp.ClientSession) -> None:
    fed, _ = pfed
    await _model(http, fed, MODEL | {"model": "OperatorLM"})
    status, filed = await _call(http, fed, "gb", "POST", "/api/v1/monitoring",
                                SIGNAL | {"model": "OperatorLM"}, "operator")
    assert status == 201 and filed["incident_id"], filed


async def test_an_independent_evaluator_reviews_and_the_flag_follows_at_every_node(
        pfed: tuple[Federation, Gb], http: aiohttp.ClientSession) -> None:
    fed, _ = pfed
    model = await _model(http, fed, MODEL | {"model": "FlaggedLM"})
    for node in ("gb", "fr", "jp", "int"):
        async def flagged(node: str = node) -> Any:
            status, doc = await _call(http, fed, node, "GET", f"/api/v1/models/{model}")
            return doc["assurance_flag"] if status == 200 else None
        flag = await wait_for(flagged)
        assert flag["flagged"] is True and flag["thresholds"] == ["ai-act-51-2"], node
    _, summary = await _call(http, fed, "int", "GET", "/api/v1/preparedness/summary")
    assert model in summary["flagged_models"]

    # fr's evaluator reviews gb's model; fr's node signs it under the organisation's name
    status, doc = await _call(http, fed, "fr", "POST", f"/api/v1/safety-cases/{model}/reviews",
                              {"verdict": "approved", "findings": "uplift evals reproduced"},
                              "evaluator")
    assert status == 201, doc
    assert (doc["reviewer_kind"], doc["origin"]) == ("independent", "fr")
    assert doc["organisation"] == "Example Evaluations (fr)"
    status, _ = await _call(http, fed, "fr", "GET", "/api/v1/incidents", role="evaluator")
    assert status == 403  # an evaluator reads the registry, nothing else
    for node in ("gb", "fr", "jp", "int"):
        async def approved(node: str = node) -> Any:
            _, got = await _call(http, fed, node, "GET", f"/api/v1/models/{model}")
            return got if got["safety_case"]["reviews"] else None
        got = await wait_for(approved)
        [r] = got["safety_case"]["reviews"]
        assert (r["reviewer_kind"], r["verified"], r["verdict"]) == (
            "independent", True, "approved"), node
        assert got["assurance_flag"]["flagged"] is False, node


async def test_a_declaration_turns_overdue_exactly_once_across_restarts(
        pfed: tuple[Federation, Gb]) -> None:
    # no kept-alive connection: gb restarts under the test
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        await _overdue_once(pfed, http)


async def _overdue_once(pfed: tuple[Federation, Gb], http: aiohttp.ClientSession) -> None:
    """The Art. 52(1) clock runs two weeks from when the threshold is known: a declaration whose
    threshold became known two weeks ago less a few seconds is due a few seconds from now. gb
    is down when it falls due, comes up (turns it overdue once), and restarts again (does not)."""
    fed, gb = pfed
    known = datetime.now(UTC) - timedelta(days=14) + timedelta(seconds=15)
    status, run = await _call(http, fed, "gb", "POST", "/api/v1/training-runs", {
        "developer": "Example AI", "model": "ClockLM", "compute_flop": 2e26,
        "started_at": format_time(known), "threshold_known_at": format_time(known)}, "operator")
    assert status == 201, run
    [clock] = run["clocks"]
    assert clock["clock"] == "ai-act-52-1" and "frontier-1e26" in run["thresholds_crossed"]
    name = f"{run['id']}/ai-act-52-1"

    async def deadline(node: str) -> Any:
        _, got = await _call(http, fed, node, "GET", "/api/v1/deadlines")
        return next((d for d in got["items"] if d["subject"] == run["id"]), None)

    async def overdue_at(node: str) -> Any:
        d = await deadline(node)
        return d["overdue_at"] if d and d["state"] == "overdue" else None
    for node in ("fr", "jp", "int"):
        assert (await wait_for(lambda node=node: deadline(node)))["due_at"] == clock["due_at"]
    assert (await deadline("gb"))["state"] == "due"
    gb.stop()
    # fr, up all along, turns it overdue when its time comes: gb is down at that moment.
    await wait_for(lambda: overdue_at("fr"), within_s=40)
    gb.start()
    first = await wait_for(lambda: overdue_at("gb"), within_s=30)
    assert first >= clock["due_at"]
    gb.stop()
    gb.start()
    # A second declaration already overdue when filed: once gb turns it, gb's sweep has run
    # after the restart, so the first clock would have turned a second time by now if it could.
    old = datetime.now(UTC) - timedelta(days=15)
    status, run2 = await _call(http, fed, "gb", "POST", "/api/v1/training-runs", {
        "developer": "Example AI", "model": "ClockLM-2", "compute_flop": 2e26,
        "started_at": format_time(old)}, "operator")
    assert status == 201, run2

    async def swept() -> Any:
        _, got = await _call(http, fed, "gb", "GET", "/api/v1/deadlines?state=overdue")
        return any(d["subject"] == run2["id"] for d in got["items"])
    await wait_for(swept, within_s=30)
    assert await overdue_at("gb") == first
    assert gb.log.count(f"deadline {name} is overdue") == 1, gb.log[-3000:]
    for node in ("fr", "jp", "int"):
        _, got = await _call(http, fed, node, "GET", "/api/v1/deadlines?state=overdue")
        assert [d["subject"] for d in got["items"]].count(run["id"]) == 1, node
