"""Every endpoint × every role, and no token, against a live federation.

The expected answers come from the table behind the OpenAPI document's ``x-roles``
(``node.http.api_spec`` and ``node.web.web_spec``, merged in ``node.web.openapi.ENDPOINTS``), and
the test
first checks that the served document says the same: a role the table allows gets the
endpoint's success status (or the one named in ``ALLOWED``), a role it does not gets 403, no
token gets 401, and a public endpoint answers everyone. Console pages are signed in with a
session cookie (``POST /login``) instead of a bearer token: there, no session is a 303 to the
sign-in page.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from federation.stix import incident_id
from federation.taxii import collection_id
from node.http.api_spec import Endpoint
from node.store.auth import ROLES
from node.web.openapi import ENDPOINTS
from tests.integration.conftest import Federation, report
from tests.integration.world import World, build_world, call

CALLERS: tuple[str | None, ...] = (*ROLES, None)
OPERATIONS = sorted(ENDPOINTS, key=lambda k: (k[1], k[0]))

# Where the success status cannot be had here, what an allowed role gets instead.
ALLOWED: dict[tuple[str, str], set[int]] = {
    ("POST", "/api/v1/runs/{id}/declare"): {404},      # no emergency is pending
    ("POST", "/api/v1/stats/snapshot"): {409},         # only the international body signs one
    ("GET", "/api/v1/stats/snapshot"): {200, 404},     # int may not have published one yet
    ("POST", "/api/v1/roster"): {400},                 # the current roster is no successor
    ("GET", "/api/v1/webhooks/{id}/deliveries"): {404},  # no such webhook
    ("DELETE", "/api/v1/webhooks/{id}"): {404},
    ("POST", "/api/v1/escalations/{id}/assign"): {404},  # gb's own escalations are not in its inbox
    ("POST", "/api/v1/runs/{id}/steps/{step}/complete"): {404},  # no such step
    ("POST", "/api/v1/runs"): {400},                   # no such playbook (201: test_steps)
    ("GET", "/api/v1/models/{id}"): {404},             # no such model
    ("GET", "/api/v1/evaluations/{id}"): {404},
    ("POST", "/api/v1/safety-cases/{id}/reviews"): {404},  # no such model
    ("GET", "/api/v1/monitoring/{id}"): {404},
    ("GET", "/api/v1/provider-filings/{id}"): {404},  # no such filing
    ("POST", "/api/v1/provider-filings/{id}/release"): {404},
    ("POST", "/api/v1/provider-filings/{id}/reject"): {404},
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/log/proof/consistency"): {"from": "1", "to": "1"},
    ("GET", "/api/v1/evaluations"): {"developer": "Example AI", "model": "RolesLM"},
}
# The demo's provider token files for Example AI: it may file what is filed here for it.
ROLES_MODEL = {"developer": "Example AI", "model": "RolesLM", "version": "1"}


@pytest.fixture(scope="module")
def world(fed: Federation) -> World:
    return build_world(fed)


@pytest.fixture(scope="module")
def sessions(fed: Federation) -> dict[str, requests.cookies.RequestsCookieJar]:
    """A console session per role, signed in with the role's token."""
    jars = {}
    for role in ROLES:
        r = requests.post(fed.url("gb", "/login"), timeout=10, allow_redirects=False,
                          data={"token": fed.node("gb")["tokens"][role], "next": "/"})
        assert r.status_code == 303, r.text
        jars[role] = r.cookies
    return jars


def _id_for(world: World, path: str) -> str:
    if path.startswith(("/api/v1/incidents/", "/incidents/")):
        return world.incident
    if path.startswith("/taxii2/"):
        return "{id}"  # filled in by concrete()
    if path.startswith(("/api/v1/runs/", "/runs/")):
        return world.run
    if path == "/api/v1/escalations/{id}/ack":
        return world.escalations[0]
    if path == "/api/v1/escalations/{id}/decline":
        return world.escalations[1]
    return "no-such-id"


