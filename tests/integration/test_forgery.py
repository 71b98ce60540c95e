"""Forged, tampered and misrouted messages published straight into NATS are quarantined with
their reasons, never stored as incidents, and the consumers keep running."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors
import pytest

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.keys import SigningKey
from federation.messages import incident_from_report, new_incident_id
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation, report, wait_for

_DEEP = b'{"a":' * 1000 + b"1" + b"}" * 1000


def _incident(origin: str, *, issued: datetime | None = None, **changes: Any) -> dict[str, Any]:
    doc = incident_from_report(report(title="Forgery probe", affected_jurisdictions=[]),
                               origin=origin, now=issued or datetime.now(UTC))
    doc.update(changes)
    return doc


def _envelope(doc: dict[str, Any], key: SigningKey) -> bytes:
    return Envelope.sign(payload_type("incident"), encode(doc), [key]).to_json()


def _tampered(doc: dict[str, Any], key: SigningKey) -> bytes:
    env = json.loads(_envelope(doc, key))
    changed = dict(doc, severity="hazard")
    env["payload"] = base64.b64encode(encode(changed)).decode()
    return json.dumps(env).encode()


async def _publish_as_admin(fed: Federation, items: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        js = nc.jetstream()
        for subject, data in items:
            await js.publish(subject, data)
    finally:
        await nc.close()


async def _quarantine(http: aiohttp.ClientSession, fed: Federation, node: str) -> list[Any]:
    async with http.get(fed.url(node, "/api/v1/quarantine?limit=500"),
                        headers=fed.auth(node, "auditor")) as r:
        assert r.status == 200
        items: list[Any] = (await r.json())["items"]
        return items


async def test_forgeries_are_quarantined_and_consumer_keeps_going(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    gb_key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    fr_key = load_signing_key(Path(fed.node("fr")["signing_key_file"]))
    stranger = SigningKey.from_seed(bytes(range(32)))
    subj = "beacon.v1.incident.gb.serious-incident"
    unsigned = json.dumps({"payloadType": payload_type("incident"),
                           "payload": base64.b64encode(encode(_incident("gb"))).decode(),
                           "signatures": [{"keyid": gb_key.public.keyid,
                                           "sig": base64.b64encode(bytes(64)).decode()}]})
    cases = {
        "tampered": (subj, _tampered(_incident("gb"), gb_key), "bad-signature"),
        "unsigned": (subj, unsigned.encode(), "bad-signature"),
        "wrong-key": (subj, _envelope(_incident("gb"), stranger), "bad-signature"),
        "fr-key-on-gb-subject": (subj, _envelope(_incident("gb"), fr_key), "origin-mismatch"),
        "body-claims-fr": (subj, _envelope(_incident("fr", id=new_incident_id("fr")), gb_key),
                           "origin-mismatch"),
        "stale": (subj, _envelope(_incident("gb", issued=datetime.now(UTC)
                                            - timedelta(hours=2)), gb_key), "clock-skew"),
        "garbage": (subj, b"\x00\xffnot json at all", "malformed-envelope"),
        "bad-schema": (subj, _envelope(_incident("gb", severity="apocalyptic"), gb_key),
                       "schema"),
        # Nested 1,000 deep: once a RecursionError, an internal-error with a traceback.
        "deep-envelope": (subj, b'{"payloadType": ' + b"[" * 1000 + b"]" * 1000 + b"}",
                          "malformed-envelope"),
        "deep-payload": (subj, Envelope.sign(payload_type("incident"), _DEEP, [gb_key]).to_json(),
                         "malformed-payload"),
    }
    before = {n: len(await _quarantine(http, fed, n)) for n in ("fr", "jp")}
    good = _incident("gb", title="Genuine after forgeries")
    await _publish_as_admin(fed, [(s, d) for s, d, _ in cases.values()] +
                            [(subj, _envelope(good, gb_key))])

    for node in ("fr", "jp"):
        async def genuine_arrived(node: str = node) -> bool:
            async with http.get(fed.url(node, f"/api/v1/incidents/{good['id']}"),
                                headers=fed.auth(node, "viewer")) as r:
                return r.status == 200
        await wait_for(genuine_arrived)
        items = await _quarantine(http, fed, node)
        assert len(items) - before[node] == len(cases)
        reasons = sorted(i["reason"] for i in items[:len(cases)])
        assert reasons == sorted(expected for _, _, expected in cases.values())
        assert all(i["detail"] for i in items)
        async with http.get(fed.url(node, "/api/v1/incidents?origin=gb&limit=500"),
                            headers=fed.auth(node, "viewer")) as r:
            titles = [i["title"] for i in (await r.json())["items"]]
        assert titles.count("Forgery probe") == 0
        async with http.get(fed.url(node, "/metrics")) as r:
            metrics = await r.text()
        assert 'beacon_messages_quarantined_total{reason="origin-mismatch"} 2.0' in metrics
        log = (Path(fed.node(node)["config"]).parent / "node.log").read_text(errors="replace")
        assert "RecursionError" not in log


async def test_nats_refuses_a_node_publishing_as_another(fed: Federation) -> None:
    errors: list[Exception] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    nc = await nats.connect(fed.doc["nats"]["url"], error_cb=on_error, inbox_prefix="_INBOX_gb",
                            nkeys_seed=fed.node("gb")["nats_credentials"])
    try:
        js = nc.jetstream()
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.publish("beacon.v1.incident.fr.hazard", b"{}", timeout=1.0)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request("$JS.API.STREAM.DELETE.BEACON", b"", timeout=1.0)
        await nc.flush()
    finally:
        await nc.close()
    text = " ".join(str(e).lower() for e in errors)
    assert 'permissions violation for publish to "beacon.v1.incident.fr.hazard"' in text
    assert "permissions violation for publish to \"$js.api.stream.delete.beacon\"" in text
