"""People working a run across real nodes (``--time-scale 0.0001``): a responder completes the
Art. 73 report step by API and its clock stops while the unanswered escalation still moves a
tier; fr's ack of a tier-2 escalation that needs any one ack closes it at jp and int; jp reads
gb's run, read-only; a responder starts a playbook by hand on a peer's incident."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import Federation, barrier, running_federation, wait_for
from tests.integration.test_playbooks import _call, _file, _inbox, _run, _until

SCALE = 0.0001
EVIDENCE = [{"url": "https://example.org/art73.pdf", "sha256": "ab" * 32}]


@pytest.fixture(scope="module")
def sfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("sfed"), ["gb", "fr", "jp"],
                            time_scale=SCALE) as f:
        yield f


def _step(run: dict[str, Any], step_id: str) -> dict[str, Any]:
    [step] = [s for s in run["steps"] if s["id"] == step_id]
    return step


async def test_a_responder_files_the_art73_report_and_the_escalation_still_moves(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, sfed, "gb", title="A death", affected_jurisdictions=["fr"],
                           harm_quantification={"deaths": 1})
    run = await _run(http, sfed, "gb", incident, "serious-incident-cross-border")
    url = f"/api/v1/runs/{run['id']}/steps/art73-report/complete"
    bad = {"note": "x", "evidence": [{"url": "https://e.org/a", "sha256": "not-hex"}]}
    for role, body, status in (("viewer", {}, 403), ("responder", bad, 400)):
        got, answer = await _call(http, sfed, "gb", "POST", url, role, json=body)
        assert got == status, answer
    status, done = await _call(http, sfed, "gb", "POST", url, "responder",
                               json={"note": "provider report received", "evidence": EVIDENCE})
    assert status == 200, done
    art73 = _step(done, "art73-report")
    assert art73["status"] == "succeeded" and art73["filed"]["evidence"] == EVIDENCE
    status, again = await _call(http, sfed, "gb", "POST", url, "responder", json={})
    assert status == 409, again
    status, nope = await _call(http, sfed, "gb", "POST", url.replace("art73-report", "nope"),
                               "responder", json={})
    assert status == 404, nope
    status, refused = await _call(http, sfed, "gb", "POST",
                                  url.replace("art73-report", "escalate-affected-peers"),
                                  "operator", json={})
    assert status == 409 and "not completed by a person" in refused["errors"][0]["message"]

    [esc] = await wait_for(lambda: _inbox(http, sfed, "fr", incident))
    await _until(esc["deadline"])  # nobody acknowledges tier 1
    tier2 = await wait_for(lambda: _tier(http, sfed, "jp", incident, 2))
    assert tier2["status"] == "open"
    _, run = await _call(http, sfed, "gb", "GET", f"/api/v1/runs/{run['id']}")
    assert run["tier"] == 2 and _step(run, "art73-report")["status"] == "succeeded"


async def _tier(http: aiohttp.ClientSession, fed: Federation, node: str, incident: str,
                tier: int) -> dict[str, Any] | None:
    items = [e for e in await _inbox(http, fed, node, incident) if e["tier"] == tier]
    return items[0] if items else None


async def test_one_ack_closes_the_tier_everywhere_and_peers_read_the_run(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, sfed, "gb", title="Tier two", affected_jurisdictions=["fr"])
    [esc] = await wait_for(lambda: _inbox(http, sfed, "fr", incident))
    await _until(esc["deadline"])
    tier2 = await wait_for(lambda: _tier(http, sfed, "fr", incident, 2))
    await wait_for(lambda: _tier(http, sfed, "jp", incident, 2))
    status, read = await _call(http, sfed, "jp", "GET", f"/api/v1/runs/{tier2['run_id']}")
    assert status == 200 and (read["owner"], read["read_only"]) == ("gb", True), read
    status, took = await _call(http, sfed, "jp", "POST",
                               f"/api/v1/escalations/{tier2['id']}/assign", "responder", json={})
    assert status == 200, took
    taken = await _tier(http, sfed, "jp", incident, 2)
    assert taken is not None and taken["assignee"] == took["assignee"] != ""
    assert taken["title"] == "Tier two"

    status, body = await _call(http, sfed, "fr", "POST",
                               f"/api/v1/escalations/{tier2['id']}/ack", "responder", json={})
    assert status == 201, body
    for node in ("jp", "int"):
        async def answered(node: str = node) -> bool:
            item = await _tier(http, sfed, node, incident, 2)
            return item is not None and (item["status"], item["answered_by"]) == (
                "answered", "fr")
        await wait_for(answered, within_s=5)


async def test_a_responder_starts_a_playbook_by_hand_on_a_peers_incident(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    incident = await _file(http, sfed, "gb", title="Started by hand at fr")
    await barrier(http, sfed, "gb", ("fr",))
    body = {"incident_id": incident, "playbook_id": "tripwire-crossing"}
    status, run = await _call(http, sfed, "fr", "POST", "/api/v1/runs", "responder", json=body)
    assert status == 201 and run["incident_id"] == incident, run
    status, again = await _call(http, sfed, "fr", "POST", "/api/v1/runs", "operator", json=body)
    assert status == 409, again
    status, missing = await _call(http, sfed, "fr", "POST", "/api/v1/runs", "responder",
                                  json={**body, "incident_id": "gb-0000000000000000"})
    assert status == 404, missing
