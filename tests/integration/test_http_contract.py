"""The HTTP contract: roles, and bad input answered with 4xx naming each problem."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import Federation, report

ROLES = ("operator", "responder", "auditor", "viewer")

# endpoint -> roles allowed
READ_ENDPOINTS = {
    "/api/v1/incidents": set(ROLES),
    "/api/v1/roster": set(ROLES),
    "/api/v1/peers": set(ROLES),
    "/api/v1/quarantine": {"auditor", "operator"},
}


@pytest.mark.parametrize("path", sorted(READ_ENDPOINTS))
async def test_read_endpoints_by_role(fed: Federation, http: aiohttp.ClientSession,
                                      path: str) -> None:
    async with http.get(fed.url("gb", path)) as r:
        assert r.status == 401
        assert (await r.json())["errors"][0]["path"] == "$.headers.Authorization"
    for role in ROLES:
        async with http.get(fed.url("gb", path), headers=fed.auth("gb", role)) as r:
            expected = 200 if role in READ_ENDPOINTS[path] else 403
            assert r.status == expected, (role, await r.text())


async def test_filing_is_for_operators_only(fed: Federation,
                                            http: aiohttp.ClientSession) -> None:
    async with http.post(fed.url("gb", "/api/v1/incidents"), json=report()) as r:
        assert r.status == 401
    for role in ("responder", "auditor", "viewer"):
        async with http.post(fed.url("gb", "/api/v1/incidents"), json=report(),
                             headers=fed.auth("gb", role)) as r:
            assert r.status == 403
            assert "operator" in (await r.json())["errors"][0]["message"]
    forged = {"Authorization": "Bearer bkn_000000000000_nottherealsecret"}
    async with http.post(fed.url("gb", "/api/v1/incidents"), json=report(), headers=forged) as r:
        assert r.status == 401


async def _post(http: aiohttp.ClientSession, fed: Federation, body: Any,
                **kw: Any) -> tuple[int, dict[str, Any]]:
    kw.setdefault("headers", fed.auth("gb", "operator"))
    if "data" not in kw:
        kw["json"] = body
    async with http.post(fed.url("gb", "/api/v1/incidents"), **kw) as r:
        return r.status, await r.json()


async def test_bad_report_names_every_problem(fed: Federation,
                                              http: aiohttp.ClientSession) -> None:
    bad = report(severity="catastrophic", harm_types=["physical", "boredom"], tlp="PURPLE",
                 affected_jurisdictions=["fr", "xx"])
    del bad["title"]
    bad["ai_system"] = {"name": "ExampleLM"}
    status, body = await _post(http, fed, bad)
    assert status == 400
    paths = {e["path"] for e in body["errors"]}
    assert {"$.title", "$.severity", "$.harm_types[1]", "$.tlp", "$.ai_system.role",
            "$.affected_jurisdictions[1]"} <= paths, body
    assert all(e["message"] for e in body["errors"])


@pytest.mark.parametrize(("body", "path", "fragment"), [
    ([], "$", "JSON object"),
    ({**report(), "origin": "fr"}, "$.origin", "set by the node"),
    ({**report(), "severty": "hazard"}, "$.severty", "unknown field"),
    (report(tlp="AMBER+STRICT", affected_jurisdictions=[]), "$.affected_jurisdictions",
     "AMBER+STRICT needs"),
    (report(occurred_at="yesterday"), "$.occurred_at", ""),
    (report(aware_at="9999-12-31T00:00:00Z"), "$.aware_at", "in the future"),
])
async def test_each_bad_report_gets_a_clear_400(fed: Federation, http: aiohttp.ClientSession,
                                                body: Any, path: str, fragment: str) -> None:
    status, answer = await _post(http, fed, body)
    assert status == 400
    [problem] = [e for e in answer["errors"] if e["path"] == path]
    assert fragment in problem["message"]


async def test_non_json_bodies(fed: Federation, http: aiohttp.ClientSession) -> None:
    status, body = await _post(http, fed, None, data=b"{not json",
                               headers={**fed.auth("gb", "operator"),
                                        "Content-Type": "application/json"})
    assert status == 400 and "body is not JSON" in body["errors"][0]["message"]
    status, body = await _post(http, fed, None, data=b"title=x",
                               headers={**fed.auth("gb", "operator"),
                                        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "application/json" in body["errors"][0]["message"]


@pytest.mark.parametrize(("query", "path"), [
    ("limit=0", "$.query.limit"), ("limit=abc", "$.query.limit"),
    ("severity=huge", "$.query.severity"), ("since=last-tuesday", "$.query.since"),
    ("cursor=-4", "$.query.cursor"),
])
async def test_bad_query_parameters(fed: Federation, http: aiohttp.ClientSession, query: str,
                                    path: str) -> None:
    async with http.get(fed.url("gb", f"/api/v1/incidents?{query}"),
                        headers=fed.auth("gb", "viewer")) as r:
        assert r.status == 400
        assert (await r.json())["errors"][0]["path"] == path


async def test_unknown_things_are_json_404s(fed: Federation, http: aiohttp.ClientSession) -> None:
    async with http.get(fed.url("gb", "/api/v1/incidents/gb-doesnotexist00"),
                        headers=fed.auth("gb", "viewer")) as r:
        assert r.status == 404 and "not found" in (await r.json())["errors"][0]["message"]
    async with http.get(fed.url("gb", "/api/v1/nothing-here")) as r:
        assert r.status == 404 and "errors" in await r.json()
    async with http.delete(fed.url("gb", "/api/v1/incidents"),
                           headers=fed.auth("gb", "operator")) as r:
        assert r.status == 405 and "errors" in await r.json()
