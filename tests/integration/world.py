"""Things to point requests at: a real incident, escalations, a run and a checkpoint at ``gb``.

    >>> # w = build_world(fed)     # after fed.start(); synchronous (module fixtures use it)
    >>> # w.incident, w.escalations, w.run

``gb`` files one incident affecting ``fr`` (so a cross-border run starts at gb); ``fr`` files two
affecting ``gb`` (so gb's inbox holds two open escalations: one to acknowledge, one to decline);
gb's operator publishes a checkpoint so the log endpoints have something to prove.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from tests.integration.conftest import Federation, report


@dataclass(frozen=True)
class World:
    incident: str
    digest: str
    run: str
    escalations: tuple[str, str]


def call(fed: Federation, node: str, method: str, path: str, role: str | None = "viewer",
         **kw: Any) -> requests.Response:
    headers = fed.auth(node, role) if role else {}
    return requests.request(method, fed.url(node, path), headers=headers, timeout=15,
                            allow_redirects=False, **kw)


def _poll(what: str, check: Any, within_s: float = 20.0) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {within_s}s")


def build_world(fed: Federation) -> World:
    r = call(fed, "gb", "POST", "/api/v1/incidents", "operator",
             json=report(title="Roles and OpenAPI fixture"))
    assert r.status_code == 201, r.text
    incident, digest = r.json()["id"], r.json()["digest"]
    inbound = []
    for n in (1, 2):
        r = call(fed, "fr", "POST", "/api/v1/incidents", "operator",
                 json=report(title=f"Escalated to gb {n}", affected_jurisdictions=["gb"]))
        assert r.status_code == 201, r.text
        inbound.append(r.json()["id"])

    def escalations() -> list[str]:
        items = call(fed, "gb", "GET", "/api/v1/escalations?status=open").json()["items"]
        ids = [e["id"] for e in items if e["incident_id"] in inbound]
        return ids if len(ids) == 2 else []

    def runs() -> list[str]:
        items = call(fed, "gb", "GET", f"/api/v1/runs?incident={incident}").json()["items"]
        return [r["id"] for r in items]

    esc = _poll("two escalations in gb's inbox", escalations)
    run = _poll("a run at gb", runs)[0]
    r = call(fed, "gb", "POST", "/api/v1/log/checkpoint", "operator")
    assert r.status_code == 201, r.text
    return World(incident, digest, run, (esc[0], esc[1]))
