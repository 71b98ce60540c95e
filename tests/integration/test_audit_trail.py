"""The audit trail: filing a report and acknowledging an escalation are recorded with who and
when, refused attempts too; auditors and operators read it, viewers and responders may not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import Federation, report
from tests.integration.world import World, build_world, call


@pytest.fixture(scope="module")
def world(fed: Federation) -> World:
    return build_world(fed)


def token_id(fed: Federation, role: str) -> str:
    return str(fed.node("gb")["tokens"][role].split("_")[1])


def audit(fed: Federation, role: str = "auditor", **params: Any) -> dict[str, Any]:
    r = call(fed, "gb", "GET", "/api/v1/audit", role, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_filing_and_acking_are_recorded_with_who_and_when(fed: Federation,
                                                         world: World) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    filed = call(fed, "gb", "POST", "/api/v1/incidents", "operator", json=report())
    assert filed.status_code == 201
    acked = call(fed, "gb", "POST", f"/api/v1/escalations/{world.escalations[0]}/ack",
                 "responder", json={"note": "on it"})
    assert acked.status_code == 201, acked.text
    after = datetime.now(UTC) + timedelta(seconds=1)

    items = audit(fed)["items"]
    ack_entry, file_entry = items[0], items[1]  # newest first
    assert file_entry["who"] == {"token_id": token_id(fed, "operator"), "role": "operator",
                                 "label": "demo operator at gb"}
    assert (file_entry["method"], file_entry["path"], file_entry["status"]) == (
        "POST", "/api/v1/incidents", 201)
    assert file_entry["target"] == filed.json()["id"]
    assert file_entry["digest"] == filed.json()["digest"]
    assert ack_entry["who"]["token_id"] == token_id(fed, "responder")
    assert ack_entry["who"]["role"] == "responder"
    assert ack_entry["route"] == "/api/v1/escalations/{id}/ack"
    assert ack_entry["target"] == world.escalations[0] and ack_entry["status"] == 201
    assert ack_entry["digest"] == acked.json()["digest"]
    for entry in (ack_entry, file_entry):
        at = datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))
        assert before <= at <= after
        assert entry["via"] == "api" and entry["remote"] == "127.0.0.1"


def test_refused_attempts_are_recorded_too(fed: Federation, world: World) -> None:
    assert call(fed, "gb", "POST", "/api/v1/incidents", "viewer",
                json=report()).status_code == 403
    assert call(fed, "gb", "POST", "/api/v1/incidents", None, json=report()).status_code == 401
    anonymous, viewer = audit(fed, limit=2)["items"]
    assert anonymous["who"] is None and anonymous["status"] == 401
    assert viewer["who"]["role"] == "viewer" and viewer["status"] == 403
    assert viewer["target"] is None and viewer["digest"] is None


def test_reads_are_not_recorded(fed: Federation, world: World) -> None:
    newest = audit(fed, limit=1)["items"][0]["seq"]
    assert call(fed, "gb", "GET", "/api/v1/incidents").status_code == 200
    assert audit(fed, limit=1)["items"][0]["seq"] == newest


def test_who_may_read_the_trail(fed: Federation, world: World) -> None:
    assert call(fed, "gb", "GET", "/api/v1/audit", "operator").status_code == 200
    for role in ("viewer", "responder"):
        r = call(fed, "gb", "GET", "/api/v1/audit", role)
        assert r.status_code == 403 and role in r.json()["errors"][0]["message"]
    assert call(fed, "gb", "GET", "/api/v1/audit", None).status_code == 401


def test_pages_and_filters(fed: Federation, world: World) -> None:
    first = audit(fed, limit=2)
    assert len(first["items"]) == 2 and first["next"] is not None
    second = audit(fed, limit=2, cursor=first["next"])
    assert second["items"][0]["seq"] < first["items"][1]["seq"]
    operator = token_id(fed, "operator")
    mine = audit(fed, token=operator)["items"]
    assert mine and {e["who"]["token_id"] for e in mine} == {operator}
    r = call(fed, "gb", "GET", "/api/v1/audit", "auditor", params={"limit": "0"})
    assert r.status_code == 400 and r.json()["errors"][0]["path"] == "$.query.limit"
