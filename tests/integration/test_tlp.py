"""TLP 2.0 end to end: AMBER+STRICT readable only by its named recipients, RED never leaving
its origin but for a signed statistical stub; and no message on NATS carrying their text."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import nats

from tests.integration.conftest import Federation, report, wait_for


async def _file(http: aiohttp.ClientSession, fed: Federation, **changes: Any) -> dict[str, Any]:
    async with http.post(fed.url("gb", "/api/v1/incidents"), json=report(**changes),
                         headers=fed.auth("gb", "operator")) as r:
        assert r.status == 201, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def _status(http: aiohttp.ClientSession, fed: Federation, node: str, incident: str) -> int:
    async with http.get(fed.url(node, f"/api/v1/incidents/{incident}"),
                        headers=fed.auth(node, "viewer")) as r:
        return r.status


async def _stream(fed: Federation) -> list[tuple[str, bytes]]:
    """Every message JetStream holds, read with the admin user (what the hub can see)."""
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        js = nc.jetstream()
        info = await js.stream_info("BEACON")
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("BEACON", seq)
            out.append((msg.subject, msg.data or b""))
        return out
    finally:
        await nc.close()


def _payload(data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(base64.b64decode(json.loads(data)["payload"]))
    return doc


async def test_amber_strict_is_readable_at_the_recipient_only(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    secret_title = "AMBER+STRICT: model weights found on a leak forum"
    filed = await _file(http, fed, title=secret_title, tlp="AMBER+STRICT",
                        affected_jurisdictions=["fr"])

    async def at_fr() -> bool:
        return await _status(http, fed, "fr", filed["id"]) == 200
    await wait_for(at_fr)
    async with http.get(fed.url("fr", f"/api/v1/incidents/{filed['id']}"),
                        headers=fed.auth("fr", "viewer")) as r:
        body = await r.json()
    assert body["title"] == secret_title and body["verified"] is True
    assert body["digest"] == filed["digest"] and body["tlp"] == "AMBER+STRICT"

    stream = await _stream(fed)
    sealed = [(s, d) for s, d in stream if s.startswith("beacon.v1.sealed.gb")
              and _payload(d)["id"] == filed["id"]]
    assert len(sealed) == 1
    assert [r["member"] for r in _payload(sealed[0][1])["recipients"]] == ["fr"]
    assert not any(secret_title.encode() in d or b"leak forum" in base64.b64decode(
        json.loads(d)["payload"]) for _, d in stream if d.startswith(b"{"))
    stubs = [_payload(d) for s, d in stream if s.startswith("beacon.v1.stub.gb")]
    assert any(st["incident_id"] == filed["id"] and st["tlp"] == "AMBER+STRICT" for st in stubs)

    for node in ("jp", "int"):
        assert await _status(http, fed, node, filed["id"]) == 404


async def test_red_leaves_only_a_stub(fed: Federation, http: aiohttp.ClientSession) -> None:
    red_title = "RED: insider describes unreleased model's autonomous replication"
    filed = await _file(http, fed, title=red_title, tlp="RED", affected_jurisdictions=["fr"],
                        severity="disaster")

    async def stub_on_nats() -> Any:
        return [_payload(d) for s, d in await _stream(fed) if s.startswith("beacon.v1.stub.gb")
                and _payload(d)["incident_id"] == filed["id"]]
    [stub] = await wait_for(stub_on_nats)
    assert set(stub) == {"type", "origin", "issued_at", "incident_id", "revision", "tlp",
                         "severity", "harm_types", "red_lines", "week"}
    assert stub["severity"] == "disaster" and stub["week"] == "2026-W47"
    stream = await _stream(fed)
    for _, data in stream:
        if data.startswith(b"{"):
            assert b"insider" not in base64.b64decode(json.loads(data)["payload"])
    for node in ("fr", "jp", "int"):
        assert await _status(http, fed, node, filed["id"]) == 404
    assert await _status(http, fed, "gb", filed["id"]) == 200
