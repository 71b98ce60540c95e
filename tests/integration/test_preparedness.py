"""Preparedness records over real nodes and JetStream: the model registry (issue 12)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.integration.conftest import Federation, barrier, report, wait_for

MODEL = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
         "deployment_jurisdictions": ["fr", "jp"], "training_compute_flop": 3e25,
         "safety_case": {"reference": "https://example.org/sc", "status": "submitted"}}


async def _call(http: aiohttp.ClientSession, fed: Federation, node: str, method: str,
                path: str, body: Any = None, role: str = "viewer") -> tuple[int, Any]:
    async with http.request(method, fed.url(node, path), json=body,
                            headers=fed.auth(node, role)) as r:
        return r.status, await r.json()


async def _everywhere(http: aiohttp.ClientSession, fed: Federation, path: str,
                      nodes: tuple[str, ...] = ("gb", "fr", "jp", "int")) -> dict[str, Any]:
    found = {}
    for node in nodes:
        async def there(node: str = node) -> Any:
            status, body = await _call(http, fed, node, "GET", path)
            return body if status == 200 else None
        found[node] = await wait_for(there)
    return found


async def test_a_registered_model_makes_its_deployment_jurisdictions_affected(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    status, made = await _call(http, fed, "gb", "POST", "/api/v1/models", MODEL, "operator")
    assert status == 201, made
    model_id = made["id"]
    for node, doc in (await _everywhere(http, fed, f"/api/v1/models/{model_id}")).items():
        assert (doc["origin"], doc["version"], doc["deployment_jurisdictions"]) == (
            "gb", "3.0", ["fr", "jp"]), node

    status, filed = await _call(http, fed, "gb", "POST", "/api/v1/incidents", report(
        affected_jurisdictions=[], ai_system={"name": "ExampleLM", "version": "3.0",
                                              "developer": "Example AI", "role": "it did"}),
        "operator")
    assert status == 201, filed
    reports = await _everywhere(http, fed, f"/api/v1/incidents/{filed['id']}", ("fr", "jp"))
    for node, doc in reports.items():
        assert doc["affected_jurisdictions"] == ["fr", "jp"], node
        assert doc["ai_system"]["model_ref"] == model_id and doc["verified"] is True
    _, page = await _call(http, fed, "jp", "GET", f"/api/v1/models/{model_id}")
    assert filed["id"] in [i["id"] for i in page["incidents"]]


async def test_bad_registrations_are_refused_and_nothing_is_stored(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    bad = [MODEL | {"model": "NegativeLM", "training_compute_flop": -1},
           MODEL | {"model": "NowhereLM", "deployment_jurisdictions": ["xx"]},
           {k: v for k, v in MODEL.items() if k != "version"} | {"model": "NoVersionLM"},
           MODEL | {"model": "ExtraLM", "origin": "fr"}]
    for body in bad:
        status, answer = await _call(http, fed, "gb", "POST", "/api/v1/models", body,
                                     "operator")
        assert status == 400 and answer["errors"][0]["message"], (body, answer)
    status, _ = await _call(http, fed, "gb", "POST", "/api/v1/models", MODEL, "viewer")
    assert status == 403
    await barrier(http, fed, "gb", ("fr",))
    for node in ("gb", "fr"):
        _, listed = await _call(http, fed, node, "GET", "/api/v1/models")
        assert {m["model"] for m in listed["items"]} <= {"ExampleLM"}, node
    status, answer = await _call(http, fed, "fr", "GET", "/api/v1/models/gb-model-0000000000000000")
    assert status == 404 and "GET /api/v1/models" in answer["errors"][0]["message"]


async def test_a_red_line_evaluation_at_gb_is_an_incident_everywhere_with_the_evaluation(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    body = MODEL | {"model": "RedLM", "deployment_jurisdictions": ["jp"]}
    status, made = await _call(http, fed, "gb", "POST", "/api/v1/models", body, "operator")
    assert status == 201, made
    _, wires = await _call(http, fed, "gb", "GET", "/api/v1/tripwires")
    [cbrn] = [t for t in wires["items"] if t["domain"] == "cbrn"]
    result = {"developer": "Example AI", "model": "RedLM", "version": "3.0", "suite": "uplift",
              "domain": "cbrn", "score": cbrn["red_line"], "evaluator": "UK AISI",
              "evaluated_at": "2026-11-25T00:00:00Z"}
    for bad in ({"score": 1.5}, {"domain": "astrology"}, {"model": "UnknownLM"}):
        status, answer = await _call(http, fed, "gb", "POST", "/api/v1/evaluations",
                                     result | bad, "operator")
        assert status == 400 and answer["errors"], (bad, answer)
    status, filed = await _call(http, fed, "gb", "POST", "/api/v1/evaluations", result,
                                "operator")
    assert status == 201 and filed["level"] == "red-line", filed
    path = f"/api/v1/incidents/{filed['incident_id']}"
    for node, doc in (await _everywhere(http, fed, path)).items():
        assert doc["evaluation"]["id"] == filed["id"], node
        assert doc["evaluation"]["digest"] == filed["digest"] and doc["verified"] is True
        assert doc["tripwire_ids"] == ["cbrn"], node
        assert doc["red_lines"] == ["assisting-weapon-development"], node
    _, found = await _call(http, fed, "gb", "GET", f"/api/v1/runs?incident={filed['incident_id']}")
    assert "tripwire-crossing" in {r["playbook"]["id"] for r in found["items"]}
    on_page = await _everywhere(http, fed, f"/api/v1/evaluations/{filed['id']}", ("fr", "int"))
    assert all(e["score"] == cbrn["red_line"] for e in on_page.values())
    await barrier(http, fed, "gb", ("fr",))
    _, page = await _call(http, fed, "fr", "GET", f"/api/v1/models/{made['id']}")
    assert [e["id"] for e in page["evaluations"]] == [filed["id"]]  # the refused were not stored


async def test_a_training_run_above_1e26_reaches_every_member_with_its_clock(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    run = {"developer": "Example AI", "model": "ExampleLM-4", "compute_flop": 2e26,
           "started_at": "2026-11-01T00:00:00Z", "expected_end": "2027-02-01T00:00:00Z"}
    status, answer = await _call(http, fed, "gb", "POST", "/api/v1/training-runs",
                                 run | {"compute_flop": -1}, "operator")
    assert status == 400 and answer["errors"][0]["path"] == "$.compute_flop", answer
    status, declared = await _call(http, fed, "gb", "POST", "/api/v1/training-runs", run,
                                   "operator")
    assert status == 201 and "frontier-1e26" in declared["thresholds_crossed"], declared
    for node in ("fr", "jp", "int"):
        async def clock(node: str = node) -> Any:
            _, page = await _call(http, fed, node, "GET", "/api/v1/deadlines")
            # two weeks after the start were past when it was declared: the node's sweep
            # turns the clock overdue
            return [d for d in page["items"]
                    if d["subject"] == declared["id"] and d["state"] == "overdue"]
        [d] = await wait_for(clock)
        assert (d["regime"], d["due_at"]) == ("EU AI Act Art. 52(1)", "2026-11-15T00:00:00Z")
    status, bad = await _call(http, fed, "fr", "GET", "/api/v1/deadlines?state=late")
    assert status == 400
    assert [p["path"] for p in bad["errors"]] == ["$.query.state"], bad


async def test_fr_rejects_gbs_safety_case_and_every_node_shows_it_verified(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    body = MODEL | {"model": "ReviewedLM"}
    status, made = await _call(http, fed, "gb", "POST", "/api/v1/models", body, "operator")
    assert status == 201, made
    path = f"/api/v1/models/{made['id']}"
    await _everywhere(http, fed, path, ("fr",))
    review = {"verdict": "rejected", "findings": "no CBRN uplift evaluation"}
    status, own = await _call(http, fed, "gb", "POST", f"/api/v1/safety-cases/{made['id']}/reviews",
                              review, "operator")
    assert status == 400 and "another member" in own["errors"][0]["message"], own
    status, signed = await _call(http, fed, "fr", "POST",
                                 f"/api/v1/safety-cases/{made['id']}/reviews", review, "operator")
    assert status == 201, signed
    for node in ("gb", "fr", "jp", "int"):
        async def reviewed(node: str = node) -> Any:
            _, page = await _call(http, fed, node, "GET", path)
            return page["safety_case"]["reviews"]
        [r] = await wait_for(reviewed)
        assert (r["verdict"], r["origin"], r["verified"]) == ("rejected", "fr", True), node
        assert r["reviewer"].startswith("fr: ") and r["digest"] == signed["digest"]


async def test_a_providers_failed_check_is_an_incident_everywhere_and_scoped_to_its_developer(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    # The demo's provider token at gb files for Example AI.
    status, made = await _call(http, fed, "gb", "POST", "/api/v1/models",
                               MODEL | {"model": "MonitoredLM"}, "operator")
    assert status == 201, made
    signal = {"developer": "Example AI", "model": "MonitoredLM", "version": "3.0",
              "check": "refusal-classifier", "assumption": "harmful CBRN queries are refused",
              "environment": "production EU", "action": "model shut down",
              "observed_at": "2026-11-26T00:00:00Z"}
    status, answer = await _call(http, fed, "gb", "POST", "/api/v1/monitoring",
                                 signal | {"developer": "Other AI"}, "provider")
    assert status == 403 and "'Example AI' only" in answer["errors"][0]["message"], answer
    status, filed = await _call(http, fed, "gb", "POST", "/api/v1/monitoring", signal,
                                "provider")
    assert status == 201 and filed["incident_id"], filed
    path = f"/api/v1/incidents/{filed['incident_id']}"
    for node, doc in (await _everywhere(http, fed, path)).items():
        assert doc["monitoring"]["id"] == filed["id"] and doc["verified"] is True, node
        assert doc["ai_system"]["model_ref"] == made["id"]
