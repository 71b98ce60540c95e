"""Contingency playbooks across real nodes: escalation with acknowledgement deadlines, tiers,
quorum, revisions, and a deadline that survives a SIGKILL.

The federation runs with ``--time-scale 0.0001``: a 24-hour acknowledgement deadline is 8.6 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import Federation, barrier, report, running_federation, wait_for

SCALE = 0.0001
TIER1_S = 24 * 3600 * SCALE  # serious-incident-cross-border: affected peers, PT24H


@pytest.fixture(scope="module")
def pfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("pfed"), ["gb", "fr", "jp"],
                            time_scale=SCALE) as f:
        yield f


async def _until(deadline: str) -> None:
    """Wait (real time) until ``deadline`` (RFC 3339) has passed at the nodes, plus a margin for
    the timer to fire and commit; callers then file a barrier before asserting anything."""
    when = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.5)


async def _call(http: aiohttp.ClientSession, fed: Federation, node: str, method: str,
                path: str, role: str = "viewer", **kw: Any) -> tuple[int, Any]:
    async with http.request(method, fed.url(node, path), headers=fed.auth(node, role),
                            **kw) as r:
        return r.status, await r.json()


async def _file(http: aiohttp.ClientSession, fed: Federation, node: str, **changes: Any) -> str:
    status, body = await _call(http, fed, node, "POST", "/api/v1/incidents", "operator",
                               json=report(**changes))
    assert status == 201, body
    return str(body["id"])


async def _inbox(http: aiohttp.ClientSession, fed: Federation, node: str,
                 incident: str) -> list[dict[str, Any]]:
    _, body = await _call(http, fed, node, "GET", "/api/v1/escalations")
    return [e for e in body["items"] if e["incident_id"] == incident]


async def _runs(http: aiohttp.ClientSession, fed: Federation, node: str,
                incident: str) -> list[dict[str, Any]]:
    _, body = await _call(http, fed, node, "GET", f"/api/v1/runs?incident={incident}")
    items: list[dict[str, Any]] = body["items"]
    return items


async def _run(http: aiohttp.ClientSession, fed: Federation, node: str, incident: str,
               playbook: str) -> dict[str, Any]:
    async def found() -> Any:
        return [r for r in await _runs(http, fed, node, incident)
                if r["playbook"]["id"] == playbook]
    [run] = await wait_for(found)
    return run


async def test_acknowledged_in_time_stops_the_chain(pfed: Federation,
                                                    http: aiohttp.ClientSession) -> None:
    incident = await _file(http, pfed, "gb", title="Acked in time")
    [esc] = await wait_for(lambda: _inbox(http, pfed, "fr", incident))
    assert esc["tier"] == 1 and esc["status"] == "open" and esc["origin"] == "gb"
    assert esc["deadline"] > esc["received_at"][:19]

    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/escalations/{esc['id']}/ack",
                               "responder")
    assert status == 201, body
    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/escalations/{esc['id']}/ack",
                               "responder")
    assert status == 409 and "already acked" in body["errors"][0]["message"]

    async def acked_at_gb() -> Any:
        run = await _run(http, pfed, "gb", incident, "serious-incident-cross-border")
        step = next(s for s in run["steps"] if s["id"] == "escalate-affected-peers")
        return step["status"] == "succeeded" and run
    run = await wait_for(acked_at_gb)
    assert "fr" in next(s for s in run["steps"]
                        if s["id"] == "escalate-affected-peers")["acked_by"]
    assert any(h["by"] == "fr" for h in run["history"])

    await _until(esc["deadline"])  # past the tier-1 deadline: nothing more may happen
    await barrier(http, pfed, "gb", ("fr", "jp", "int"))
    run = await _run(http, pfed, "gb", incident, "serious-incident-cross-border")
    assert run["tier"] == 1
    for node in ("jp", "int"):
        assert await _inbox(http, pfed, node, incident) == []
    assert [e["tier"] for e in await _inbox(http, pfed, "fr", incident)] == [1]


async def test_silence_moves_to_the_next_tier_exactly_once(pfed: Federation,
                                                           http: aiohttp.ClientSession) -> None:
    incident = await _file(http, pfed, "gb", title="Nobody answers")
    await wait_for(lambda: _inbox(http, pfed, "fr", incident))

    for node in ("fr", "jp", "int"):
        async def tier2(node: str = node) -> Any:
            return [e for e in await _inbox(http, pfed, node, incident) if e["tier"] == 2]
        await wait_for(tier2, within_s=TIER1_S + 15)
    await barrier(http, pfed, "gb", ("fr", "jp", "int"))  # a duplicate would be here by now
    for node in ("fr", "jp", "int"):
        tiers = sorted(e["tier"] for e in await _inbox(http, pfed, node, incident))
        assert tiers == ([1, 2] if node == "fr" else [2]), (node, tiers)
    assert await _inbox(http, pfed, "gb", incident) == []  # no escalation to itself
    run = await _run(http, pfed, "gb", incident, "serious-incident-cross-border")
    assert run["tier"] == 2
    missed = [h for h in run["history"] if h["event"] == "deadline-missed"
              and h.get("step") == "escalate-affected-peers"]
    assert len(missed) == 1, run["history"]

    _, fr_inbox = await _call(http, pfed, "fr", "GET", "/api/v1/escalations?status=open")
    tier1 = next(e for e in fr_inbox["items"] if e["incident_id"] == incident and e["tier"] == 1)
    assert tier1["overdue"] is True, tier1


async def test_red_line_reaches_the_top_tier_and_quorum_declares(
        pfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, pfed, "gb", title="Model deceived its evaluators",
                           red_lines=["deception"], affected_jurisdictions=[])
    for node in ("fr", "jp", "int"):
        async def top(node: str = node) -> Any:
            return [e for e in await _inbox(http, pfed, node, incident) if e["tier"] == 3]
        await wait_for(top)

    async def pending(node: str) -> Any:
        _, em = await _call(http, pfed, node, "GET", "/api/v1/emergency")
        return em["state"] == "pending" and em["incident_id"] == incident and em
    em = await wait_for(lambda: pending("jp"), within_s=30)
    assert em["threshold"] == 2 and set(em["members"]) == {"gb", "fr", "jp"}

    status, body = await _call(http, pfed, "int", "POST", f"/api/v1/runs/{em['run_id']}/declare",
                               "operator")
    assert status == 409 and "not among the members" in body["errors"][0]["message"]
    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/runs/{em['run_id']}/declare",
                               "viewer")
    assert status == 403
    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/runs/{em['run_id']}/declare",
                               "operator", json={"statement": "fr co-signs"})
    assert status == 201, body

    async def one_of_two(node: str) -> Any:
        _, em = await _call(http, pfed, node, "GET", "/api/v1/emergency")
        return em["count"] == 1 and em
    em = await wait_for(lambda: one_of_two("jp"))
    assert em["state"] == "pending" and em["declarations"][0]["by"] == "fr"

    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/runs/{em['run_id']}/declare",
                               "operator")
    assert status == 409 and "already declared" in body["errors"][0]["message"]
    status, body = await _call(http, pfed, "jp", "POST", f"/api/v1/runs/{em['run_id']}/declare",
                               "operator", json={"statement": "jp co-signs"})
    assert status == 201, body

    for node in ("gb", "fr", "jp", "int"):
        async def active(node: str = node) -> Any:
            _, em = await _call(http, pfed, node, "GET", "/api/v1/emergency")
            return em["state"] == "active" and em
        em = await wait_for(active, within_s=30)
        assert {d["by"] for d in em["declarations"]} == {"fr", "jp"}
    await _run(http, pfed, "gb", incident, "federation-emergency")


async def test_revisions_upgrade_escalates_downgrade_does_not_resolution_closes(
        pfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, pfed, "gb", title="Starts small", severity="incident",
                           affected_jurisdictions=["fr"])
    # Runs start in the transaction that stores the report, so the 201 is the barrier here.
    assert [r["playbook"]["id"] for r in await _runs(http, pfed, "gb", incident)] == [
        "incident-review"]
    status, body = await _call(http, pfed, "gb", "GET", f"/api/v1/incidents/{incident}")
    assert status == 200 and body["revision"] == 1

    status, body = await _call(http, pfed, "gb", "POST", f"/api/v1/incidents/{incident}/revisions",
                               "operator", json={"severity": "serious-incident"})
    assert status == 201 and body["revision"] == 2
    await _run(http, pfed, "gb", incident, "serious-incident-cross-border")
    await wait_for(lambda: _inbox(http, pfed, "fr", incident))

    status, _ = await _call(http, pfed, "gb", "POST", f"/api/v1/incidents/{incident}/revisions",
                            "operator", json={"severity": "incident"})
    assert status == 201  # the revision and its reactions committed together: no wait
    runs = {r["playbook"]["id"]: r["state"] for r in await _runs(http, pfed, "gb", incident)}
    # The upgrade ended incident-review (its on_upgrade goes to close); a downgrade restarts
    # nothing.
    assert runs == {"incident-review": "closed", "serious-incident-cross-border": "running"}

    status, _ = await _call(http, pfed, "gb", "POST", f"/api/v1/incidents/{incident}/revisions",
                            "operator", json={"status": "resolved"})
    assert status == 201

    async def closed() -> Any:
        return all(r["state"] == "closed" for r in await _runs(http, pfed, "gb", incident))
    await wait_for(closed)

    async def fr_closed() -> Any:
        return all(e["status"] == "closed" for e in await _inbox(http, pfed, "fr", incident))
    await wait_for(fr_closed)

    status, body = await _call(http, pfed, "fr", "POST", f"/api/v1/incidents/{incident}/revisions",
                               "operator", json={"severity": "disaster"})
    assert status == 403 and "only gb" in body["errors"][0]["message"]


async def test_deadline_pending_across_sigkill_fires_exactly_once(
        pfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, pfed, "gb", title="Crash before the deadline")
    await wait_for(lambda: _inbox(http, pfed, "fr", incident))
    os.kill(pfed.node("gb")["pid"], signal.SIGKILL)
    await asyncio.sleep(TIER1_S + 2)  # the deadline passes while gb is down
    for node in ("jp", "int"):  # gb is dead: nothing it could say is in flight
        assert await _inbox(http, pfed, node, incident) == []

    pfed.spawn_node("gb")
    for node in ("fr", "jp", "int"):
        async def tier2(node: str = node) -> Any:
            return [e for e in await _inbox(http, pfed, node, incident) if e["tier"] == 2]
        await wait_for(tier2, within_s=30)
    await barrier(http, pfed, "gb", ("jp", "int"))  # a second firing would be here by now
    for node in ("jp", "int"):
        assert [e["tier"] for e in await _inbox(http, pfed, node, incident)] == [2]
    run = await _run(http, pfed, "gb", incident, "serious-incident-cross-border")
    missed = [h for h in run["history"] if h["event"] == "deadline-missed"
              and h.get("step") == "escalate-affected-peers"]
    assert len(missed) == 1, run["history"]
