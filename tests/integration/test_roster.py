"""Roster updates end to end: propose, sign by a council threshold, publish through the KV
bucket, every node accepts; refusals say why; a revoked key's new messages are refused while
what it signed before stays verifiable."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation, report, wait_for


def beacon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False)


async def _roster(http: aiohttp.ClientSession, fed: Federation, node: str) -> dict[str, Any]:
    async with http.get(fed.url(node, "/api/v1/roster"), headers=fed.auth(node, "viewer")) as r:
        body: dict[str, Any] = (await r.json())["roster"]
        return body


async def test_council_changes_the_roster(fed: Federation, http: aiohttp.ClientSession,
                                          tmp_path: Path) -> None:
    gb, fr = fed.node("gb"), fed.node("fr")
    keys = {n: fed.node(n)["signing_key_file"] for n in ("gb", "fr", "jp")}
    assert beacon("init", "--id", "de", "--dir", str(tmp_path / "de")).returncode == 0
    proposal = tmp_path / "v2.json"
    r = beacon("roster", "propose", "--node", gb["url"], "--token", gb["tokens"]["viewer"],
               "--add", str(tmp_path / "de" / "member.json"), "--out", str(proposal))
    assert r.returncode == 0, r.stderr
    assert "roster v2 proposal" in r.stdout

    assert beacon("roster", "sign", str(proposal), "--key", keys["gb"]).returncode == 0
    r = beacon("roster", "publish", str(proposal), "--node", gb["url"],
               "--token", gb["tokens"]["operator"])
    assert r.returncode == 1 and "signed by 1/3 keys" in r.stdout, r.stdout

    assert beacon("roster", "sign", str(proposal), "--key", keys["fr"]).returncode == 0
    r = beacon("roster", "publish", str(proposal), "--node", fr["url"],
               "--token", fr["tokens"]["operator"])
    assert r.returncode == 0, r.stdout + r.stderr

    for node in ("gb", "fr", "jp", "int"):
        async def has_v2(node: str = node) -> Any:
            roster = await _roster(http, fed, node)
            return roster["version"] == 2 and roster
        roster = await wait_for(has_v2)
        assert "de" in [m["id"] for m in roster["members"]]
    async with http.get(fed.url("jp", "/api/v1/roster/chain"),
                        headers=fed.auth("jp", "viewer")) as resp:
        chain = (await resp.json())["items"]
    assert len(chain) == 2

    r = beacon("roster", "publish", str(proposal), "--node", gb["url"],
               "--token", gb["tokens"]["operator"])
    assert r.returncode == 1 and "rollback refused" in r.stdout, r.stdout


async def test_revoked_key_is_refused_but_history_stays_verifiable(
        fed: Federation, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with http.post(fed.url("jp", "/api/v1/incidents"), json=report(title="Before revoke"),
                         headers=fed.auth("jp", "operator")) as r:
        before = await r.json()

    async def at_fr() -> bool:
        async with http.get(fed.url("fr", f"/api/v1/incidents/{before['id']}"),
                            headers=fed.auth("fr", "viewer")) as r:
            return r.status == 200
    await wait_for(at_fr)
    # Timestamps have second precision and a message from the very second of revocation is
    # refused (the safe side), so let the clock move on.
    await asyncio.sleep(1.1)

    current = await _roster(http, fed, "gb")
    [jp] = [m for m in current["members"] if m["id"] == "jp"]
    jp_key = jp["keys"][0]["keyid"]
    proposal = tmp_path / "revoke.json"
    gb = fed.node("gb")
    r = beacon("roster", "propose", "--node", gb["url"], "--token", gb["tokens"]["viewer"],
               "--revoke-key", jp_key[:12], "--out", str(proposal))
    assert r.returncode == 0, r.stderr
    for n in ("gb", "fr"):
        assert beacon("roster", "sign", str(proposal), "--key",
                      fed.node(n)["signing_key_file"]).returncode == 0
    r = beacon("roster", "publish", str(proposal), "--node", gb["url"],
               "--token", gb["tokens"]["operator"])
    assert r.returncode == 0, r.stdout

    async def revoked_at_fr() -> bool:
        roster = await _roster(http, fed, "fr")
        [m] = [m for m in roster["members"] if m["id"] == "jp"]
        return bool(m["keys"][0].get("revoked_at"))
    await wait_for(revoked_at_fr)

    # jp's revoked key signs a new report, published straight into NATS.
    key = load_signing_key(Path(fed.node("jp")["signing_key_file"]))
    doc = incident_from_report(report(title="Signed after revocation"), origin="jp",
                               now=datetime.now(UTC))
    env = Envelope.sign(payload_type("incident"), encode(doc), [key])
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        await nc.jetstream().publish("beacon.v1.incident.jp.serious-incident", env.to_json())
    finally:
        await nc.close()

    async def quarantined() -> Any:
        async with http.get(fed.url("fr", "/api/v1/quarantine?reason=revoked-key"),
                            headers=fed.auth("fr", "auditor")) as r:
            return (await r.json())["items"]
    items = await wait_for(quarantined)
    assert "jp" in items[0]["detail"]
    async with http.get(fed.url("fr", f"/api/v1/incidents/{doc['id']}"),
                        headers=fed.auth("fr", "viewer")) as r:
        assert r.status == 404
    async with http.get(fed.url("fr", f"/api/v1/incidents/{before['id']}"),
                        headers=fed.auth("fr", "viewer")) as r:
        assert (await r.json())["verified"] is True
