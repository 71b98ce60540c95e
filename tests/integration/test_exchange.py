"""An incident filed at one member reaches every other node, verified and verbatim."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import nacl.signing

from tests.integration.conftest import Federation, report, wait_for


async def _file(http: aiohttp.ClientSession, fed: Federation, node: str,
                body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(fed.url(node, "/api/v1/incidents"), json=body,
                         headers=fed.auth(node, "operator")) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Location"].endswith(f"/api/v1/incidents/{(await r.json())['id']}")
        result: dict[str, Any] = await r.json()
        return result


async def _get(http: aiohttp.ClientSession, fed: Federation, node: str, path: str,
               role: str = "viewer") -> tuple[int, Any]:
    async with http.get(fed.url(node, path), headers=fed.auth(node, role)) as r:
        return r.status, await r.json()


async def test_incident_reaches_every_peer_verified(fed: Federation,
                                                    http: aiohttp.ClientSession) -> None:
    filed = await _file(http, fed, "gb", report(title="Exchange test incident"))
    assert len(filed["digest"]) == 64 and filed["id"].startswith("gb-")

    for peer in ("fr", "jp", "int"):
        async def listed(peer: str = peer) -> Any:
            status, body = await _get(http, fed, peer, "/api/v1/incidents?origin=gb")
            return status == 200 and [i for i in body["items"] if i["id"] == filed["id"]]
        [item] = await wait_for(listed)
        assert item["digest"] == filed["digest"]
        assert item["title"] == "Exchange test incident"

        status, detail = await _get(http, fed, peer, f"/api/v1/incidents/{filed['id']}")
        assert status == 200
        assert detail["verified"] is True
        assert detail["origin"] == "gb" and detail["digest"] == filed["digest"]

        # Independently of Beacon's code: verify the envelope with PyNaCl against gb's key
        # in the roster, over DSSE's PAE.
        _, roster = await _get(http, fed, peer, "/api/v1/roster")
        [gb] = [m for m in roster["roster"]["members"] if m["id"] == "gb"]
        env = detail["envelope"]
        payload = base64.b64decode(env["payload"])
        ptype = env["payloadType"].encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
        key = nacl.signing.VerifyKey(base64.b64decode(gb["keys"][0]["public"]))
        key.verify(pae, base64.b64decode(env["signatures"][0]["sig"]))
        assert ptype == b"application/vnd.beacon.incident.v1+json"


async def test_listing_filters_and_pages(fed: Federation, http: aiohttp.ClientSession) -> None:
    ids = [(await _file(http, fed, "jp", report(title=f"Paging {i}", severity=sev,
                                                 affected_jurisdictions=[])))["id"]
           for i, sev in enumerate(["hazard", "incident", "disaster"])]

    async def all_at_gb() -> Any:
        _, body = await _get(http, fed, "gb", "/api/v1/incidents?origin=jp&limit=500")
        got = {i["id"] for i in body["items"]}
        return set(ids) <= got and body
    await wait_for(all_at_gb)

    _, body = await _get(http, fed, "gb", "/api/v1/incidents?origin=jp&severity=incident")
    sevs = {i["severity"] for i in body["items"]}
    assert sevs and sevs <= {"incident", "serious-incident", "disaster"}

    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        _, page = await _get(http, fed, "gb",
                             f"/api/v1/incidents?origin=jp&limit=1&cursor={cursor}")
        seen += [i["id"] for i in page["items"]]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))

    _, later = await _get(http, fed, "gb", "/api/v1/incidents?since=2999-01-01T00:00:00Z")
    assert later["items"] == []


async def test_red_report_stays_at_origin(fed: Federation, http: aiohttp.ClientSession) -> None:
    red = await _file(http, fed, "gb", report(title="Red stays home", tlp="RED"))
    green = await _file(http, fed, "gb", report(title="Green after red"))

    async def green_at_fr() -> Any:
        status, _ = await _get(http, fed, "fr", f"/api/v1/incidents/{green['id']}")
        return status == 200
    await wait_for(green_at_fr)
    # gb publishes in order, so once the later GREEN report is at fr, RED would have been too.
    status, _ = await _get(http, fed, "fr", f"/api/v1/incidents/{red['id']}")
    assert status == 404
    status, body = await _get(http, fed, "gb", f"/api/v1/incidents/{red['id']}")
    assert status == 200 and body["tlp"] == "RED"


async def test_health_and_metrics(fed: Federation, http: aiohttp.ClientSession) -> None:
    async with http.get(fed.url("fr", "/healthz")) as r:
        health = await r.json()
    assert r.status == 200 and health["nats"] == "connected" and health["node"] == "fr"
    assert health["roster_version"] == 1
    async with http.get(fed.url("fr", "/metrics")) as r:
        text = await r.text()
    assert "beacon_messages_in_total" in text and "beacon_outbox_depth" in text


async def test_live_updates_push_a_peer_report_and_the_escalation_it_brings(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    """The console's event stream at fr carries gb's report and fr's new inbox count, pushed
    by fr's pipeline after the commit that stored them."""
    async with http.get(fed.url("fr", "/api/v1/events"),
                        headers=fed.auth("fr", "viewer")) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert (await stream.content.readuntil(b"\n\n")).startswith(b"retry:")  # hello
        filed = await _file(http, fed, "gb", report(title="Live update test",
                                                    affected_jurisdictions=["fr"]))
        seen: dict[str, list[dict[str, Any]]] = {}

        async def read_until_both() -> None:
            while not (any(e.get("id") == filed["id"] for e in seen.get("incident", []))
                       and seen.get("escalation")):
                frame = (await stream.content.readuntil(b"\n\n")).decode()
                fields = dict(line.split(": ", 1) for line in frame.strip().splitlines()
                              if not line.startswith(":"))
                if "event" in fields:
                    seen.setdefault(fields["event"], []).append(json.loads(fields["data"]))

        await asyncio.wait_for(read_until_both(), timeout=15)
    [event] = [e for e in seen["incident"] if e["id"] == filed["id"]]
    assert event == {"id": filed["id"], "revision": 1, "origin": "gb",
                     "severity": "serious-incident"}
    assert seen["escalation"][-1]["open"] >= 1
