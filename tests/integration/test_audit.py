"""An independent auditor exports a node's log with the CLI and verifies it offline: the bundle
passes, and one changed character in it fails, naming the entry."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from federation.canonical import digest
from federation.envelope import Envelope
from federation.roster import sign_roster_document
from federation.roster_edit import successor
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation, report, wait_for

PEERS = ("fr", "int", "jp")


def beacon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


async def _json(http: aiohttp.ClientSession, fed: Federation, path: str, role: str,
                method: str = "GET", **kw: Any) -> Any:
    async with http.request(method, fed.url("gb", path), headers=fed.auth("gb", role),
                            **kw) as r:
        assert r.status in (200, 201), (path, r.status, await r.text())
        return await r.json()


async def _file_and_get_witnessed(http: aiohttp.ClientSession, fed: Federation,
                                  title: str) -> Any:
    await _json(http, fed, "/api/v1/incidents", "operator", "POST", json=report(title=title))
    cp = await _json(http, fed, "/api/v1/log/checkpoint", "operator", "POST")

    async def witnessed() -> bool:
        top = (await _json(http, fed, "/api/v1/log/checkpoints/gb", "viewer"))["items"][0]
        return top["size"] == cp["size"] and set(PEERS) <= set(top["cosigned_by"])
    await wait_for(witnessed, within_s=30)
    return cp


async def test_export_verify_and_one_changed_byte(fed: Federation, http: aiohttp.ClientSession,
                                                  tmp_path: Path) -> None:
    for i in range(3):
        await _json(http, fed, "/api/v1/incidents", "operator", "POST",
                    json=report(title=f"Audited incident {i}"))
    await _json(http, fed, "/api/v1/log/checkpoint", "operator", "POST")
    cp = await _file_and_get_witnessed(http, fed, "Audited incident 3")

    out = tmp_path / "gb.audit.json"
    auditor = fed.node("gb")["tokens"]["auditor"]
    r = beacon("audit", "export", "--node", fed.node("gb")["url"], "--token", auditor,
               "--out", str(out))
    assert r.returncode == 0, r.stderr
    bundle = json.loads(out.read_bytes())
    assert bundle["node"] == "gb" and len(bundle["entries"]) == cp["size"]
    assert len(bundle["checkpoints"]) >= 2

    genesis = fed.doc["roster"]
    r = beacon("verify", str(out), "--genesis", genesis)
    assert r.returncode == 0, r.stderr
    assert re.search(r"witnesses\s+3 on the latest checkpoint .*: fr, int, jp", r.stdout), r.stdout
    assert "(pinned)" in r.stdout and f"entries      {cp['size']} " in r.stdout

    # The genesis is the auditor's anchor: a different one is refused.
    other = Envelope.from_json(Path(genesis).read_bytes())
    r = beacon("verify", str(out), "--genesis", digest(other.payload[:-1]))
    assert r.returncode == 1 and "FAILED: roster chain[0]: the genesis has digest" in r.stderr

    # One character inside one incident's payload.
    k, entry = next((i, e) for i, e in enumerate(bundle["entries"])
                    if e["envelope"]["payloadType"].endswith(".incident.v1+json"))
    payload = entry["envelope"]["payload"]
    data = out.read_bytes()
    at = data.index(payload.encode()) + len(payload) // 2
    tampered = bytearray(data)
    tampered[at] = ord("A") if tampered[at] != ord("A") else ord("B")
    out.write_bytes(bytes(tampered))
    r = beacon("verify", str(out), "--genesis", genesis)
    assert r.returncode == 1, r.stdout
    assert re.search(rf"^beacon verify: FAILED: entry {k} \(digest {entry['digest'][:8]}…\): ",
                     r.stderr), r.stderr


def test_export_needs_an_auditor_token(fed: Federation, tmp_path: Path) -> None:
    viewer = fed.node("gb")["tokens"]["viewer"]
    r = beacon("audit", "export", "--node", fed.node("gb")["url"], "--token", viewer,
               "--out", str(tmp_path / "x.json"))
    assert r.returncode == 2
    assert "GET /api/v1/log/entries" in r.stderr and "HTTP 403" in r.stderr


async def test_a_roster_rotation_is_part_of_the_audited_chain(
        fed: Federation, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    genesis = Envelope.from_json(Path(fed.doc["roster"]).read_bytes())
    current = (await _json(http, fed, "/api/v1/roster", "viewer"))["roster"]
    doc = successor(current, now=datetime.now(UTC))
    ptype, body = sign_roster_document(doc)
    council = [load_signing_key(Path(fed.node(n)["signing_key_file"])) for n in ("gb", "fr")]
    await _json(http, fed, "/api/v1/roster", "operator", "POST",
                json=Envelope.sign(ptype, body, council).to_dict())
    cp = await _file_and_get_witnessed(http, fed, "After the roster rotation")

    out = tmp_path / "gb.audit.json"
    r = beacon("audit", "export", "--node", fed.node("gb")["url"], "--token",
               fed.node("gb")["tokens"]["auditor"], "--out", str(out))
    assert r.returncode == 0, r.stderr
    r = beacon("verify", str(out), "--genesis", digest(genesis.payload))
    assert r.returncode == 0, r.stderr
    assert f"roster       v1 → v{doc['version']};" in r.stdout
    assert re.search(r"entries      \d+ \(.*1 roster.*\)", r.stdout), r.stdout
    assert json.loads(out.read_bytes())["entries"][-1]["index"] == cp["size"] - 1


async def test_red_reports_are_withheld_from_the_bundle_but_still_bound(
        fed: Federation, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    secret = "RED report whose text must stay at gb"
    await _json(http, fed, "/api/v1/incidents", "operator", "POST",
                json=report(title=secret, tlp="RED"))
    await _file_and_get_witnessed(http, fed, "GREEN after the RED one")
    out = tmp_path / "gb-red.audit.json"
    r = beacon("audit", "export", "--node", fed.node("gb")["url"], "--token",
               fed.node("gb")["tokens"]["auditor"], "--out", str(out))
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert b"must stay at gb" not in raw
    decoded = [base64.b64decode(e["envelope"]["payload"]) for e in json.loads(raw)["entries"]
               if "envelope" in e]
    assert not any(b"must stay at gb" in d for d in decoded)
    withheld = [e for e in json.loads(raw)["entries"] if "withheld" in e]
    assert [e["withheld"] for e in withheld] == ["TLP:RED"]
    r = beacon("verify", str(out), "--genesis", fed.doc["roster"])
    assert r.returncode == 0, r.stderr
    assert "withheld TLP:RED" in r.stdout

    # A withheld leaf is still bound by the roots: change its digest and the bundle fails.
    bundle = json.loads(raw)
    w = next(e for e in bundle["entries"] if "withheld" in e)
    w["digest"] = ("0" if w["digest"][0] != "0" else "1") + w["digest"][1:]
    out.write_text(json.dumps(bundle, separators=(",", ":")))
    r = beacon("verify", str(out), "--genesis", fed.doc["roster"])
    assert r.returncode == 1 and "FAILED" in r.stderr