def concrete(fed: Federation, world: World, method: str,
             path: str) -> tuple[str, dict[str, Any]]:
    """A real URL path and request arguments for one operation."""
    url = path.replace("{id}", _id_for(world, path)).replace("{origin}", "gb")
    # TAXII: gb's GREEN collection (every role reads it) and the incident's first revision.
    url = url.replace("{id}", collection_id("gb", "GREEN")).replace(
        "{object_id}", incident_id(world.incident, 1))
    url = url.replace("{step}", "no-such-step")
    url = url.replace("{filename}", "app.css").replace("{asset}", "dashboard.js")
    kw: dict[str, Any] = {"params": dict(QUERIES.get((method, path), {}))}
    if path == "/api/v1/log/proof/inclusion":
        kw["params"]["digest"] = world.digest
    if (method, path) == ("POST", "/api/v1/incidents"):
        kw["json"] = report(title="Filed in the roles test")
    elif path.endswith("/revisions"):
        kw["json"] = {"status": "contained"}
    elif (method, path) == ("POST", "/api/v1/incidents/{id}/links"):
        other = call(fed, "gb", "POST", "/api/v1/incidents", "operator",
                     json=report(title="Linked in the roles test")).json()["id"]
        kw["json"] = {"incident_id": other, "relation": "related-to"}
    elif path.endswith("/assign"):
        kw["json"] = {"assignee": "alice"}
    elif (method, path) == ("POST", "/api/v1/runs"):
        kw["json"] = {"incident_id": world.incident, "playbook_id": "no-such-playbook"}
    elif path.endswith("/complete"):
        kw["json"] = {"note": "done"}
    elif (method, path) == ("POST", "/api/v1/models"):
        kw["json"] = ROLES_MODEL | {"deployment_jurisdictions": ["fr"]}
    elif (method, path) == ("POST", "/api/v1/evaluations"):
        call(fed, "gb", "POST", "/api/v1/models", "operator", json=ROLES_MODEL)
        kw["json"] = ROLES_MODEL | {"suite": "s", "domain": "persuasion", "score": 0.1,
                                    "evaluator": "roles test",
                                    "evaluated_at": "2026-11-01T00:00:00Z"}
    elif (method, path) == ("POST", "/api/v1/monitoring"):
        call(fed, "gb", "POST", "/api/v1/models", "operator", json=ROLES_MODEL)
        kw["json"] = ROLES_MODEL | {"check": "c", "assumption": "a", "environment": "e",
                                    "action": "roles test"}
    elif path.endswith("/reviews"):
        kw["json"] = {"verdict": "rejected", "findings": "roles test"}
    elif (method, path) == ("POST", "/api/v1/training-runs"):
        kw["json"] = {"developer": "Example AI", "model": "RolesLM-2", "compute_flop": 1e24,
                      "started_at": "2026-11-01T00:00:00Z"}
    elif path.endswith("/decline"):
        kw["json"] = {"reason": "not ours to handle"}
    elif (method, path) == ("POST", "/login"):
        kw["data"] = {"token": fed.node("gb")["tokens"]["viewer"], "next": "/"}
    elif (method, path) == ("POST", "/api/v1/webhooks"):
        kw["json"] = {"url": "http://127.0.0.1:9/roles-test", "roles": ["viewer"],
                      "secret": "x" * 16}
    elif (method, path) == ("POST", "/api/v1/roster"):
        kw["json"] = call(fed, "gb", "GET", "/api/v1/roster").json()["envelope"]
    if ENDPOINTS[(method, path)].media == "text/event-stream":
        kw["stream"] = True  # read the status, then hang up
    return url, kw


def test_the_document_carries_the_table(fed: Federation) -> None:
    doc = call(fed, "gb", "GET", "/api/v1/openapi.json", None).json()
    served = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert set(served) == set(ENDPOINTS)
    for key, op in served.items():
        ep = ENDPOINTS[key]
        assert op["x-roles"] == list(ep.roles), key
        assert op["security"] == ([{ep.auth: []}] if ep.roles else []), key
        assert "401" in op["responses"], key  # a bad token is refused everywhere
        if ep.roles and set(ep.roles) != set(ROLES):
            assert "403" in op["responses"], key
        if ep.auth == "session" and ep.roles:
            assert "303" in op["responses"], key


def expected(ep: Endpoint, key: tuple[str, str], role: str | None) -> set[int]:
    if not ep.roles or role in ep.roles:
        return ALLOWED.get(key, {ep.status})
    if role is None:
        return {303} if ep.auth == "session" else {401}
    return {403}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_role_gets_what_the_table_says(
        fed: Federation, world: World, sessions: dict[str, requests.cookies.RequestsCookieJar],
        method: str, path: str) -> None:
    ep = ENDPOINTS[(method, path)]
    url, kw = concrete(fed, world, method, path)
    for role in CALLERS:
        if ep.auth == "session":
            r = call(fed, "gb", method, url, None, cookies=sessions.get(role or ""), **kw)
        else:
            r = call(fed, "gb", method, url, role, **kw)
        r.close()
        assert r.status_code in expected(ep, (method, path), role), (role, r.text[:300])
        if r.status_code in (401, 403) and ep.media == "application/json":
            assert r.json()["errors"][0]["message"], role
        if r.status_code == 401:
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), role
        if r.status_code == 303 and ep.auth == "session":
            assert r.headers["Location"].startswith("/login"), role


def test_a_viewer_can_neither_file_nor_acknowledge_nor_see_the_quarantine(
        fed: Federation, world: World) -> None:
    for method, path, body in [
        ("POST", "/api/v1/incidents", report()),
        ("POST", f"/api/v1/escalations/{world.escalations[0]}/ack", {}),
        ("GET", "/api/v1/quarantine", None),
        ("GET", "/api/v1/audit", None),
    ]:
        r = call(fed, "gb", method, path, "viewer", json=body)
        assert r.status_code == 403, (path, r.text)
        assert "viewer" in r.json()["errors"][0]["message"]


def test_a_bad_token_is_refused_even_where_none_is_needed(fed: Federation) -> None:
    for path in ("/healthz", "/api/v1/openapi.json"):
        r = requests.get(fed.url("gb", path), timeout=10,
                         headers={"Authorization": "Bearer bkn_000000000000_forged"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_provider_files_for_its_own_developer_only_and_reads_nothing(fed: Federation) -> None:
    other = {"name": "OtherLM", "version": "1", "developer": "Other AI", "role": "it did"}
    for method, path, body in [
        ("POST", "/api/v1/incidents", report(title="Filed for another", ai_system=other)),
        ("POST", "/api/v1/training-runs", {"developer": "Other AI", "model": "X",
                                           "compute_flop": 1e26,
                                           "started_at": "2026-11-01T00:00:00Z"}),
    ]:
        r = call(fed, "gb", method, path, "provider", json=body)
        assert r.status_code == 403, (path, r.text)
        assert "'Example AI' only" in r.json()["errors"][0]["message"]
    assert call(fed, "gb", "GET", "/api/v1/incidents", "provider").status_code == 403
    listed = call(fed, "gb", "GET", "/api/v1/incidents?q=Filed+for+another", "viewer").json()
    assert listed["items"] == []  # nothing was stored
    r = call(fed, "gb", "POST", "/api/v1/incidents", "provider", json=report(title="Own filing"))
    assert r.status_code == 201, r.text
